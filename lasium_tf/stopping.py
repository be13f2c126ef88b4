"""Stopping long work cleanly on SIGINT (Ctrl-C) and SIGTERM (schedulers).

Meta-training and generator training run inside `StopSignals`: a signal
only sets a flag, the loop finishes the step in flight, saves what a resume
needs, and raises `Stopped`; the command line prints its message and exits
with the signal's code, and rerunning the same command resumes exactly.
"""

from __future__ import annotations

import signal
import threading


class Stopped(Exception):
  """Long work stopped on SIGINT or SIGTERM, with what a resume needs saved.

  Attributes: `signal_number`, `seconds` (of work in the stopped segment).
  """

  def __init__(self, signal_number: int, where: str, seconds: float):
    self.signal_number = signal_number
    self.seconds = seconds
    super().__init__(
        f"stopped by {signal.Signals(signal_number).name} {where}; rerun the "
        f"same command to resume.")


class StopSignals:
  """Within the block, SIGINT and SIGTERM set `received` instead of killing.

  Installed only in the main thread (signal handlers cannot be set
  elsewhere); the previous handlers come back when the block ends.
  """

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.received = 0
    self._previous = {}

  def _handle(self, number, frame):
    del frame
    self.received = number

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for number in self.SIGNALS:
        self._previous[number] = signal.signal(number, self._handle)
    return self

  def __exit__(self, *exc):
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    return False
