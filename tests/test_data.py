"""Omniglot loading, caching, splits and the errors users meet."""

import gzip
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from conftest import REPO, character_image, omniglot_set, write_fake_omniglot
from lasium_tf.config import DataConfig
from lasium_tf.core import files
from lasium_tf.data import omniglot


def load(root, tmp_path, **kw):
  return omniglot.load_omniglot(
      DataConfig(data_dir=str(root), cache_dir=str(tmp_path / "cache"), **kw),
      verbose=False)


def test_zip_images_are_28px_strokes_one_background_zero(fake_omniglot,
                                                         tmp_path):
  data = load(fake_omniglot, tmp_path)
  assert data.images.shape == (9, 20, 28, 28, 1)
  assert data.images.dtype == np.float32
  assert data.class_names[0] == "Alpha/character01"
  assert 0.0 <= data.images.min() and data.images.max() <= 1.0
  # Background (white in the PNG) is 0; the black square is 1.
  first = data.images[0, 0, ..., 0]
  assert first[0, 0] == pytest.approx(0.0)
  assert first.max() == pytest.approx(1.0)
  assert first.mean() < 0.1
  # Classes differ from each other.
  assert not np.allclose(data.images[0, 0], data.images[1, 0])


def test_black_strokes_are_the_files_as_drawn_from_the_same_cache(
    fake_omniglot, tmp_path):
  white = load(fake_omniglot, tmp_path)
  black = load(fake_omniglot, tmp_path, strokes="black")
  np.testing.assert_allclose(black.images, 1.0 - white.images)
  assert black.images[0, 0, 0, 0, 0] == pytest.approx(1.0)  # The paper.
  assert len(list((tmp_path / "cache").iterdir())) == 2  # One cache entry.


def test_extracted_folders_equal_zips(tmp_path):
  zipped = write_fake_omniglot(tmp_path / "z", as_zip=True)
  folders = write_fake_omniglot(tmp_path / "f", as_zip=False)
  a, b = load(zipped, tmp_path), load(folders, tmp_path)
  assert a.class_names == b.class_names
  np.testing.assert_array_equal(a.images, b.images)


def test_data_dir_may_hold_omniglot_folder_or_come_from_env(tmp_path,
                                                            monkeypatch):
  write_fake_omniglot(tmp_path / "data" / "omniglot")
  assert omniglot.resolve_omniglot_dir(str(tmp_path / "data")) == (
      tmp_path / "data" / "omniglot")
  monkeypatch.setenv(omniglot.DATA_DIR_ENV, str(tmp_path / "data"))
  assert omniglot.resolve_omniglot_dir(None) == tmp_path / "data" / "omniglot"


def test_cache_is_reused_and_keyed_by_source(fake_omniglot, tmp_path,
                                            monkeypatch):
  first = load(fake_omniglot, tmp_path)
  cached = list((tmp_path / "cache").iterdir())
  assert len(cached) == 2 and not any(p.name.startswith(".") for p in cached)

  def no_decoding(*args, **kwargs):
    raise AssertionError("decoded again although the cache is valid")

  monkeypatch.setattr(omniglot, "_decode_all", no_decoding)
  np.testing.assert_array_equal(load(fake_omniglot, tmp_path).images,
                                first.images)
  # Another image size is another key.
  with pytest.raises(AssertionError, match="decoded again"):
    load(fake_omniglot, tmp_path, image_size=14)
  # A changed source is another key: never a stale cache.
  write_fake_omniglot(fake_omniglot, characters=2)
  with pytest.raises(AssertionError, match="decoded again"):
    load(fake_omniglot, tmp_path)


def test_a_process_reads_the_zips_once_and_each_caller_gets_its_own_copy(
    fake_omniglot, tmp_path, monkeypatch):
  first = load(fake_omniglot, tmp_path)
  kept = first.images.copy()
  first.images[:] = 0.5  # A caller that changes its array in place.

  def no_reading(*args, **kwargs):
    raise AssertionError("read the zips again in the same process")

  monkeypatch.setattr(omniglot, "_read_local", no_reading)
  np.testing.assert_array_equal(load(fake_omniglot, tmp_path).images, kept)
  black = load(fake_omniglot, tmp_path, strokes="black")
  np.testing.assert_array_equal(black.images, 1.0 - kept)
  # A changed zip is read again.
  write_fake_omniglot(fake_omniglot, characters=2)
  with pytest.raises(AssertionError, match="read the zips again"):
    load(fake_omniglot, tmp_path)


