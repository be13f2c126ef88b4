"""Meta-steps per second on one device and on N replicas, in the same run.

Splits the CPU into N logical devices (or uses the GPUs there are), then
times the paper's Omniglot MAML meta-step (second order, meta-batch 8,
random tasks: only speed is measured) on one of them, and under
MirroredStrategy on all N with the same global meta-batch (8 / N tasks per
replica). The last line printed is one JSON object with both rates and
their ratio (above 1: the replicas are faster).

On 2 CPU cores, logical devices share the same cores: expect a ratio near
or below 1. On a machine with N GPUs the ratio is the scaling curve's point.

  python benchmarks/distributed.py --replicas=2 --steps=10
"""

import json
import sys

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

from timing import median_seconds

_REPLICAS = flags.DEFINE_integer("replicas", 2, "Replicas (logical CPUs "
                                 "where there are no GPUs).")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed meta-steps per setting.")
_META_BATCH = flags.DEFINE_integer("meta_batch", 8, "Global meta-batch.")
_INNER_STEPS = flags.DEFINE_integer("inner_steps", 5, "MAML inner steps.")


def main(argv):
  del argv
  from lasium_tf.run import distribute
  import tensorflow as tf
  if not tf.config.list_physical_devices("GPU"):
    distribute.split_cpu(_REPLICAS.value)
  from lasium_tf.tasks.episodes import Episode, class_major_labels
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models.backbone import build_backbone, build_classifier

  batch = _META_BATCH.value
  rng = tf.random.Generator.from_seed(0)
  episodes = Episode(
      rng.uniform([batch, 5, 28, 28, 1]),
      tf.tile(class_major_labels(5, 1)[None], [batch, 1]),
      rng.uniform([batch, 25, 28, 28, 1]),
      tf.tile(class_major_labels(5, 5)[None], [batch, 1]))

  def learner():
    return MAML(build_classifier(build_backbone("code", (28, 28, 1)), 5),
                inner_lr=0.4, inner_steps=_INNER_STEPS.value)

  single = learner()
  one = median_seconds(lambda: single.meta_step(episodes)["loss"].numpy(),
                        _STEPS.value)
  strategy = distribute.make_strategy("mirrored")
  with strategy.scope():
    mirrored = distribute.DistributedLearner(learner(), strategy)
  per_replica = distribute.per_replica_batch(strategy, batch)
  stream = distribute.task_streams(
      strategy, lambda start: tf.data.Dataset.from_tensor_slices(
          episodes).repeat(), batch)
  batches = iter(stream)
  many = median_seconds(
      lambda: mirrored.meta_step(next(batches))["loss"].numpy(),
      _STEPS.value)
  print(json.dumps({
      "benchmark": "distributed",
      "devices": list(strategy.extended.worker_devices),
      "replicas": strategy.num_replicas_in_sync,
      "meta_batch": batch, "tasks_per_replica": per_replica,
      "one_device_steps_per_second": 1.0 / one,
      "replicas_steps_per_second": 1.0 / many,
      "ratio": one / many,
  }))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
