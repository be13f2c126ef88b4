"""LASIUM task sampling speed against the meta-step's consumption.

Measures, in one process on the same machine:
  * tasks per second drawn by the LASIUM sampler (`LasiumSampler.meta_batches`,
    the tf.data pipeline meta-training reads) for the Omniglot GAN (latent 128)
    or VAE (latent 20) at their full paper sizes, randomly initialised (the
    cost does not depend on the weights), decoding in float32 or, with
    --decode_precision=bfloat16, as a run with that setting decodes;
  * tasks per second consumed by the MAML meta-step in the paper's Omniglot
    configuration (5-way, K_tr 1, K_val 5, meta-batch 4, 5 inner steps).
The last line is one JSON object; `sampler_over_consumption` above 1 means
the sampler keeps up with training.

  python benchmarks/sampler.py --generator_type=gan --batches=10
  python benchmarks/sampler.py --generator_type=gan --decode_precision=bfloat16
"""

import json
import statistics
import sys
import time

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

_KIND = flags.DEFINE_enum("generator_type", "gan", ["gan", "vae"],
                          "Generator to sample with.")
_POLICY = flags.DEFINE_enum("policy", "ro", ["n", "ro", "oc"], "Policy.")
_BATCHES = flags.DEFINE_integer("batches", 10, "Timed meta-batches.")
_ORDER = flags.DEFINE_enum("order", "2", ["1", "2"], "MAML order.")
_PRECISION = flags.DEFINE_enum(
    "decode_precision", "float32", ["float32", "bfloat16"],
    "The generator's arithmetic (`--decode_precision` of a run).")
_INNER = flags.DEFINE_integer(
    "inner_steps", 5, "MAML inner steps (the paper's 5; fewer only to "
    "smoke-test the script).")


def main(argv):
  del argv
  import numpy as np
  import tensorflow as tf
  from lasium_tf import generators
  from lasium_tf.tasks import lasium
  from lasium_tf.config import GenerativeConfig
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models.backbone import build_backbone, build_classifier

  meta_batch, shape = 4, lasium.TaskShape(5, 1, 5)
  model = generators.build(GenerativeConfig(kind=_KIND.value))
  real = (np.random.default_rng(0).uniform(size=(2000, 28, 28, 1))
          .astype(np.float32) if _KIND.value == "vae" else None)
  hyper = {"n": {"sigma2": 0.5}, "ro": {"alpha": 0.2},
           "oc": {"alpha": 0.4}}[_POLICY.value]
  generator = generators.as_generator(model)
  if _PRECISION.value == "bfloat16":
    generator = generators.Bfloat16Decoding(generator.decoder, generator)
  sampler = lasium.LasiumSampler(generator, _KIND.value, _POLICY.value, shape,
                                 hyper, real_images=real)
  stream = iter(sampler.meta_batches(seed=0, meta_batch_size=meta_batch))
  next(stream)  # Trace.
  sample_times = []
  for _ in range(_BATCHES.value):
    start = time.perf_counter()
    next(stream).support_images.numpy()
    sample_times.append(time.perf_counter() - start)

  maml = MAML(build_classifier(build_backbone("code", (28, 28, 1)), 5),
              first_order=_ORDER.value == "1", inner_steps=_INNER.value)
  batch = next(stream)
  maml.meta_step(batch)["loss"].numpy()  # Compile.
  step_times = []
  for _ in range(_BATCHES.value):
    start = time.perf_counter()
    maml.meta_step(batch)["loss"].numpy()
    step_times.append(time.perf_counter() - start)

  sampled = meta_batch / statistics.median(sample_times)
  consumed = meta_batch / statistics.median(step_times)
  print(json.dumps({
      "benchmark": "lasium_sampler",
      "generator_type": _KIND.value, "policy": _POLICY.value,
      "decode_precision": _PRECISION.value,
      "meta_batch_size": meta_batch, "task": "5-way, K_tr 1, K_val 5",
      "sampler_tasks_per_second": sampled,
      "meta_step_tasks_per_second": consumed,
      "maml_order": int(_ORDER.value), "inner_steps": _INNER.value,
      "sampler_over_consumption": sampled / consumed,
      "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
  }))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
