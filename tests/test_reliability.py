"""Bad input and damaged state: a clear one-line error, a correct fallback
or a correct result, never a silent wrong result or a raw traceback."""

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from lasium_tf.config import cli
from lasium_tf.run import experiment
from lasium_tf.run import checkpoints as run_checkpoints
from lasium_tf.run import loop
from lasium_tf import generators
from lasium_tf.records import rundir
from lasium_tf.records import common
from lasium_tf.records import schema
from lasium_tf.tasks import generated
from lasium_tf import config as config_lib
from lasium_tf.config import ConfigError, DivergedError
from lasium_tf.generators import KerasGenerator


class ScriptedLearner:
  """A learner whose meta-steps report the given losses and accuracies."""

  def __init__(self, losses, accuracy=0.5):
    self.steps = iter(losses)
    self.accuracy = accuracy

  def meta_step(self, episodes):
    del episodes
    return {"loss": next(self.steps), "accuracy": self.accuracy,
            "finite": 1.0}


def scripted_run(learner, iterations, tmp_path, n_way=5):
  return experiment.meta_train(learner, iter(range(iterations)), iterations,
                               str(tmp_path), log_every=1000, verbose=False,
                               n_way=n_way)


def test_a_finite_but_exploding_loss_stops_the_run(tmp_path):
  learner = ScriptedLearner([1.6, 40.0, 2.5e12, 1.0])
  with pytest.raises(DivergedError, match="meta-iteration 3 diverged.*"
                     "over 1000 times the first one.*--meta_lr"):
    scripted_run(learner, 4, tmp_path)


def test_a_loss_stuck_at_chance_with_constant_answers_stops_the_run(
    tmp_path):
  steps = loop.COLLAPSE_STEPS
  learner = ScriptedLearner([np.log(5.0)] * (steps + 5), accuracy=0.2)
  with pytest.raises(DivergedError, match=f"meta-iteration {steps}: the "
                     f"network collapsed"):
    scripted_run(learner, steps + 5, tmp_path)
  # Near chance but learning (answers not constant) is not collapse.
  learner = ScriptedLearner([np.log(5.0)] * (steps + 5), accuracy=0.25)
  assert scripted_run(learner, steps + 5, tmp_path)["loss"] == pytest.approx(
      np.log(5.0))


class ConstantTasks:
  def episodes(self, n_way, k_shot, k_query, seed, start=0, count=None):
    del k_shot, k_query, seed, start
    return tf.data.Dataset.range(count).map(lambda i: tf.cast(i, tf.float32))


class Answers:
  """A learner whose per-task accuracy is fixed: one answer for everything
  scores exactly 1/N on balanced queries."""

  def __init__(self, accuracy):
    self.accuracy = accuracy

  def evaluate(self, batch):
    return tf.fill(tf.shape(batch), self.accuracy)


def test_an_evaluation_with_one_answer_for_every_query_is_marked_degenerate():
  config = config_lib.EvalConfig(num_tasks=6, tasks_per_call=3)
  out = experiment.evaluate(Answers(0.2), ConstantTasks(), config, 1,
                            verbose=False)
  assert out["degenerate"] and out["accuracy"] == pytest.approx(20.0)
  record = schema.result_record(config_lib.Config(), 1, out, 0, 0.0)
  assert record["degenerate"] is True
  assert not experiment.evaluate(Answers(0.4), ConstantTasks(), config, 1,
                                 verbose=False)["degenerate"]
  assert "degenerate" not in schema.result_record(
      config_lib.Config(), 1, {**out, "degenerate": False}, 0, 0.0)


def test_a_generator_of_another_image_size_is_refused_before_any_work():
  inputs = keras.Input((4,))
  decoder = keras.Model(inputs, keras.layers.Reshape((32, 32, 1))(
      keras.layers.Dense(32 * 32)(inputs)))
  config = config_lib.Config(lasium=config_lib.LasiumConfig(generator="g32"))
  with pytest.raises(ConfigError, match="--generator=g32 makes 32x32x1 "
                     "images, but the run's network takes 28x28x1"):
    generated.check_generator_shape(KerasGenerator(decoder), config)
  generated.check_generator_shape(KerasGenerator(decoder), dataclasses.replace(
      config, data=config_lib.DataConfig(image_size=32)))


