"""CACTUs' tasks: clusters of an embedding of the unlabeled images as classes.

Hsu, Levine and Finn, "Unsupervised Learning via Meta-Learning", ICLR 2019.
Every unlabeled train image is embedded by an encoder (any generator with an
`encode` signature: the published VAE's posterior means, say); k-means
partitions the embeddings into k clusters, P times (partition 0 on the
embeddings themselves, partition p >= 1 on the embeddings scaled
elementwise by a random vector from U(0, 1)^d); a task picks a partition,
N of its clusters with enough members, and K_tr + K_val members of each.

The partitions are computed once per run folder and kept there
(`partitions.npz`) with the encoder's identity, so a resumed run uses the
same ones; the same seed gives the same partitions. Task i is a pure
function of (seed, i) over them, as every source's tasks are.

k-means is plain TensorFlow (k-means++ seeding, Lloyd iterations, all
stateless-seeded) rather than scikit-learn, which CACTUs used: it adds no
dependency and, measured on 24,000 x 256 points into 500 clusters on these
2 cores, runs in the same range (docs/task_sources.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from lasium_tf import augment
from lasium_tf.config import Config, ConfigError
from lasium_tf.episodes import split_classes, task_seed
from lasium_tf.files import atomic_write
from lasium_tf.tasks import TaskSource

PARTITIONS_FILE = "partitions.npz"


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


def make_partitions(embeddings: np.ndarray, k: int, count: int, seed: int,
                    per_class: int, usable: float = 0.75,
                    max_tries: int = 10, verbose: bool = False) -> np.ndarray:
  """[count, n] cluster of every image in each partition.

  Partition 0 clusters the embeddings, partition p >= 1 the embeddings times
  a random vector from U(0, 1)^d. A partition in which at most `usable` of
  the clusters hold `per_class` images is redrawn with another seed, as
  CACTUs reran k-means (at most `max_tries` times; then the last is kept,
  and a task only draws the clusters that are large enough).
  """
  rng = np.random.default_rng(seed)
  partitions = []
  for p in range(count):
    scaled = embeddings * (rng.uniform(size=embeddings.shape[1]) if p
                           else 1.0)
    for attempt in range(max_tries):
      clusters = kmeans(scaled, k, [seed, p * max_tries + attempt])
      sizes = np.bincount(clusters, minlength=k)
      if (sizes >= per_class).mean() > usable:
        break
    if verbose:
      print(f"CACTUs partition {p + 1}/{count}: "
            f"{int((sizes >= per_class).sum())} of {k} clusters with "
            f">= {per_class} images (k-means run {attempt + 1}).",
            flush=True)
    partitions.append(clusters.astype(np.int32))
  return np.stack(partitions)


class ClusterTasks(TaskSource):
  """Tasks whose classes are clusters of a partition of the images.

  Args:
    partitions: [P, n] the cluster of every image in each partition.
    fetch: image indices [m] -> images [m, H, W, C].
    n_way, k_shot, k_query: the task shape.
    query_shift, shift_fill: the run's query shift.
    identity: what the run folder records (the encoder, the partitions).
  """

  def __init__(self, partitions: np.ndarray, fetch, n_way: int, k_shot: int,
               k_query: int, query_shift: int = 0, shift_fill: float = 0.0,
               identity: Optional[Dict] = None):
    per_class = k_shot + k_query
    count, n = partitions.shape
    k = int(partitions.max()) + 1
    sizes = np.stack([np.bincount(p, minlength=k) for p in partitions])
    usable = (sizes >= per_class).sum(1)
    if usable.min() < n_way:
      raise ConfigError(
          f"a partition has only {int(usable.min())} clusters with "
          f">= {per_class} images, fewer than --n_way={n_way}: use fewer "
          f"clusters (--cactus_clusters) or fewer images per class.")
    order = np.argsort(partitions, axis=1, kind="stable")
    starts = np.concatenate([np.zeros((count, 1), np.int64),
                             np.cumsum(sizes, 1)[:, :-1]], 1)
    self.order = tf.constant(order, tf.int32)
    self.starts = tf.constant(starts, tf.int32)
    self.sizes = tf.constant(sizes, tf.int32)
    self.max_size = int(sizes.max())
    self.fetch = fetch
    self.shape = (n_way, k_shot, k_query)
    self.query_shift, self.shift_fill = query_shift, shift_fill
    self.identity = identity

  def images_of(self, seed, index) -> tf.Tensor:
    """Task `index`'s image indices [N, K_tr + K_val], class by class."""
    n_way, k_shot, k_query = self.shape
    per_class = k_shot + k_query
    part_seed, class_seed, image_seed = tf.unstack(
        tf.random.experimental.stateless_split(task_seed(seed, index), 3))
    count = tf.shape(self.sizes)[0]
    p = tf.random.stateless_uniform([], part_seed, 0, count, dtype=tf.int32)
    sizes = self.sizes[p]
    scores = tf.where(sizes >= per_class,
                      tf.random.stateless_uniform(tf.shape(sizes),
                                                  class_seed), -1.0)
    clusters = tf.math.top_k(scores, n_way).indices
    chosen_sizes = tf.gather(sizes, clusters)
    member_scores = tf.where(
        tf.range(self.max_size)[None, :] < chosen_sizes[:, None],
        tf.random.stateless_uniform([n_way, self.max_size], image_seed),
        -1.0)
    picks = tf.math.top_k(member_scores, per_class).indices
    positions = tf.gather(self.starts[p], clusters)[:, None] + picks
    return tf.gather(self.order[p], positions)

  def episode(self, seed, index):
    indices = self.images_of(seed, index)
    images = self.fetch(tf.reshape(indices, [-1]))
    images = tf.reshape(images, tf.concat([tf.shape(indices),
                                           tf.shape(images)[1:]], 0))
    images.set_shape(indices.shape.concatenate(images.shape[2:]))
    episode = split_classes(images, self.shape[1])
    return augment.shift_queries(episode, task_seed(seed, index),
                                 self.query_shift, self.shift_fill)

  def stream(self, seed: int, start: int):
    def make(index):
      return self.episode(seed, index)

    return tf.data.Dataset.range(start, np.iinfo(np.int64).max).map(
        make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def embed(encoder, size: int, fetch, batch: int = 500) -> np.ndarray:
  """The encoder's embedding of every pool image, [n, d] float32."""
  parts = []
  for first in range(0, size, batch):
    indices = tf.range(first, min(first + batch, size))
    parts.append(tf.reshape(encoder.encode(fetch(indices)),
                            [len(indices), -1]).numpy())
  return np.concatenate(parts).astype(np.float32)


def _digest(array: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def load_encoder(name: str, data, flag: str = "--cactus_encoder"):
  """The encoder `name` (a generator with an `encode` signature) for images
  of `data` (a DataConfig), and what is known of it; refuses a generator
  without `encode`, naming `flag`."""
  from lasium_tf import generative
  from lasium_tf.tasks.generated import match_strokes

  try:
    encoder, info = generative.load_generator(name)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{flag}={name}: {e}") from None
  encoder, info = match_strokes(encoder, info, data)
  if not encoder.can_encode:
    raise ConfigError(
        f"{flag}={name} has no encode signature (a GAN decodes only): an "
        f"embedding needs an encoder, such as pretrained/omniglot_vae.")
  return encoder, info


def partitions_for(config: Config, encoder, info: Dict, size: int, fetch,
                   verbose: bool = False) -> Tuple[np.ndarray, Dict]:
  """The run's partitions: read from its folder when they were made from
  the same encoder and settings, else computed and written there."""
  settings = {"clusters": config.cactus.clusters,
              "partitions": config.cactus.partitions, "seed": config.seed,
              "per_class": config.task.k_shot + config.task.k_query,
              "images": size}
  path = os.path.join(config.experiment_dir, PARTITIONS_FILE)
  encoder_id = {k: info.get(k) for k in ("kind", "source", "date", "epochs",
                                         "latent_dim")}
  if os.path.exists(path):
    with np.load(path) as saved:
      kept = json.loads(str(saved["identity"]))
      if kept.get("settings") == settings and kept.get(
          "encoder") == encoder_id:
        return saved["partitions"], kept
    raise ConfigError(
        f"{path} holds partitions of another encoder or other settings "
        f"than this run's (--cactus_encoder, --cactus_clusters, "
        f"--cactus_partitions, --seed, the task shape): use another "
        f"--experiment_dir, or delete the file to cluster again.")
  embeddings = embed(encoder, size, fetch)
  partitions = make_partitions(embeddings, config.cactus.clusters,
                               config.cactus.partitions, config.seed,
                               settings["per_class"], verbose=verbose)
  identity = {"encoder": encoder_id, "settings": settings,
              "embedding_digest": _digest(embeddings),
              "partitions_digest": _digest(partitions)}
  atomic_write(path, lambda f: np.savez(f, partitions=partitions,
                                        identity=json.dumps(identity)))
  return partitions, identity


def needs_train_part(config: Config) -> bool:
  del config
  return True


def build(config: Config, parts: Dict) -> ClusterTasks:
  from lasium_tf.tasks.umtra import unlabeled_pool

  encoder, info = load_encoder(config.cactus.encoder, config.data)
  size, fetch = unlabeled_pool(parts["train"])
  partitions, identity = partitions_for(config, encoder, info, size, fetch,
                                        verbose=True)
  return ClusterTasks(partitions, fetch, config.task.n_way,
                      config.task.k_shot, config.task.k_query,
                      config.task.query_shift, config.resolved_shift_fill,
                      identity={**info, "cactus": identity})
