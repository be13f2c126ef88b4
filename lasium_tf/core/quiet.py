"""Loads TensorFlow without its C++ start-up lines, wherever it is loaded.

On a machine without a GPU, importing TensorFlow prints lines such as
"Could not find cuda drivers on your machine" and "failed call to cuInit",
some of them before TensorFlow's own log level is read, which look like
failures where nothing is wrong. The programs `lasium_tf.main` and
`lasium_tf.few_shot` call `load_tensorflow` before anything imports
TensorFlow: it sets the C++ log level (unless the environment sets one) and
silences the process's standard error while the import runs. Python
exceptions are not affected: an import that fails still raises.

Importing `lasium_tf` installs `quiet_import`, so the library used from
Python or a notebook (and TensorFlow imported after it) is as quiet: the
first import of TensorFlow, and the start of its runtime, run with the
standard error silenced. `TF_CPP_MIN_LOG_LEVEL=0` or `1` (asking for
TensorFlow's informational lines) turns this off.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys


@contextlib.contextmanager
def _silenced_stderr():
  """Points file descriptor 2 at /dev/null for the block, then restores it."""
  sys.stderr.flush()
  saved = os.dup(2)
  null = os.open(os.devnull, os.O_WRONLY)
  os.dup2(null, 2)
  try:
    yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(null)


def load_tensorflow(verbose: bool = False):
  """Imports TensorFlow and Keras; quietly unless `verbose`.

  Returns the number of GPUs TensorFlow sees, so the caller can say once
  that it runs on the CPU.
  """
  if not verbose:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  else:  # Asked for: let TensorFlow say what it says.
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not isinstance(f, _QuietTensorFlow)]
  with (contextlib.nullcontext() if verbose else _silenced_stderr()):
    import tensorflow as tf
    import keras  # noqa: F401 (its backend import prints too)
    return len(tf.config.list_physical_devices("GPU"))


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
  """Finds `tensorflow` once, for a loader that runs its import (and the
  start of its runtime, whose device lines come at first use) with the
  standard error silenced."""

  def find_spec(self, name, path=None, target=None):
    del path, target
    if name != "tensorflow":
      return None
    sys.meta_path.remove(self)  # Once; and so find_spec finds the real one.
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
      return spec
    spec.loader = _QuietLoader(spec.loader)
    return spec


class _QuietLoader(importlib.abc.Loader):

  def __init__(self, loader):
    self.loader = loader

  def create_module(self, spec):
    return self.loader.create_module(spec)

  def exec_module(self, module):
    with _silenced_stderr():
      self.loader.exec_module(module)
      module.config.list_physical_devices()


def quiet_import() -> None:
  """Makes the first import of TensorFlow in this process quiet (see the
  module docstring); nothing if it is loaded already or the environment
  asks for TensorFlow's informational lines."""
  if "tensorflow" in sys.modules or os.environ.get(
      "TF_CPP_MIN_LOG_LEVEL") in ("0", "1"):
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  if not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlow())