def test_a_generator_needs_an_image_size_divisible_by_four():
  with pytest.raises(ConfigError, match="multiple of 4"):
    config_lib.Config(mode="train_generator", data=config_lib.DataConfig(
        dataset="folder", data_dir="d", image_size=30)).validate()


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]",
                                     b"\xff\xfe\x00garbage"])
def test_a_damaged_config_json_names_the_file(tmp_path, content):
  (tmp_path / "config.json").write_bytes(content)
  with pytest.raises(ConfigError, match="config.json is damaged"):
    rundir.RunDir(tmp_path).saved_config()


def vae_folder(tmp_path, epochs=(1, 2), mode="train_generator"):
  """A generator training folder with the given epochs' checkpoints."""
  config = config_lib.Config(mode=mode, generative=config_lib.GenerativeConfig(
      kind="vae", latent_dim=2))
  common.write_json(tmp_path / "config.json", dataclasses.asdict(config))
  model = generators.build(config.generative, 28, 1)
  for epoch in epochs:
    generators.save_checkpoint(model, str(tmp_path), epoch)
  return model


def test_a_generator_folder_without_settings_is_named(tmp_path):
  (tmp_path / "config.json").write_text("{}")
  with pytest.raises(ConfigError, match="has no generator settings"):
    generators.restore(str(tmp_path))


def test_a_meta_learning_folder_given_as_generator_is_named(tmp_path):
  common.write_json(tmp_path / "config.json",
                    dataclasses.asdict(config_lib.Config()))
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "checkpoints" / "checkpoint").write_text("x")
  with pytest.raises(ConfigError, match="is a meta-learning run folder"):
    generators.restore(str(tmp_path))


@pytest.mark.parametrize("damage", ["truncated", "object_array"])
def test_a_damaged_generator_checkpoint_falls_back_to_the_older_one(
    tmp_path, damage, capsys):
  vae_folder(tmp_path)
  newest = generators.checkpoint_path(str(tmp_path), 2)
  if damage == "truncated":
    newest.write_bytes(newest.read_bytes()[:500])
  else:
    np.savez(newest, epoch=np.array([object()], dtype=object))
  _, _, epoch, _ = generators.restore(str(tmp_path))
  assert epoch == 1
  assert "epoch_0002.npz is damaged" in capsys.readouterr().out
  # Resuming generator training falls back the same way.
  model = generators.build(config_lib.GenerativeConfig(kind="vae",
                                                       latent_dim=2), 28, 1)
  assert generators.load_newest_intact(model, str(tmp_path), False) == 1
  # Asked for by name, the damaged one is an error naming it.
  with pytest.raises(ConfigError, match="epoch_0002.npz is damaged"):
    generators.restore(str(newest))
  generators.checkpoint_path(str(tmp_path), 1).write_bytes(b"")
  with pytest.raises(ConfigError, match="no checkpoint of .* can be read"):
    generators.restore(str(tmp_path))


def test_a_binary_garbled_checkpoint_state_file_is_set_aside(tmp_path):
  from test_maml import tiny_maml
  learner = tiny_maml()
  manager, step = run_checkpoints.checkpoint_manager(learner, str(tmp_path))
  step.assign(7)
  manager.save(checkpoint_number=7)
  state = tmp_path / "checkpoints" / "checkpoint"
  state.write_bytes(os.urandom(300) + b"\xff\xfe")
  again, step = run_checkpoints.checkpoint_manager(tiny_maml(), str(tmp_path))
  assert (tmp_path / "checkpoints" / "checkpoint.damaged").exists()
  candidates = run_checkpoints.checkpoint_candidates(again)
  assert run_checkpoints.restore_newest(again, candidates, False).endswith(
      "ckpt-7")
  assert int(step) == 7


def test_an_experiment_dir_that_cannot_be_a_folder_is_one_error(tmp_path):
  regular = tmp_path / "file"
  regular.write_text("x")
  for path in (regular, regular / "below", pathlib.Path("/proc/lasium_x")):
    with pytest.raises(ConfigError, match="cannot use .* as the experiment "
                       "folder"):
      with rundir.RunDir(path).lock():
        pass


