"""Loads TensorFlow without its C++ start-up lines, for the command lines.

On a machine without a GPU, importing TensorFlow prints lines such as
"Could not find cuda drivers on your machine" and "failed call to cuInit",
some of them before TensorFlow's own log level is read, which look like
failures where nothing is wrong. The programs `lasium_tf.main` and
`lasium_tf.few_shot` call `load_tensorflow` before anything imports
TensorFlow: it sets the C++ log level (unless the environment sets one) and
silences the process's standard error while the import runs. Python
exceptions are not affected: an import that fails still raises.
"""

from __future__ import annotations

import contextlib
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
  with (contextlib.nullcontext() if verbose else _silenced_stderr()):
    import tensorflow as tf
    import keras  # noqa: F401 (its backend import prints too)
    return len(tf.config.list_physical_devices("GPU"))
