"""One generator training step on 1 and on R logical CPUs (data parallel).

A helper of tests/test_distribute.py, run as a subprocess (logical devices
are fixed per process):

  python tests/distributed_generator_check.py --kind=gan --mode_seeking_weight=0

Prints one JSON line: the largest difference between the variables after a
single-device step and after the same step split over the replicas, and
how far the step moved them.
"""

import json

from replica_args import parse_and_split

args = parse_and_split(kind="gan", mode_seeking_weight=0.0, batch=8)

from lasium_tf.run import distribute  # noqa: E402

import numpy as np  # noqa: E402

from lasium_tf import generators  # noqa: E402
from lasium_tf.config import GenerativeConfig  # noqa: E402

config = GenerativeConfig(kind=args.kind,
                          mode_seeking_weight=args.mode_seeking_weight)
images = np.random.default_rng(0).uniform(
    size=(args.batch, 28, 28, 1)).astype(np.float32)
single = generators.build(config)
draws = single.draws(np.random.default_rng(1), args.batch)
before = [v.numpy() for vs in single.groups().values() for v in vs]
metrics = single.train_step(images, draws)
strategy = distribute.make_strategy("mirrored")
mirrored = generators.build(config, strategy=strategy)
replica_metrics = mirrored.train_step(images, draws)
a = [v.numpy() for vs in single.groups().values() for v in vs]
b = [v.numpy() for vs in mirrored.groups().values() for v in vs]
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "max_diff": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
    "moved": max(float(np.abs(x - y).max()) for x, y in zip(a, before)
                 if x.dtype.kind == "f"),
    "metrics": {k: [float(metrics[k]), float(replica_metrics[k])]
                for k in metrics}}))
