"""Meta-training and evaluation across devices and machines (tf.distribute).

`--strategy` names a TensorFlow strategy (`make_strategy`), created once by
the command line and passed down; with none, everything runs on one device
as before. Under a strategy:

* The tasks of a meta-batch are split over the replicas, and which tasks a
  meta-batch holds does not depend on the replica count: meta-batch b is
  always tasks b*B ... b*B + B - 1 of the seed's sequence (tasks are pure
  functions of seed and index), replica r of R taking the r-th block of
  B / R (`task_streams`, through `distribute_datasets_from_function`). A
  run on 1, 2 or 8 replicas sees the same tasks. LASIUM streams carry task
  indices, which each replica decodes on its own device
  (`DistributedLearner(make_tasks=...)`).
* Each replica computes the mean meta-gradient of its own tasks; the
  replicas' gradients are averaged (`strategy.reduce(MEAN)`: equal task
  counts per replica, so this is the mean over the global meta-batch) and
  applied once, in cross-replica context, if finite. Applying inside
  `strategy.run` would be wrong: Keras 3's TensorFlow optimizers sum the
  replicas' gradients there (SGD(1) on gradients 1 and 2 moves a weight by
  -3), the classic meta-gradient scaled by the replica count.
* Evaluation splits each call's tasks over the replicas and gathers the
  per-task accuracies back in task order: the same accuracies, mean and CI
  as on one device.
* Generator training (TensorFlow backend) splits each batch over the
  replicas: `lasium_tf.core.backends.value_and_grad`.
* Under MultiWorkerMirroredStrategy only the chief writes the run folder;
  the other workers write theirs to a temporary folder (`worker_dir`) and
  read checkpoints from the chief's.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Dict, Optional

import tensorflow as tf

from lasium_tf.learners import base as learner_lib
from lasium_tf.config import ConfigError
from lasium_tf.tasks.episodes import Episode


def split_cpu(count: int) -> None:
  """Makes the CPU `count` logical devices (before TensorFlow initialises).

  For running and testing the distributed code on a machine without GPUs:
  MirroredStrategy then has `count` replicas.
  """
  cpus = tf.config.list_physical_devices("CPU")
  try:
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
  except RuntimeError:
    have = len(tf.config.list_logical_devices("CPU"))
    if have != count:
      raise ConfigError(
          f"--logical_cpus={count}: TensorFlow already runs on {have} CPU "
          f"device(s) in this process; set it before anything runs (the "
          f"command line does).") from None


def make_strategy(name: str,
                  logical_cpus: Optional[int] = None
                  ) -> Optional[tf.distribute.Strategy]:
  """The strategy `--strategy` names; None for "default" (one device)."""
  if logical_cpus:
    split_cpu(logical_cpus)
  if name == "default":
    return None
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multi_worker":
    if not os.environ.get("TF_CONFIG"):
      raise ConfigError(
          "--strategy=multi_worker needs TF_CONFIG, naming every worker and "
          "this one's index, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
          "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": "
          "\"worker\", \"index\": 0}}' (README, Distributed runs).")
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError) as e:
      raise ConfigError(f"--strategy=tpu found no TPU ({e}); run on a TPU "
                        f"VM or set TPU_NAME.") from None
    return tf.distribute.TPUStrategy(resolver)
  raise ConfigError(f"--strategy={name!r} is not one of default, mirrored, "
                    f"multi_worker, tpu.")


def replicas(strategy: Optional[tf.distribute.Strategy]) -> int:
  return 1 if strategy is None else strategy.num_replicas_in_sync


def per_replica_batch(strategy, meta_batch: int) -> int:
  """B / R, or a ConfigError when the replica count does not divide B."""
  count = replicas(strategy)
  if meta_batch % count:
    raise ConfigError(
        f"--meta_batch_size={meta_batch} cannot be split evenly over "
        f"{count} replicas; use a multiple of {count} (each replica takes "
        f"the same number of tasks, so their mean is the meta-batch's).")
  return meta_batch // count


def is_chief(strategy) -> bool:
  """Whether this process writes the run folder: TensorFlow's own answer
  (`should_checkpoint`: every strategy's one process, MWMS's chief)."""
  return strategy is None or strategy.extended.should_checkpoint


def worker_dir(strategy) -> str:
  """A temporary folder for a non-chief worker's writes."""
  resolver = strategy.cluster_resolver
  return tempfile.mkdtemp(
      prefix=f"lasium_tf_{resolver.task_type}{resolver.task_id}_")