def test_a_bit_rotted_cache_is_rebuilt_with_a_warning(fake_omniglot,
                                                     tmp_path):
  first = load(fake_omniglot, tmp_path)
  array = next(p for p in (tmp_path / "cache").iterdir()
               if p.suffix == ".npy")
  rotted = np.load(array)
  rotted[0, 0, 5, 5, 0] = 1.0 - rotted[0, 0, 5, 5, 0]  # One flipped pixel.
  np.save(array, rotted)
  with pytest.warns(UserWarning, match="checksum"):
    again = load(fake_omniglot, tmp_path)
  np.testing.assert_array_equal(again.images, first.images)
  np.testing.assert_array_equal(np.load(array), first.images)  # Repaired.


def test_a_cache_that_cannot_be_written_is_only_a_warning(fake_omniglot,
                                                          tmp_path):
  blocker = tmp_path / "cache"
  blocker.write_text("a file where the cache folder should be")
  with pytest.warns(UserWarning, match="could not write the Omniglot cache"):
    images = load(fake_omniglot, tmp_path)
  assert images.images.shape[0] == 9


def test_interrupted_cache_write_leaves_nothing(tmp_path):
  target = tmp_path / "out.npy"

  def fail(f):
    f.write(b"half")
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    files.atomic_write(target, fail)
  assert list(tmp_path.iterdir()) == []


def test_failed_folder_write_keeps_the_old_folder(tmp_path):
  target = tmp_path / "model"
  target.mkdir()
  (target / "old.txt").write_text("old")
  with pytest.raises(RuntimeError):
    with files.atomic_directory(target) as tmp:
      (tmp / "new.txt").write_text("new")
      raise RuntimeError("export failed")
  assert [p.name for p in tmp_path.iterdir()] == ["model"]
  assert [p.name for p in target.iterdir()] == ["old.txt"]
  with files.atomic_directory(target) as tmp:
    (tmp / "new.txt").write_text("new")
  assert [p.name for p in target.iterdir()] == ["new.txt"]


def test_a_kill_between_the_two_renames_leaves_a_complete_folder(
    tmp_path, monkeypatch):
  target = tmp_path / "export"
  with files.atomic_directory(target) as tmp:
    (tmp / "saved_model.pb").write_text("v1")
  renames = []
  real_rename = type(target).rename

  def killed_on_second_rename(self, other):
    renames.append(self)
    if len(renames) == 2:
      raise KeyboardInterrupt  # The process dies between the renames.
    return real_rename(self, other)

  monkeypatch.setattr(type(target), "rename", killed_on_second_rename)
  with pytest.raises(KeyboardInterrupt):
    with files.atomic_directory(target) as tmp:
      (tmp / "saved_model.pb").write_text("v2")
  monkeypatch.undo()
  # The old export is aside, whole; nothing half-written is left.
  asides = list(tmp_path.glob(".export.old-*"))
  assert not target.exists() and len(asides) == 1
  assert (asides[0] / "saved_model.pb").read_text() == "v1"
  # The next write restores it first, then replaces it cleanly.
  with files.atomic_directory(target) as tmp:
    assert (target / "saved_model.pb").read_text() == "v1"
    (tmp / "saved_model.pb").write_text("v3")
  assert (target / "saved_model.pb").read_text() == "v3"
  assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_missing_data_dir_names_the_fix(tmp_path):
  with pytest.raises(omniglot.DataError, match="--data_dir"):
    load(tmp_path / "nowhere", tmp_path)
  (tmp_path / "empty").mkdir()
  with pytest.raises(omniglot.DataError, match="LASIUM_DATA_DIR"):
    load(tmp_path / "empty", tmp_path)


def test_zip_without_official_layout(tmp_path):
  root = tmp_path / "omniglot"
  root.mkdir()
  for name in omniglot.SETS:
    with zipfile.ZipFile(root / f"{name}.zip", "w") as archive:
      archive.writestr("some/other/file.png", b"x")
  with pytest.raises(omniglot.DataError, match="official layout"):
    load(root, tmp_path)


def test_corrupt_zip(fake_omniglot, tmp_path):
  (fake_omniglot / "images_background.zip").write_bytes(b"not a zip")
  with pytest.raises(omniglot.DataError, match="not a readable zip"):
    load(fake_omniglot, tmp_path)


def test_corrupt_png_is_named(tmp_path):
  root = write_fake_omniglot(tmp_path / "omniglot", as_zip=False)
  bad = root / "images_evaluation/Gamma/character02/0008_03.png"
  bad.write_bytes(b"\x89PNG broken")
  with pytest.raises(omniglot.DataError, match="0008_03.png"):
    load(root, tmp_path)


def test_incomplete_character(tmp_path):
  root = write_fake_omniglot(tmp_path / "omniglot", as_zip=False)
  os.remove(root / "images_background/Beta/character01/0004_20.png")
  with pytest.raises(omniglot.DataError, match="Beta/character01 has 19"):
    load(root, tmp_path)


