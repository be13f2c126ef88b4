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

k-means is `lasium_tf.tasks.cluster`'s (plain TensorFlow, stateless-seeded).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Dict, Optional, Tuple

from lasium_tf import lazy
from lasium_tf.config import CactusConfig, ConfigError
from lasium_tf.core.files import atomic_write
from lasium_tf.tasks import SOURCES, TaskSource, TaskSourceKind, unlabeled_pool

np = lazy.module("numpy")
tf = lazy.module("tensorflow")
augment = lazy.module("lasium_tf.tasks.augment")
cluster = lazy.module("lasium_tf.tasks.cluster")
encoders = lazy.module("lasium_tf.tasks.encoders")
episodes_lib = lazy.module("lasium_tf.tasks.episodes")

PARTITIONS_FILE = "partitions.npz"


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
      clusters = cluster.kmeans(scaled, k, [seed, p * max_tries + attempt])
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
        tf.random.experimental.stateless_split(
            episodes_lib.task_seed(seed, index), 3))
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
    episode = episodes_lib.split_classes(images, self.shape[1])
    return augment.shift_queries(episode, episodes_lib.task_seed(seed, index),
                                 self.query_shift, self.shift_fill)

  def stream(self, seed: int, start: int):
    def make(index):
      return self.episode(seed, index)

    return tf.data.Dataset.range(start, np.iinfo(np.int64).max).map(
        make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _digest(array: np.ndarray) -> str:
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def partitions_for(config, encoder, info: Dict, size: int, fetch,
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
  embeddings = encoders.embed(encoder, size, fetch)
  partitions = make_partitions(embeddings, config.cactus.clusters,
                               config.cactus.partitions, config.seed,
                               settings["per_class"], verbose=verbose)
  identity = {"encoder": encoder_id, "settings": settings,
              "embedding_digest": _digest(embeddings),
              "partitions_digest": _digest(partitions)}
  atomic_write(path, lambda f: np.savez(f, partitions=partitions,
                                        identity=json.dumps(identity)))
  return partitions, identity


def build(config, parts: Dict) -> ClusterTasks:
  encoder, info = encoders.load_encoder(config.cactus.encoder, config.data)
  size, fetch = unlabeled_pool(parts["train"])
  partitions, identity = partitions_for(config, encoder, info, size, fetch,
                                        verbose=True)
  return ClusterTasks(partitions, fetch, config.task.n_way,
                      config.task.k_shot, config.task.k_query,
                      config.task.query_shift, config.resolved_shift_fill,
                      identity={**info, "cactus": identity})


def record(config, generator_info=None) -> Dict:
  """Its settings and what is known of the encoder it clustered."""
  return {"cactus": {**dataclasses.asdict(config.cactus),
                     "encoder_info": generator_info}}


KIND = SOURCES.register(TaskSourceKind(
    name="cactus", build=build, method="CACTUs-{learner}",
    settings=CactusConfig, help_group="tasks (CACTUs)",
    check=lambda config: config.cactus.validate(), record=record),
    replace=True)
