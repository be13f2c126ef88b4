"""End to end: meta-train, checkpoint, resume, evaluate, results JSON, CLI."""

import dataclasses
import re
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from conftest import REPO, need_omniglot
from lasium_tf import config as config_lib
from lasium_tf.run import experiment, modes
from lasium_tf.run import checkpoints as run_checkpoints
from lasium_tf.core import stopping

REQUIRED_KEYS = {"method", "dataset", "n_way", "k_shot", "num_tasks",
                 "accuracy", "ci95", "command", "budget"}


def tiny_config(data_config, tmp_path, **overrides):
  config = config_lib.Config(
      experiment_dir=str(tmp_path / "experiment"),
      method="Supervised MAML (test)",
      data=data_config,
      task=config_lib.TaskConfig(n_way=5, k_shot=1, k_query=2),
      maml=config_lib.MAMLConfig(inner_steps=1, first_order=True,
                                 meta_batch_size=2),
      eval=config_lib.EvalConfig(k_shots=(1,), k_query=3, num_tasks=4,
                                 inner_steps=2, tasks_per_call=2),
      iterations=3, checkpoint_every=2, log_every=1,
      results_file=str(tmp_path / "results" / "run_{k_shot}shot.json"))
  return dataclasses.replace(config, **overrides)


def test_train_evaluate_resume_and_results(real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path, command="python train-cmd")
  out = modes.run(config, verbose=False)
  assert out["meta_iterations"] == 3
  record = out["results"][1]
  assert REQUIRED_KEYS <= set(record)
  assert 0 <= record["accuracy"] <= 100 and record["ci95"] >= 0
  assert record["num_tasks"] == 4 and record["budget"]["meta_iterations"] == 3
  on_disk = json.loads((tmp_path / "results" / "run_1shot.json").read_text())
  assert on_disk["accuracy"] == record["accuracy"]
  experiment = tmp_path / "experiment"
  assert (experiment / "checkpoints" / "ckpt-3.index").exists()
  assert list((experiment / "tensorboard").iterdir())

  # Rerunning with a larger budget resumes at iteration 3, not 0.
  # (A longer budget is another experiment: its record replaces the
  # shorter one only when asked to.)
  again = modes.run(dataclasses.replace(config, iterations=5,
                                        replace_results=True), verbose=False)
  assert again["meta_iterations"] == 5
  assert again["training"]["seconds"] > 0
  # Same tasks, same (restored) weights: evaluation alone reproduces.
  evaluated = modes.run(dataclasses.replace(config, mode="evaluate",
                                            iterations=5), verbose=False)
  assert evaluated["results"][1]["accuracy"] == again["results"][1]["accuracy"]
  # The per-task reference path agrees (up to a query on a near-tie).
  reference = modes.run(dataclasses.replace(
      config, mode="evaluate", iterations=5, batched_tasks=False),
      verbose=False)
  assert evaluated["results"][1]["budget"]["eval_path"] == "batched"
  assert reference["results"][1]["budget"]["eval_path"] == "per_task"
  assert abs(reference["results"][1]["accuracy"]
             - evaluated["results"][1]["accuracy"]) <= 100 / 60

  exported = modes.run(dataclasses.replace(
      config, mode="export", export_dir=str(tmp_path / "export"),
      command="python -m lasium_tf.main --mode=export"), verbose=False)
  assert exported["meta_iterations"] == 5
  assert (tmp_path / "export" / "saved_model.pb").exists()
  assert (tmp_path / "export" / "model.keras").exists()
  # Its card names the training run and the accuracy at the exported step.
  card = json.loads((tmp_path / "export" / "card.json").read_text())
  assert card["meta_iterations"] == 5
  assert card["results"] == [{**{k: evaluated["results"][1][k] for k in (
      "n_way", "k_shot", "accuracy", "ci95", "num_tasks")},
                               "normalization": "transductive"}]
  assert card["signatures"] == {"few_shot": "support",
                                "few_shot_transductive": "transductive"}
  assert card["export_command"] == "python -m lasium_tf.main --mode=export"
  # Evaluating and exporting kept the training run's config.json.
  assert card["train_command"] == "python train-cmd"
  readme = (tmp_path / "export" / "README.md").read_text()
  assert f"{evaluated['results'][1]['accuracy']:.2f}" in readme
  # The checkpoint is not resumed under other training settings.
  with pytest.raises(config_lib.ConfigError, match=r"seed, data.split differ"):
    modes.run(dataclasses.replace(
        config, seed=1, iterations=6, replace_results=True,
        data=dataclasses.replace(data_config, split="authors")), verbose=False)


