"""Your own images: an unlabeled folder for LASIUM, a labelled one for tests.

`--dataset=folder` is LASIUM's promise on a researcher's own domain:
meta-learning from images without labels (Khodadadeh et al., ICLR 2021,
Section 3). Two folders:

* `--data_dir`: unlabeled PNG or JPEG files, at any depth. The generator
  trains on them and VAE anchors are encoded from them. They are decoded as
  batches are drawn, never cached whole.
* `--eval_data_dir`: one subfolder per class (images at any depth below it).
  Test tasks are N-way K-shot tasks drawn from it with the benchmarks'
  protocol (`image_sets.LabelledImages`); a class with fewer images than a
  task needs is never drawn, and said so.

Every file is checked by its header first (cheap: a few bytes), so a file
that is not a PNG or JPEG is named before any training starts;
`--skip_bad_images` skips such files and counts them instead. The header
also gives each file's channels: without `--channels`, a folder of grey
images is read grey and one of colour images RGB, and a mix is an error
that names one file of each.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

from lasium_tf.data.common import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg")
# VAE anchors are encoded real images; at most this many, drawn once with the
# run's seed, are decoded and kept in memory for them.
ANCHOR_POOL = 2048

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types: grey, RGB, palette, grey + alpha, RGBA. Alpha is dropped.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 1, 6: 3}
# JPEG start-of-frame markers (baseline, progressive, lossless, ...).
_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def header_channels(path: str) -> Optional[int]:
  """1 (grey) or 3 (colour) from a PNG or JPEG header; None if it is neither.

  Reads the PNG IHDR colour type or the JPEG frame's component count, so a
  folder of thousands of files is checked without decoding one.
  """
  try:
    with open(path, "rb") as f:
      head = f.read(64 * 1024)
  except OSError:
    return None
  if head.startswith(_PNG_SIGNATURE):
    if len(head) < 26 or head[12:16] != b"IHDR":
      return None
    return _PNG_CHANNELS.get(head[25])
  if not head.startswith(b"\xff\xd8"):
    return None
  i = 2
  while i + 9 < len(head):
    if head[i] != 0xFF:
      return None
    marker = head[i + 1]
    if marker == 0xFF:  # Fill byte.
      i += 1
      continue
    length = int.from_bytes(head[i + 2:i + 4], "big")
    if marker in _JPEG_FRAMES:
      components = head[i + 9]
      return 1 if components == 1 else 3 if components in (3, 4) else None
    i += 2 + length
  return None


# Larger images are refused before decoding: 30000 x 30000 pixels would take
# gigabytes to decode, only to be resized to 28 x 28.
MAX_PIXELS = 50_000_000
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def image_problem(path: str) -> Optional[str]:
  """Why `path` cannot be used as an image (what a user can act on), or
  None: unreadable, not a PNG or JPEG, truncated (no end marker), or too
  large to decode. Reads the header and the last bytes only."""
  try:
    with open(path, "rb") as f:
      head = f.read(64 * 1024)
      f.seek(max(0, os.fstat(f.fileno()).st_size - 1024))
      tail = f.read()
  except OSError as e:
    return f"cannot be read ({e.strerror or e})"
  if header_channels(path) is None:
    return "is not a readable PNG or JPEG image"
  if head.startswith(_PNG_SIGNATURE):
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    ended = _PNG_END in tail
  else:
    width, height = _jpeg_size(head)
    ended = b"\xff\xd9" in tail
  if width * height > MAX_PIXELS:
    return (f"is {width} x {height} pixels, too large to decode (at most "
            f"{MAX_PIXELS // 1_000_000} million pixels): resize it")
  if not ended:
    return "is truncated (its end is missing)"
  return None


def _jpeg_size(head: bytes) -> Tuple[int, int]:
  """(width, height) from a JPEG's frame header; (0, 0) if not found."""
  i = 2
  while i + 9 < len(head) and head[i] == 0xFF:
    marker = head[i + 1]
    if marker == 0xFF:
      i += 1
      continue
    if marker in _JPEG_FRAMES:
      return (int.from_bytes(head[i + 7:i + 9], "big"),
              int.from_bytes(head[i + 5:i + 7], "big"))
    i += 2 + int.from_bytes(head[i + 2:i + 4], "big")
  return 0, 0


@dataclasses.dataclass(frozen=True)
class Scan:
  """The images found under a folder: paths, channels, what was skipped."""

  paths: Tuple[str, ...]
  channels: Tuple[int, ...]
  skipped: Tuple[str, ...]


