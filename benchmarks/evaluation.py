"""Evaluation speed: many tasks adapted in one graph against one at a time.

Both paths run the same per-task computation (50 first-order SGD steps on the
support set, then query accuracy) on the same random 5-way tasks with 15
queries per class. The baseline calls a compiled one-task function per task
from Python; the batched path (`MAML.evaluate`) adapts --tasks_per_call tasks
inside one `tf.map_fn` graph. The last line printed is one JSON object with
both timings and their ratio.

  python benchmarks/evaluation.py --tasks=100 --k_shot=1
"""

import json
import sys
import time

from absl import app, flags

_TASKS = flags.DEFINE_integer("tasks", 100, "Tasks to evaluate per path.")
_K_SHOT = flags.DEFINE_integer("k_shot", 1, "Support images per class.")
_PER_CALL = flags.DEFINE_integer("tasks_per_call", 50,
                                 "Tasks per graph call (batched path).")
_PARALLEL = flags.DEFINE_integer("tasks_in_parallel", 8,
                                 "map_fn parallel_iterations (batched path).")
_STEPS = flags.DEFINE_integer("steps", 50, "Adaptation steps.")


def main(argv):
  del argv
  import numpy as np
  import tensorflow as tf
  from lasium_tf.episodes import Episode, class_major_labels
  from lasium_tf.maml import MAML
  from models.backbone import build_backbone, build_classifier

  n_way, k_query = 5, 15
  model = build_classifier(build_backbone("code", (28, 28, 1)), n_way)
  maml = MAML(model, eval_inner_steps=_STEPS.value,
              tasks_in_parallel=_PARALLEL.value)
  rng = tf.random.Generator.from_seed(0)
  k = _K_SHOT.value
  tasks = Episode(
      rng.uniform([_TASKS.value, n_way * k, 28, 28, 1]),
      tf.tile(class_major_labels(n_way, k)[None], [_TASKS.value, 1]),
      rng.uniform([_TASKS.value, n_way * k_query, 28, 28, 1]),
      tf.tile(class_major_labels(n_way, k_query)[None], [_TASKS.value, 1]))

  one_task = tf.function(maml.adapt_and_score)
  one_task(Episode(*(p[0] for p in tasks))).numpy()  # Compile.
  start = time.perf_counter()
  single = [one_task(Episode(*(p[i] for p in tasks))).numpy()
            for i in range(_TASKS.value)]
  single_seconds = time.perf_counter() - start

  per_call = _PER_CALL.value
  maml.evaluate(Episode(*(p[:per_call] for p in tasks))).numpy()  # Compile.
  start = time.perf_counter()
  batched = np.concatenate([
      maml.evaluate(Episode(*(p[i:i + per_call] for p in tasks))).numpy()
      for i in range(0, _TASKS.value, per_call)])
  batched_seconds = time.perf_counter() - start

  print(json.dumps({
      "benchmark": "evaluation",
      "tasks": _TASKS.value, "k_shot": k, "k_query": k_query,
      "adaptation_steps": _STEPS.value,
      "tasks_per_call": per_call, "tasks_in_parallel": _PARALLEL.value,
      "one_at_a_time_seconds_per_task": single_seconds / _TASKS.value,
      "batched_seconds_per_task": batched_seconds / _TASKS.value,
      "speedup": single_seconds / batched_seconds,
      "same_accuracies": bool(np.allclose(single, batched, atol=1e-6)),
      "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
  }))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
