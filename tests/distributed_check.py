"""Runs one meta-step and one evaluation on 1 and on R logical CPUs.

A helper of tests/test_distribute.py, run as a subprocess: TensorFlow's
logical devices are fixed when it initialises, once per process.

  python tests/distributed_check.py --replicas=2 --learner=maml --order=2

Prints one JSON line: the largest difference of the new weights and Adam
slots between the single-device step and the mirrored one, and both
evaluations' per-task accuracies.
"""

import json

from replica_args import parse_and_split

args = parse_and_split(learner="maml", order=2, batched=1, meta_batch=4)

from lasium_tf.run import distribute  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lasium_tf.tasks.episodes import Episode  # noqa: E402
from lasium_tf.learners.maml_core import MAML  # noqa: E402
from lasium_tf.models.backbone import build_backbone, build_classifier  # noqa: E402
from lasium_tf.learners.protonets_core import ProtoNets  # noqa: E402


def learner():
  backbone = build_backbone("code", (28, 28, 1), seed=1)
  if args.learner == "protonets":
    return ProtoNets(backbone, meta_lr=1e-3)
  return MAML(build_classifier(backbone, 5, seed=1), inner_lr=0.4,
              inner_steps=2, first_order=args.order == 1, meta_lr=1e-3,
              eval_inner_steps=3, batched=bool(args.batched))


def episodes(count, start=0):
  """`count` tasks, task i a pure function of i: a distinct pattern each."""
  out = []
  for i in range(start, start + count):
    rng = np.random.default_rng(i)
    support = rng.uniform(size=(5, 28, 28, 1)).astype(np.float32)
    query = (support[np.repeat(np.arange(5), 2)]
             + 1.5 * rng.uniform(size=(10, 28, 28, 1))).astype(np.float32)
    support[0, 0, 0, 0] = i  # The task's index, readable by the test.
    out.append(Episode(support, np.arange(5, dtype=np.int32), query,
                       np.repeat(np.arange(5), 2).astype(np.int32)))
  return Episode(*(np.stack(p) for p in zip(*out)))


def stream_from(start):
  """The task sequence from `start` on, as tf.data."""
  return tf.data.Dataset.range(start, 1 << 40).map(
      lambda i: tf.numpy_function(
          lambda j: tuple(p[0] for p in episodes(1, int(j))), [i],
          [tf.float32, tf.int32, tf.float32, tf.int32])).map(
              lambda *p: Episode(tf.ensure_shape(p[0], [5, 28, 28, 1]),
                                 tf.ensure_shape(p[1], [5]),
                                 tf.ensure_shape(p[2], [10, 28, 28, 1]),
                                 tf.ensure_shape(p[3], [10])))


def state(l):
  return [v.numpy() for v in l.model.trainable_variables + [
      v for v in l.optimizer.variables if v.shape.rank]]


single = learner()
batch = episodes(args.meta_batch)
single_metrics = single.meta_step(Episode(*(tf.constant(p) for p in batch)))
single_acc = single.evaluate(Episode(*(tf.constant(p) for p in episodes(12, 100))))

strategy = distribute.make_strategy("mirrored")
with strategy.scope():
  mirrored = learner()
dist = distribute.DistributedLearner(mirrored, strategy)
streams = distribute.task_streams(strategy, stream_from, args.meta_batch)
first = next(iter(streams))
seen = [np.asarray(v.support_images[:, 0, 0, 0, 0]).round().astype(int).tolist()
        for v in strategy.experimental_local_results(first)]
metrics = dist.meta_step(first)
evaluation = tf.data.Dataset.from_tensors(
    Episode(*(tf.constant(p) for p in episodes(12, 100))))
accuracies = [dist.evaluate(b).numpy() for b in dist.evaluation_batches(evaluation)]
diff = max(float(np.abs(a - b).max()) for a, b in zip(state(single), state(mirrored)))
moved = max(float(np.abs(a - b).max()) for a, b in zip(state(single), state(learner())))
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync, "max_diff": diff,
    "moved": moved, "loss": [float(single_metrics["loss"]), float(metrics["loss"])],
    "finite": float(metrics["finite"]),
    "single_accuracies": single_acc.numpy().tolist(),
    "mirrored_accuracies": np.concatenate(accuracies).tolist(),
    "replica_tasks": seen}))
