"""Times one MAML meta-step in the paper's Omniglot configuration.

5-way 1-shot, 5 queries per class, meta-batch 4, 5 inner steps, inner lr 0.4,
on random 28x28x1 data (no data set needed), on two paths: the default
stacked network (the meta-batch's tasks as one network, grouped
convolutions) and the per-task reference (`MAML(batched=False)`), from the
same weights. Compilation is timed apart; the median of --steps compiled
steps is reported. The last line printed is one JSON object;
`seconds_per_step` and `compile_seconds` are the default path's, `speedup`
the reference's time over it.

  python benchmarks/meta_step.py --order=2 --steps=20
"""

import json
import statistics
import sys
import time

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

_ORDER = flags.DEFINE_enum("order", "2", ["1", "2"], "MAML order.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps after compilation.")
_INNER = flags.DEFINE_integer(
    "inner_steps", 5, "MAML inner steps (the paper's 5; fewer only to "
    "smoke-test the script).")
_BACKBONE = flags.DEFINE_enum("backbone", "code", ["code", "paper"],
                              "Backbone variant.")


def main(argv):
  del argv
  import tensorflow as tf
  from lasium_tf.tasks.episodes import Episode, class_major_labels
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models.backbone import build_backbone, build_classifier

  n_way, k_shot, k_query, meta_batch = 5, 1, 5, 4
  model = build_classifier(build_backbone(_BACKBONE.value, (28, 28, 1)), n_way)
  rng = tf.random.Generator.from_seed(0)

  def batch(per_class):
    images = rng.uniform([meta_batch, n_way * per_class, 28, 28, 1])
    labels = tf.tile(class_major_labels(n_way, per_class)[None],
                     [meta_batch, 1])
    return images, labels

  episodes = Episode(*batch(k_shot), *batch(k_query))
  initial = [w.numpy() for w in model.weights]

  def timed(batched):
    for w, value in zip(model.weights, initial):
      w.assign(value)
    maml = MAML(model, inner_lr=0.4, inner_steps=_INNER.value,
                first_order=_ORDER.value == "1", batched=batched)
    start = time.perf_counter()
    first = float(maml.meta_step(episodes)["loss"])
    compile_seconds = time.perf_counter() - start
    times = []
    for _ in range(_STEPS.value):
      start = time.perf_counter()
      maml.meta_step(episodes)["loss"].numpy()
      times.append(time.perf_counter() - start)
    stacked.append(maml.batched is not None)
    return statistics.median(times), compile_seconds, first

  stacked = []
  step, compile_seconds, loss = timed(True)
  reference_step, reference_compile, reference_loss = timed(False)
  print(json.dumps({
      "benchmark": "maml_meta_step",
      "order": int(_ORDER.value),
      "backbone": _BACKBONE.value,
      "config": {"n_way": n_way, "k_shot": k_shot, "k_query": k_query,
                 "meta_batch_size": meta_batch, "inner_steps": _INNER.value},
      "steps": _STEPS.value,
      # False: TensorFlow was loaded without oneDNN and the default path is
      # the per-task fallback (see lasium_tf/__init__.py).
      "stacked_path": stacked[0],
      "seconds_per_step": step,
      "compile_seconds": compile_seconds,
      "per_task_seconds_per_step": reference_step,
      "per_task_compile_seconds": reference_compile,
      "speedup": reference_step / step,
      "same_first_loss": abs(loss - reference_loss) < 1e-4,
      "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
  }))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
