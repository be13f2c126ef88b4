"""Progress display: a Keras Progbar on a terminal, plain lines in log files.

Keras' Progbar redraws one line with carriage returns, which turns a
background run's log file into one unreadable line; when stdout is not a
terminal each update is printed as its own line instead.
"""

import sys
import time

import keras


class Progress:
  """`update(done, metrics)` with a total known up front."""

  def __init__(self, total: int, label: str, verbose: bool = True):
    self.total, self.label, self.verbose = total, label, verbose
    self.start = time.perf_counter()
    self.tty = sys.stdout.isatty()
    self.bar = (keras.utils.Progbar(total, stateful_metrics=None)
                if verbose and self.tty else None)

  def update(self, done: int, metrics=()):
    metrics = list(metrics)
    if not self.verbose:
      return
    if self.bar is not None:
      self.bar.stateful_metrics.update(k for k, _ in metrics)
      self.bar.update(done, [(k, float(v)) for k, v in metrics],
                      finalize=done >= self.total)
      return
    elapsed = time.perf_counter() - self.start
    shown = " ".join(f"{k} {float(v):.4f}" for k, v in metrics)
    print(f"{self.label} {done}/{self.total} {shown} ({elapsed:.0f} s)",
          flush=True)
