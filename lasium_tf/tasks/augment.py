"""Meta-training task augmentation: the authors' query shift, UMTRA's
pixel dropout and translation.

The LASIUM paper's text does not mention it, but every paper-era Omniglot
pipeline of the authors' code translated each query image of each
meta-training task by an integer offset (tx, ty), each uniform on
{-S, ..., S - 1} with S = 5, drawn per image, nearest neighbour, the
uncovered pixels filled with 0; support images were left alone and test tasks
never shifted (docs/reproducing.md). Generated query images sit
almost exactly where their support image sits; real test queries do not, and
the shift teaches the learner to look past position. On the published GAN it
lifts Table 7's LASIUM-N GAN-MAML cell from 64.66 to about 82
(results/README.md).

The offsets come from stateless ops seeded by the task's own seed, so a
shifted task is still a pure function of (seed, index), and the unshifted
images of a task are the same with or without the shift.

UMTRA (Khodadadeh et al., NeurIPS 2019) makes a class's queries as augmented
copies of its one image; `pixel_dropout` and `translate` are the two
augmentations of its Omniglot release, per-image functions of a stateless
seed that compose with each other and with the query shift
(`lasium_tf.tasks.umtra`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lasium_tf.tasks.episodes import Episode, task_seed

# Folded into a task's seed to draw its offsets, so they never reuse the
# random numbers that drew the task's images.
_SHIFT_STREAM = 0x5F1F7


def shift_images(images: tf.Tensor, offsets: tf.Tensor,
                 fill: float) -> tf.Tensor:
  """Translates each image of [B, H, W, C] by its integer (tx, ty).

  `offsets` is [B, 2] int32, (tx, ty): a pixel moves right by tx and down by
  ty, so output[y, x] = input[y - ty, x - tx], and `fill` where that falls
  outside the image.
  """
  height, width = tf.shape(images)[1], tf.shape(images)[2]
  pad = tf.reduce_max(tf.abs(offsets))
  padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]],
                  constant_values=tf.cast(fill, images.dtype))
  rows = (pad - offsets[:, 1:2]) + tf.range(height)[None, :]  # [B, H]
  cols = (pad - offsets[:, 0:1]) + tf.range(width)[None, :]  # [B, W]
  shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
  shifted = tf.gather(shifted, cols, axis=2, batch_dims=1)
  shifted.set_shape(images.shape)
  return shifted


def random_offsets(count, max_shift: int, seed: tf.Tensor) -> tf.Tensor:
  """[count, 2] int32 offsets, each uniform on {-max_shift, ..., max_shift -
  1}."""
  return tf.random.stateless_uniform([count, 2], seed, minval=-max_shift,
                                     maxval=max_shift, dtype=tf.int32)


# The offsets of test-time support copies: one fixed draw, the same for
# every task, so that a task's enlarged support set is the same adapted
# alone (an export, a fitted classifier) or in a batch (evaluation).
_SUPPORT_COPIES_SEED = (0x5C0, 0x9E5)


def enlarge_support(images: tf.Tensor, labels: tf.Tensor, copies: int,
                    max_shift: int, fill: float):
  """The support set and `copies` shifted copies of each of its images.

  A test-time augmentation of the support set (`--eval_support_copies`):
  MAML adapts on the enlarged set and, normalising queries with the support
  set's statistics, takes them from it. `images` [..., B, H, W, C] and
  `labels` [..., B] (one task, or a leading task axis); the copies follow
  the originals, image i's at B + i * copies ... B + (i + 1) * copies - 1,
  each shifted by offsets uniform on {-max_shift, ..., max_shift - 1} per
  axis, `fill` where the shift uncovers the image. 0 copies returns the
  set as it is.
  """
  if not copies:
    return images, labels
  axis = images.shape.rank - 4
  copied = tf.repeat(images, copies, axis=axis)
  shape = tf.shape(copied)
  per_task = shape[axis]
  flat = tf.reshape(copied, tf.concat([[-1], shape[axis + 1:]], 0))
  offsets = random_offsets(per_task, max_shift,
                           tf.constant(_SUPPORT_COPIES_SEED))
  offsets = tf.tile(offsets, [tf.shape(flat)[0] // per_task, 1])
  shifted = tf.reshape(shift_images(flat, offsets, fill), shape)
  return (tf.concat([images, shifted], axis),
          tf.concat([labels, tf.repeat(labels, copies, axis=axis)], axis))


def shift_queries(episode: Episode, task: tf.Tensor, max_shift: int,
                  fill: float) -> Episode:
  """The episode with every query image shifted; support untouched.

  Args:
    episode: one task (unbatched).
    task: the task's stateless seed (`episodes.task_seed`).
    max_shift: S; offsets are uniform on {-S, ..., S - 1} per axis. 0 returns
      the episode as it is.
    fill: the value of uncovered pixels (see `config.shift_fill_value`).
  """
  if not max_shift:
    return episode
  seed = tf.random.experimental.stateless_fold_in(task, _SHIFT_STREAM)
  offsets = random_offsets(tf.shape(episode.query_images)[0], max_shift, seed)
  return episode._replace(
      query_images=shift_images(episode.query_images, offsets, fill))


def shift_query_stream(tasks: tf.data.Dataset, seed: int, start: int,
                       max_shift: int, fill: float) -> tf.data.Dataset:
  """Shifts the queries of a stream of tasks `start, start + 1, ...`.

  For labelled meta-training tasks (any data part's `episodes(...)`): task
  i's offsets come from the same (seed, i) as its images.
  """
  if not max_shift:
    return tasks
  indices = tf.data.Dataset.range(start, np.iinfo(np.int64).max)
  return tf.data.Dataset.zip((indices, tasks)).map(
      lambda i, episode: shift_queries(episode, task_seed(seed, i),
                                       max_shift, fill),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def pixel_dropout(images: tf.Tensor, rate: float, background: float,
                  seed: tf.Tensor) -> tf.Tensor:
  """Each pixel of [B, H, W, C] set to `background` with probability `rate`.

  UMTRA's Omniglot release multiplied white-stroke images by a
  Bernoulli(0.5) mask (erasing about half the ink); blending towards the
  page colour is the same on those images and also right for black strokes
  and RGB. One draw per pixel position, shared by the channels.
  """
  if not rate:
    return images
  shape = tf.concat([tf.shape(images)[:3], [1]], 0)
  keep = tf.cast(tf.random.stateless_uniform(shape, seed) >= rate,
                 images.dtype)
  return images * keep + tf.cast(background, images.dtype) * (1.0 - keep)


def translate(images: tf.Tensor, max_offset: float, background: float,
              seed: tf.Tensor) -> tf.Tensor:
  """Each image moved by its own offsets, uniform on [-T, T) per axis.

  UMTRA's translation: continuous offsets applied with nearest-neighbour
  sampling, which moves every pixel by the rounded offset (an integer in
  {-T, ..., T}, the ends half as likely), uncovered pixels `background`.
  """
  if not max_offset:
    return images
  offsets = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed,
                                        minval=-max_offset,
                                        maxval=max_offset)
  return shift_images(images, tf.cast(tf.round(offsets), tf.int32),
                      background)
