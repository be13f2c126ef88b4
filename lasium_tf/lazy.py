"""Modules imported on first use, so that describing a plug-in loads none.

A plug-in module describes itself (name, settings, checks) at import, and
`lasium_tf.config` imports the library's own plug-ins for their settings
classes; the command line validates a config before TensorFlow loads
(a bad flag fails in a fraction of a second). Such a module names its heavy
dependencies with `module("tensorflow")`: the import happens when an
attribute is first read, i.e. when the plug-in is built and run.
"""

from __future__ import annotations

import importlib
import types


class _Lazy(types.ModuleType):
  """Stands for a module until an attribute is read, then imports it."""

  def __getattr__(self, attribute):
    # Every read goes to the real module, so a test's monkeypatch of it
    # holds here too.
    real = self.__dict__.get("_real")
    if real is None:
      real = self.__dict__["_real"] = importlib.import_module(self.__name__)
    return getattr(real, attribute)


def module(name: str) -> types.ModuleType:
  """`name`, imported when one of its attributes is first read."""
  return _Lazy(name)
