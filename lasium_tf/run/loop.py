"""The outer loop of meta-learning, in one place.

Draw a meta-batch of tasks from tf.data, take one `meta_step`, guard
against divergence and collapse, log, checkpoint; stop cleanly on SIGINT /
SIGTERM or a time budget. Tasks are pure functions of seed and index, so a
run resumed from a checkpoint meets the tasks it would have met.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from lasium_tf.config import ConfigError, DivergedError
from lasium_tf.core.guards import TimeBudget, diverged
from lasium_tf.core.progress import Progress
from lasium_tf.core.stopping import StopSignals, Stopped
from lasium_tf.run.checkpoints import save_checkpoint


# A meta-training loss this many times its first value is divergence.
GROWTH = 1e3
# Meta-iterations at loss ln N with chance accuracy that count as collapse.
COLLAPSE_STEPS = 100


def meta_train(learner, tasks: tf.data.Dataset, iterations: int,
               experiment_dir: str, checkpoint_every: int = 500,
               log_every: int = 50, start_step: int = 0,
               manager=None, step=None, verbose: bool = True,
               record_seconds=None, n_way: Optional[int] = None,
               on_checkpoint=None, max_seconds: Optional[float] = None
               ) -> Dict:
  """The outer loop: `iterations - start_step` meta-steps on `tasks`.

  Args:
    learner: anything with `meta_step(episodes)`: a learner, or a
      `distribute.DistributedLearner` (its model and optimizer are
      checkpointed by `manager`).
    tasks: batched Episodes (a tf.data stream, or a distributed one), the
      first one being meta-batch `start_step`.
    iterations: the total number of meta-steps to reach.
    manager, step: a CheckpointManager and its step variable.
    record_seconds: called with the seconds spent since its last call each
      time a checkpoint is saved, so a run killed outright (kill -9) still
      counts the time that produced its newest checkpoint.
    on_checkpoint: called with the meta-iteration after each checkpoint
      (`selection.CheckpointSelection.score`).
    max_seconds: once this call has run this long, a checkpoint is saved
      and training ends early (the returned "stopped_early" is True).
    n_way: the tasks' classes; with it, a run whose loss sits at ln N with
      chance accuracy (constant predictions) for `COLLAPSE_STEPS` steps is
      stopped as collapsed. A loss over `GROWTH` times its first value is
      stopped as diverged, finite or not.

  Returns:
    The mean loss and accuracy of the last `log_every` steps, the seconds
    spent in this call, and those not yet passed to `record_seconds`.
  """
  writer = tf.summary.create_file_writer(
      os.path.join(experiment_dir, "tensorboard"))
  progbar = Progress(iterations, "meta-train", verbose, start=start_step)
  budget = TimeBudget(max_seconds)
  clock = {"mark": budget.start}  # When seconds last went to record_seconds.
  window: List[Dict[str, float]] = []
  current = start_step
  guard = _Guard(n_way, lambda: manager.latest_checkpoint
                 if manager is not None else None)
  with StopSignals() as signals:
    for episodes in itertools.islice(tasks, iterations - start_step):
      metrics = {k: float(v) for k, v in learner.meta_step(episodes).items()}
      guard.check(metrics, current + 1)
      current += 1
      window = (window + [metrics])[-log_every:]
      if step is not None:
        step.assign(current)
      if current % log_every == 0 or current == iterations:
        _log(writer, progbar, current, window)
      out_of_time = budget.spent()
      if manager is not None and (current % checkpoint_every == 0
                                  or current == iterations
                                  or signals.received or out_of_time):
        _checkpoint(manager, current, experiment_dir, clock, record_seconds,
                    None if signals.received else on_checkpoint)
      if signals.received:
        writer.flush()
        raise Stopped(signals.received, f"at meta-iteration {current}",
                      time.perf_counter() - clock["mark"])
      if out_of_time and current < iterations:
        if verbose:
          print(f"Stopped at meta-iteration {current} of {iterations}: "
                f"--max_seconds={max_seconds:g} passed; rerun to go on.",
                flush=True)
        break
  writer.flush()
  last = ({k: float(np.mean([m[k] for m in window])) for k in window[0]}
          if window else {})
  return {"seconds": budget.seconds(),
          "unrecorded_seconds": time.perf_counter() - clock["mark"],
          "stopped_early": current < iterations, **last}


class _Guard:
  """Stops a run that diverged (a non-finite step, or a loss `GROWTH` times
  its first) or collapsed (`COLLAPSE_STEPS` steps at loss ln N with chance
  accuracy), naming the newest checkpoint and the fix."""

  def __init__(self, n_way: Optional[int], saved):
    self.n_way, self.saved = n_way, saved
    self.first_loss, self.collapsed = None, 0

  def check(self, metrics: Dict[str, float], iteration: int) -> None:
    saved = self.saved  # Read in errors only: no cost per step.
    if not metrics.pop("finite", 1.0):
      raise diverged(
          f"meta-iteration {iteration} diverged: its loss or a "
          f"meta-gradient is not finite (loss {metrics['loss']})",
          "Nothing of it was applied or saved", saved(),
          "Lower --inner_lr or --meta_lr, then rerun to resume.")
    if self.first_loss is None:
      self.first_loss = metrics["loss"]
    if metrics["loss"] > GROWTH * max(self.first_loss, 1.0):
      raise DivergedError(
          f"meta-iteration {iteration} diverged: its loss "
          f"{metrics['loss']:.4g} is over {GROWTH:g} times the first one "
          f"({self.first_loss:.4g}). Lower --meta_lr (for MAML also "
          f"--inner_lr) and start afresh in a new --experiment_dir"
          + (f" (the newest checkpoint, {saved()}, may hold diverged "
             f"weights)" if saved() else "") + ".")
    at_chance = self.n_way is not None and (
        abs(metrics["loss"] - np.log(self.n_way)) < 1e-4
        and abs(metrics.get("accuracy", 0.0) - 1.0 / self.n_way) < 1e-6)
    self.collapsed = self.collapsed + 1 if at_chance else 0
    if self.collapsed >= COLLAPSE_STEPS:
      raise DivergedError(
          f"meta-iteration {iteration}: the network collapsed: for "
          f"{COLLAPSE_STEPS} meta-iterations its loss has been ln "
          f"{self.n_way} and its accuracy chance, the same answer for every "
          f"query. Lower --meta_lr (for MAML also --inner_lr) and start "
          f"afresh in a new --experiment_dir.")


def _log(writer, progbar, current: int, window) -> None:
  """The mean metrics of the last steps, to TensorBoard and the progress
  line."""
  mean = {k: float(np.mean([m[k] for m in window])) for k in window[-1]}
  with writer.as_default(step=current):
    for name, value in mean.items():
      tf.summary.scalar(f"meta_train/{name}", value)
  progbar.update(current, list(mean.items()))


def _checkpoint(manager, current: int, experiment_dir: str, clock: Dict,
                record_seconds, on_checkpoint) -> None:
  """Saves meta-iteration `current`, hands the seconds since the last save
  to `record_seconds`, then calls `on_checkpoint` (checkpoint selection)."""
  if not os.path.isdir(experiment_dir):
    raise ConfigError(
        f"{experiment_dir} was deleted while meta-training wrote into it; "
        f"nothing more is written. Rerun the command to start afresh.")
  save_checkpoint(manager, current)
  if record_seconds is not None:
    record_seconds(time.perf_counter() - clock["mark"])
    clock["mark"] = time.perf_counter()
  if on_checkpoint is not None:
    on_checkpoint(current)
