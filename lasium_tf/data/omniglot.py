"""Omniglot: official zips or folders (or TFDS), decoded once, cached, split.

The images become float32 arrays in [0, 1] of shape [H, W, 1] with strokes 1
and background 0 (the official PNGs are the opposite). Every character has 20
drawings, so a split is one array `[num_classes, 20, H, W, 1]` plus the
character names `Alphabet/characterNN`; samplers index it directly.

The decoded set is cached as one `.npy` file per key in the user cache folder
(`LASIUM_CACHE_DIR`, else `$XDG_CACHE_HOME/lasium_tf`, else
`~/.cache/lasium_tf`). The key hashes the source files (the zips' bytes, or a
folder's file list with sizes and modification times) and the preprocessing,
so a changed source or image size never serves a stale cache. Files are
written to a temporary name and renamed, so an interrupted run leaves no half
file behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import random
import re
import warnings
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from lasium_tf.config import DataConfig, white_strokes
from lasium_tf.data.common import (DATA_DIR_ENV, OMNIGLOT_IMAGES_PER_CLASS,
                                   DataError, base_dirs, tried)
from lasium_tf.tasks.episodes import check_task_shape, labelled_episodes
from lasium_tf.core.files import atomic_write

CACHE_DIR_ENV = "LASIUM_CACHE_DIR"
SETS = ("images_background", "images_evaluation")
_CACHE_VERSION = 2  # 2: the meta record keeps the array's sha256.
_PNG_PATH = re.compile(
    r"^(?:.*/)?(images_background|images_evaluation)/([^/]+)/"
    r"(character\d+)/([^/]+\.png)$")

# The Vinyals et al. (2016) split, written as its rule: five validation
# alphabets, thirteen test alphabets of the evaluation set plus Gurmukhi's
# last four characters; every other character trains. A test checks this rule
# against the split files distributed with the Prototypical Networks code.
VINYALS_VAL_ALPHABETS = ("Armenian", "Bengali", "Early_Aramaic", "Hebrew",
                         "Mkhedruli_(Georgian)")
VINYALS_TEST_ALPHABETS = (
    "Kannada", "Keble", "Malayalam", "Manipuri", "Mongolian",
    "Old_Church_Slavonic_(Cyrillic)", "Oriya", "Sylheti", "Syriac_(Serto)",
    "Tengwar", "Tibetan", "ULOG")
VINYALS_TEST_CHARACTERS = tuple(
    f"Gurmukhi/character{i}" for i in (42, 43, 44, 45))
# The 20 alphabets of the official images_evaluation set.
EVALUATION_ALPHABETS = (
    "Angelic", "Atemayar_Qelisayer", "Atlantean", "Aurek-Besh", "Avesta",
    "Ge_ez", "Glagolitic", "Gurmukhi", "Kannada", "Keble", "Malayalam",
    "Manipuri", "Mongolian", "Old_Church_Slavonic_(Cyrillic)", "Oriya",
    "Sylheti", "Syriac_(Serto)", "Tengwar", "Tibetan", "ULOG")
AUTHORS_SPLIT_SEED = 47
AUTHORS_SPLIT_SIZES = (1200, 100, 323)


@dataclasses.dataclass(frozen=True)
class ClassImages:
  """A labelled image set: `images[c, i]` is drawing i of class c."""

  images: np.ndarray  # [num_classes, images_per_class, H, W, C] float32
  class_names: Tuple[str, ...]

  @property
  def num_classes(self) -> int:
    return self.images.shape[0]

  def check(self, n_way: int, k_shot: int, k_query: int, what: str) -> None:
    """Raises ValueError when an N-way K_tr+K_val task cannot be drawn."""
    check_task_shape(self.num_classes, self.images.shape[1], n_way, k_shot,
                     k_query, what)

  def episodes(self, n_way: int, k_shot: int, k_query: int, seed: int,
               start: int = 0, count: Optional[int] = None) -> tf.data.Dataset:
    """Task `start, start + 1, ...` of the seed's sequence (`Episode`s)."""
    return labelled_episodes(self.images, n_way, k_shot, k_query, seed,
                             start, count)

  def unlabeled(self) -> np.ndarray:
    """[classes, per_class, H, W, C] -> [n, H, W, C]: the labels dropped."""
    return self.images.reshape((-1,) + self.images.shape[2:])

  def with_rotations(self) -> "ClassImages":
    """Each class and its rotations by 90, 180 and 270 degrees as new classes.

    The original MAML Omniglot protocol's augmentation of the training
    classes (4x the classes; names gain `/rot090` and so on), for the
    supervised baselines (`--train_rotations`).
    """
    rotated = [np.rot90(self.images, k, axes=(2, 3)) for k in range(4)]
    names = tuple(f"{n}/rot{90 * k:03d}" if k else n
                  for k in range(4) for n in self.class_names)
    return ClassImages(np.ascontiguousarray(np.concatenate(rotated)), names)

  def subset(self, names: Sequence[str]) -> "ClassImages":
    index = {n: i for i, n in enumerate(self.class_names)}
    missing = [n for n in names if n not in index]
    if missing:
      raise DataError(f"{len(missing)} characters of the split are not in "
                      f"the data, e.g. {missing[:3]}; is the data complete?")
    rows = [index[n] for n in names]
    return ClassImages(self.images[rows], tuple(names))