def test_a_results_file_that_cannot_be_written_is_refused_before_work(
    tmp_path):
  run = rundir.RunDir(tmp_path)
  (tmp_path / "results").mkdir()
  for results_file, match in [(str(tmp_path / "results"), "names a folder"),
                              ("/proc/lasium_{k_shot}.json", "not a writable"),
                              (str(tmp_path / "config.json" / "r.json"),
                               "not a writable")]:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=match):
      run.check_writable(config_lib.Config(results_file=results_file))


def test_a_run_that_fails_before_any_work_leaves_no_new_folder(tmp_path):
  path = tmp_path / "new"
  with pytest.raises(ConfigError):
    with rundir.RunDir(path).lock() as run:
      run.record_config(config_lib.Config(experiment_dir=str(path)))
      (path / "tensorboard").mkdir()
      raise ConfigError("no checkpoint")
  assert not path.exists()
  # A folder that holds work is kept, and so is one that existed.
  with pytest.raises(ConfigError):
    with rundir.RunDir(path).lock():
      (path / "checkpoints").mkdir()
      (path / "checkpoints" / "ckpt-1.index").write_text("x")
      raise ConfigError("later")
  assert path.exists()


def test_a_cyclic_flagfile_is_found(tmp_path):
  (tmp_path / "a.cfg").write_text(f"# a\n--flagfile={tmp_path / 'b.cfg'}\n")
  (tmp_path / "b.cfg").write_text(f"# b\n--iterations=3\n"
                                  f"--flagfile={tmp_path / 'a.cfg'}\n")
  cycle = cli.flagfile_cycle(["main", f"--flagfile={tmp_path / 'a.cfg'}"])
  assert [pathlib.Path(p).name for p in cycle] == ["a.cfg", "b.cfg", "a.cfg"]
  assert cli.flagfile_cycle(
      ["main", f"--flagfile={REPO / 'flags/ours/lasium_ro_gan_maml.cfg'}"]
  ) is None


def run_main(*args, timeout=120):
  return subprocess.run([sys.executable, "-m", "lasium_tf.main", *args],
                        capture_output=True, text=True, cwd=REPO,
                        timeout=timeout,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


@pytest.mark.integration
def test_flag_errors_are_one_line(tmp_path):
  (tmp_path / "a.cfg").write_text(f"# a\n--flagfile={tmp_path / 'a.cfg'}\n")
  for args, said in [([f"--flagfile={tmp_path / 'a.cfg'}"],
                      "includes itself"),
                     (["--eval_k_shots=1,x"], "comma-separated list"),
                     (["--sigma=1", "--sigma2=1"], "give one")]:
    result = run_main(*args)
    assert result.returncode == 2, args
    assert result.stderr.strip().splitlines() == [
        l for l in result.stderr.strip().splitlines() if "error:" in l], args
    assert said in result.stderr and "Traceback" not in result.stderr


@pytest.mark.integration
def test_a_signal_during_evaluation_ends_with_one_line(real_omniglot,
                                                       tmp_path):
  """SIGTERM here; both signals take the same path (StopSignals), and both
  are tested on the command lines' own handler below."""
  signal_name, code = "SIGTERM", 143
  data_config, _ = real_omniglot
  process = subprocess.Popen(
      [sys.executable, "-m", "lasium_tf.main", "--mode=evaluate",
       "--task_source=none", "--eval_tasks=100000", "--eval_k_shots=1",
       f"--experiment_dir={tmp_path / 'run'}",
       f"--cache_dir={data_config.cache_dir}"],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  for line in process.stdout:
    if line.startswith("Evaluating"):
      break
  time.sleep(2)
  process.send_signal(getattr(signal, signal_name))
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == code, stderr
  lines = [l for l in stderr.splitlines() if l.strip()]
  assert lines[-1].startswith(f"stopped by {signal_name}")
  assert "Traceback" not in stderr
  assert not (tmp_path / "run").exists()  # No work, no folder.


@pytest.mark.integration
def test_few_shot_turns_a_refused_input_into_one_error_line(tmp_path):
  from lasium_tf.run import export
  from lasium_tf.data import shapes
  from test_export import trained  # A MAML model with 3 outputs.
  path = export.export(trained("maml"), tmp_path / "model", (16, 16, 1))
  for name in ("hbar", "vbar", "ring", "disc"):
    target = tmp_path / "support" / name / "0.png"
    target.parent.mkdir(parents=True)
    target.write_bytes(tf.io.encode_png(tf.cast(
        shapes.shape_image(name, 1, 16) * 255, tf.uint8)).numpy())
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.few_shot", f"--model={path}",
       f"--support={tmp_path / 'support'}",
       f"--query={tmp_path / 'support' / 'ring' / '0.png'}"],
      capture_output=True, text=True, cwd=REPO, timeout=120,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "error: the model refused its inputs: the head of this model has 3 "
      "outputs: at most 3 classes (labels 0 .. 2)."]


