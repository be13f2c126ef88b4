"""UMTRA's tasks: random unlabeled images, their queries augmented copies.

Khodadadeh, Bölöni and Shah, "Unsupervised Meta-Learning for Few-Shot Image
Classification", NeurIPS 2019. Task i draws N distinct images of the
unlabeled train part; image n is class n's single support image (K_tr = 1)
and its K_val queries are copies of it, each augmented on its own: pixel
dropout, then translation (`lasium_tf.tasks.augment`, the Omniglot release's
augmentation; `lasium_tf.config.UmtraConfig`), then the run's query shift.
Their release cut a shuffled epoch into groups of N; here each task draws its
N images from its own stateless seed, so task i is a pure function of
(seed, i) as every source's is, and two images of one task are never the
same image.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

from lasium_tf import lazy
from lasium_tf.config import ConfigError, UmtraConfig
from lasium_tf.tasks import SOURCES, TaskSource, TaskSourceKind, unlabeled_pool

np = lazy.module("numpy")
tf = lazy.module("tensorflow")
augment = lazy.module("lasium_tf.tasks.augment")
episodes_lib = lazy.module("lasium_tf.tasks.episodes")


class UmtraTasks(TaskSource):
  """UMTRA tasks over a pool of unlabeled images.

  Args:
    size: how many images the pool holds.
    fetch: indices [N] -> images [N, H, W, C] (a traceable function).
    n_way, k_query: classes per task, augmented queries per class.
    dropout, translation: `UmtraConfig`'s settings.
    background: the page colour that erased and uncovered pixels take.
    query_shift, shift_fill: the run's query shift, applied last.
  """

  def __init__(self, size: int, fetch, n_way: int, k_query: int,
               dropout: float = 0.5, translation: float = 6.0,
               background: float = 0.0, query_shift: int = 0,
               shift_fill: float = 0.0):
    if n_way > size:
      raise ConfigError(f"a {n_way}-way UMTRA task needs {n_way} distinct "
                        f"unlabeled images; the train part has {size}.")
    self.size, self.fetch = size, fetch
    self.n_way, self.k_query = n_way, k_query
    self.dropout, self.translation = dropout, translation
    self.background = background
    self.query_shift, self.shift_fill = query_shift, shift_fill

  def episode(self, seed, index):
    """Task `index` of the stream named by `seed`."""
    task = episodes_lib.task_seed(seed, index)
    pick, erase, move = tf.unstack(
        tf.random.experimental.stateless_split(task, 3))
    chosen = tf.math.top_k(tf.random.stateless_uniform([self.size], pick),
                           self.n_way).indices
    images = self.fetch(chosen)
    queries = tf.repeat(images, self.k_query, axis=0)
    queries = augment.pixel_dropout(queries, self.dropout, self.background,
                                    erase)
    queries = augment.translate(queries, self.translation, self.background,
                                move)
    labels = episodes_lib.class_major_labels
    episode = episodes_lib.Episode(images, labels(self.n_way, 1), queries,
                                   labels(self.n_way, self.k_query))
    return augment.shift_queries(episode, task, self.query_shift,
                                 self.shift_fill)

  def stream(self, seed: int, start: int):
    def make(index):
      return self.episode(seed, index)

    return tf.data.Dataset.range(start, np.iinfo(np.int64).max).map(
        make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  def episodes(self, seed: int, first: int, count: int):
    made = [self.episode(seed, first + t) for t in range(count)]
    return episodes_lib.Episode(*(tf.stack(parts) for parts in zip(*made)))


def build(config, parts: Dict) -> UmtraTasks:
  size, fetch = unlabeled_pool(parts["train"])
  return UmtraTasks(size, fetch, config.task.n_way, config.task.k_query,
                    config.umtra.dropout, config.umtra.translation,
                    config.background_value, config.task.query_shift,
                    config.resolved_shift_fill)


def check(config) -> None:
  config.umtra.validate(config.data.resolved_image_size)
  if config.task.k_shot != 1:
    raise ConfigError(
        f"UMTRA gives each class one support image (the unlabeled image "
        f"itself) and makes its queries from it: set --k_shot=1, got "
        f"{config.task.k_shot} (evaluation shots are --eval_k_shots).")


def record(config, generator_info=None) -> Dict:
  del generator_info
  return {"umtra": dataclasses.asdict(config.umtra)}


KIND = SOURCES.register(TaskSourceKind(
    name="umtra", build=build, method="UMTRA-{learner}",
    settings=UmtraConfig, help_group="tasks (UMTRA)", check=check,
    record=record), replace=True)
