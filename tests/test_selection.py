"""Checkpoint selection on validation classes, and choosing among runs."""

import dataclasses
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf import select
from lasium_tf.run import selection
from lasium_tf.data import folder


class _ScriptedLearner:
  """Scores what `accuracy` says; its one weight tells checkpoints apart."""

  def __init__(self):
    self.model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    self.accuracy = 0.0

  def mark(self, value, accuracy):
    self.model.layers[0].kernel.assign([[value]])
    self.accuracy = accuracy

  def evaluate(self, batch):
    count = tf.shape(batch.support_images)[0]
    return tf.fill([count], self.accuracy)

  @property
  def weight(self):
    return float(self.model.layers[0].kernel.numpy()[0, 0])


def _val_part(root):
  for c in range(5):
    for i in range(6):
      path = pathlib.Path(root) / f"class_{c}" / f"{i}.png"
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_bytes(tf.io.encode_png(
          np.full((8, 8, 1), 40 * c, np.uint8)).numpy())
  return folder.load_labelled(str(root), 8, 1, what="--val_data_dir")


def _config(tmp_path, run="run", **eval_changes):
  return config_lib.Config(
      experiment_dir=str(tmp_path / run),
      eval=config_lib.EvalConfig(k_shots=(1,), k_query=2, tasks_per_call=2,
                                 val_tasks=4, **eval_changes))


def test_the_best_validated_checkpoint_is_kept_and_restored(tmp_path):
  learner, part = _ScriptedLearner(), _val_part(tmp_path / "val")
  chosen = selection.CheckpointSelection(learner, part, _config(tmp_path),
                                         verbose=False)
  for step, (value, accuracy) in zip((500, 1000, 1500),
                                     ((1.0, 0.5), (2.0, 0.9), (3.0, 0.7))):
    learner.mark(value, accuracy)
    chosen.score(step)
  record = selection.read(tmp_path / "run")
  assert [s["meta_iteration"] for s in record["scores"]] == [500, 1000, 1500]
  assert record["selected"] == 1000 and record["num_tasks"] == 4
  assert learner.weight == 3.0
  best = selection.restore(learner, tmp_path / "run")
  assert best["meta_iteration"] == 1000 and best["accuracy"] == pytest.approx(90.0)
  assert learner.weight == 2.0  # the weights of meta-iteration 1000


def test_a_resumed_run_keeps_its_earlier_scores(tmp_path):
  learner, part = _ScriptedLearner(), _val_part(tmp_path / "val")
  first = selection.CheckpointSelection(learner, part, _config(tmp_path),
                                        verbose=False)
  learner.mark(1.0, 0.8)
  first.score(500)
  again = selection.CheckpointSelection(learner, part, _config(tmp_path),
                                        verbose=False)
  learner.mark(2.0, 0.6)
  again.score(1000)
  assert selection.read(tmp_path / "run")["selected"] == 500
  selection.restore(learner, tmp_path / "run")
  assert learner.weight == 1.0


def test_runs_are_ranked_by_validation_and_incomparable_ones_flagged(
    tmp_path, capsys):
  learner, part = _ScriptedLearner(), _val_part(tmp_path / "val")
  for run, accuracy, tasks in (("a", 0.6, 4), ("b", 0.8, 4), ("c", 0.99, 2)):
    chosen = selection.CheckpointSelection(
        learner, part, dataclasses.replace(
            _config(tmp_path, run), eval=dataclasses.replace(
                _config(tmp_path).eval, val_tasks=tasks)), verbose=False)
    learner.mark(1.0, accuracy)
    chosen.score(100)
  (tmp_path / "d").mkdir()
  # A test result, however good, plays no part in the choice.
  (tmp_path / "a" / "results_1shot.json").write_text('{"accuracy": 100.0}')
  runs = [str(tmp_path / r) for r in ("a", "b", "c", "d")]
  rows = selection.compare(runs)
  assert [pathlib.Path(r["run"]).name for r in rows] == ["b", "a", "c", "d"]
  assert {pathlib.Path(r["run"]).name for r in rows if "problem" in r} == {
      "c", "d"}
  assert select.main(runs) == 0
  out = capsys.readouterr().out
  assert out.splitlines()[0].startswith(" 80.00") and f"{runs[1]}." in out
  assert select.main([]) == 2


@pytest.mark.parametrize("changes, match", [
    (dict(data=dict(dataset="folder", eval_data_dir="same",
                    val_data_dir="same")), "--val_data_dir is --eval_data_dir"),
    (dict(data=dict(val_data_dir="v")), "validation folder of --dataset=folder"),
    (dict(data=dict(dataset="folder", eval_data_dir="t", val_data_dir="v"),
          eval=dict(split="val")), "would score the validation classes"),
    (dict(data=dict(dataset="folder", eval_data_dir="t"),
          eval=dict(split="val", val_tasks=0)), "needs --val_data_dir"),
    (dict(eval=dict(val_tasks=-1)), "--val_tasks must be >= 0"),
])
def test_selection_settings_that_cannot_work_are_refused(changes, match):
  config = config_lib.Config(
      task_source="lasium",
      data=config_lib.DataConfig(**changes.get("data", {})),
      eval=config_lib.EvalConfig(**changes.get("eval", {})))
  with pytest.raises(config_lib.ConfigError, match=match):
    config.validate()


def test_validation_tasks_default_to_200_with_a_folder_else_none():
  eval_config = config_lib.EvalConfig()
  assert eval_config.resolved_val_tasks("val") == 200
  assert eval_config.resolved_val_tasks(None) == 0
  assert not config_lib.Config(task_source="none", data=config_lib.DataConfig(
      dataset="folder", val_data_dir="v")).selects_checkpoint


def test_a_copy_of_the_test_folder_is_no_validation_folder(tmp_path):
  """By content, not path: a byte-identical copy, or one image in both."""
  import shutil

  test = tmp_path / "test"
  for c in ("a", "b"):
    (test / c).mkdir(parents=True)
    (test / c / "1.png").write_bytes(f"image {c}".encode())
  shutil.copytree(test, tmp_path / "copy")
  (tmp_path / "other" / "z").mkdir(parents=True)
  (tmp_path / "other" / "z" / "9.png").write_bytes(b"image b")

  def config(val):
    return config_lib.Config(
        task_source="none", mode="evaluate", data=config_lib.DataConfig(
            dataset="folder", eval_data_dir=str(test),
            val_data_dir=str(val)))

  with pytest.raises(config_lib.ConfigError, match=r"hold the same images "
                     r"\(2, e.g. a/1.png\)"):
    config(tmp_path / "copy").validate()
  with pytest.raises(config_lib.ConfigError, match=r"\(1, e.g. b/1.png\)"):
    config(tmp_path / "other").validate()
  (tmp_path / "other" / "z" / "9.png").write_bytes(b"image c")
  config(tmp_path / "other").validate()


def test_one_class_tasks_are_refused():
  for changes in (dict(eval=config_lib.EvalConfig(n_way=1)),
                  dict(task=config_lib.TaskConfig(n_way=1))):
    with pytest.raises(config_lib.ConfigError, match="a task of one class"):
      config_lib.Config(**changes).validate()
