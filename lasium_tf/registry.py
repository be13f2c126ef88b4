"""Named plug-ins of one kind, which a user's own module can add to.

Every plug-in point of the library (task sources, learners, baselines) is a
`Registry` of small descriptions: each plug-in carries its own name, the
settings it adds, its checks and what it contributes to a result record,
so that nothing in the core asks which one it got. The library registers
its own plug-ins lazily (`add_lazy`: the name is known at once, the module
is imported on first use, so listing the choices of a flag loads no
TensorFlow); a user registers theirs from outside the package with the
public `register`, as Keras' `register_keras_serializable` lets users add
their own layers:

    from lasium_tf.tasks import SOURCES, TaskSourceKind
    SOURCES.register(TaskSourceKind(name="my_tasks", build=my_build))

and then `--task_source=my_tasks` (with `--plugins=my_module` on the
command line; docs/extending.md).
"""

from __future__ import annotations

import importlib
import sys
from typing import Dict, Generic, Iterator, Tuple, TypeVar, Union

from lasium_tf.errors import ConfigError

T = TypeVar("T")


def no_checks(config) -> None:
  """A plug-in's `check` when it refuses no settings."""
  del config


class Registry(Generic[T]):
  """name -> plug-in description, for one kind of plug-in.

  Attributes:
    kind: what the plug-ins are, for messages ("task source").
    flag: the flag that names one (`task_source`), for messages.
  """

  def __init__(self, kind: str, flag: str):
    self.kind = kind
    self.flag = flag
    self._entries: Dict[str, Union[T, str]] = {}

  def register(self, entry: T, replace: bool = False) -> T:
    """Adds `entry` (any object with a `name`) and returns it.

    A name already taken is refused unless `replace` is set, so two
    modules cannot silently shadow each other's plug-in.
    """
    name = getattr(entry, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
      raise ConfigError(
          f"a {self.kind} needs a name that is a Python identifier (it "
          f"becomes a --{self.flag} value), got {name!r}.")
    if name in self._entries and not replace:
      raise ConfigError(
          f"a {self.kind} named {name!r} is already registered; pick "
          f"another name, or pass replace=True to replace it on purpose.")
    self._entries[name] = entry
    return entry

  def add_lazy(self, name: str, target: str) -> None:
    """Registers the library's own plug-in `module:attribute` by name; the
    module is imported when the plug-in is first asked for."""
    self._entries[name] = target

  def get(self, name: str) -> T:
    """The plug-in named `name`; an error naming the choices otherwise."""
    if name not in self._entries:
      raise ConfigError(
          f"--{self.flag}={name!r} is not one of "
          f"{', '.join(self.names())}; a {self.kind} of your own is "
          f"registered by your module (docs/extending.md).")
    entry = self._entries[name]
    if isinstance(entry, str):
      module, attribute = entry.split(":")
      entry = getattr(importlib.import_module(module), attribute)
      self._entries[name] = entry
    return entry

  def names(self) -> Tuple[str, ...]:
    return tuple(self._entries)

  def loaded(self) -> Iterator[T]:
    """Every plug-in, imported."""
    return (self.get(name) for name in self.names())

  def __contains__(self, name) -> bool:
    # Anything from a damaged file (a list, None) is simply not a name.
    return isinstance(name, str) and name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())

  def __len__(self) -> int:
    return len(self._entries)


def load_plugins(modules: str) -> None:
  """Imports the user's plug-in modules (comma-separated module names or
  paths of .py files), whose imports register their plug-ins."""
  import os

  for name in (m.strip() for m in (modules or "").split(",")):
    if not name:
      continue
    if name.endswith(".py"):
      folder, file = os.path.split(os.path.abspath(name))
      if not os.path.isfile(name):
        raise ConfigError(f"--plugins: {name} does not exist; give a module "
                          f"name or the path of a .py file.")
      if folder not in sys.path:
        sys.path.insert(0, folder)
      name = file[:-3]
    try:
      importlib.import_module(name)
    except ImportError as e:
      raise ConfigError(
          f"--plugins: cannot import {name} ({e}); put its folder on "
          f"PYTHONPATH or give the path of its .py file.") from None
