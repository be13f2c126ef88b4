"""The one schema of a setting, and the checks every settings class uses.

A setting is a dataclass field made by `setting()`: its default, help text
and allowed values, from which `lasium_tf.config.cli` generates the flag. Config
classes of the core (`lasium_tf.config`) and of plug-ins (a task source's
own settings) declare their settings the same way, so a plug-in's flags
appear in `--help` like the library's.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from lasium_tf.errors import ConfigError


def setting(default=None, help: str = "", *, flag: Optional[str] = "",
            choices: Optional[Tuple[str, ...]] = None, factory=None):
  """A config field with what its command-line flag needs: the one schema.

  `lasium_tf.config.cli` generates every program's absl flags from these
  fields, so a setting's default, help text and allowed values are written
  once, here.

  Args:
    default: the value when nothing is given.
    help: the flag's help text.
    flag: the flag's name; "" means the field's own name, None means the
      field is not a command-line setting.
    choices: the allowed values of a string setting (an enum flag).
    factory: for a nested config, its class (a default_factory).
  """
  metadata = {"help": help, "flag": flag, "choices": choices}
  if factory is not None:
    return dataclasses.field(default_factory=factory, metadata=metadata)
  return dataclasses.field(default=default, metadata=metadata)


def one_of(name, value, allowed):
  if value not in allowed:
    raise ConfigError(
        f"--{name}={value!r} is not one of {', '.join(allowed)}.")


def positive(name, value):
  if not value > 0 or value == float("inf"):
    raise ConfigError(f"--{name} must be positive and finite, got {value}.")
