"""mini-ImageNet with the split of Ravi & Larochelle (2017).

The split is three CSV files, `filename,label` (64 train, 16 validation and
20 test classes of 600 images each). The images are not redistributable; a
user brings them in one of the two usual layouts:

* flat: `images/<filename>` (the Ravi release),
* per class: `<part>/<label>/<filename>` or `<label>/<filename>`.

The loader looks for the CSVs beside the images (`<root>/<part>.csv`, or
`<root>/splits/ravi/<part>.csv`), and then takes the copy that ships with
the package (`lasium_tf/data/splits/ravi/<part>.csv.gz`, the public files of
Ravi & Larochelle, 2017).
"""

from __future__ import annotations

import csv
import gzip
import io
import pathlib
from typing import List, Optional, Tuple

from lasium_tf.data.common import DataError, find_root
from lasium_tf.data.image_sets import ImageFiles, LabelledImages, labels_from_names

PARTS = ("train", "val", "test")
NAME = "mini_imagenet"


def packaged_split(part: str) -> pathlib.Path:
  """The Ravi split file that ships inside the package."""
  return pathlib.Path(__file__).parent / "splits" / "ravi" / f"{part}.csv.gz"


def _csv_candidates(root: pathlib.Path, part: str) -> List[pathlib.Path]:
  return [root / f"{part}.csv", root / "splits" / "ravi" / f"{part}.csv",
          packaged_split(part)]


def read_split(path: pathlib.Path) -> List[Tuple[str, str]]:
  """The (filename, label) rows of a Ravi split CSV."""
  try:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
      rows = list(csv.reader(io.StringIO(f.read().decode("utf-8"),
                                         newline="")))
  except (OSError, UnicodeDecodeError, EOFError) as e:
    raise DataError(f"cannot read {path} ({e}).") from None
  if not rows or [c.strip() for c in rows[0]] != ["filename", "label"]:
    raise DataError(f"{path} does not start with the header 'filename,label' "
                    f"of the Ravi split files; is it one?")
  out = []
  for number, row in enumerate(rows[1:], start=2):
    if len(row) != 2 or not row[0] or not row[1]:
      raise DataError(f"{path}, line {number}: expected 'filename,label', "
                      f"got {','.join(row)!r}.")
    out.append((row[0].strip(), row[1].strip()))
  return out


def _image_path(root: pathlib.Path, part: str, filename: str,
                label: str) -> Optional[pathlib.Path]:
  for path in (root / "images" / filename, root / part / label / filename,
               root / label / filename):
    if path.is_file():
      return path
  return None


def _has_images(root: pathlib.Path) -> bool:
  return (root / "images").is_dir() or any(
      (root / part).is_dir() for part in PARTS)


def load_mini_imagenet(data_dir: Optional[str], part: str,
                       image_size: int = 84) -> LabelledImages:
  """One part ("train", "val" or "test") of the Ravi split, read lazily."""
  if part not in PARTS:
    raise ValueError(f"part must be one of {PARTS}, got {part!r}.")
  root = find_root(
      data_dir, NAME, lambda r: _has_images(r) or any(
          p.is_file() for p in _csv_candidates(r, part)[:2]),
      "images/ or per-class folders",
      " hold mini_imagenet/ with images/<filename>.jpg (or per-class "
      "folders) and the Ravi split CSVs; the images are not distributed "
      "with this repository")
  csv_path = next((p for p in _csv_candidates(root, part) if p.is_file()),
                  None)
  if csv_path is None:
    raise DataError(f"no Ravi split file {part}.csv in {root} or "
                    f"{root / 'splits' / 'ravi'}; put train.csv, val.csv and "
                    f"test.csv there.")
  rows = read_split(csv_path)
  paths, missing = [], []
  for filename, label in rows:
    path = _image_path(root, part, filename, label)
    if path is None:
      missing.append(filename)
    else:
      paths.append(str(path))
  if missing:
    raise DataError(
        f"{len(missing)} of the {len(rows)} images of {csv_path.name} are "
        f"missing under {root} (looked for images/<filename>, "
        f"{part}/<label>/<filename> and <label>/<filename>), e.g. "
        f"{missing[0]}; is the mini-ImageNet copy complete?")
  labels, classes = labels_from_names([label for _, label in rows])
  store = ImageFiles(tuple(paths), image_size)
  store.check_readable()
  return LabelledImages(store, labels, classes)