def test_vinyals_split_equals_the_published_files(real_omniglot):
  _, everything = real_omniglot
  split = omniglot.vinyals_split(everything.class_names)
  assert {k: len(v) for k, v in split.items()} == {
      "train": 1028, "val": 172, "test": 423}
  for part in ("train", "val", "test"):
    # The published rot000 lines (Prototypical Networks' release), kept
    # with the tests so that the check needs only the two official zips.
    with gzip.open(REPO / "tests" / "data" / "vinyals_split"
                   / f"{part}.txt.gz", "rt") as lines:
      published = sorted(lines.read().split())
    assert split[part] == published, part


def test_authors_split_sizes_disjoint_and_fixed(real_omniglot):
  _, everything = real_omniglot
  split = omniglot.authors_split(everything.class_names)
  assert [len(split[p]) for p in ("train", "val", "test")] == [1200, 100, 323]
  assert len(set().union(*split.values())) == 1623
  # Independent of the order the characters arrive in.
  again = omniglot.authors_split(list(reversed(everything.class_names)))
  assert again == split


def test_authors_split_is_their_python_shuffle_of_sorted_full_paths(
    real_omniglot):
  """Their code, literally: full paths of both sets sorted, random.seed(47)."""
  import random
  _, everything = real_omniglot
  background = {n.split("/")[1] for n in omniglot_set(
      "images_background").namelist() if "/" in n}
  paths = sorted(
      ("/data/images_background/" if name.split("/")[0] in background
       else "/data/images_evaluation/") + name
      for name in everything.class_names)
  random.seed(47)
  random.shuffle(paths)
  names = ["/".join(p.split("/")[-2:]) for p in paths]
  split = omniglot.authors_split(everything.class_names)
  assert split["train"] == names[:1200]
  assert split["val"] == names[1200:1300]
  assert split["test"] == names[1300:]
  # Their test characters come from alphabets also seen in training.
  train_alphabets = {n.split("/")[0] for n in split["train"]}
  assert {n.split("/")[0] for n in split["test"]} <= train_alphabets


def test_rotation_classes_are_the_characters_turned_by_quarter_turns():
  rng = np.random.default_rng(0)
  images = rng.random((3, 4, 5, 5, 1)).astype(np.float32)
  rotated = omniglot.ClassImages(images, ("A/c1", "A/c2", "B/c1"))
  four = rotated.with_rotations()
  assert four.images.shape == (12, 4, 5, 5, 1)
  assert four.class_names[:4] == ("A/c1", "A/c2", "B/c1", "A/c1/rot090")
  assert four.class_names[-1] == "B/c1/rot270"
  np.testing.assert_array_equal(four.images[:3], images)
  # Class 3 is class 0 turned 90 degrees counter-clockwise, drawing by drawing.
  np.testing.assert_array_equal(four.images[3, 2, :, :, 0],
                                np.rot90(images[0, 2, :, :, 0]))
  np.testing.assert_array_equal(four.images[9 + 1, 0, :, :, 0],
                                np.rot90(images[1, 0, :, :, 0], 3))


def test_load_split_selects_characters(real_omniglot):
  config, everything = real_omniglot
  test = omniglot.load_split(config, "test", everything)
  assert test.images.shape == (423, 20, 28, 28, 1)
  assert test.class_names[0].startswith("Gurmukhi/character42")


def test_tfds_path_with_mock_data(tmp_path):
  """The TFDS loader groups images by (alphabet, character) and inverts them."""
  images = [tf.io.encode_png(
      np.repeat(character_image(c, d), 3, axis=-1)).numpy()
            for c in range(3) for d in range(20)]

  def as_dataset(builder, split, **kwargs):
    del builder, kwargs
    offset = 0 if split == "train" else 2
    count = 2 if split == "train" else 1
    rows = [(offset + c, d) for c in range(count) for d in range(20)]
    return tf.data.Dataset.from_tensor_slices({
        "image": [images[(c % 3) * 20 + d] for c, d in rows],
        "alphabet": [c // 2 for c, _ in rows],
        "alphabet_char_id": [c % 2 for c, _ in rows],
        "label": [c for c, _ in rows]})

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    data = omniglot.load_omniglot(
        DataConfig(source="tfds", cache_dir=str(tmp_path)), verbose=False)
  assert data.images.shape == (3, 20, 28, 28, 1)
  assert data.class_names == ("0/character01", "0/character02",
                              "1/character01")
  assert data.images[:, :, 0, 0].max() == pytest.approx(0.0)
  assert data.images[0, 0].max() == pytest.approx(1.0)