def resolve_omniglot_dir(data_dir: Optional[str]) -> pathlib.Path:
  """Finds the folder that holds images_background and images_evaluation.

  `data_dir` may be that folder or one holding `omniglot/`; without it the
  places of `common.base_dirs` are tried in order.
  """
  candidates = base_dirs(data_dir)
  for where in candidates:
    for root in (where, where / "omniglot"):
      if all(_set_path(root, s) is not None for s in SETS):
        return root
  raise DataError(
      f"Omniglot not found: looked in {tried(candidates)} (each folder and "
      f"its omniglot/) for images_background and images_evaluation (.zip or "
      f"folder). Fetch them with `python -m lasium_tf.data.download "
      f"omniglot`, point --data_dir (or the {DATA_DIR_ENV} environment "
      f"variable) at a folder with the official zips, or use "
      f"--data_source=tfds.")


def _set_path(root: pathlib.Path, name: str) -> Optional[pathlib.Path]:
  for path in (root / f"{name}.zip", root / name):
    if path.exists():
      return path
  return None


def default_cache_dir() -> pathlib.Path:
  if os.environ.get(CACHE_DIR_ENV):
    return pathlib.Path(os.environ[CACHE_DIR_ENV]).expanduser()
  xdg = os.environ.get("XDG_CACHE_HOME")
  base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
  return base / "lasium_tf"


def _read_local(root: pathlib.Path, read: bool = True
                ) -> Tuple[Dict[str, List[Tuple[str, Optional[bytes]]]], str]:
  """Lists (and with `read`, reads) every PNG of both sets.

  Returns {character: [(file, bytes or None)]} and a key of the files'
  contents (a zip's bytes; a folder's names, sizes and times), so a run
  whose decoded cache is valid never decompresses the 32,460 drawings.
  """
  by_class: Dict[str, List[Tuple[str, Optional[bytes]]]] = {}
  digest = hashlib.sha256()
  for name in SETS:
    path = _set_path(root, name)
    count = 0
    if path.suffix == ".zip":
      try:
        with zipfile.ZipFile(path) as archive:
          for info in sorted(archive.infolist(), key=lambda i: i.filename):
            match = _PNG_PATH.match(info.filename)
            if match and match.group(1) == name:
              _add(by_class, match, archive.read(info) if read else None)
              count += 1
      except (zipfile.BadZipFile, OSError, zipfile.LargeZipFile) as e:
        raise DataError(f"{path} is not a readable zip ({e}); download it "
                        f"again or extract it to a folder {root / name}.")
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
          digest.update(block)
    else:
      for png in sorted(path.glob("*/character*/*.png")):
        match = _PNG_PATH.match(png.relative_to(root).as_posix())
        if match:
          _add(by_class, match, png.read_bytes() if read else None)
          stat = png.stat()
          digest.update(f"{match.group(0)}:{stat.st_size}:"
                        f"{stat.st_mtime_ns};".encode())
          count += 1
    if count == 0:
      raise DataError(
          f"{path} holds no PNG in the official layout "
          f"{name}/<Alphabet>/characterNN/XXXX_YY.png; is it the official "
          f"Omniglot {name}?")
  return by_class, digest.hexdigest()


def _add(by_class, match, data):
  _, alphabet, character, filename = match.groups()
  by_class.setdefault(f"{alphabet}/{character}", []).append((filename, data))


