"""LASIUM tasks decoded inside the replicas: same tasks, same step.

A helper of tests/test_distribute.py (a subprocess: logical devices are
fixed per process). Prints one JSON line: the largest weight difference
between a single-device meta-step on LASIUM meta-batch 0 and the mirrored
one whose replicas decode their own tasks, and the device each replica's
decoded images are on.
"""

import json

from replica_args import parse_and_split

parse_and_split()

from lasium_tf.run import distribute  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lasium_tf import generators
from lasium_tf.tasks import lasium  # noqa: E402
from lasium_tf.tasks.generated import GeneratedTasks  # noqa: E402
from lasium_tf import config as config_lib  # noqa: E402
from lasium_tf.learners.maml_core import MAML  # noqa: E402
from lasium_tf.models.backbone import build_backbone, build_classifier  # noqa: E402

config = config_lib.Config(task_source="lasium", seed=3,
                           maml=config_lib.MAMLConfig(meta_batch_size=4))
gan = generators.build(config_lib.GenerativeConfig(kind="gan"))
sampler = lasium.LasiumSampler(generators.as_generator(gan), "gan", "ro",
                               lasium.TaskShape(5, 1, 1), {"alpha": 0.2})


def learner():
  return MAML(build_classifier(build_backbone("code", (28, 28, 1), seed=1),
                               5, seed=1), inner_lr=0.4, inner_steps=1)


single = learner()
single.meta_step(next(iter(sampler.meta_batches(config.seed, 4))))
strategy = distribute.make_strategy("mirrored")
with strategy.scope():
  mirrored = learner()
source = GeneratedTasks(sampler, {})
make_tasks = source.replica_tasks(config.seed, 4 // strategy.num_replicas_in_sync)
dist = distribute.DistributedLearner(mirrored, strategy, make_tasks)
streams = distribute.task_streams(
    strategy, source.input_stream(config.seed), 4)
first = next(iter(streams))
dist.meta_step(first)
decoded = strategy.run(make_tasks, args=(first,))  # Eager: devices kept.
a = [v.numpy() for v in single.model.trainable_variables]
b = [v.numpy() for v in mirrored.model.trainable_variables]
print(json.dumps({
    "max_diff": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
    "indices": [np.asarray(i).tolist()
                for i in strategy.experimental_local_results(first)],
    "devices": [e.support_images.device
                for e in strategy.experimental_local_results(decoded)]}))
