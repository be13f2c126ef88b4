"""Task sources: the producers of meta-training tasks, behind one interface.

Labelled tasks, LASIUM's generated tasks and UMTRA's augmented ones are
interchangeable: each is a `TaskSource` whose tasks are `Episode`s, task i of
the stream named by a seed a pure function of (seed, i). The meta-training
loop, checkpoints and resume, the training-task picture and tf.distribute
(`lasium_tf.experiment`, `lasium_tf.distribute`) only call the methods below,
never ask which source they hold.

Adding a source is one module and one line in `SOURCES`: the module defines
`build(config, parts) -> TaskSource` (`parts` are the data parts of
`lasium_tf.data.load_parts`) and `needs_train_part(config) -> bool`. Its name
joins `--task_source`'s choices; `lasium_tf.config` checks its settings.
This package imports no TensorFlow until a source is built, so the command
line knows the names without loading it.
"""

from __future__ import annotations

import importlib
from typing import Callable, Dict, Optional

# --task_source name -> the module that builds it. ("none", no meta-training,
# is not a source: `lasium_tf.config.TASK_SOURCES` adds it.)
SOURCES = {
    "labelled": "lasium_tf.tasks.labelled",
    "lasium": "lasium_tf.tasks.generated",
    "umtra": "lasium_tf.tasks.umtra",
    "cactus": "lasium_tf.tasks.cactus",
}


class TaskSource:
  """Meta-training tasks, each a pure function of (seed, task index).

  A subclass implements `stream`; the rest follows from it, and a source
  overrides what it can do faster (LASIUM batches its decoding).

  Attributes:
    identity: what the run folder records of the source's model (a
      generator's date and weights digest), so a resumed run refuses another
      one; None for sources that use no model.
    makes_tasks_on_replica: under tf.distribute, the input pipeline carries
      task indices and each replica makes its own tasks with
      `replica_tasks` (a generator decodes on the replica's device) instead
      of receiving finished Episodes.
  """

  identity: Optional[Dict] = None
  makes_tasks_on_replica: bool = False

  def stream(self, seed: int, start: int):
    """A tf.data stream of Episodes: tasks start, start + 1, ... ."""
    raise NotImplementedError

  def meta_batches(self, seed: int, meta_batch_size: int,
                   start_batch: int = 0):
    """Endless meta-batches [B, ...]: batch b holds tasks b*B ... b*B + B-1."""
    return (self.stream(seed, start_batch * meta_batch_size)
            .batch(meta_batch_size, drop_remainder=True).prefetch(2))

  def episodes(self, seed: int, first: int, count: int):
    """Tasks first ... first + count - 1 stacked [count, ...]."""
    return next(iter(self.stream(seed, first).batch(count)))

  def input_stream(self, seed: int) -> Callable:
    """`start -> dataset`: what a distributed input pipeline reads from task
    `start` on: Episodes, or the tasks' indices when the replicas make
    them (`makes_tasks_on_replica`)."""
    if self.makes_tasks_on_replica:
      import numpy as np
      import tensorflow as tf

      return lambda start: tf.data.Dataset.range(start,
                                                 np.iinfo(np.int64).max)
    return lambda start: self.stream(seed, start)

  def replica_tasks(self, seed: int, count: int) -> Optional[Callable]:
    """For a source that makes its tasks on the replica: a replica's task
    indices [count] -> its stacked Episodes; None otherwise."""
    if not self.makes_tasks_on_replica:
      return None
    return lambda indices: self.episodes(seed, indices[0], count)


def _module(name: str):
  if name not in SOURCES:
    raise ValueError(f"unknown task source {name!r}; use one of "
                     f"{sorted(SOURCES)}.")
  return importlib.import_module(SOURCES[name])


def needs_train_part(config) -> bool:
  """Whether the configured source reads the data set's train part."""
  return _module(config.task_source).needs_train_part(config)


def build(config, parts: Dict) -> TaskSource:
  """The configured `--task_source`, built on the run's data parts."""
  return _module(config.task_source).build(config, parts)
