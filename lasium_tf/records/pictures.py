"""Image grids written as PNG with TensorFlow alone (no matplotlib needed).

Used for generator sample grids during training, for task pictures like
the LASIUM paper's Figures 1 and 2 (one column per class, support rows above
query rows, a coloured edge per class) and for latent interpolation strips
(what alpha means for LASIUM-RO and -OC).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from lasium_tf.config import white_strokes
from lasium_tf.core.files import atomic_write

# Distinct, colour-blind-friendly edge colours (Okabe & Ito), then repeats.
CLASS_COLOURS = np.array([
    [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66],
    [0, 114, 178], [213, 94, 0], [204, 121, 167], [0, 0, 0]], np.uint8)


def to_rgb_uint8(images: np.ndarray) -> np.ndarray:
  """[..., H, W, 1 or 3] floats in [0, 1] -> uint8 RGB, strokes drawn dark.

  Omniglot arrays hold strokes as 1 on a 0 background; pictures show them
  black on white like the paper, so single-channel images are inverted.
  """
  images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
  if images.shape[-1] == 1:
    images = np.repeat(1.0 - images, 3, axis=-1)
  return (images * 255.0 + 0.5).astype(np.uint8)


def grid(images: np.ndarray, column_colours: Optional[np.ndarray] = None,
         pad: int = 2, edge: int = 2, gap_after_row: Optional[int] = None,
         scale: int = 1) -> np.ndarray:
  """Tiles [rows, cols, H, W, C] images into one uint8 RGB picture.

  Args:
    column_colours: [cols, 3] uint8 edge colour of each column (class).
    gap_after_row: rows before a wider white gap (support above query).
    scale: integer upsampling of every image (nearest neighbour).
  """
  images = to_rgb_uint8(images)
  if scale > 1:
    images = np.repeat(np.repeat(images, scale, axis=-3), scale, axis=-2)
  rows, cols, h, w, _ = images.shape
  cell_h, cell_w = h + 2 * edge + pad, w + 2 * edge + pad
  gap = 3 * pad if gap_after_row else 0
  out = np.full((rows * cell_h + pad + gap, cols * cell_w + pad, 3), 255,
                np.uint8)
  for r in range(rows):
    for c in range(cols):
      top = pad + r * cell_h + (gap if gap_after_row and r >= gap_after_row
                                else 0)
      left = pad + c * cell_w
      if column_colours is not None:
        out[top:top + h + 2 * edge, left:left + w + 2 * edge] = (
            column_colours[c % len(column_colours)])
      out[top + edge:top + edge + h, left + edge:left + edge + w] = (
          images[r, c])
  return out


def save_png(path, picture: np.ndarray) -> pathlib.Path:
  path = pathlib.Path(path)
  data = tf.io.encode_png(picture).numpy()
  atomic_write(path, lambda f: f.write(data))
  return path


def task_picture(support: np.ndarray, query: np.ndarray, n_way: int,
                 scale: int = 2) -> np.ndarray:
  """A task as the paper draws it: a column per class, support then query.

  `support` is [N * K_tr, H, W, C] and `query` [N * K_val, H, W, C], both
  class-major (the Episode layout).
  """
  k_shot = support.shape[0] // n_way
  k_query = query.shape[0] // n_way
  by_class = np.concatenate([
      np.asarray(support).reshape((n_way, k_shot) + support.shape[1:]),
      np.asarray(query).reshape((n_way, k_query) + query.shape[1:])], axis=1)
  return grid(np.swapaxes(by_class, 0, 1), CLASS_COLOURS,
              gap_after_row=k_shot, scale=scale)


def stack_pictures(pictures: Sequence[np.ndarray], pad: int = 8) -> np.ndarray:
  """Places pictures side by side on white (e.g. one task per policy)."""
  height = max(p.shape[0] for p in pictures)
  padded = [np.pad(p, ((0, height - p.shape[0]), (0, pad), (0, 0)),
                   constant_values=255) for p in pictures]
  return np.concatenate(padded, axis=1)


def interpolation_strips(generator, starts: tf.Tensor, ends: tf.Tensor,
                         alphas: Sequence[float] = tuple(
                             np.linspace(0.0, 1.0, 9)),
                         scale: int = 2, ink: str = "white") -> np.ndarray:
  """One row per (start, end) pair: decoded z + alpha (end - z) per alpha.

  With `ends` random vectors a row shows LASIUM-RO's segment, with other
  anchors LASIUM-OC's; the column at alpha = 0.2 is what RO with alpha 0.2
  puts in the anchor's class. Columns are edged by how far along they are.
  `ink` is the generator's strokes ("black" for a light-paper folder), so
  the strips show them dark whatever the polarity.
  """
  from lasium_tf.tasks.lasium import interpolate  # The policies' own formula.

  alphas_t = tf.constant(alphas, tf.float32)[None, :, None]
  z = interpolate(starts[:, None, :], ends[:, None, :], alphas_t)
  rows, cols = z.shape[0], z.shape[1]
  images = white_strokes(
      generator.decode(tf.reshape(z, [rows * cols, -1])).numpy(), ink)
  images = images.reshape((rows, cols) + images.shape[1:])
  shades = np.linspace(40, 215, cols).astype(np.uint8)
  colours = np.stack([shades] * 3, axis=1)
  return grid(images, column_colours=colours, scale=scale)


def anchor_interpolations(generator, seed: int = 0,
                          real_images: Optional[np.ndarray] = None,
                          ink: str = "white") -> np.ndarray:
  """Four strips: two from anchors towards random vectors, two between anchors.

  Anchors are drawn as LASIUM draws them: prior samples for a GAN, encodings
  of `real_images` for a VAE (pass them with a generator that can encode).
  """
  z_seed, v_seed, pick_seed = tf.unstack(
      tf.random.experimental.stateless_split([seed, 11], 3))
  if real_images is not None and generator.can_encode:
    picks = tf.random.stateless_uniform([4], pick_seed, 0, len(real_images),
                                        tf.int32)
    anchors = generator.encode(tf.gather(real_images, picks))
  else:
    anchors = tf.random.stateless_normal([4, generator.latent_dim], z_seed)
  random_vectors = tf.random.stateless_normal([2, generator.latent_dim],
                                              v_seed)
  ends = tf.concat([random_vectors, anchors[3:], anchors[2:3]], axis=0)
  return interpolation_strips(generator, anchors, ends, ink=ink)


def policy_tasks_picture(sampler, hyperparameters: Dict[str, Dict[str, float]],
                         seed: int = 0, index: int = 0,
                         ink: str = "white") -> np.ndarray:
  """Task `index` of each policy side by side (the paper's Figures 1 and 2).

  Args:
    sampler: a `lasium.LasiumSampler` (its generator, kind and task shape).
    hyperparameters: {policy: its hyperparameters}, in drawing order, e.g.
      {"n": {"sigma2": 0.5}, "ro": {"alpha": 0.2}, "oc": {"alpha": 0.4}}.
    ink: the generator's strokes, as `config.white_strokes` takes them.
  """
  panels = []
  for policy, values in hyperparameters.items():
    episode = dataclasses.replace(sampler, policy=policy,
                                  hyperparameters=values).episode(seed, index)
    panels.append(task_picture(
        white_strokes(episode.support_images.numpy(), ink),
        white_strokes(episode.query_images.numpy(), ink),
        sampler.shape.n_way))
  return stack_pictures(panels)