def test_continue_from_meta_trains_a_published_classifier_further(
    real_omniglot, tmp_path):
  import keras
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path)
  modes.run(config, verbose=False)
  published = str(tmp_path / "published")
  modes.run(dataclasses.replace(config, mode="export",
                                export_dir=published), verbose=False)
  further = dataclasses.replace(
      config, continue_from=published, iterations=4,
      experiment_dir=str(tmp_path / "further"), replace_results=True)
  out = modes.run(further, verbose=False)
  # It starts at the card's meta-iteration 3 and takes one step.
  assert out["meta_iterations"] == 4
  assert (tmp_path / "further" / "checkpoints" / "ckpt-4.index").exists()
  # The continued run's own settings export its checkpoint.
  modes.run(dataclasses.replace(further, mode="export",
                                export_dir=str(tmp_path / "after")),
            verbose=False)
  before = keras.saving.load_model(os.path.join(published, "model.keras"))
  after = keras.saving.load_model(str(tmp_path / "after" / "model.keras"))
  steps = np.concatenate([
      np.abs(a - b).ravel() for a, b in zip(
          [w.numpy() for w in after.trainable_weights],
          [w.numpy() for w in before.trainable_weights])])
  # From the published weights, with a fresh Adam: its first update moves
  # every weight with a gradient by the learning rate, about 1e-3.
  assert steps.max() < 1.01e-3
  assert np.median(steps) > 0.9e-3
  # Rerun, it resumes its own checkpoint, not the published folder.
  again = modes.run(dataclasses.replace(further, iterations=5), verbose=False)
  assert again["meta_iterations"] == 5
  with pytest.raises(config_lib.ConfigError, match="already at meta-iteration"):
    modes.run(dataclasses.replace(further, iterations=3,
                                  experiment_dir=str(tmp_path / "short")),
              verbose=False)
  assert not (tmp_path / "short").exists()  # Refused before writing.
  # Evaluated or exported before it was trained, it says so, rather than
  # scoring the published weights under the continued run's name.
  with pytest.raises(config_lib.ConfigError, match="found no checkpoint"):
    modes.run(dataclasses.replace(further, mode="evaluate",
                                  experiment_dir=str(tmp_path / "untrained")),
              verbose=False)


@pytest.mark.parametrize("card, budget, weights", [
    ({"meta_iterations": 40000}, 40000, 40000),
    # Weights from a selected checkpoint: a record of them reports the run's
    # budget, and a run continued from them counts on from the checkpoint.
    ({"meta_iterations": 40000, "selection": {"meta_iteration": 36000}},
     40000, 36000),
    (None, 0, 0),
])
def test_published_meta_iteration_budget_and_weights(tmp_path, card, budget,
                                                     weights):
  from lasium_tf.run import experiment
  from lasium_tf.run import checkpoints as run_checkpoints
  (tmp_path / "model.keras").write_bytes(b"")
  if card is not None:
    (tmp_path / "card.json").write_text(json.dumps(card))
  assert run_checkpoints.published_meta_iteration(str(tmp_path)) == budget
  assert run_checkpoints.published_meta_iteration(
      str(tmp_path), "continue_from", of_weights=True) == weights


def test_a_damaged_card_is_named_not_a_traceback(tmp_path):
  from lasium_tf.run import experiment
  from lasium_tf.run import checkpoints as run_checkpoints
  (tmp_path / "model.keras").write_bytes(b"")
  (tmp_path / "card.json").write_text("{not json")
  with pytest.raises(config_lib.ConfigError, match="card.json is damaged"):
    run_checkpoints.published_meta_iteration(str(tmp_path), "continue_from",
                                        of_weights=True)


