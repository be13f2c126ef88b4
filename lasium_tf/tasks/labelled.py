"""Labelled tasks: N classes of the train part, K_tr + K_val images of each.

The supervised baselines' meta-training tasks (and the oracle rows of the
paper's Table 1). Their query images take the run's query shift
(`lasium_tf.tasks.augment`), as every generated source's do.
"""

from __future__ import annotations

from typing import Dict

from lasium_tf import lazy
from lasium_tf.errors import ConfigError
from lasium_tf.tasks import SOURCES, TaskSource, TaskSourceKind

augment = lazy.module("lasium_tf.tasks.augment")


class LabelledTasks(TaskSource):
  """Tasks of a labelled data part (`part.episodes(...)`)."""

  def __init__(self, part, n_way: int, k_shot: int, k_query: int,
               query_shift: int = 0, shift_fill: float = 0.0):
    self.part = part
    self.shape = (n_way, k_shot, k_query)
    self.query_shift = query_shift
    self.shift_fill = shift_fill

  def stream(self, seed: int, start: int):
    tasks = self.part.episodes(*self.shape, seed=seed, start=start)
    return augment.shift_query_stream(tasks, seed, start, self.query_shift,
                                      self.shift_fill)


def build(config, parts: Dict) -> LabelledTasks:
  """Refuses a task shape the train part cannot supply, naming it."""
  try:
    parts["train"].check(
        config.task.n_way, config.task.k_shot, config.task.k_query,
        config.data.part_name("train"))
  except ValueError as e:
    raise ConfigError(str(e)) from None
  return LabelledTasks(parts["train"], config.task.n_way, config.task.k_shot,
                       config.task.k_query, config.task.query_shift,
                       config.resolved_shift_fill)


KIND = SOURCES.register(TaskSourceKind(
    name="labelled", build=build, method="Supervised {learner}",
    uses_labels=True), replace=True)
