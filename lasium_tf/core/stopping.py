"""Stopping long work cleanly on SIGINT (Ctrl-C) and SIGTERM (schedulers).

Meta-training and generator training run inside `StopSignals`: a signal
only sets a flag, the loop finishes the step in flight, saves what a resume
needs, and raises `Stopped`; the command line prints its message and exits
with the signal's code, and rerunning the same command resumes exactly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
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


# Called, newest first, when a signal ends the program outside the loops:
# an experiment folder this process created and has put no work in yet is
# removed there, as it is when an exception ends the run (`rundir.RunDir`).
_BEFORE_ABRUPT_EXIT = []


@contextlib.contextmanager
def cleanup_on_abrupt_exit(callback):
  """Within the block, `callback()` runs if a signal ends the program."""
  _BEFORE_ABRUPT_EXIT.append(callback)
  try:
    yield
  finally:
    _BEFORE_ABRUPT_EXIT.remove(callback)


@contextlib.contextmanager
def signals_end_the_program():
  """Outside the loops above, SIGINT or SIGTERM ends the program at once.

  For the command lines: work cut short where no loop can stop it cleanly
  (loading, an export, compiling) ends with one line on standard error and
  the signal's exit code, never a traceback. Every output is written
  atomically (`lasium_tf.core.files`), so nothing half-written stays behind; the
  loops (meta-training, generator training, evaluation) install
  `StopSignals` over this and stop between steps instead.
  """
  def stop(number, frame):
    del frame
    for callback in reversed(_BEFORE_ABRUPT_EXIT):
      try:
        callback()
      except Exception:  # pylint: disable=broad-except
        pass  # Exiting anyway; a failed cleanup must not print a traceback.
    sys.stderr.write(f"stopped by {signal.Signals(number).name}; nothing of "
                     f"the work in flight was kept; rerun the same "
                     f"command.\n")
    sys.stderr.flush()
    os._exit(128 + number)  # The shell's code for that signal.

  previous = {n: signal.signal(n, stop) for n in StopSignals.SIGNALS}
  try:
    yield
  finally:
    for number, handler in previous.items():
      signal.signal(number, handler)
