"""The one few-shot task structure, and the sampler of real labelled tasks.

Every producer of tasks (the real-task sampler here, the LASIUM samplers) and
every consumer (MAML, evaluation, export) speaks `Episode`. Labels are
class-major: the support set is class 0's K_tr images, then class 1's, and so
on; the query set likewise with K_val images per class. Which real class gets
which label is random, because the classes are drawn in random order.

Tasks are pure functions of `(seed, index)` through TensorFlow's stateless
random ops, so task i is the same whatever the batching, the number of tasks
drawn before it or the machine; evaluation uses this to show every method the
same 1000 tasks, and meta-training to resume mid-run on the same stream.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf


class Episode(NamedTuple):
  """A few-shot task. Shapes below for one task; batches add a leading axis."""

  support_images: tf.Tensor  # [N * K_tr, H, W, C] float32
  support_labels: tf.Tensor  # [N * K_tr] int32
  query_images: tf.Tensor  # [N * K_val, H, W, C] float32
  query_labels: tf.Tensor  # [N * K_val] int32


def class_major_labels(n_way: int, per_class: int) -> tf.Tensor:
  """[0]*per_class + [1]*per_class + ... : the label layout of an Episode."""
  return tf.repeat(tf.range(n_way, dtype=tf.int32), per_class)


def split_classes(images: tf.Tensor, k_shot: int) -> Episode:
  """Turns [N, K_tr + K_val, H, W, C] images into an Episode.

  The first K_tr images of each class are the support set, the rest the
  query set (the LASIUM paper, Section 3).
  """
  n_way = tf.shape(images)[0]
  k_query = tf.shape(images)[1] - k_shot
  image_shape = tf.shape(images)[2:]
  support = tf.reshape(images[:, :k_shot],
                       tf.concat([[n_way * k_shot], image_shape], 0))
  query = tf.reshape(images[:, k_shot:],
                     tf.concat([[n_way * k_query], image_shape], 0))
  static_n = images.shape[0]
  static_q = None if images.shape[1] is None else images.shape[1] - k_shot
  support.set_shape([None if static_n is None else static_n * k_shot]
                    + images.shape[2:])
  query.set_shape([None if static_n is None or static_q is None
                   else static_n * static_q] + images.shape[2:])
  return Episode(support, class_major_labels(n_way, k_shot),
                 query, class_major_labels(n_way, k_query))


def task_seed(seed, index) -> tf.Tensor:
  """The stateless seed of task `index` in the stream named by `seed`."""
  return tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])


def check_task_shape(num_classes: int, per_class: int, n_way: int,
                     k_shot: int, k_query: int, what: str = "the data"):
  """Raises ValueError when an N-way K_tr+K_val task cannot be drawn."""
  if n_way > num_classes:
    raise ValueError(
        f"a {n_way}-way task needs {n_way} classes but {what} has only "
        f"{num_classes}; lower --n_way (or --eval_n_way).")
  if k_shot + k_query > per_class:
    raise ValueError(
        f"K_tr + K_val = {k_shot} + {k_query} images per class, but {what} "
        f"has only {per_class} per class; lower the shots or queries.")


def sample_labelled_episode(images: tf.Tensor, seed: tf.Tensor, n_way: int,
                            k_shot: int, k_query: int) -> Episode:
  """Draws one N-way task from labelled images [C, P, H, W, ch].

  N distinct classes, and K_tr + K_val distinct images of each, chosen by the
  top-k of stateless uniform scores (a random permutation prefix).
  """
  class_seed, image_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  num_classes = tf.shape(images)[0]
  per_class = tf.shape(images)[1]
  classes = tf.math.top_k(
      tf.random.stateless_uniform([num_classes], class_seed), n_way).indices
  picks = tf.math.top_k(
      tf.random.stateless_uniform([n_way, per_class], image_seed),
      k_shot + k_query).indices
  chosen = tf.gather(tf.gather(images, classes), picks, batch_dims=1)
  return split_classes(chosen, k_shot)


def labelled_episodes(images: np.ndarray, n_way: int, k_shot: int,
                      k_query: int, seed: int, start: int = 0,
                      count: Optional[int] = None) -> tf.data.Dataset:
  """A tf.data stream of tasks `start, start + 1, ...` of the seed's sequence.

  Args:
    images: [num_classes, per_class, H, W, C] float32 (`ClassImages.images`).
    n_way, k_shot, k_query: the task shape.
    seed: names the task sequence; the same seed gives the same tasks.
    start: index of the first task (to resume meta-training mid-stream).
    count: number of tasks, or None for an endless stream.
  """
  check_task_shape(images.shape[0], images.shape[1], n_way, k_shot, k_query)
  table = tf.constant(images, dtype=tf.float32)
  stop = None if count is None else start + count
  indices = (tf.data.Dataset.range(start, stop) if stop is not None
             else tf.data.Dataset.range(start, np.iinfo(np.int64).max))

  def sample(index):
    return sample_labelled_episode(table, task_seed(seed, index), n_way,
                                   k_shot, k_query)

  return indices.map(sample, num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)