def task_streams(strategy: tf.distribute.Strategy,
                 stream_from: Callable[[int], tf.data.Dataset],
                 meta_batch: int, start_batch: int = 0):
  """Each replica's share of meta-batches start_batch, start_batch + 1, ...

  `stream_from(start)` is the seed's task sequence from task `start` on
  (tasks start, start + 1, ...). Meta-batch b is tasks b*B ... b*B + B - 1
  whatever the replica count: input pipeline p of P (one per worker) takes
  the p-th block of B / P of each, cut into its replicas' blocks of B / R,
  which tf.distribute hands to its replicas in order.
  """
  per_replica = per_replica_batch(strategy, meta_batch)

  def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
    pipelines, pipeline = (context.num_input_pipelines,
                           context.input_pipeline_id)
    share = meta_batch // pipelines
    tasks = stream_from(start_batch * meta_batch)
    if pipelines > 1:
      tasks = tasks.enumerate().filter(
          lambda i, _: (i // share) % pipelines == pipeline).map(
              lambda _, episode: episode)
    return tasks.batch(per_replica, drop_remainder=True).prefetch(2)

  return strategy.distribute_datasets_from_function(dataset_fn)


class DistributedLearner:
  """A learner's `meta_step` and `evaluate` run over a strategy's replicas.

  The learner (model and optimizer) must have been built in
  `strategy.scope()`. Same return values as the learner's own verbs.
  """

  def __init__(self, learner, strategy: tf.distribute.Strategy,
               make_tasks: Optional[Callable] = None):
    """`make_tasks`, if given, turns what the task stream yields (a
    replica's task indices) into its Episodes inside the replica, so a
    LASIUM generator decodes on the replica's own device."""
    self.learner = learner
    self.strategy = strategy
    self.make_tasks = make_tasks
    self.meta_step = learner_lib.compiled(self._meta_step)
    self._evaluate_replicas = learner_lib.compiled(self._evaluate_step)

  def _replica_gradients(self, batch):
    episodes = batch if self.make_tasks is None else self.make_tasks(batch)
    return self.learner.meta_gradients(episodes)

  def _meta_step(self, episodes) -> Dict[str, tf.Tensor]:
    """One optimizer step on the global meta-batch (per-replica Episodes,
    or per-replica task indices with `make_tasks`)."""
    grads, metrics = self.strategy.run(self._replica_gradients,
                                       args=(episodes,))
    mean = lambda x: self.strategy.reduce(  # noqa: E731
        tf.distribute.ReduceOp.MEAN, x, axis=None)
    return self.learner.apply_if_finite([mean(g) for g in grads],
                                        {k: mean(v) for k, v in metrics.items()})

  def _evaluate_step(self, episodes):
    accuracies = self.strategy.run(self.learner._evaluate, args=(episodes,))
    return self.strategy.gather(accuracies, axis=0)

  def evaluation_batches(self, batches: tf.data.Dataset):
    """Evaluation calls' batches [T, ...], each split over the replicas."""
    return self.strategy.experimental_distribute_dataset(batches)

  def evaluate(self, episodes) -> tf.Tensor:
    """Per-task accuracy of one batch of `evaluation_batches`, gathered
    from the replicas in task order."""
    return self._evaluate_replicas(episodes)


def describe(strategy) -> Dict:
  """What a result record says about where it ran."""
  if strategy is None:
    return {"strategy": "default", "replicas": 1}
  return {"strategy": type(strategy).__name__,
          "replicas": strategy.num_replicas_in_sync}