def test_continued_run_selects_among_its_own_checkpoints(real_omniglot,
                                                         tmp_path):
  """A leg continued from a published classifier with validation tasks
  scores the checkpoints it writes (past the card's meta-iteration) and is
  tested at the best of them."""
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path)
  modes.run(dataclasses.replace(config, mode="train"), verbose=False)
  published = str(tmp_path / "published")
  modes.run(dataclasses.replace(config, mode="export",
                                export_dir=published), verbose=False)
  further = dataclasses.replace(
      config, continue_from=published, iterations=7, checkpoint_every=2,
      experiment_dir=str(tmp_path / "further"), replace_results=True,
      eval=dataclasses.replace(config.eval, val_tasks=2))
  out = modes.run(further, verbose=False)
  scored = json.loads((tmp_path / "further" / "selection.json").read_text())
  # Every second meta-iteration and the last; none at or before 3.
  assert [s["meta_iteration"] for s in scored["scores"]] == [4, 6, 7]
  chosen = out["results"][1]["selection"]["meta_iteration"]
  assert chosen == scored["selected"] and chosen in (4, 6, 7)
  # Its card says which checkpoint the exported weights are, and a card
  # re-exported from the published folder keeps saying it.
  first = tmp_path / "exported"
  modes.run(dataclasses.replace(further, mode="export",
                                export_dir=str(first)), verbose=False)
  line = f"the checkpoint of meta-iteration {chosen}, the best"
  assert line in (first / "README.md").read_text()
  again = tmp_path / "again"
  modes.run(dataclasses.replace(
      further, mode="export", init_from=str(first), continue_from=None,
      export_dir=str(again), experiment_dir=str(tmp_path / "eval"),
      eval=dataclasses.replace(config.eval, val_tasks=0)), verbose=False)
  card = json.loads((again / "card.json").read_text())
  assert card["selection"]["meta_iteration"] == chosen
  assert line in (again / "README.md").read_text()
  # Scored from the published folder, the record names that checkpoint too.
  scored = modes.run(dataclasses.replace(
      further, mode="evaluate", init_from=str(first), continue_from=None,
      experiment_dir=str(tmp_path / "scored"),
      eval=dataclasses.replace(config.eval, val_tasks=0)), verbose=False)
  assert scored["results"][1]["selection"]["meta_iteration"] == chosen


def test_protonets_through_the_same_loop(real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path, learner="protonets",
                       method="Supervised ProtoNets (test)",
                       eval=config_lib.EvalConfig(n_way=3, k_shots=(1, 5),
                                                  k_query=3, num_tasks=4,
                                                  tasks_per_call=2))
  out = modes.run(config, verbose=False)
  assert out["meta_iterations"] == 3
  assert set(out["results"]) == {1, 5}
  assert out["results"][5]["hyperparameters"]["learner"] == "protonets"
  assert out["results"][5]["n_way"] == 3  # No head: any N at test.


def test_training_from_scratch_needs_no_checkpoint(real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path, mode="evaluate",
                       task_source="none", method="Training from scratch")
  out = modes.run(config, verbose=False)
  assert out["meta_iterations"] == 0 and out["results"][1]["num_tasks"] == 4


def test_evaluate_without_checkpoint_is_refused(real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  with pytest.raises(config_lib.ConfigError, match="no checkpoint"):
    modes.run(tiny_config(data_config, tmp_path, mode="evaluate"),
              verbose=False)


def has_ink_bar(images):
  """Whether any image has a whole edge row or column of ink (value 1)."""
  images = images.reshape((-1,) + images.shape[-3:])
  edges = [images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]]
  return bool(np.any([np.all(e == 1.0, axis=(1, 2)) for e in edges]))


def test_query_shift_acts_on_meta_training_queries_never_on_test_tasks(
    real_omniglot, tmp_path, monkeypatch):
  data_config, _ = real_omniglot
  seen = {"train_support": [], "train_query": [], "test": []}
  build_learner = experiment.build_learner

  def spied_learner(config):
    learner = build_learner(config)
    meta_step, evaluate = learner.meta_step, learner.evaluate

    def spy_step(episodes):
      seen["train_support"].append(episodes.support_images.numpy())
      seen["train_query"].append(episodes.query_images.numpy())
      return meta_step(episodes)

    def spy_evaluate(episodes):
      seen["test"] += [episodes.support_images.numpy(),
                       episodes.query_images.numpy()]
      return evaluate(episodes)

    learner.meta_step, learner.evaluate = spy_step, spy_evaluate
    return learner

  monkeypatch.setattr(experiment, "build_learner", spied_learner)
  config = tiny_config(data_config, tmp_path, task=config_lib.TaskConfig(
      n_way=5, k_shot=1, k_query=4, query_shift=5, shift_fill="ink"))
  record = modes.run(config, verbose=False)["results"][1]
  queries = np.concatenate(seen["train_query"])
  assert has_ink_bar(queries)
  assert not has_ink_bar(np.concatenate(seen["train_support"]))
  assert not any(has_ink_bar(images) for images in seen["test"])
  assert record["hyperparameters"]["train_task"]["query_shift"] == 5
  assert record["hyperparameters"]["train_task"]["shift_fill"] == "ink"
  assert record["hyperparameters"]["recipe"] == "none"


def test_rotation_classes_train_on_four_times_the_characters(
    real_omniglot, tmp_path, monkeypatch):
  data_config, _ = real_omniglot
  drawn = {}
  check = experiment._check_against_data

  def spy(config, parts):
    drawn["train"] = parts["train"]
    return check(config, parts)

  monkeypatch.setattr(experiment, "_check_against_data", spy)
  config = tiny_config(data_config, tmp_path, data=dataclasses.replace(
      data_config, train_rotations=True), iterations=1)
  record = modes.run(config, verbose=False)["results"][1]
  assert drawn["train"].num_classes == 4 * 1028
  assert record["hyperparameters"]["train_rotations"] is True


