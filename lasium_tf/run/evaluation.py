"""The evaluation protocol: accuracy and 95% interval over fixed test tasks.

The paper's protocol (1000 tasks of a seed's fixed sequence, the mean and
1.96 standard errors) for anything with an `evaluate(episodes)` verb: a
learner, a baseline's scorer. Below the run engine and the baselines,
which both call it.
"""

from __future__ import annotations

import time
from typing import Dict

import numpy as np
import tensorflow as tf

from lasium_tf.errors import DivergedError
from lasium_tf.learners.base import NON_FINITE
from lasium_tf.core.progress import Progress
from lasium_tf.core.stopping import StopSignals, Stopped


def mean_and_ci95(accuracies: np.ndarray):
  """Mean accuracy and the half-width 1.96 * std / sqrt(n), in percent."""
  accuracies = np.asarray(accuracies, dtype=np.float64) * 100.0
  return (float(accuracies.mean()),
          float(1.96 * accuracies.std() / np.sqrt(len(accuracies))))


def evaluate(learner, task_source, eval_config,
             k_shot: int, verbose: bool = True, distributed=None) -> Dict:
  """Accuracy on `num_tasks` real tasks of the seed's fixed sequence.

  `task_source` is a data part from `lasium_tf.data.load_parts` (anything
  with `episodes(n_way, k_shot, k_query, seed, start, count)`). With
  `distributed` (a `distribute.DistributedLearner` of `learner`), each
  call's tasks are split over its replicas: the same per-task accuracies.
  """
  tasks = task_source.episodes(
      eval_config.n_way, k_shot, eval_config.k_query,
      seed=eval_config.seed, count=eval_config.num_tasks)
  tasks = tasks.batch(eval_config.tasks_per_call).prefetch(1)
  scorer = learner
  if distributed is not None:
    tasks, scorer = distributed.evaluation_batches(tasks), distributed
  progbar = Progress(eval_config.num_tasks, f"evaluate {k_shot}-shot",
                     verbose)
  start = time.perf_counter()
  accuracies = []
  with StopSignals() as signals:
    for batch in tasks:
      try:
        accuracies.append(scorer.evaluate(batch).numpy())
      except tf.errors.InvalidArgumentError as e:
        if NON_FINITE not in str(e):
          raise
        raise DivergedError(
            f"evaluation: a test task's logits are not finite after "
            f"adaptation; no result was written. Lower --eval_inner_lr (or "
            f"--inner_lr, its default) or check the checkpoint.") from None
      if signals.received:
        raise Stopped(signals.received, f"during the {k_shot}-shot "
                      f"evaluation; no result of it was written", 0.0)
      done = sum(len(a) for a in accuracies)
      progbar.update(done, [("accuracy",
                             float(np.concatenate(accuracies).mean()))])
  accuracies = np.concatenate(accuracies)
  mean, ci95 = mean_and_ci95(accuracies)
  # With balanced queries, one answer for every query scores exactly 1/N.
  degenerate = bool(np.all(np.abs(accuracies - 1.0 / eval_config.n_way)
                           < 1e-6))
  return {"accuracy": mean, "ci95": ci95, "num_tasks": len(accuracies),
          "degenerate": degenerate,
          "seconds": time.perf_counter() - start,
          "path": ("batched" if getattr(learner, "batched", None) is not None
                   else "per_task"),
          "task_accuracies": accuracies}
