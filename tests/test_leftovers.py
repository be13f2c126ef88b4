"""What interrupted runs leave behind is cleaned; every command is recorded."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from lasium_tf import config as config_lib
from lasium_tf.core import files
from lasium_tf.records.rundir import RunDir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dead_pid() -> int:
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()
  return child.pid


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(
    tmp_path):
  dead = dead_pid()
  (tmp_path / f".results.json.{dead}.abcd1234").write_text("half")
  (tmp_path / f".exported.{dead}.zz_y9876").mkdir()
  mine = tmp_path / f".results.json.{os.getpid()}.abcd1234"
  mine.write_text("being written")
  kept = [tmp_path / ".hidden_notes", tmp_path / f".x.{dead}.short",
          tmp_path / ".exported.old-abcd1234"]
  for path in kept:
    path.write_text("not ours")
  removed = files.remove_stale_temps(tmp_path)
  assert sorted(removed) == sorted([f".results.json.{dead}.abcd1234",
                                    f".exported.{dead}.zz_y9876"])
  assert mine.exists() and all(p.exists() for p in kept)


def test_atomic_writes_clean_a_killed_writer_s_temporary(tmp_path):
  stale = tmp_path / f".cache.npz.{dead_pid()}.q1w2e3r4"
  stale.write_bytes(b"x" * 100)
  files.atomic_write(tmp_path / "cache.npz", lambda f: f.write(b"ok"))
  assert not stale.exists()
  assert (tmp_path / "cache.npz").read_bytes() == b"ok"
  assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]


def test_locking_a_run_folder_removes_checkpoint_temporaries(tmp_path, capsys):
  checkpoints = tmp_path / "run" / "checkpoints"
  (checkpoints / "ckpt-3_temp").mkdir(parents=True)
  (checkpoints / "ckpt-3_temp" / "part-00000-of-00001").write_text("half")
  (checkpoints / "ckpt-2.index").write_text("complete")
  (tmp_path / "run" / f".config.json.{dead_pid()}.abcdefgh").write_text("{")
  with RunDir(tmp_path / "run").lock():
    pass
  assert sorted(p.name for p in checkpoints.iterdir()) == ["ckpt-2.index"]
  assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
      ".lock", "checkpoints"]
  assert "Removed 2 leftover(s)" in capsys.readouterr().err


def test_every_mode_s_command_is_recorded_beside_the_training_config(
    tmp_path):
  run = RunDir(tmp_path)
  train = config_lib.Config(experiment_dir=str(tmp_path), mode="train",
                            command="python -m lasium_tf.main --mode=train")
  run.record_config(train)
  run.record_config(dataclasses.replace(
      train, mode="export", command="python -m lasium_tf.main --mode=export"))
  assert run.saved_config()["command"].endswith("--mode=train")
  lines = [json.loads(l) for l in
           (tmp_path / "commands.jsonl").read_text().splitlines()]
  assert [(l["mode"], l["command"].split()[-1]) for l in lines] == [
      ("train", "--mode=train"), ("export", "--mode=export")]


@pytest.mark.integration
def test_a_bad_value_is_refused_before_tensorflow_is_imported():
  probe = ("import sys\nfrom absl import app\nimport lasium_tf.main as m\n"
           "sys.argv = ['lasium_tf.main', '--iterations=-1']\n"
           "try:\n  app.run(m.main)\nexcept SystemExit as e:\n"
           "  print('tensorflow' in sys.modules, e.code)\n")
  out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                       text=True, cwd=REPO, timeout=60)
  assert out.stdout.split() == ["False", "2"], out.stderr
  assert "error: --iterations must be >= 0" in out.stderr


def test_training_seconds_are_recorded_at_every_checkpoint(tmp_path):
  """A run killed outright still counts the time behind its checkpoints."""
  import tensorflow as tf

  from lasium_tf.run import experiment

  class Learner:
    def meta_step(self, episodes):
      return {"loss": tf.constant(1.0), "finite": tf.constant(1.0)}

  class Manager:
    latest_checkpoint = None
    saved = []

    def save(self, checkpoint_number):
      self.saved.append(checkpoint_number)

  recorded = []
  out = experiment.meta_train(
      Learner(), tf.data.Dataset.range(10), 7, str(tmp_path),
      checkpoint_every=3, log_every=1, manager=Manager(), verbose=False,
      record_seconds=recorded.append)
  assert Manager.saved == [3, 6, 7] and len(recorded) == 3
  assert out["unrecorded_seconds"] < out["seconds"]
  assert sum(recorded) + out["unrecorded_seconds"] == pytest.approx(
      out["seconds"], abs=0.05)


def test_a_generator_is_the_same_when_only_its_recorded_commands_moved(
    tmp_path):
  run = RunDir(tmp_path)
  info = {"kind": "gan", "source": "pretrained/omniglot_gan", "epochs": 140,
          "date": "2026-11-26", "train_command": "--experiment_dir=/abs/gan"}
  run.check_generator(info)
  run.check_generator({**info, "train_command": "--experiment_dir=exp/gan"})
  with pytest.raises(config_lib.ConfigError, match="another generator"):
    run.check_generator({**info, "epochs": 141})


def test_no_tracked_record_names_a_machine_local_path():
  """Results and published cards refer to repository paths only."""
  listed = subprocess.run(["git", "ls-files", "results", "pretrained"],
                          capture_output=True, text=True, cwd=REPO)
  if listed.returncode != 0:
    pytest.skip("not a git checkout")
  local = []
  for name in listed.stdout.split():
    if name.endswith((".json", ".md")):
      text = open(os.path.join(REPO, name)).read()
      if any(p in text for p in ("/root/", "/home/", "/tmp/")):
        local.append(name)
  assert not local
