"""CelebA for few-shot evaluation: identity tasks and attribute tasks.

A local copy is the official release's layout (Liu et al. 2015):

    celeba/img_align_celeba/000001.jpg ...
    celeba/identity_CelebA.txt      "000001.jpg 2880" per line
    celeba/list_eval_partition.txt  "000001.jpg 0"    (0 train, 1 val, 2 test)
    celeba/list_attr_celeba.txt     image count, 40 attribute names, then
                                    "000001.jpg -1 1 ..." per line

The official partition separates identities, so test identities are never
seen in training. `--data_source=tfds` reads TFDS's `celeb_a` instead (it
carries identities and attributes), decoding the chosen part into memory.

Images (178x218 aligned faces) are resized whole to S x S, as the authors'
code feeds them to the 84x84 network.
"""

from __future__ import annotations

import pathlib
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from lasium_tf.data.common import DataError, find_root
from lasium_tf.data.image_sets import (AttributeImages, ImageArray, ImageFiles,
                                       LabelledImages, labels_from_names)

NAME = "celeba"
IMAGE_FOLDER = "img_align_celeba"
PARTITION_FILE = "list_eval_partition.txt"
IDENTITY_FILE = "identity_CelebA.txt"
ATTRIBUTE_FILE = "list_attr_celeba.txt"
PARTS = {"train": 0, "val": 1, "test": 2}
TFDS_PARTS = {"train": "train", "val": "validation", "test": "test"}


def _root(data_dir: Optional[str], needs: Tuple[str, ...]) -> pathlib.Path:
  return find_root(
      data_dir, NAME,
      lambda r: (r / IMAGE_FOLDER).is_dir() and all(
          (r / f).is_file() for f in needs),
      f"{IMAGE_FOLDER}/ and {', '.join(needs)}",
      f" hold celeba/ with {IMAGE_FOLDER}/ and {', '.join(needs)} from the "
      f"official CelebA release (or use --data_source=tfds)")


def _read_pairs(path: pathlib.Path) -> Dict[str, str]:
  """`filename value` lines -> {filename: value}."""
  out = {}
  with open(path) as f:
    for number, line in enumerate(f, start=1):
      fields = line.split()
      if not fields:
        continue
      if len(fields) != 2:
        raise DataError(f"{path}, line {number}: expected 'filename value', "
                        f"got {line.strip()!r}; is it the official file?")
      out[fields[0]] = fields[1]
  return out


def _partition(root: pathlib.Path, part: str) -> List[str]:
  if part not in PARTS:
    raise ValueError(f"part must be one of {tuple(PARTS)}, got {part!r}.")
  pairs = _read_pairs(root / PARTITION_FILE)
  wanted = str(PARTS[part])
  names = sorted(n for n, p in pairs.items() if p == wanted)
  if not names:
    raise DataError(f"{root / PARTITION_FILE} puts no image in the {part} "
                    f"partition ({wanted}); is it the official file?")
  return names


def _files(root: pathlib.Path, names: List[str], size: int) -> ImageFiles:
  paths = [root / IMAGE_FOLDER / n for n in names]
  missing = [p.name for p in paths if not p.is_file()]
  if missing:
    raise DataError(f"{len(missing)} of {len(paths)} images are missing from "
                    f"{root / IMAGE_FOLDER}, e.g. {missing[0]}; is the copy "
                    f"complete?")
  store = ImageFiles(tuple(str(p) for p in paths), size)
  store.check_readable()
  return store


def read_attributes(path: pathlib.Path) -> Tuple[Tuple[str, ...],
                                                 Dict[str, np.ndarray]]:
  """list_attr_celeba.txt -> (40 names, {filename: bool[40]})."""
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  if len(lines) < 2:
    raise DataError(f"{path} is too short to be list_attr_celeba.txt.")
  names = tuple(lines[1].split())
  rows = {}
  for number, line in enumerate(lines[2:], start=3):
    fields = line.split()
    if len(fields) != len(names) + 1 or any(
        v not in ("1", "-1") for v in fields[1:]):
      raise DataError(f"{path}, line {number}: expected a filename and "
                      f"{len(names)} values of 1 or -1.")
    rows[fields[0]] = np.array([v == "1" for v in fields[1:]])
  return names, rows


def load_celeba_identities(data_dir: Optional[str], part: str,
                           image_size: int = 84,
                           source: str = "local") -> LabelledImages:
  """The identities of one partition as classes (the paper's Table 2)."""
  if source == "tfds":
    images, identities, _, _ = _read_tfds(data_dir, part, image_size)
    labels, classes = labels_from_names([str(i) for i in identities])
    return LabelledImages(ImageArray(images), labels, classes)
  root = _root(data_dir, (PARTITION_FILE, IDENTITY_FILE))
  names = _partition(root, part)
  identity = _read_pairs(root / IDENTITY_FILE)
  unknown = [n for n in names if n not in identity]
  if unknown:
    raise DataError(f"{len(unknown)} images of the {part} partition have no "
                    f"identity in {IDENTITY_FILE}, e.g. {unknown[0]}.")
  labels, classes = labels_from_names([identity[n] for n in names])
  return LabelledImages(_files(root, names, image_size), labels, classes)


def load_celeba_attributes(data_dir: Optional[str], part: str,
                           image_size: int = 84,
                           source: str = "local") -> AttributeImages:
  """One partition's images with their 40 attributes (the paper's Table 3)."""
  if source == "tfds":
    images, _, attributes, names = _read_tfds(data_dir, part, image_size)
    return AttributeImages(ImageArray(images), attributes, names)
  root = _root(data_dir, (PARTITION_FILE, ATTRIBUTE_FILE))
  files = _partition(root, part)
  names, rows = read_attributes(root / ATTRIBUTE_FILE)
  unknown = [n for n in files if n not in rows]
  if unknown:
    raise DataError(f"{len(unknown)} images of the {part} partition have no "
                    f"attributes in {ATTRIBUTE_FILE}, e.g. {unknown[0]}.")
  attributes = np.stack([rows[n] for n in files])
  return AttributeImages(_files(root, files, image_size), attributes, names)


def _read_tfds(data_dir: Optional[str], part: str, size: int):
  """TFDS `celeb_a`, one part decoded to uint8 [n, S, S, 3] in memory."""
  import tensorflow_datasets as tfds  # Imported lazily: slow, optional path.

  if part not in TFDS_PARTS:
    raise ValueError(f"part must be one of {tuple(TFDS_PARTS)}, got {part!r}.")
  builder = tfds.builder("celeb_a", data_dir=data_dir)
  builder.download_and_prepare()
  names = tuple(sorted(builder.info.features["attributes"].keys()))

  def prepare(example):
    image = tf.image.resize(example["image"], (size, size), method="bilinear",
                            antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    attributes = tf.stack([example["attributes"][n] for n in names])
    return image, example["identity"]["Identity_No"], attributes

  ds = builder.as_dataset(split=TFDS_PARTS[part]).map(
      prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(1024)
  images, identities, attributes = [], [], []
  for image, identity, attribute in ds.as_numpy_iterator():
    images.append(image)
    identities.append(identity)
    attributes.append(attribute)
  if not images:
    raise DataError(f"TFDS celeb_a has no {part} examples.")
  return (np.concatenate(images), np.concatenate(identities),
          np.concatenate(attributes).astype(bool), names)
