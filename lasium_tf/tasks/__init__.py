"""Task sources: the producers of meta-training tasks, behind one interface.

Labelled tasks, LASIUM's generated tasks and UMTRA's augmented ones are
interchangeable: each is a `TaskSource` whose tasks are `Episode`s, task i of
the stream named by a seed a pure function of (seed, i). The meta-training
loop, checkpoints and resume, the training-task picture and tf.distribute
(`lasium_tf.run.experiment`, `lasium_tf.run.distribute`) only call the methods
below, never ask which source they hold.

Adding a source is one module and one registration: the module describes
the source in a `TaskSourceKind` (its name, how to build it, its settings
class, its checks, its row name and its slice of the result record) and
registers it in `SOURCES`, from inside the library or from the user's own
module (docs/extending.md). Its name joins `--task_source`'s choices, its
settings become flags, and nothing in the loop, the config checks, resume
or the records asks which source it is. This package imports no TensorFlow
until a source is built, so the command line knows the names without
loading it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Union

from lasium_tf import lazy
from lasium_tf.registry import Registry

tf = lazy.module("tensorflow")


def _always(config) -> bool:
  del config
  return True


def _nothing(config, *args) -> Dict:
  del config, args
  return {}


@dataclasses.dataclass(frozen=True)
class TaskSourceKind:
  """A task source, as the library sees it.

  Attributes:
    name: its `--task_source` value.
    build: (config, parts) -> `TaskSource`, `parts` being the data parts
      of `lasium_tf.data.load_parts` ("train", "val", "test").
    method: the result row's name, "{learner}" standing for the learner's
      (e.g. "UMTRA-{learner}"), or a function (config, learner) -> name.
    settings: the source's own settings class (a frozen dataclass of
      `lasium_tf.settings.setting` fields, each a flag), or None.
    help_group: the `--help` heading of those settings.
    check: config -> None, raising `ConfigError` for settings this source
      cannot run with (called when a run meta-trains on it).
    record: (config, generator_info) -> the entries it adds to a result
      record's "hyperparameters" (its settings, what it loaded).
    needs_train_part: config -> whether it reads the train part.
    meta_trains: False only for "none" (no meta-training at all).
    uses_labels: its tasks are the data's labelled classes (supervised
      meta-training), which unlabeled data cannot give.
  """

  name: str
  build: Callable[..., "TaskSource"]
  method: Union[str, Callable[[Any, str], str]] = "{learner}"
  settings: Optional[type] = None
  help_group: Optional[str] = None
  check: Callable[[Any], None] = _nothing
  record: Callable[..., Dict] = _nothing
  needs_train_part: Callable[[Any], bool] = _always
  meta_trains: bool = True
  uses_labels: bool = False

  def method_name(self, config, learner: str) -> str:
    if callable(self.method):
      return self.method(config, learner)
    return self.method.format(learner=learner)


# --task_source name -> its description; the library's own are imported on
# first use. "none" (no meta-training: training from scratch) is one too.
SOURCES: Registry[TaskSourceKind] = Registry("task source", "task_source")
SOURCES.add_lazy("labelled", "lasium_tf.tasks.labelled:KIND")
SOURCES.add_lazy("lasium", "lasium_tf.tasks.generated:KIND")
SOURCES.add_lazy("umtra", "lasium_tf.tasks.umtra:KIND")
SOURCES.add_lazy("cactus", "lasium_tf.tasks.cactus:KIND")


def _no_tasks(config, parts):
  del parts
  raise ValueError(f"--task_source=none meta-trains nothing ({config.mode}).")


SOURCES.register(TaskSourceKind(
    name="none", build=_no_tasks, method="Training from scratch",
    needs_train_part=lambda config: False, meta_trains=False))


def register(kind: TaskSourceKind, replace: bool = False) -> TaskSourceKind:
  """Adds a task source (from the user's own module, say); returns it."""
  return SOURCES.register(kind, replace)


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

      return lambda start: tf.data.Dataset.range(start,
                                                 np.iinfo(np.int64).max)
    return lambda start: self.stream(seed, start)

  def replica_tasks(self, seed: int, count: int) -> Optional[Callable]:
    """For a source that makes its tasks on the replica: a replica's task
    indices [count] -> its stacked Episodes; None otherwise."""
    if not self.makes_tasks_on_replica:
      return None
    return lambda indices: self.episodes(seed, indices[0], count)


def needs_train_part(config) -> bool:
  """Whether the configured source reads the data set's train part."""
  return SOURCES.get(config.task_source).needs_train_part(config)


def build(config, parts: Dict) -> TaskSource:
  """The configured `--task_source`, built on the run's data parts."""
  return SOURCES.get(config.task_source).build(config, parts)


def unlabeled_pool(part):
  """(size, fetch) of a train part's images with their labels ignored:
  a folder's or a file-backed set's own `fetch`, or Omniglot's array.
  What sources of unlabeled images (UMTRA, CACTUs) and the embedding
  baselines draw from."""
  store = part if hasattr(part, "fetch") else getattr(part, "store", None)
  if store is not None:
    return len(store), store.fetch
  table = tf.constant(part.unlabeled(), tf.float32)
  return int(table.shape[0]), lambda indices: tf.gather(table, indices)