@pytest.mark.parametrize("signal_name, code, work", [("SIGINT", 130, False),
                                                     ("SIGTERM", 143, False),
                                                     ("SIGTERM", 143, True)])
def test_a_signal_outside_the_loops_ends_the_program_with_one_line(
    signal_name, code, work, tmp_path):
  """What an export, a data load or a compile gets (no loop to stop it
  between steps): the command lines' handler, in a fresh process without
  TensorFlow. The experiment folder the process made goes with it unless
  work was put in it."""
  folder = tmp_path / "run"
  script = ("import pathlib, sys, time\n"
            "from lasium_tf import rundir, stopping\n"
            "with stopping.signals_end_the_program():\n"
            "  with rundir.RunDir(sys.argv[1]).lock() as run:\n"
            "    if sys.argv[2] == 'work':\n"
            "      (run.path / 'results_1shot.json').write_text('{}')\n"
            "    print('ready', flush=True)\n"
            "    time.sleep(60)\n")
  process = subprocess.Popen(
      [sys.executable, "-c", script, str(folder), "work" if work else "-"],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == "ready"
  assert folder.is_dir()
  process.send_signal(getattr(signal, signal_name))
  _, stderr = process.communicate(timeout=30)
  assert process.returncode == code
  assert stderr.strip().splitlines() == [
      f"stopped by {signal_name}; nothing of the work in flight was kept; "
      f"rerun the same command."]
  assert folder.is_dir() == work


def test_a_time_budget_ends_meta_training_with_a_checkpoint(tmp_path):
  """--max_seconds: training stops early, saved where it stopped, and the
  stopping checkpoint is scored like any other (model selection)."""
  import time

  class SlowLearner(ScriptedLearner):
    def meta_step(self, episodes):
      time.sleep(0.05)
      return super().meta_step(episodes)

  class Manager:
    latest_checkpoint = None

    def __init__(self):
      self.saved = []

    def save(self, checkpoint_number):
      self.saved.append(checkpoint_number)

  manager, scored = Manager(), []
  out = experiment.meta_train(
      SlowLearner([1.0] * 100), iter(range(100)), 100, str(tmp_path),
      checkpoint_every=1000, log_every=1000, manager=manager, verbose=False,
      on_checkpoint=scored.append, max_seconds=0.2)
  assert out["stopped_early"] and 2 <= manager.saved[-1] < 100
  assert manager.saved == scored == [manager.saved[-1]]
  finished = experiment.meta_train(
      ScriptedLearner([1.0] * 3), iter(range(3)), 3, str(tmp_path),
      log_every=1000, verbose=False, max_seconds=100.0)
  assert not finished["stopped_early"]


def test_both_training_loops_share_one_time_budget_and_divergence_check():
  """The guards of meta-training and generator training are written once
  (`core.guards`): the same clock and the same error shape."""
  import inspect

  from lasium_tf.core import guards
  from lasium_tf.generators import training
  from lasium_tf.run import loop

  for module in (loop, training):
    source = inspect.getsource(module)
    assert "TimeBudget(" in source and "diverged(" in source
    assert "max_seconds is not None" not in source
  assert guards.not_finite({"a": 1.0, "b": float("nan"),
                            "c": float("inf")}) == ["b", "c"]
  assert not guards.TimeBudget(None).spent()
  assert guards.TimeBudget(0.0).spent()
  error = guards.diverged("step 3 diverged", "Nothing was saved", "ckpt-2",
                          "Lower the rate.")
  assert str(error) == ("step 3 diverged. Nothing was saved; the newest "
                        "checkpoint is ckpt-2. Lower the rate.")