def test_a_diverging_run_stops_keeps_its_last_good_checkpoint_writes_no_result(
    real_omniglot, tmp_path, monkeypatch):
  import glob
  data_config, _ = real_omniglot
  build_learner = experiment.build_learner
  weights = {}

  def poisoned_from_step_3(config):
    learner = build_learner(config)
    meta_step, calls = learner.meta_step, []

    def step(episodes):
      calls.append(1)
      if len(calls) == 3:  # A NaN query image: loss and gradients NaN.
        weights["before"] = [v.numpy() for v in learner.model.weights]
        episodes = episodes._replace(
            query_images=episodes.query_images * float("nan"))
      out = meta_step(episodes)
      if len(calls) == 3:
        weights["after"] = [v.numpy() for v in learner.model.weights]
      return out

    learner.meta_step = step
    return learner

  monkeypatch.setattr(experiment, "build_learner", poisoned_from_step_3)
  config = tiny_config(data_config, tmp_path, iterations=6)
  with pytest.raises(config_lib.DivergedError,
                     match=r"meta-iteration 3 diverged.*ckpt-2.*--inner_lr"):
    modes.run(config, verbose=False)
  for before, after in zip(weights["before"], weights["after"]):
    np.testing.assert_array_equal(before, after)  # The step was not applied.
  checkpoints = glob.glob(str(tmp_path / "experiment" / "checkpoints"
                              / "ckpt-*.index"))
  assert [os.path.basename(c) for c in checkpoints] == ["ckpt-2.index"]
  assert not (tmp_path / "results").exists()  # No chance-level "result".
  monkeypatch.undo()
  # Evaluation refuses non-finite logits rather than scoring them.
  with pytest.raises(config_lib.DivergedError, match="--eval_inner_lr"):
    modes.run(dataclasses.replace(
        config, mode="evaluate", eval=dataclasses.replace(
            config.eval, inner_lr=1e30)), verbose=False)
  assert not (tmp_path / "results").exists()


def test_an_unwritable_results_folder_is_refused_before_training(
    real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  blocker = tmp_path / "blocker"
  blocker.write_text("a file where the results folder should be")
  config = tiny_config(data_config, tmp_path,
                       results_file=str(blocker / "run_{k_shot}shot.json"))
  with pytest.raises(config_lib.ConfigError, match="writable folder"):
    modes.run(config, verbose=False)
  assert not (tmp_path / "experiment" / "checkpoints").exists()


@pytest.mark.integration
def test_a_second_process_on_the_same_folder_is_refused(tmp_path):
  from lasium_tf.records import rundir
  script = ("import sys, time\n"
            "from lasium_tf.records.rundir import RunDir\n"
            "with RunDir(sys.argv[1]).lock():\n"
            "  print('locked', flush=True)\n"
            "  time.sleep(60)\n")
  holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(config_lib.ConfigError,
                       match=f"in use by process {holder.pid}"):
      with rundir.RunDir(tmp_path).lock():
        pass
  finally:
    holder.kill()
    holder.wait()
  with rundir.RunDir(tmp_path).lock():  # Free again once it is gone.
    pass


@pytest.mark.parametrize("damage", ["truncate_newest_data", "garble_state",
                                    "delete_state_file"])
def test_a_damaged_checkpoint_falls_back_to_the_newest_that_reads(
    damage, real_omniglot, tmp_path, capsys):
  import glob
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path, iterations=4, mode="train",
                       checkpoint_every=1)
  modes.run(config, verbose=False)
  folder = tmp_path / "experiment" / "checkpoints"
  if damage == "truncate_newest_data":
    data = glob.glob(str(folder / "ckpt-4.data-*"))[0]
    with open(data, "r+b") as f:
      f.truncate(100)
    expected = 3
  elif damage == "garble_state":
    (folder / "checkpoint").write_text("garbage \x00 not a state file")
    expected = 4
  else:
    (folder / "checkpoint").unlink()  # A kill after ckpt-4, before this.
    expected = 4
  out = modes.run(dataclasses.replace(config, iterations=5), verbose=True)
  assert out["training"] and out["meta_iterations"] == 5
  printed = capsys.readouterr().out
  assert f"Resumed from {folder}/ckpt-{expected} " in printed
  if damage == "truncate_newest_data":
    assert "Skipped damaged checkpoint(s)" in printed and "ckpt-4" in printed