def _check_folder(root: str, what: str) -> pathlib.Path:
  if not root:
    raise DataError(f"{what} is not set: point it at a folder of PNG or "
                    f"JPEG images.")
  path = pathlib.Path(root).expanduser()
  if not path.exists():
    raise DataError(f"{what}={root} does not exist: point it at a folder of "
                    f"PNG or JPEG images.")
  if not path.is_dir():
    raise DataError(f"{what}={root} is a file, not a folder: point it at the "
                    f"folder that holds the images.")
  return path


@functools.lru_cache(maxsize=8)
def scan(root: str, skip_bad: bool = False,
         what: str = "--data_dir") -> Scan:
  """Every PNG or JPEG file under `root`, sorted, with its channels.

  Raises DataError for a missing or empty folder, and for a file with an
  image extension that is not a PNG or JPEG (unless `skip_bad`).
  """
  path = _check_folder(root, what)
  files = sorted(str(p) for p in path.rglob("*")
                 if p.is_file() and not p.name.startswith("."))
  candidates = [f for f in files if f.lower().endswith(EXTENSIONS)]
  if not candidates:
    seen = f"{len(files)} other files" if files else "nothing"
    raise DataError(f"{what}={root} holds no images ({', '.join(EXTENSIONS)}"
                    f" files, at any depth); found {seen}.")
  paths, channels, skipped = [], [], []
  for f in candidates:
    problem = image_problem(f)
    if problem:
      if not skip_bad:
        raise DataError(f"{f} {problem}: replace or delete it, or pass "
                        f"--skip_bad_images to skip such files (they are "
                        f"counted).")
      skipped.append(f)
      continue
    paths.append(f)
    channels.append(header_channels(f))
  if not paths:
    raise DataError(f"{what}={root}: none of its {len(candidates)} image "
                    f"files could be read.")
  if skipped:
    print(f"Skipped {len(skipped)} unreadable image file(s) under {root}, "
          f"e.g. {skipped[0]}.", file=sys.stderr, flush=True)
  return Scan(tuple(paths), tuple(channels), tuple(skipped))


def infer_channels(scans: List[Scan]) -> int:
  """1 if every image is grey, 3 if every one is colour; else DataError."""
  grey = [p for s in scans for p, c in zip(s.paths, s.channels) if c == 1]
  colour = [p for s in scans for p, c in zip(s.paths, s.channels) if c == 3]
  if grey and colour:
    raise DataError(
        f"the images have mixed channel counts: {len(grey)} grey (e.g. "
        f"{grey[0]}) and {len(colour)} colour (e.g. {colour[0]}); pass "
        f"--channels=1 to read all as grey or --channels=3 for RGB.")
  return 1 if grey else 3


@dataclasses.dataclass(frozen=True)
class UnlabeledImages:
  """The unlabeled folder: a store the generator's batches are fetched from."""

  store: object  # image_sets.ImageFiles
  seed: int = 0

  def __len__(self) -> int:
    return len(self.store)

  def fetch(self, indices):
    return self.store.fetch(indices)

  def unlabeled(self, limit: int = ANCHOR_POOL) -> np.ndarray:
    """At most `limit` images, a seeded random choice, decoded: VAE anchors."""
    import tensorflow as tf

    n = len(self.store)
    if n <= limit:
      chosen = np.arange(n)
    else:
      chosen = np.sort(np.random.default_rng(self.seed).choice(
          n, limit, replace=False))
    return self.store.fetch(tf.constant(chosen)).numpy()


def load_unlabeled(root: str, image_size: int, channels: int,
                   skip_bad: bool = False, seed: int = 0) -> UnlabeledImages:
  """The images under `root` (any depth) for generator training."""
  from lasium_tf.data.image_sets import ImageFiles

  found = scan(root, skip_bad, "--data_dir")
  store = ImageFiles(found.paths, image_size, channels)
  store.check_readable()
  return UnlabeledImages(store, seed)


