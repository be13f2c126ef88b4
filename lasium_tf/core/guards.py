"""What keeps a long training loop honest, written once for meta-training
(`run.loop`) and generator training (`generators.training`): a time budget
that ends a run saved, and a divergence check that stops before a
non-finite step is saved, naming the newest checkpoint and the fix. (Stop
signals are `core.stopping`'s, progress lines `core.progress`'.)"""

from __future__ import annotations

import math
import time
from typing import Dict, List, Optional

from lasium_tf.errors import DivergedError


class TimeBudget:
  """`--max_seconds` / `--generator_max_seconds`: a run's own clock, and
  whether it has used the seconds it was given (never, given None)."""

  def __init__(self, max_seconds: Optional[float]):
    self.max_seconds = max_seconds
    self.start = time.perf_counter()

  def seconds(self) -> float:
    return time.perf_counter() - self.start

  def spent(self) -> bool:
    return self.max_seconds is not None and self.seconds() >= self.max_seconds


def not_finite(metrics: Dict[str, float]) -> List[str]:
  """The names of the metrics that are NaN or infinite."""
  return [k for k, v in metrics.items() if not math.isfinite(v)]


def diverged(what: str, unsaved: str, newest: Optional[str],
             fix: str) -> DivergedError:
  """The error of a run that diverged: what happened, that nothing of it
  was kept, the newest checkpoint (if any) and what to change."""
  return DivergedError(
      f"{what}. {unsaved}"
      + (f"; the newest checkpoint is {newest}" if newest else "")
      + f". {fix}")