def test_a_bad_generator_is_refused_before_any_file_is_written(
    real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path, task_source="lasium",
                       lasium=config_lib.LasiumConfig(
                           generator=str(tmp_path / "no_such_generator")))
  with pytest.raises(config_lib.ConfigError, match="no generator at"):
    modes.run(config, verbose=False)
  assert not (tmp_path / "experiment").exists()


def test_more_ways_than_test_classes_is_refused(real_omniglot, tmp_path):
  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path,
                       task=config_lib.TaskConfig(n_way=500),
                       eval=config_lib.EvalConfig(n_way=500))
  with pytest.raises(config_lib.ConfigError, match="lower --n_way"):
    modes.run(config, verbose=False)


@pytest.mark.parametrize("change, match", [
    (dict(maml=config_lib.MAMLConfig(inner_lr=0.0)), "inner_lr"),
    (dict(maml=config_lib.MAMLConfig(inner_steps=-1)), "inner_steps"),
    (dict(task=config_lib.TaskConfig(k_shot=5, k_query=16)), "only 20"),
    (dict(eval=config_lib.EvalConfig(k_shots=(5,), k_query=16)), "only 20"),
    (dict(mode="train", task_source="none"), "--mode=evaluate"),
    (dict(backbone="resnet"), "backbone"),
    (dict(data=config_lib.DataConfig(strokes="grey")), "strokes"),
    (dict(data=config_lib.DataConfig(dataset="mini_imagenet",
                                     strokes="black")), "Omniglot only"),
    (dict(task=config_lib.TaskConfig(query_shift=-1)), "--query_shift"),
    (dict(task=config_lib.TaskConfig(query_shift=14)), "past its own"),
    (dict(task=config_lib.TaskConfig(query_shift=5, shift_fill="grey")),
     "shift_fill"),
    (dict(data=config_lib.DataConfig(dataset="celeba"),
          task=config_lib.TaskConfig(query_shift=5, shift_fill="ink")),
     "no ink colour"),
    (dict(recipe="best"), "recipe"),
    (dict(results_file="results/run_{shot}shot.json"), "{k_shot}"),
    (dict(results_file="res_{k_shot.__class__}.json"), "k_shot.__class__"),
    (dict(results_file="res_{k_shot!r}.json"), "{k_shot}"),
    (dict(results_file="res_{}.json"), "{k_shot}"),
    (dict(iterations=0), "--task_source=none --mode=evaluate"),
    (dict(logical_cpus=2), "add --strategy=mirrored"),
    (dict(normalization="batch"), "--normalization"),
    (dict(init_from="pretrained/x"), "--init_from scores or re-exports"),
    (dict(continue_from="pretrained/x", init_from="pretrained/y",
          mode="evaluate"), "drop --continue_from"),
    (dict(continue_from="pretrained/x", task_source="none"),
     "has no tasks to train on"),
    (dict(maml=config_lib.MAMLConfig(inner_lr=float("inf"))), "finite"),
    (dict(data=config_lib.DataConfig(train_rotations=True),
          task_source="lasium", lasium=config_lib.LasiumConfig(
              generator="g")), "--task_source=labelled"),
    (dict(data=config_lib.DataConfig(dataset="celeba",
                                     train_rotations=True)), "Omniglot"),
    (dict(task_source="lasium", lasium=config_lib.LasiumConfig(
        generator="g", policy="n", sigma=0.5, sigma_max=2.0)),
     "give one"),
    (dict(task_source="lasium", lasium=config_lib.LasiumConfig(
        generator="g", sigma=-1.0)), "--sigma must be positive"),
    (dict(task_source="lasium", lasium=config_lib.LasiumConfig(
        generator="g", anchor_rejection="some")), "anchor_rejection"),
    (dict(mode="train_generator", generative=config_lib.GenerativeConfig(
        generator_loss="mean")), "gan_generator_loss"),
    (dict(mode="train_generator", generative=config_lib.GenerativeConfig(
        fake_targets="flipped")), "gan_fake_targets"),
])
def test_impossible_configs_name_the_problem(change, match):
  with pytest.raises(config_lib.ConfigError, match=re.escape(match)):
    dataclasses.replace(config_lib.Config(), **change).validate()


def test_the_default_method_follows_the_learner_and_task_source():
  def method(**change):
    return dataclasses.replace(config_lib.Config(), **change).resolved_method
  assert method() == "Supervised MAML"
  assert method(learner="protonets") == "Supervised ProtoNets"
  assert method(task_source="none", mode="evaluate") == (
      "Training from scratch")
  assert method(task_source="lasium", learner="protonets") == (
      "LASIUM-RO-ProtoNets")
  assert method(method="Mine", learner="protonets") == "Mine"
  # Untrained networks are still scored, under their own name.
  dataclasses.replace(config_lib.Config(), iterations=0, mode="evaluate",
                      task_source="none").validate()


