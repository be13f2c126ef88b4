"""Seconds per LASIUM meta-iteration, end to end: task sampling + meta-step.

Table 1's settings (5-way, K_tr 1, K_val 5, meta-batch 4, 5 inner steps,
inner lr 0.4, second order, RO alpha 0.4, query shift 5) with the Omniglot
GAN (latent 128) or VAE (latent 20) at their full sizes, randomly
initialised (the cost does not depend on the weights), and the stride-2
backbone. In one process, from the same weights, two ways of feeding the
meta-step its tasks:
  * "prefetch" (today's path, `LasiumSampler.meta_batches`): a meta-batch
    is decoded by tf.data while the previous one trains;
  * "on demand": the loop decodes a meta-batch in a compiled function when
    it needs one, so decoding and the meta-step each have the cores to
    themselves;
and both again with the generator decoding in bfloat16
(`--decode_precision=bfloat16`, `generators.Bfloat16Decoding`). Beside
them, the meta-step alone on one meta-batch decoded beforehand: what an
iteration would cost if sampling were free, so `speedup_bound` (today's
path over it) is the most any faster sampler could give on these cores.
Each path is timed over --windows windows of --iterations iterations (after
--warmup untimed ones); the median window counts. The last line printed is
one JSON object: per generator `seconds_per_iteration` (today's path: float32,
prefetched), `on_demand_seconds_per_iteration`,
`bfloat16_seconds_per_iteration`, `bfloat16_on_demand_seconds_per_iteration`
`speedup` (today's over the fastest), `meta_step_only_seconds_per_iteration`
and `speedup_bound`; at the top level the first generator's.

  python benchmarks/lasium_iteration.py --generator_type=gan,vae --iterations=20
"""

import itertools
import json
import statistics
import sys
import time

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

_KINDS = flags.DEFINE_list("generator_type", ["gan", "vae"],
                           "Generators to time (gan, vae).")
_ITERATIONS = flags.DEFINE_integer("iterations", 10,
                                   "Timed meta-iterations per window.")
_WINDOWS = flags.DEFINE_integer("windows", 3, "Timed windows per path.")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed iterations first.")
_ORDER = flags.DEFINE_enum("order", "2", ["1", "2"], "MAML order.")
_INNER = flags.DEFINE_integer(
    "inner_steps", 5, "MAML inner steps (the paper's 5; fewer only to "
    "smoke-test the script).")
_BFLOAT16 = flags.DEFINE_bool("bfloat16", True, "Also time the paths with "
                              "bfloat16 decoding.")


def _timed(step, batches) -> float:
  for _ in range(_WARMUP.value):
    step(next(batches))
  windows = []
  for _ in range(_WINDOWS.value):
    start = time.perf_counter()
    for _ in range(_ITERATIONS.value):
      step(next(batches))
    windows.append((time.perf_counter() - start) / _ITERATIONS.value)
  return statistics.median(windows)


def _on_demand(sampler):
  """Meta-batches 0, 1, ... each decoded by a compiled call when asked."""
  import tensorflow as tf

  decode = tf.function(lambda b: sampler.episodes(0, b * 4, 4))
  b = 0
  while True:
    yield decode(tf.constant(b, tf.int64))
    b += 1


def _paths(kind: str):
  """{path name: seconds per iteration} for one generator kind."""
  import numpy as np
  from lasium_tf import generators
  from lasium_tf.tasks import lasium
  from lasium_tf.config import GenerativeConfig
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models.backbone import build_backbone, build_classifier

  model = generators.build(GenerativeConfig(kind=kind))
  real = (np.random.default_rng(0).uniform(size=(2000, 28, 28, 1))
          .astype(np.float32) if kind == "vae" else None)
  exact = generators.as_generator(model)
  decoders = {"": exact}
  if _BFLOAT16.value:
    decoders["bfloat16_"] = generators.Bfloat16Decoding(exact.decoder, exact)

  def learner():
    return MAML(build_classifier(build_backbone("code", (28, 28, 1), seed=0),
                                 5, seed=0),
                inner_lr=0.4, inner_steps=_INNER.value,
                first_order=_ORDER.value == "1")

  def step_of(maml):
    return lambda batch: maml.meta_step(batch)["loss"].numpy()

  times = {}
  bound = None
  for prefix, generator in decoders.items():
    sampler = lasium.LasiumSampler(
        generator, kind, "ro", lasium.TaskShape(5, 1, 5), {"alpha": 0.4},
        real_images=real, query_shift=5)
    times[f"{prefix}seconds_per_iteration"] = _timed(
        step_of(learner()), iter(sampler.meta_batches(0, 4)))
    times[f"{prefix}on_demand_seconds_per_iteration"] = _timed(
        step_of(learner()), _on_demand(sampler))
    if bound is None:
      decoded = next(iter(sampler.meta_batches(0, 4)))
      bound = _timed(step_of(learner()), itertools.repeat(decoded))
  return times, bound


def main(argv):
  del argv
  import tensorflow as tf
  out = {"benchmark": "lasium_iteration",
         "settings": "Table 1: 5-way, K_tr 1, K_val 5, meta-batch 4, 5 inner "
                     "steps, RO alpha 0.4, query shift 5",
         "maml_order": int(_ORDER.value), "inner_steps": _INNER.value,
         "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU"}
  for kind in _KINDS.value:
    times, bound = _paths(kind)
    today = times["seconds_per_iteration"]
    out[kind] = {**{k: round(v, 4) for k, v in times.items()},
                 "speedup": round(today / min(times.values()), 3),
                 "meta_step_only_seconds_per_iteration": round(bound, 4),
                 "speedup_bound": round(today / bound, 3)}
  first = out[_KINDS.value[0]]
  out["seconds_per_iteration"] = first["seconds_per_iteration"]
  out["speedup"] = first["speedup"]
  print(json.dumps(out), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(app.run(main))
