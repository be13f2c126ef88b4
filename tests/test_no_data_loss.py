"""Nothing a command did not make is ever deleted: export targets, temporary
folders on signals, a user's folder after a failed run."""

import pathlib
import signal
import subprocess
import sys

import pytest

from conftest import REPO
from lasium_tf.core import files
from lasium_tf.records import rundir
from lasium_tf import config as config_lib
from lasium_tf.config import ConfigError


def user_files(folder: pathlib.Path) -> dict:
  return {str(p.relative_to(folder)): p.read_bytes()
          for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def runs(tmp_path):
  """A folder of two run folders, one of them the run being exported."""
  parent = tmp_path / "experiments"
  for name in ("mine", "other"):
    (parent / name / "checkpoints").mkdir(parents=True)
    (parent / name / "config.json").write_text('{"iterations": 3}')
    (parent / name / "checkpoints" / "ckpt-3.index").write_text(name)
  return parent


@pytest.mark.parametrize("mode", ["export", "export_generator"])
@pytest.mark.parametrize("target, message", [
    ("experiments/mine", "is the folder being exported"),
    ("experiments", "holds .*mine, the folder being exported"),
    (".", "holds .*mine, the folder being exported"),
    ("experiments/other", "holds a run's files"),
    ("notes", r"holds files no export of this library wrote \(a.txt, "
              r"sub\)"),
    ("notes/a.txt", "is a file, not a folder"),
])
def test_an_export_refuses_any_folder_it_did_not_make(
    runs, mode, target, message, monkeypatch):
  root = runs.parent
  (root / "notes" / "sub").mkdir(parents=True)
  (root / "notes" / "a.txt").write_text("my thesis")
  (root / "notes" / "sub" / "b.txt").write_text("chapter 2")
  monkeypatch.chdir(root)
  before = user_files(root)
  config = config_lib.Config(mode=mode, export_dir=target,
                             experiment_dir="experiments/mine")
  with pytest.raises(ConfigError, match=f"--export_dir={target} {message}.*"
                     "give --export_dir a new or empty folder"):
    config.validate()
  assert user_files(root) == before


def test_a_folder_of_run_folders_is_named_as_such(runs, monkeypatch):
  monkeypatch.chdir(runs.parent)
  problem = files.export_target_problem("experiments", "export_dir",
                                        keep=["elsewhere"])
  assert "holds run folders (mine, other)" in problem


def test_an_earlier_export_or_an_empty_folder_may_be_replaced(tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  assert files.export_target_problem(empty, "export_dir") is None
  assert files.export_target_problem(tmp_path / "new", "export_dir") is None
  for published in (REPO / "pretrained").iterdir():
    assert files.is_export(published), published
    assert files.export_target_problem(published, "export_dir") is None
  # One file the library never writes makes it the user's folder.
  earlier = tmp_path / "earlier"
  earlier.mkdir()
  for name in ("saved_model.pb", "card.json", "README.md"):
    (earlier / name).write_text("x")
  assert files.export_target_problem(earlier, "export_dir") is None
  (earlier / "my_notes.txt").write_text("keep me")
  assert "my_notes.txt" in files.export_target_problem(earlier, "export_dir")


def test_the_command_line_refuses_before_touching_anything(runs):
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.main", "--mode=export",
       f"--experiment_dir={runs / 'mine'}", f"--export_dir={runs}"],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.startswith(f"error: --export_dir={runs} holds ")
  assert "Traceback" not in result.stderr
  assert (runs / "mine" / "checkpoints" / "ckpt-3.index").read_text() == "mine"
  assert (runs / "other" / "config.json").exists()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_an_export_leaves_no_temporary_folder(
    signal_name, tmp_path):
  """The command lines' handler (`stopping.signals_end_the_program`) takes
  the half-written folder with it; the earlier export stays as it was."""
  target = tmp_path / "export"
  target.mkdir()
  (target / "saved_model.pb").write_text("earlier")
  (target / "card.json").write_text("{}")
  script = ("import sys, time\n"
            "from lasium_tf import files, stopping\n"
            "with stopping.signals_end_the_program():\n"
            "  with files.atomic_directory(sys.argv[1]) as tmp:\n"
            "    (tmp / 'saved_model.pb').write_text('half')\n"
            "    print('ready', flush=True)\n"
            "    time.sleep(60)\n")
  process = subprocess.Popen(
      [sys.executable, "-c", script, str(target)], cwd=REPO,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert process.stdout.readline().strip() == "ready"
  process.send_signal(getattr(signal, signal_name))
  process.communicate(timeout=30)
  assert process.returncode == 128 + getattr(signal, signal_name)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]
  assert (target / "saved_model.pb").read_text() == "earlier"


def test_an_interrupted_write_removes_its_temporary_folder(tmp_path):
  with pytest.raises(KeyboardInterrupt):
    with files.atomic_directory(tmp_path / "export") as tmp:
      (tmp / "saved_model.pb").write_text("half")
      raise KeyboardInterrupt
  assert list(tmp_path.iterdir()) == []


def test_a_failed_run_leaves_a_users_folder_as_it_was(tmp_path):
  folder = tmp_path / "mine"
  folder.mkdir()
  (folder / "notes.txt").write_text("mine")
  with pytest.raises(ConfigError):
    with rundir.RunDir(folder).lock():
      raise ConfigError("no checkpoint")
  assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_deleted_config_json_is_written_again_at_the_next_checkpoint(
    tmp_path):
  import json

  run = rundir.RunDir(tmp_path / "run")
  trained = config_lib.Config(mode="train", iterations=7,
                              experiment_dir=str(tmp_path / "run"))
  run.record_config(trained)
  before = json.loads(run.config_path.read_text())
  run.config_path.unlink()
  run.keep_records(trained)
  assert json.loads(run.config_path.read_text()) == before


def test_a_checkpoint_resumes_only_under_the_settings_on_record(tmp_path):
  """config.json deleted: its backup still guards the checkpoint; both
  deleted: the checkpoint's settings are unknown, and it is refused."""
  import dataclasses

  run = rundir.RunDir(tmp_path / "run")
  trained = config_lib.Config(mode="train", task_source="lasium",
                              experiment_dir=str(tmp_path / "run"),
                              lasium=config_lib.LasiumConfig(generator="g",
                                                             alpha=0.4))
  run.record_config(trained)
  run.config_path.unlink()
  other = dataclasses.replace(trained, lasium=dataclasses.replace(
      trained.lasium, policy="n", alpha=0.2))
  with pytest.raises(ConfigError, match="other settings.*lasium"):
    run.check_resume(other)
  run.check_resume(trained)
  run.backup_path.unlink()
  with pytest.raises(ConfigError, match="neither config.json nor "
                     "config.backup.json"):
    run.check_resume(trained)


def test_a_run_folder_deleted_mid_training_stops_the_run(tmp_path):
  import shutil

  import tensorflow as tf

  from lasium_tf.run import experiment
  from lasium_tf.run import checkpoints as run_checkpoints

  folder = tmp_path / "run"
  folder.mkdir()
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(v=tf.Variable(1.0)), str(folder / "checkpoints"),
      max_to_keep=3)

  class DeletesItsFolder:
    steps = 0

    def meta_step(self, episodes):
      del episodes
      self.steps += 1
      if self.steps == 3:
        shutil.rmtree(folder)
      return {"loss": 1.0, "accuracy": 0.5, "finite": 1.0}

  with pytest.raises(ConfigError, match="was deleted while meta-training"):
    experiment.meta_train(DeletesItsFolder(), iter(range(6)), 6, str(folder),
                          checkpoint_every=2, log_every=1000, verbose=False,
                          manager=manager)
  assert not folder.exists()  # Nothing half-made again.


