"""Progress display: a Keras Progbar on a terminal, plain lines in log files.

Keras' Progbar redraws one line with carriage returns, which turns a
background run's log file into one unreadable line; when stdout is not a
terminal each update is printed as its own line instead.
"""

import sys
import time

import keras


class Progress:
  """`update(done, metrics)` with a total known up front.

  `every_seconds`: in a log file, print at most one line per that many
  seconds (and the last): for long loops such as a generator epoch, which
  would otherwise be silent or flood the log. Every line before the last
  says the time left at this run's rate so far; `start` is where a resumed
  loop began (its earlier steps took no time of this run).
  """

  def __init__(self, total: int, label: str, verbose: bool = True,
               every_seconds: float = 0.0, start: int = 0):
    self.total, self.label, self.verbose = total, label, verbose
    self.first = start
    self.every_seconds = every_seconds
    self.start = self.shown_at = time.perf_counter()
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
    now = time.perf_counter()
    if self.every_seconds and done < self.total and (
        now - self.shown_at < self.every_seconds):
      return
    self.shown_at = now
    elapsed = now - self.start
    shown = " ".join(f"{k} {float(v):.4f}" for k, v in metrics)
    left = (f", {elapsed / (done - self.first) * (self.total - done):.0f} "
            f"s left" if self.first < done < self.total else "")
    print(f"{self.label} {done}/{self.total} {shown} ({elapsed:.0f} s"
          f"{left})", flush=True)
