"""Drawn shapes: a tiny image set in the layout `--dataset=folder` reads.

For trying the own-images workflow without images of one's own (the
`your_images` notebook) and for the tests: ten shape classes drawn with
numpy at random positions and sizes. The first five are the unlabeled
images LASIUM trains its generator on; the last five, never seen in
training, are the labelled test classes, as the paper keeps test classes
out of meta-training (Khodadadeh et al., ICLR 2021, Section 4).
"""

from __future__ import annotations

import pathlib
from typing import Dict

import numpy as np

SHAPES = ("disc", "square", "triangle", "cross", "ring",
          "hbar", "vbar", "diamond", "saltire", "frame")
TRAIN_SHAPES, TEST_SHAPES = SHAPES[:5], SHAPES[5:]


def shape_mask(shape: str, seed, size: int = 28) -> np.ndarray:
  """bool [size, size]: one drawing of `shape`, placed and sized by `seed`."""
  rng = np.random.default_rng(seed)
  r = size * rng.uniform(0.25, 0.4)
  cy, cx = size / 2 + rng.uniform(-0.1, 0.1, 2) * size
  yy, xx = np.mgrid[0:size, 0:size] + 0.5
  dy, dx = yy - cy, xx - cx
  ay, ax = np.abs(dy), np.abs(dx)
  box = np.maximum(ax, ay)
  thick = 0.28 * r
  masks = {
      "disc": np.hypot(dx, dy) < r,
      "ring": (np.hypot(dx, dy) < r) & (np.hypot(dx, dy) > 0.6 * r),
      "square": box < 0.8 * r,
      "frame": (box < 0.85 * r) & (box > 0.5 * r),
      "diamond": ax + ay < r,
      "triangle": (dy < 0.7 * r) & (dy > -0.8 * r) & (ax < 0.6 * (dy + 0.8 * r)),
      "cross": ((ax < thick) & (ay < r)) | ((ay < thick) & (ax < r)),
      "saltire": ((np.abs(dx - dy) < thick) | (np.abs(dx + dy) < thick))
                 & (box < 0.8 * r),
      "hbar": (ay < thick) & (ax < r),
      "vbar": (ax < thick) & (ay < r),
  }
  if shape not in masks:
    raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}.")
  return masks[shape]


def shape_image(shape: str, seed, size: int = 28,
                channels: int = 1) -> np.ndarray:
  """uint8 [size, size, channels]: a light shape on a dark background."""
  rng = np.random.default_rng(seed)
  mask = shape_mask(shape, seed, size)
  if channels == 1:
    ink, paper = np.array([230]), np.array([20])
  else:
    ink = rng.integers(120, 256, 3)
    paper = rng.integers(0, 60, 3)
  image = np.where(mask[..., None], ink, paper)
  image = image + rng.integers(-10, 11, image.shape)
  return np.clip(image, 0, 255).astype(np.uint8)


def write_shapes(root, per_class: int = 20, size: int = 28,
                 channels: int = 1, seed: int = 0) -> Dict[str, pathlib.Path]:
  """Writes `root/unlabeled/` and `root/labelled/<shape>/` as PNG files.

  The unlabeled folder holds `per_class` drawings of each training shape,
  nested two levels deep and named so that no name gives the shape away;
  the labelled one `per_class` drawings of each test shape. Returns both
  paths, for `--data_dir` and `--eval_data_dir`.
  """
  root = pathlib.Path(root)
  unlabeled, labelled = root / "unlabeled", root / "labelled"
  order = np.random.default_rng(seed).permutation(
      len(TRAIN_SHAPES) * per_class)
  for number, k in enumerate(order):
    shape, i = TRAIN_SHAPES[k // per_class], k % per_class
    path = unlabeled / f"part_{number % 3}" / f"image_{number:05d}.png"
    _write(path, shape_image(shape, [seed, k, i], size, channels))
  for c, shape in enumerate(TEST_SHAPES):
    for i in range(per_class):
      path = labelled / shape / f"{shape}_{i:03d}.png"
      _write(path, shape_image(shape, [seed + 1, c, i], size, channels))
  return {"data_dir": unlabeled, "eval_data_dir": labelled}


def _write(path: pathlib.Path, image: np.ndarray) -> None:
  import tensorflow as tf  # Only to encode PNG; drawing needs numpy alone.

  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(tf.io.encode_png(image).numpy())