def png_bytes(size=28):
  import numpy as np
  import tensorflow as tf
  return tf.io.encode_png(np.full((size, size, 1), 255, np.uint8)).numpy()


def huge_png_header(side=30000) -> bytes:
  """A PNG whose header says side x side pixels (no image data needed to
  be refused before decoding)."""
  import struct
  import zlib
  ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
  chunk = (struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
           + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)))
  return (b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.mark.parametrize("content, problem", [
    (lambda: png_bytes()[:len(png_bytes()) // 2], "is truncated"),
    (huge_png_header, "is 30000 x 30000 pixels, too large to decode"),
    (lambda: b"GIF89a not ours", "is not a readable PNG or JPEG image"),
])
def test_a_bad_image_in_a_folder_is_named_or_skipped_and_counted(
    tmp_path, capsys, content, problem):
  from lasium_tf.data import DataError, folder

  root = tmp_path / "images"
  root.mkdir()
  for i in range(3):
    (root / f"{i}.png").write_bytes(png_bytes())
  (root / "bad.png").write_bytes(content())
  folder.scan.cache_clear()
  with pytest.raises(DataError, match=f"bad.png {problem}.*--skip_bad_images"):
    folder.scan(str(root))
  kept = folder.scan(str(root), skip_bad=True)
  assert len(kept.paths) == 3 and kept.skipped[0].endswith("bad.png")
  assert "Skipped 1 unreadable image file(s)" in capsys.readouterr().err


def test_an_unreadable_image_says_so_not_that_it_is_no_image(tmp_path,
                                                            monkeypatch):
  """Permission denied is reported as such (as root, files are always
  readable: the denial is simulated)."""
  from lasium_tf.data import folder

  path = tmp_path / "locked.png"
  path.write_bytes(png_bytes())

  def denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied")

  monkeypatch.setattr(folder, "open", denied, raising=False)
  assert folder.image_problem(str(path)) == "cannot be read (Permission denied)"


@pytest.mark.parametrize("damage, message", [
    ("truncate_variables", "cannot be loaded"),
    ("zero_variables", "cannot be loaded|input shape reads"),
    ("card", "card.json is damaged"),
    ("card_list", "is not a card"),
])
def test_few_shot_names_a_damaged_model(tmp_path, damage, message):
  import shutil

  from lasium_tf import few_shot

  model = tmp_path / "model"
  shutil.copytree(REPO / "pretrained" / "lasium_ro_gan_protonets_alpha04",
                  model)
  data = next((model / "variables").glob("variables.data-*"))
  if damage == "truncate_variables":
    data.write_bytes(data.read_bytes()[:100])
  elif damage == "zero_variables":
    data.write_bytes(bytes(len(data.read_bytes())))
  elif damage == "card":
    (model / "card.json").write_text('{"images": ')
  else:
    (model / "card.json").write_text('["images"]')
  support = tmp_path / "support"
  for c in ("a", "b"):
    (support / c).mkdir(parents=True)
    (support / c / "1.png").write_bytes(png_bytes())
  (tmp_path / "q.png").write_bytes(png_bytes())
  with pytest.raises(few_shot.FewShotError) as raised:
    few_shot.classify(str(model), str(support), [str(tmp_path / "q.png")])
  assert any(m in str(raised.value) for m in message.split("|")), raised.value


@pytest.mark.parametrize("damage, message", [
    ("truncate_variables", "cannot be loaded or run"),
    ("card_kind", "names the generator kind \\['gan'\\]"),
    ("card", "card.json is damaged"),
])
def test_a_damaged_generator_is_named(tmp_path, damage, message):
  import shutil

  from lasium_tf.tasks import generated

  gan = tmp_path / "gan"
  shutil.copytree(REPO / "pretrained" / "omniglot_gan", gan)
  if damage == "truncate_variables":
    data = next((gan / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:1000])
  elif damage == "card_kind":
    (gan / "card.json").write_text('{"kind": ["gan"]}')
  else:
    (gan / "card.json").write_text("")
  config = config_lib.Config(task_source="lasium", lasium=config_lib.
                             LasiumConfig(generator=str(gan)))
  with pytest.raises(ConfigError, match=message):
    generated.lasium_sampler(config)


@pytest.mark.parametrize("card, message", [
    ('{"meta_iterations": "forty"}', "meta-iteration 'forty', not a whole"),
    ('{"meta_iterations": 1.5}', "meta-iteration 1.5"),
    ('{"selection": {"meta_iteration": null}}', "meta-iteration None"),
])
def test_a_published_card_with_a_bad_meta_iteration_is_named(
    tmp_path, card, message):
  from lasium_tf.run import experiment
  from lasium_tf.run import checkpoints as run_checkpoints

  (tmp_path / "model.keras").write_bytes(b"")
  (tmp_path / "card.json").write_text(card)
  with pytest.raises(ConfigError, match=message):
    run_checkpoints.published_meta_iteration(str(tmp_path), "init_from",
                                        of_weights=True)


def test_a_keras_file_refused_by_safe_mode_is_one_error(tmp_path):
  import keras

  from lasium_tf.run import experiment
  from lasium_tf.run import checkpoints as run_checkpoints

  inputs = keras.Input((2,))
  model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
  model.save(tmp_path / "model.keras")
  with pytest.raises(ConfigError, match="model.keras is refused.*no code "
                     "in it is run"):
    run_checkpoints.load_published(None, str(tmp_path))


def test_resume_names_the_setting_that_differs_and_a_path_is_where_it_leads(
    tmp_path, monkeypatch):
  import dataclasses

  monkeypatch.chdir(REPO)
  run = rundir.RunDir(tmp_path / "run")
  trained = config_lib.Config(
      mode="train", task_source="lasium", experiment_dir=str(tmp_path / "run"),
      lasium=config_lib.LasiumConfig(generator="pretrained/omniglot_gan"))
  run.record_config(trained)
  absolute = dataclasses.replace(trained, lasium=dataclasses.replace(
      trained.lasium, generator=str(REPO / "pretrained" / "omniglot_gan")))
  run.check_resume(absolute)  # The same generator, however it is named.
  info = {"kind": "gan", "source": "pretrained/omniglot_gan", "date": "d"}
  run.check_generator(info)
  run.check_generator({**info, "source": str(REPO / "pretrained" /
                                             "omniglot_gan")})
  with pytest.raises(ConfigError, match=r"\(lasium.alpha differ"):
    run.check_resume(dataclasses.replace(absolute, lasium=dataclasses.replace(
        absolute.lasium, alpha=0.4)))
  with pytest.raises(ConfigError, match="date differ"):
    run.check_generator({**info, "date": "e"})


def test_messages_name_a_folder_part_by_its_flag():
  assert config_lib.DataConfig(dataset="folder").part_name("test") == (
      "the --eval_data_dir folder")
  assert config_lib.DataConfig().part_name("val") == (
      "the omniglot vinyals split's validation part")


def test_a_full_disk_while_checkpointing_leaves_no_temporary_and_says_so(
    tmp_path):
  """TensorFlow's checkpoint writer fails with ResourceExhaustedError on a
  full disk, its ckpt-N_temp folder half-written: the folder is removed and
  the error is one line naming the checkpoint and the fix; any other error
  goes through as it is."""
  import errno

  import tensorflow as tf

  from lasium_tf.run import experiment
  from lasium_tf.run import checkpoints as run_checkpoints
  from lasium_tf.core import files
  from lasium_tf.errors import DiskFullError

  class FullDisk:
    directory = str(tmp_path)

    def __init__(self, error):
      self.error = error

    def save(self, checkpoint_number):
      temp = tmp_path / f"ckpt-{checkpoint_number}_temp" / "part-00000"
      temp.mkdir(parents=True)
      (temp / "data").write_bytes(b"half")
      raise self.error

  full = tf.errors.ResourceExhaustedError(
      None, None, "could not write: No space left on device")
  with pytest.raises(DiskFullError, match=r"disk is full writing checkpoint "
                     r"7 to .*free space .* rerun the command"):
    run_checkpoints.save_checkpoint(FullDisk(full), 7)
  assert list(tmp_path.iterdir()) == []
  other = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")
  with pytest.raises(tf.errors.ResourceExhaustedError, match="OOM"):
    run_checkpoints.save_checkpoint(FullDisk(other), 8)
  assert files.disk_full(OSError(errno.ENOSPC, "No space left on device"))
  assert not files.disk_full(OSError(errno.EACCES, "Permission denied"))