def class_folders(root: str, skip_bad: bool = False,
                  what: str = "--eval_data_dir") -> Dict[str, Scan]:
  """{class name: its images} for a folder of class subfolders."""
  path = _check_folder(root, what)
  loose = [p.name for p in path.iterdir()
           if p.is_file() and p.name.lower().endswith(EXTENSIONS)]
  if loose:
    raise DataError(f"{what}={root} has images directly inside it (e.g. "
                    f"{loose[0]}), which belong to no class: put each "
                    f"class's images in a subfolder named after the class.")
  classes = {}
  empty = []
  for sub in sorted(p for p in path.iterdir() if p.is_dir()
                    and not p.name.startswith(".")):
    try:
      classes[sub.name] = scan(str(sub), skip_bad, f"{what} class")
    except DataError:
      if not skip_bad and any(
          f.is_file() and f.name.lower().endswith(EXTENSIONS)
          for f in sub.rglob("*")):
        raise
      empty.append(sub.name)
  if empty:
    print(f"{what}: {len(empty)} class folder(s) without readable images "
          f"are left out: {', '.join(empty[:5])}.", file=sys.stderr,
          flush=True)
  if len(classes) < 2:
    raise DataError(
        f"{what}={root} has {len(classes)} class folder(s) with images; "
        f"few-shot tasks need at least 2: one subfolder per class.")
  return classes


def labelled_files(root: str, skip_bad: bool = False,
                   what: str = "--eval_data_dir"):
  """(class names, image paths, labels) of a folder of class subfolders."""
  classes = class_folders(root, skip_bad, what)
  names = tuple(classes)
  paths, labels = [], []
  for label, name in enumerate(names):
    paths.extend(classes[name].paths)
    labels.extend([label] * len(classes[name].paths))
  return names, paths, labels


def load_labelled(root: str, image_size: int, channels: int,
                  skip_bad: bool = False, what: str = "--eval_data_dir"):
  """Labelled few-shot tasks from a folder of class subfolders."""
  from lasium_tf.data.image_sets import ImageFiles, LabelledImages

  names, paths, labels = labelled_files(root, skip_bad, what)
  store = ImageFiles(tuple(paths), image_size, channels)
  store.check_readable()
  return LabelledImages(store, np.array(labels, np.int64), names)


def folder_channels(data_dir: Optional[str], eval_data_dir: Optional[str],
                    skip_bad: bool = False) -> int:
  """The channels both folders agree on (see `infer_channels`)."""
  scans = []
  if data_dir:
    scans.append(scan(data_dir, skip_bad, "--data_dir"))
  if eval_data_dir:
    scans.extend(class_folders(eval_data_dir, skip_bad).values())
  if not scans:
    raise DataError("--dataset=folder needs --data_dir (unlabeled images) "
                    "or --eval_data_dir (a folder of class subfolders).")
  return infer_channels(scans)


def image_paths(paths: List[str]) -> List[str]:
  """Files as given, folders expanded to their images (sorted), and glob
  patterns expanded here: in `--query=dir/*.png` the shell leaves the `*`
  alone (it is inside one word), so the program expands it itself."""
  import glob

  out = []
  for p in paths:
    if os.path.isdir(p):
      out.extend(scan(p, False, "--query").paths)
    elif os.path.isfile(p):
      out.append(p)
    elif glob.has_magic(p):
      matches = sorted(m for m in glob.glob(p) if os.path.isfile(m))
      if not matches:
        raise DataError(f"--query {p} matches no file.")
      out.extend(matches)
    else:
      raise DataError(f"--query {p} does not exist.")
  return out


# Images whose borders decide a grey folder's polarity.
POLARITY_SAMPLE = 128


def detect_background(data_dir: Optional[str], eval_data_dir: Optional[str],
                      image_size: int, skip_bad: bool = False) -> str:
  """"light" or "dark": the median of the border pixels of a seeded sample
  of the folder's grey images (`--data_dir`, else `--eval_data_dir`).

  A drawing or a scan has paper at its edges and strokes inside; the
  border's median is the paper's value, whatever share of ink the images
  hold.
  """
  import tensorflow as tf

  from lasium_tf.data.image_sets import ImageFiles

  if data_dir:
    paths = scan(data_dir, skip_bad, "--data_dir").paths
  else:
    paths = tuple(p for s in class_folders(eval_data_dir, skip_bad).values()
                  for p in s.paths)
  if len(paths) > POLARITY_SAMPLE:
    chosen = np.random.default_rng(0).choice(len(paths), POLARITY_SAMPLE,
                                             replace=False)
    paths = tuple(paths[i] for i in sorted(chosen))
  try:
    images = ImageFiles(tuple(paths), image_size, 1).fetch(
        tf.range(len(paths))).numpy()[..., 0]
  except tf.errors.OpError:
    for path in paths:  # Which one: decode them one by one.
      try:
        ImageFiles((path,), image_size, 1).fetch(tf.range(1))
      except tf.errors.OpError:
        raise DataError(f"{path} cannot be decoded (a damaged image): "
                        f"replace or delete it.") from None
    raise
  border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0],
                           images[:, :, -1]], axis=1)
  return "light" if float(np.median(border)) > 0.5 else "dark"