def _read_tfds(data_dir: Optional[str]):
  """Reads the TFDS `omniglot` train and test splits (background,
  evaluation)."""
  import tensorflow_datasets as tfds  # Imported lazily: slow, optional path.

  builder = tfds.builder("omniglot", data_dir=data_dir)
  builder.download_and_prepare()
  alphabets = builder.info.features["alphabet"].names
  by_class: Dict[str, List[Tuple[str, bytes]]] = {}
  for split in ("train", "test"):
    ds = builder.as_dataset(split=split, decoders={
        "image": tfds.decode.SkipDecoding()})
    for i, example in enumerate(ds.as_numpy_iterator()):
      name = (f"{alphabets[example['alphabet']]}/"
              f"character{int(example['alphabet_char_id']) + 1:02d}")
      by_class.setdefault(name, []).append(
          (f"{split}_{i:06d}", example["image"]))
  key = f"tfds:{builder.info.full_name}:{builder.data_dir}"
  return by_class, hashlib.sha256(key.encode()).hexdigest()


def _decode_all(items: List[Tuple[str, bytes]], size: int) -> np.ndarray:
  """Decodes PNG bytes to [n, size, size, 1] float32, strokes 1, background
  0."""

  def decode(data):
    image = tf.io.decode_png(data, channels=1)
    image = tf.image.convert_image_dtype(image, tf.float32)
    image = tf.image.resize(image, (size, size), method="bilinear")
    return 1.0 - image

  ds = tf.data.Dataset.from_tensor_slices([data for _, data in items])
  ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
  try:
    return np.concatenate(list(ds.as_numpy_iterator()), axis=0)
  except tf.errors.InvalidArgumentError:
    for name, data in items:
      try:
        decode(data)
      except tf.errors.InvalidArgumentError as e:
        raise DataError(f"cannot decode {name} ({e.message.strip()}); the "
                        f"file is corrupt: download Omniglot again.") from None
    raise


def _cache_path(cache_dir: pathlib.Path, key: str, size: int) -> pathlib.Path:
  tag = hashlib.sha256(
      f"{key}|size={size}|v={_CACHE_VERSION}".encode()).hexdigest()[:20]
  return cache_dir / f"omniglot-{size}px-{tag}.npy"


# The images this process last loaded from the official zips: {(the zips'
# (path, size, mtime), image size): (the decoded cache file's stamp, images,
# names)}, so a process that runs several modes (train_and_evaluate, a
# notebook, a test) reads them once. Each caller gets its own copy.
_LAST_LOAD: Dict[Tuple, Tuple] = {}


def _file_stamp(paths: Sequence[pathlib.Path]) -> Tuple:
  return tuple((str(p.resolve()), s.st_size, s.st_mtime_ns)
               for p in paths for s in (p.stat(),))


def _recall(zips, size) -> Optional[Tuple[np.ndarray, Tuple[str, ...]]]:
  kept = _LAST_LOAD.get((_file_stamp(zips), size)) if zips else None
  cache, images, names = kept or (None, None, None)
  if cache and pathlib.Path(cache[0][0]).exists() and (
      _file_stamp([pathlib.Path(cache[0][0])]) == cache):
    return images.copy(), names
  return None


def _remember(zips, size, path, images, names) -> None:
  if zips:
    _LAST_LOAD.clear()
    _LAST_LOAD[(_file_stamp(zips), size)] = (_file_stamp([path]),
                                             images.copy(), names)