FLAGFILES = sorted((REPO / "flags").rglob("*.cfg"))


def parse_flags(*args):
  from lasium_tf import main
  try:
    flags.FLAGS(["main", *args])
    return main.config_from_flags(["main", *args])
  finally:
    flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("flagfile", FLAGFILES,
                         ids=[str(f.relative_to(REPO)) for f in FLAGFILES])
def test_every_flagfile_parses_to_a_valid_config(flagfile):
  text = flagfile.read_text()
  assert text.splitlines()[0].startswith("#")
  config = parse_flags(f"--flagfile={flagfile}")
  if flagfile.parent.name == "base":
    return  # A base is included by the flagfiles of its family.
  relative = flagfile.relative_to(REPO).as_posix()
  assert f"--flagfile={relative}" in text  # Its command, in the header.
  config.validate()
  assert config.command.endswith(f"--flagfile={flagfile}")


def test_every_mode_has_its_program():
  assert tuple(modes.MODES) == tuple(config_lib.MODES)


def test_recipes_set_the_flags_not_given_and_explicit_flags_win():
  plain = parse_flags()
  assert (plain.recipe, plain.task.query_shift, plain.data.strokes) == (
      "none", 0, "white")
  authors = parse_flags("--recipe=authors")
  assert authors.recipe == "authors"
  assert (authors.task.query_shift, authors.task.shift_fill) == (5, "ink")
  assert (authors.data.strokes, authors.data.split) == ("black", "authors")
  assert authors.lasium.anchor_rejection == "none"
  assert (authors.generative.generator_loss, authors.generative.fake_targets,
          authors.generative.keep_last_batch) == (
              "summed_logits", "overshoot", True)
  ours = parse_flags("--recipe=ours")
  assert (ours.task.query_shift, ours.task.shift_fill) == (5, "background")
  assert (ours.data.strokes, ours.lasium.anchor_rejection) == ("white", "all")
  mixed = parse_flags("--recipe=authors", "--shift_fill=background",
                      "--query_shift=3")
  assert (mixed.task.query_shift, mixed.task.shift_fill) == (3, "background")
  assert mixed.data.strokes == "black"
  # A recipe never leaks into the next parse.
  assert parse_flags().task.query_shift == 0


def test_seed_in_the_paths_keeps_each_seeds_run_apart():
  config = parse_flags("--experiment_dir=runs/x_seed{seed}", "--seed=2",
                       "--results_file=results/x_seed{seed}_{k_shot}shot.json")
  assert config.experiment_dir == "runs/x_seed2"
  assert config.results_file == "results/x_seed2_{k_shot}shot.json"
  assert parse_flags("--experiment_dir=runs/x").experiment_dir == "runs/x"
  assert parse_flags().results_file is None


def test_sigma_and_sigma2_together_are_refused():
  from absl import app
  with pytest.raises(app.UsageError, match="give one"):
    parse_flags("--sigma=0.5", "--sigma2=0.25")


def run_cli(*args, timeout=120):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, "-m", "lasium_tf.main", *args],
                        capture_output=True, text=True, cwd=REPO, env=env,
                        timeout=timeout)


def run_main_in_process(args, monkeypatch, capsys):
  """`lasium_tf.main.main` as the command line calls it, in this process:
  (exit code, stderr). TensorFlow is loaded already, so an error after the
  flags costs a fraction of a second, not a fresh interpreter's start."""
  from lasium_tf import main
  argv = ["lasium_tf.main", *args]
  monkeypatch.setattr(sys, "argv", argv)
  try:
    flags.FLAGS(argv)
    with pytest.raises(SystemExit) as exited:
      main.main(argv[:1])
  finally:
    flags.FLAGS.unparse_flags()
  return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, match", [
    (["--data_dir=/does/not/exist"], "Omniglot not found"),
    (["--eval_k_shots=one"], "comma-separated list of integers"),
    (["--meta_lr=-0.1"], "--meta_lr must be positive"),
    (["--dataset=celeba", "--mode=evaluate", "--task_source=none",
      "--data_dir=/does/not/exist"], "celeba not found"),
    (["--dataset=mini_imagenet", "--split=vinyals"], "not one of ravi"),
    (["--dataset=celeba_attributes", "--eval_n_way=5"], "--eval_n_way=2"),
    (["--task_source=lasium", "--generator=/does/not/exist"],
     "error: --generator=/does/not/exist: no generator at"),
])
def test_cli_errors(args, match, tmp_path, monkeypatch, capsys):
  run = tmp_path / "run"
  code, stderr = run_main_in_process(
      [*args, f"--experiment_dir={run}"], monkeypatch, capsys)
  assert code == 2
  assert match in stderr and stderr.startswith(("error: ", "No GPU found"))
  assert stderr.rstrip().splitlines()[-1].startswith("error: ")
  assert not run.exists()  # A refused run leaves no folder behind.


