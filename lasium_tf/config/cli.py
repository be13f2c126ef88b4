"""Command-line flags generated from the config dataclasses.

Every setting is declared once, as a `config.setting` field (default, help,
allowed values); `define_flags` turns a config class into absl flags and
`build` turns parsed flags back into that class (`lasium_tf.main` is the
command line built on it), so a setting's flag, default and help are
written once.

A flag name may be shared by fields of two classes (`--seed` seeds the
meta-learner and the generator); it is defined once, and `define_flags`
refuses two fields that would give it different defaults or help.
"""

from __future__ import annotations

import dataclasses
import shlex
import typing
from typing import Dict, Iterator, NamedTuple, Optional, Sequence, Tuple

from absl import app, flags

from lasium_tf import config as config_lib
from lasium_tf.tasks import SOURCES


class FlagField(NamedTuple):
  """One command-line setting: its flag name and where it lives."""

  name: str
  path: Tuple[str, ...]  # Field names from the root config class down.
  kind: type  # int, float, str, bool or tuple (a list of ints).
  default: object
  help: str
  choices: Optional[Tuple[str, ...]]


def _base_type(hint) -> type:
  """int for Optional[int], tuple for Tuple[int, ...], and so on."""
  origin = typing.get_origin(hint)
  if origin is typing.Union:
    (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
  if origin is tuple:
    return tuple
  return hint


def plugin_settings_classes() -> Dict[str, type]:
  """{source name: settings class} of the task sources registered from
  outside the library that have settings (`Config.plugin_settings`)."""
  own = {f.name for f in dataclasses.fields(config_lib.Config)}
  return {kind.name: kind.settings for kind in SOURCES.loaded()
          if kind.settings is not None and kind.name not in own}


def flag_fields(cls, path: Tuple[str, ...] = ()) -> Iterator[FlagField]:
  """The command-line settings of a config class, nested ones included,
  and those of task sources registered from outside."""
  hints = typing.get_type_hints(cls)
  for field in dataclasses.fields(cls):
    hint = hints[field.name]
    if field.name == "plugin_settings" and cls is config_lib.Config:
      for name, settings in plugin_settings_classes().items():
        yield from flag_fields(settings, path + (field.name, name))
      continue
    if dataclasses.is_dataclass(hint):
      yield from flag_fields(hint, path + (field.name,))
      continue
    name = field.metadata.get("flag", None)
    if name is None:
      continue
    default = field.default
    yield FlagField(name or field.name, path + (field.name,),
                    _base_type(hint), default, field.metadata["help"],
                    field.metadata["choices"])


def define_flags(cls, flag_values: flags.FlagValues = flags.FLAGS,
                 only: Optional[Tuple[str, ...]] = None) -> None:
  """Defines an absl flag for each setting of `cls` (or those in `only`)."""
  seen: Dict[str, FlagField] = {}
  for f in flag_fields(cls):
    if only is not None and f.name not in only:
      continue
    if f.name in seen:
      first = seen[f.name]
      if (first.default, first.kind, first.choices) != (
          f.default, f.kind, f.choices):
        raise ValueError(f"--{f.name} is declared by {first.path} and "
                         f"{f.path} with different defaults or types.")
      continue
    seen[f.name] = f
    _define(f, flag_values)


def _define(f: FlagField, flag_values: flags.FlagValues) -> None:
  kwargs = dict(name=f.name, help=f.help, flag_values=flag_values)
  if f.choices is not None:
    # A registry's choices are read now: plug-ins registered before the
    # flags are defined (`--plugins`) are among them.
    flags.DEFINE_enum(default=f.default, enum_values=list(f.choices),
                      **kwargs)
  elif f.kind is bool:
    flags.DEFINE_bool(default=f.default, **kwargs)
  elif f.kind is int:
    flags.DEFINE_integer(default=f.default, **kwargs)
  elif f.kind is float:
    flags.DEFINE_float(default=f.default, **kwargs)
  elif f.kind is tuple:
    flags.DEFINE_list(default=[str(v) for v in f.default], **kwargs)
  elif f.kind is str:
    flags.DEFINE_string(default=f.default, **kwargs)
  else:
    raise TypeError(f"--{f.name}: no flag type for {f.kind}.")


def _value(f: FlagField, flag_values: flags.FlagValues):
  value = flag_values[f.name].value
  if f.kind is tuple:
    try:
      return tuple(int(v) for v in value)
    except ValueError:
      raise app.UsageError(
          f"--{f.name}={','.join(value)} must be a comma-separated list of "
          f"integers, e.g. 1,5.") from None
  return value


def build(cls, flag_values: flags.FlagValues = flags.FLAGS, **overrides):
  """An instance of `cls` holding the parsed flags' values.

  Settings whose flags were not defined keep their defaults; `overrides`
  (field name: value) sets fields of the top level that are not flags.
  """
  values: Dict[Tuple[str, ...], object] = {}
  for f in flag_fields(cls):
    if f.name in flag_values:
      values[f.path] = _value(f, flag_values)
  return _construct(cls, (), values, overrides)


def _construct(cls, path, values, overrides):
  hints = typing.get_type_hints(cls)
  kwargs = {}
  for field in dataclasses.fields(cls):
    here = path + (field.name,)
    if field.name == "plugin_settings" and cls is config_lib.Config:
      kwargs[field.name] = tuple(
          (name, _construct(settings, here + (name,), values, {}))
          for name, settings in plugin_settings_classes().items())
      continue
    if dataclasses.is_dataclass(hints[field.name]):
      kwargs[field.name] = _construct(hints[field.name], here, values, {})
    elif here in values:
      kwargs[field.name] = values[here]
  kwargs.update(overrides)
  return cls(**kwargs)


def apply_recipe(name: str, flag_values: flags.FlagValues = flags.FLAGS):
  """Sets the recipe's flags that were not given (an explicit flag wins)."""
  for flag, value in config_lib.RECIPES[name].items():
    if not flag_values[flag].present:
      flag_values[flag].value = value


def config_from_flag_values(flag_values: flags.FlagValues,
                            argv: Sequence[str]) -> config_lib.Config:
  """The parsed flags as a `Config`, the recipe filling flags not given;
  `argv` (program first) becomes its `command`."""
  if flag_values["sigma"].present and flag_values["sigma2"].present:
    raise app.UsageError("--sigma (standard deviation) and --sigma2 "
                         "(variance) set the same LASIUM-N noise: give one.")
  apply_recipe(flag_values["recipe"].value, flag_values)
  command = " ".join(shlex.quote(a) for a in ["python", "-m",
                                               "lasium_tf.main", *argv[1:]])
  return build(config_lib.Config, flag_values,
               command=command).with_seed_in_paths()


def config_from_args(args: Sequence[str]) -> config_lib.Config:
  """The `Config` that `python -m lasium_tf.main ARGS` would run.

  For notebooks and scripts: `config_from_args(["--flagfile=flags/folder/
  lasium_n_vae_maml.cfg", "--data_dir=..."])` runs a flagfile's recipe
  exactly, with overrides after it winning as on the command line. Parsed
  into a fresh set of flags, so absl's global FLAGS are left alone.
  A bad flag raises `app.UsageError`.
  """
  flag_values = flags.FlagValues()
  define_flags(config_lib.Config, flag_values)
  argv = ["lasium_tf.main", *args]
  try:
    flag_values(argv)
  except flags.Error as e:
    raise app.UsageError(str(e)) from None
  return config_from_flag_values(flag_values, argv)


def plugins_in_argv(argv) -> str:
  """The --plugins value of `argv` or of a flagfile it reads (the last one
  given), before absl parses anything: the plug-ins' modules must be
  imported before the flags are defined, their names being choices and
  their settings flags."""
  import os

  found = ""

  def scan(args, seen):
    nonlocal found
    for arg in args:
      arg = arg.strip()
      if arg.startswith("--plugins="):
        found = arg[len("--plugins="):]
      elif arg.startswith("--flagfile="):
        path = arg[len("--flagfile="):]
        key = os.path.normpath(path)
        if key in seen or not os.path.isfile(path):
          continue  # absl and flagfile_cycle report these.
        with open(path) as f:
          scan(f.read().splitlines(), seen | {key})

  scan(argv[1:], frozenset())
  return found


def flagfile_cycle(argv, read=None) -> Optional[Tuple[str, ...]]:
  """The chain of --flagfile files that includes itself, if `argv` has one.

  absl skips such a flagfile with a warning and goes on with the rest, so
  a cyclic family of flagfiles would silently run the defaults; the command
  lines refuse it instead. `read` (path -> text) is for tests.
  """
  import os

  read = read or (lambda p: open(p).read())

  def included(text):
    for line in text.splitlines():
      line = line.strip()
      if line.startswith("--flagfile="):
        yield line[len("--flagfile="):]

  def visit(path, chain):
    key = os.path.normpath(path)
    if key in chain:
      return chain + (key,)
    try:
      text = read(path)
    except OSError:
      return None  # absl reports a missing flagfile itself.
    for child in included(text):
      found = visit(child, chain + (key,))
      if found:
        return found
    return None

  for arg in argv[1:]:
    if arg.startswith("--flagfile="):
      found = visit(arg[len("--flagfile="):], ())
      if found:
        return found
  return None


# The concern each setting belongs to in --help: by its config class (a
# task source's settings under the source's own heading), and for the
# top-level ones by name (the rest are "run").
_GROUPS = {"data": "data", "task": "tasks", "maml": "learner",
           "eval": "evaluation", "generative": "generator"}
_TOP_LEVEL = {
    "learner": "learner", "backbone": "learner", "normalization": "learner",
    "batched_tasks": "learner", "task_source": "tasks", "seed": "run",
    "export_dir": "export", "export_epoch": "export", "init_from": "export",
    "strategy": "devices", "logical_cpus": "devices"}
GROUP_ORDER = ("run", "data", "tasks", "learner", "evaluation", "generator",
               "export", "devices")


def _group(f: FlagField) -> str:
  if len(f.path) == 1:
    return _TOP_LEVEL.get(f.name, "run")
  source = f.path[1] if f.path[0] == "plugin_settings" else f.path[0]
  if source in SOURCES:
    kind = SOURCES.get(source)
    return kind.help_group or f"tasks ({kind.name})"
  return _GROUPS.get(f.path[0], "run")


def flag_groups(cls) -> Dict[str, Tuple[str, ...]]:
  """{concern: flag names} for `cls`'s settings, in GROUP_ORDER (a task
  source's own heading right after "tasks")."""
  groups: Dict[str, list] = {}
  for f in flag_fields(cls):
    group = _group(f)
    if not any(f.name in names for names in groups.values()):
      groups.setdefault(group, []).append(f.name)
  order = {g: i for i, g in enumerate(GROUP_ORDER)}
  tasks = order["tasks"]
  return {g: tuple(groups[g]) for g in sorted(
      groups, key=lambda g: order.get(g, tasks + 0.5 if g.startswith(
          "tasks (") else 99))}


def grouped_help(program: str, groups: Dict[str, Tuple[str, ...]],
                 flag_values: flags.FlagValues = flags.FLAGS) -> str:
  """The --help text: the flags under their concern, each with its
  default and help."""
  import textwrap

  lines = [f"usage: python -m {program} [--flagfile=FILE] [--flag=value ...]",
           ""]
  for group, names in groups.items():
    lines.append(f"{group}:")
    for name in names:
      flag = flag_values[name]
      default = flag.default_as_str or "''"
      lines.append(f"  --{name} (default: {default})")
      lines += textwrap.wrap(flag.help, 76, initial_indent="      ",
                             subsequent_indent="      ")
    lines.append("")
  lines.append("--helpfull lists absl's own flags too.")
  return "\n".join(lines)


def version_line() -> str:
  """'lasium_tf X.Y.Z (TensorFlow ..., Keras ...)', without importing
  TensorFlow (the installed distributions' metadata)."""
  from importlib import metadata

  import lasium_tf

  def installed(name):
    try:
      return metadata.version(name)
    except metadata.PackageNotFoundError:
      return "not installed"

  return (f"lasium_tf {lasium_tf.__version__} (TensorFlow "
          f"{installed('tensorflow')}, Keras {installed('keras')})")


def parse_or_exit(argv, program: Optional[str] = None,
                  groups: Optional[Dict[str, Tuple[str, ...]]] = None):
  """app.run's flag parser: one `error:` line and exit 2 for a bad flag,
  a cyclic flagfile or an impossible list value, not a page of help;
  `--help` prints `groups` (flags by concern) when given."""
  import sys

  if "--version" in argv[1:]:
    print(version_line())
    sys.exit(0)
  if groups is not None and any(a in ("--help", "-h", "-?", "--helpshort")
                                for a in argv[1:]):
    print(grouped_help(program, groups))
    sys.exit(0)
  cycle = flagfile_cycle(argv)
  if cycle:
    print(f"error: --flagfile includes itself: {' -> '.join(cycle)}; remove "
          f"the --flagfile line that closes the loop.", file=sys.stderr)
    sys.exit(2)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
    if message.startswith("ERROR:: "):  # absl's own prefix, doubled.
      message = message[len("ERROR:: "):]
    if "Unable to open flagfile" in message:
      message = (f"{message.rstrip('.')}: check the --flagfile path "
                 f"(relative paths start where the command runs).")
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)