def load_omniglot(config: DataConfig, verbose: bool = True) -> ClassImages:
  """All 1623 characters, sorted by name, as [1623, 20, H, W, 1] float32.

  Strokes are 1 on 0 unless `config.strokes` is "black" (see DataConfig).
  """
  cache_dir = (pathlib.Path(config.cache_dir).expanduser()
               if config.cache_dir else default_cache_dir())
  size = config.resolved_image_size
  zips = None
  if config.source != "tfds":
    root = resolve_omniglot_dir(config.data_dir)
    zips = [_set_path(root, name) for name in SETS]
    if not all(z.suffix == ".zip" for z in zips):
      zips = None  # Extracted folders: no cheap stamp of every file.
    recalled = _recall(zips, size)
    if recalled:
      return ClassImages(white_strokes(recalled[0], config.strokes),
                         recalled[1])
  if config.source == "tfds":
    by_class, key = _read_tfds(config.data_dir)
  else:
    by_class, key = _read_local(root, read=False)
  names = tuple(sorted(by_class))
  path = _cache_path(cache_dir, key, size)
  meta_path = path.with_suffix(".json")
  if path.exists() and meta_path.exists():
    try:
      meta = json.loads(meta_path.read_text())
      images = np.load(path, mmap_mode=None)
      if (tuple(meta["class_names"]) == names
          and images.shape[0] == len(names)):
        if meta.get("sha256") == _digest(images):
          _remember(zips, size, path, images, names)
          return ClassImages(white_strokes(images, config.strokes), names)
        warnings.warn(f"the Omniglot cache {path} does not match its "
                      f"checksum (damaged on disk?); decoding it afresh.")
    except (OSError, ValueError, KeyError):
      pass  # An unreadable cache is rebuilt below.
  bad = [n for n in names if len(by_class[n]) != OMNIGLOT_IMAGES_PER_CLASS]
  if bad:
    raise DataError(
        f"{len(bad)} characters do not have {OMNIGLOT_IMAGES_PER_CLASS} "
        f"drawings, e.g. {bad[0]} has {len(by_class[bad[0]])}; the data is "
        f"incomplete: download Omniglot again.")
  if verbose:
    print(f"Decoding {len(names) * OMNIGLOT_IMAGES_PER_CLASS} Omniglot images "
          f"to {size}x{size} (cached in {path}).",
          flush=True)
  if config.source != "tfds":
    by_class, _ = _read_local(root)
  items = [item for n in names for item in sorted(by_class[n])]
  images = _decode_all(items, size).reshape(
      (len(names), OMNIGLOT_IMAGES_PER_CLASS, size, size, 1))
  try:
    atomic_write(path, lambda f: np.save(f, images))
    atomic_write(meta_path, lambda f: f.write(json.dumps({
        "class_names": names, "key": key,
        "sha256": _digest(images)}).encode()))
    _remember(zips, size, path, images, names)
  except OSError as e:  # The images are decoded; only the cache is lost.
    warnings.warn(f"could not write the Omniglot cache {path} ({e}); the "
                  f"next run decodes the images again. Set LASIUM_CACHE_DIR "
                  f"to a writable folder with room to keep it.")
  return ClassImages(white_strokes(images, config.strokes), names)


def _digest(images: np.ndarray) -> str:
  """The checksum a cache file's meta record keeps of its array."""
  return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def vinyals_split(names: Sequence[str]) -> Dict[str, List[str]]:
  """The Vinyals et al. (2016) character split, by its rule."""
  split = {"train": [], "val": [], "test": []}
  for name in sorted(names):
    alphabet = name.split("/")[0]
    if alphabet in VINYALS_VAL_ALPHABETS:
      split["val"].append(name)
    elif alphabet in VINYALS_TEST_ALPHABETS or name in VINYALS_TEST_CHARACTERS:
      split["test"].append(name)
    else:
      split["train"].append(name)
  return split


def authors_split(names: Sequence[str]) -> Dict[str, List[str]]:
  """The LASIUM code's split: 1200 / 100 / 323 characters, exactly as drawn.

  Their code pooled the character folders of both sets as full paths
  (`.../images_background/<Alphabet>/<character>`, then
  `.../images_evaluation/...`), sorted them, and shuffled the list with
  Python's `random.seed(47); random.shuffle` (docs/
  reproducing.md). Sorting makes it the same on every machine; the
  set a character belongs to is known from its alphabet.
  """
  def full_path(name):
    alphabet = name.split("/")[0]
    return (f"{SETS[1] if alphabet in EVALUATION_ALPHABETS else SETS[0]}/"
            f"{name}")

  order = sorted(names, key=full_path)
  random.Random(AUTHORS_SPLIT_SEED).shuffle(order)
  n_train, n_val, _ = AUTHORS_SPLIT_SIZES
  return {"train": order[:n_train], "val": order[n_train:n_train + n_val],
          "test": order[n_train + n_val:]}


SPLIT_FUNCTIONS = {"vinyals": vinyals_split, "authors": authors_split}


def load_split(config: DataConfig, part: str,
               everything: Optional[ClassImages] = None) -> ClassImages:
  """One part ("train", "val" or "test") of the configured split."""
  everything = everything if everything is not None else load_omniglot(config)
  split = config.resolved_split
  names = SPLIT_FUNCTIONS[split](everything.class_names)[part]
  if not names:
    raise DataError(f"the {split} split has no {part} characters in "
                    f"this data; is the data complete?")
  return everything.subset(names)


__all__ = ["ClassImages", "DataError", "load_omniglot", "load_split",
           "resolve_omniglot_dir", "vinyals_split", "authors_split",
           "default_cache_dir"]