@pytest.mark.integration
@pytest.mark.parametrize("args, match", [
    (["--not_a_flag=1"], "Unknown command line flag"),
    (["--task_source=lasium", "--generator=README.md"],
     "error: --generator=README.md:"),
])
def test_cli_errors_in_a_fresh_process(args, match, tmp_path):
  """Flag parsing (absl's, before main) and an error raised where
  TensorFlow is loading a model: one line, no traceback."""
  result = run_cli(*args, f"--experiment_dir={tmp_path}")
  assert result.returncode != 0
  assert match in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_a_cpu_run_prints_no_tensorflow_start_up_lines(tmp_path):
  """TensorFlow's C++ lines (cuda stubs, cuInit) stay out of a run's
  output; one line says it runs on the CPU."""
  import re
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.main", "--data_dir=/does/not/exist",
       f"--experiment_dir={tmp_path}"], capture_output=True, text=True,
      cwd=REPO, env=env, timeout=120)
  assert result.returncode == 2
  lines = result.stderr.splitlines()
  assert lines[0] == "No GPU found: running on the CPU."
  assert lines[-1].startswith("error: ") and "Omniglot not found" in lines[-1]
  assert not [l for l in lines if re.match(r"[IWEF]\d{4} ", l)
              or "absl::InitializeLog" in l or "cuda" in l.lower()], lines


