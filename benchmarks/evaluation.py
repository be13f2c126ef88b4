"""Evaluation speed: the stacked (batched) path against one task at a time.

Three paths run the same per-task computation (50 first-order SGD steps on
the support set, then query accuracy) on the same random 5-way tasks with 15
queries per class:
  * one at a time: a compiled one-task function called per task (baseline);
  * map_fn: --tasks_per_call tasks per graph under `tf.map_fn`, one network
    copy per task (`MAML(batched=False)`, the reference path);
  * batched (the default): the same tasks as one stacked network whose
    convolutions are grouped convolutions (`lasium_tf.learners.batched`).
The last line printed is one JSON object with the timings and ratios;
`seconds_per_1000_tasks` is the default (batched) path's.

  python benchmarks/evaluation.py --tasks=1000 --k_shot=1
"""

import json
import sys
import time

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

_TASKS = flags.DEFINE_integer("tasks", 100, "Tasks to evaluate per path.")
_K_SHOT = flags.DEFINE_integer("k_shot", 1, "Support images per class.")
_PER_CALL = flags.DEFINE_integer("tasks_per_call", 50,
                                 "Tasks per graph call (map_fn and batched).")
_PARALLEL = flags.DEFINE_integer("tasks_in_parallel", 8,
                                 "map_fn parallel_iterations (map_fn path).")
_STEPS = flags.DEFINE_integer("steps", 50, "Adaptation steps.")


def main(argv):
  del argv
  import numpy as np
  import tensorflow as tf
  from lasium_tf.tasks.episodes import Episode, class_major_labels
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models.backbone import build_backbone, build_classifier

  n_way, k_query = 5, 15
  model = build_classifier(build_backbone("code", (28, 28, 1)), n_way)
  maml = MAML(model, eval_inner_steps=_STEPS.value)
  reference = MAML(model, eval_inner_steps=_STEPS.value,
                   tasks_in_parallel=_PARALLEL.value, batched=False)
  rng = tf.random.Generator.from_seed(0)
  k = _K_SHOT.value
  tasks = Episode(
      rng.uniform([_TASKS.value, n_way * k, 28, 28, 1]),
      tf.tile(class_major_labels(n_way, k)[None], [_TASKS.value, 1]),
      rng.uniform([_TASKS.value, n_way * k_query, 28, 28, 1]),
      tf.tile(class_major_labels(n_way, k_query)[None], [_TASKS.value, 1]))

  def timed(evaluate_batch):
    per_call = _PER_CALL.value
    evaluate_batch(Episode(*(p[:per_call] for p in tasks))).numpy()  # Compile.
    start = time.perf_counter()
    accuracies = np.concatenate([
        evaluate_batch(Episode(*(p[i:i + per_call] for p in tasks))).numpy()
        for i in range(0, _TASKS.value, per_call)])
    return accuracies, time.perf_counter() - start

  one_task = tf.function(reference.adapt_and_score)
  one_task(Episode(*(p[0] for p in tasks))).numpy()  # Compile.
  start = time.perf_counter()
  single = np.array([one_task(Episode(*(p[i] for p in tasks))).numpy()
                     for i in range(_TASKS.value)])
  single_seconds = time.perf_counter() - start
  mapped, mapped_seconds = timed(reference.evaluate)
  stacked, stacked_seconds = timed(maml.evaluate)

  print(json.dumps({
      "benchmark": "evaluation",
      "tasks": _TASKS.value, "k_shot": k, "k_query": k_query,
      "adaptation_steps": _STEPS.value,
      "tasks_per_call": _PER_CALL.value,
      "tasks_in_parallel": _PARALLEL.value,
      # False: TensorFlow was loaded without oneDNN and "batched" is the
      # per-task fallback (see lasium_tf/__init__.py).
      "stacked_path": maml.batched is not None,
      "one_at_a_time_seconds_per_task": single_seconds / _TASKS.value,
      "map_fn_seconds_per_task": mapped_seconds / _TASKS.value,
      "batched_seconds_per_task": stacked_seconds / _TASKS.value,
      "seconds_per_1000_tasks": 1000 * stacked_seconds / _TASKS.value,
      "speedup": single_seconds / stacked_seconds,
      "speedup_over_map_fn": mapped_seconds / stacked_seconds,
      # The map_fn path computes exactly what the one-task function does.
      "same_accuracies": bool(np.allclose(single, mapped, atol=1e-6)),
      # The batched path rounds differently: on these random tasks, where
      # logits nearly tie, a task's accuracy can move by a query or two.
      "batched_max_accuracy_difference": float(np.abs(single - stacked).max()),
      "batched_mean_accuracy_difference": float(abs(single.mean()
                                                    - stacked.mean())),
      "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
  }))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
