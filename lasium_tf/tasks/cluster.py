"""k-means in plain TensorFlow: k-means++ seeding and Lloyd's iterations.

Shared by CACTUs' partitions (`lasium_tf.tasks.cactus`) and the cluster
matching baseline (`lasium_tf.baselines.embedding`). Every draw is
stateless-seeded, so the same seed gives the same clusters. Plain
TensorFlow rather than scikit-learn, which CACTUs used: it adds no
dependency and, measured on 24,000 x 256 points into 500 clusters on 2
cores, runs in the same range (docs/task_sources.md).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import tensorflow as tf


def _squared_distances(points: tf.Tensor, centers: tf.Tensor) -> tf.Tensor:
  return (tf.reduce_sum(points ** 2, 1, keepdims=True)
          - 2.0 * tf.matmul(points, centers, transpose_b=True)
          + tf.reduce_sum(centers ** 2, 1)[None, :])


@tf.function(reduce_retracing=True)
def kmeans_plus_plus(points: tf.Tensor, k: int, seed: tf.Tensor) -> tf.Tensor:
  """k initial centers [k, d]: each next one drawn with probability
  proportional to its squared distance to the nearest chosen one
  (Arthur and Vassilvitskii, 2007)."""
  n = tf.shape(points)[0]
  seeds = tf.random.experimental.stateless_split(seed, k)
  first = tf.random.stateless_uniform([], seeds[0], 0, n, dtype=tf.int32)
  centers = tf.TensorArray(points.dtype, size=k).write(0, points[first])
  nearest = tf.reduce_sum((points - points[first]) ** 2, 1)

  def body(i, centers, nearest):
    weights = tf.maximum(nearest, 0.0)
    cumulative = tf.cumsum(weights)
    u = tf.random.stateless_uniform([], seeds[i]) * cumulative[-1]
    chosen = tf.minimum(tf.searchsorted(cumulative, u[None])[0], n - 1)
    center = points[chosen]
    nearest = tf.minimum(nearest, tf.reduce_sum((points - center) ** 2, 1))
    return i + 1, centers.write(i, center), nearest

  _, centers, _ = tf.while_loop(lambda i, *_: i < k, body,
                                (tf.constant(1), centers, nearest))
  return centers.stack()


@tf.function(reduce_retracing=True)
def lloyd(points: tf.Tensor, centers: tf.Tensor,
          max_iterations: int) -> Tuple[tf.Tensor, tf.Tensor]:
  """Lloyd's iterations until no point changes cluster (or the limit):
  (assignments [n], centers [k, d]); an emptied cluster keeps its center."""
  k = tf.shape(centers)[0]

  def assign(centers):
    return tf.argmin(_squared_distances(points, centers), 1,
                     output_type=tf.int32)

  def body(i, centers, assignments, changed):
    del changed
    sums = tf.math.unsorted_segment_sum(points, assignments, k)
    counts = tf.math.unsorted_segment_sum(
        tf.ones_like(assignments, points.dtype), assignments, k)
    centers = tf.where(counts[:, None] > 0,
                       sums / tf.maximum(counts[:, None], 1.0), centers)
    new = assign(centers)
    return i + 1, centers, new, tf.reduce_any(new != assignments)

  first = assign(centers)
  _, centers, assignments, _ = tf.while_loop(
      lambda i, c, a, changed: tf.logical_and(i < max_iterations, changed),
      body, (tf.constant(0), centers, first, tf.constant(True)))
  return assignments, centers


def _kmeans(points: np.ndarray, k: int, seed, max_iterations: int):
  points = tf.constant(points, tf.float32)
  centers = kmeans_plus_plus(points, tf.constant(k),
                             tf.constant(seed, tf.int64))
  return lloyd(points, centers, tf.constant(max_iterations))


def kmeans(points: np.ndarray, k: int, seed, max_iterations: int = 300
           ) -> np.ndarray:
  """Cluster of each point [n] int32, from k-means++ and Lloyd."""
  return _kmeans(points, k, seed, max_iterations)[0].numpy()


def kmeans_centers(points: np.ndarray, k: int, seed,
                   max_iterations: int = 300) -> tf.Tensor:
  """The k centers [k, d] that `kmeans` converges to."""
  return _kmeans(points, k, seed, max_iterations)[1]