def test_a_signal_between_steps_saves_that_step_and_stops(tmp_path):
  import signal
  from test_maml import batch_of_tasks, tiny_maml

  maml = tiny_maml(inner_steps=1, first_order=True)
  manager, step = run_checkpoints.checkpoint_manager(maml, str(tmp_path))
  batches = [batch_of_tasks(2, seed=i) for i in range(5)]

  class SignalledDuringStep2:
    def __iter__(self):
      for i, batch in enumerate(batches):
        if i == 1:  # Arrives while step 2 is being taken.
          signal.raise_signal(signal.SIGTERM)
        yield batch

  with pytest.raises(stopping.Stopped, match="SIGTERM at meta-iteration 2"):
    experiment.meta_train(maml, SignalledDuringStep2(), 10, str(tmp_path),
                          checkpoint_every=100, manager=manager, step=step,
                          verbose=False)
  assert manager.latest_checkpoint.endswith("ckpt-2")
  assert int(step) == 2
  # The handlers are given back afterwards.
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.integration
# Ctrl-C, in a fresh process; SIGTERM takes the same handler (the in-process
# test above, and test_reliability's program-level test of both signals).
@pytest.mark.parametrize("signal_name", ["SIGINT"])
def test_a_signalled_run_resumes_to_the_weights_of_an_uninterrupted_one(
    signal_name, tmp_path):
  import signal
  import time
  import tensorflow as tf

  args = ["--iterations=30", "--log_every=1", "--checkpoint_every=1000",
          "--k_query=2", "--meta_batch_size=2", "--inner_steps=1",
          "--first_order", "--mode=train", f"--data_dir={need_omniglot()}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
  stopped_dir = tmp_path / "stopped"
  process = subprocess.Popen(
      [sys.executable, "-m", "lasium_tf.main", *args,
       f"--experiment_dir={stopped_dir}"], cwd=REPO, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  for line in process.stdout:  # Signal once meta-training is under way.
    if "meta-train 3/30" in line:
      process.send_signal(getattr(signal, signal_name))
      break
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 128 + getattr(signal, signal_name)
  assert f"stopped by {signal_name} at meta-iteration" in stderr
  assert "Traceback" not in stderr
  # The rerun (resuming) and the uninterrupted run, in this process.
  modes.run(parse_flags(*args, f"--experiment_dir={stopped_dir}"),
            verbose=False)
  straight_dir = tmp_path / "straight"
  modes.run(parse_flags(*args, f"--experiment_dir={straight_dir}"),
            verbose=False)

  def weights(folder):
    reader = tf.train.load_checkpoint(str(folder / "checkpoints"))
    return {name: reader.get_tensor(name) for name in
            reader.get_variable_to_shape_map() if name.startswith("model/")}

  resumed, straight = weights(stopped_dir), weights(straight_dir)
  assert resumed.keys() == straight.keys() and resumed
  for name in straight:
    np.testing.assert_allclose(resumed[name], straight[name], atol=1e-5,
                               err_msg=name)
  seconds = float((stopped_dir / "train_seconds.txt").read_text())
  assert seconds > 0


def test_maml_meta_trained_with_more_ways_is_tested_on_its_first_logits():
  config = dataclasses.replace(
      config_lib.Config(), task=config_lib.TaskConfig(n_way=20),
      eval=config_lib.EvalConfig(n_way=5)).validate()
  assert experiment.build_learner(config).eval_n_way == 5
  assert experiment.build_learner(config_lib.Config()).eval_n_way is None
  with pytest.raises(config_lib.ConfigError, match="at most as many"):
    dataclasses.replace(config, task=config_lib.TaskConfig(n_way=3)).validate()


def test_a_seed_sweep_runs_each_seed_in_its_own_folder(monkeypatch):
  config = parse_flags("--seeds=1,2", "--mode=evaluate",
                       "--task_source=none",
                       "--experiment_dir=runs/x_seed{seed}",
                       "--results_file=results/x_seed{seed}_{k_shot}.json")
  assert config.seeds == (1, 2) and config.experiment_dir == "runs/x_seed{seed}"
  ran = []
  monkeypatch.setitem(modes.MODES, "evaluate",
                      lambda c, verbose, strategy=None: ran.append(c) or {})
  assert set(modes.run(config, verbose=False)) == {1, 2}
  assert [(c.seed, c.seeds, c.experiment_dir, c.results_file) for c in ran] == [
      (1, (), "runs/x_seed1", "results/x_seed1_{k_shot}.json"),
      (2, (), "runs/x_seed2", "results/x_seed2_{k_shot}.json")]
  with pytest.raises(config_lib.ConfigError, match="put {seed} in"):
    dataclasses.replace(config, experiment_dir="runs/x").validate()
  with pytest.raises(config_lib.ConfigError, match="repeats"):
    dataclasses.replace(config, seeds=(1, 1)).validate()


def resolved_digest(flagfile) -> str:
  """A digest of the config a flagfile resolves to (its command aside)."""
  import hashlib
  from lasium_tf.config import cli
  config = dataclasses.asdict(cli.config_from_args(
      [f"--flagfile={flagfile.relative_to(REPO).as_posix()}"]))
  config.pop("command")
  return hashlib.sha256(json.dumps(config, sort_keys=True).encode()
                        ).hexdigest()[:16]


def test_every_flagfile_resolves_to_the_config_it_always_did(monkeypatch):
  """Refactoring the settings (where a class lives, how a choice is
  listed) must not change an experiment: each flagfile's resolved config
  is pinned in tests/data/resolved_flagfiles.json. A flagfile changed or
  added on purpose updates its line: `python -c "import sys;
  sys.path.insert(0, 'tests'); import test_train as t;
  t.write_resolved_digests()"`."""
  monkeypatch.chdir(REPO)
  pinned = json.loads((REPO / "tests" / "data"
                       / "resolved_flagfiles.json").read_text())
  now = {f.relative_to(REPO).as_posix(): resolved_digest(f)
         for f in FLAGFILES}
  assert sorted(now) == sorted(pinned), "flagfiles added or removed"
  changed = [name for name in now if now[name] != pinned[name]]
  assert not changed, changed


def write_resolved_digests():
  digests = {f.relative_to(REPO).as_posix(): resolved_digest(f)
             for f in FLAGFILES}
  (REPO / "tests" / "data" / "resolved_flagfiles.json").write_text(
      json.dumps(digests, indent=1, sort_keys=True) + "\n")


def test_tensorboard_shows_evaluation_validation_tasks_and_settings(
    real_omniglot, tmp_path):
  from tensorboard.backend.event_processing import event_accumulator

  data_config, _ = real_omniglot
  config = tiny_config(data_config, tmp_path, task_source="labelled",
                       mode="train_and_evaluate", results_file=None,
                       eval=dataclasses.replace(
                           tiny_config(data_config, tmp_path).eval,
                           val_tasks=2))
  modes.run(config, verbose=False)
  tags = {"scalars": set(), "images": set(), "tensors": set()}
  for events in (tmp_path / "experiment" / "tensorboard").rglob(
      "events.out.tfevents.*"):
    accumulator = event_accumulator.EventAccumulator(
        str(events), size_guidance={"tensors": 0, "images": 0})
    accumulator.Reload()
    for kind in tags:
      tags[kind] |= set(accumulator.Tags().get(kind, ()))
  everything = set().union(*tags.values())
  for tag in ("evaluation/accuracy_1shot", "evaluation/ci95_1shot",
              "validation/accuracy", "validation/ci95", "train_tasks",
              "meta_train/loss"):
    assert tag in everything, (tag, tags)
  assert any("hparams" in t for t in everything), tags
