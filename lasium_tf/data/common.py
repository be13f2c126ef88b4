"""What every data loader shares: where data lives, and how it fails."""

from __future__ import annotations

import os
import pathlib
from typing import Callable, List, Optional

DATA_DIR_ENV = "LASIUM_DATA_DIR"
# Omniglot has exactly 20 drawings of every character (its loader checks
# the files for it; its description, `lasium_tf.datasets.omniglot`, bounds
# the shots of a task by it).
OMNIGLOT_IMAGES_PER_CLASS = 20


class DataError(RuntimeError):
  """Data missing, unreadable or in the wrong layout; says what to do."""


def user_data_dir() -> pathlib.Path:
  """The library's own data folder: where `python -m lasium_tf.data.download`
  puts data sets ($XDG_DATA_HOME/lasium_tf, else ~/.local/share/lasium_tf)."""
  xdg = os.environ.get("XDG_DATA_HOME")
  return (pathlib.Path(xdg) if xdg else
          pathlib.Path.home() / ".local" / "share") / "lasium_tf"


def base_dirs(data_dir: Optional[str]) -> List[pathlib.Path]:
  """Where to look for data, in order.

  `data_dir` alone if given, else `$LASIUM_DATA_DIR` alone if set (an
  explicit place that lacks the data is an error, not a reason to look
  elsewhere); otherwise the library's own data folder (`user_data_dir`),
  then `../shared/data` of the working directory (this repository's
  development layout; never relative to where the package is installed).
  """
  if data_dir:
    return [pathlib.Path(data_dir).expanduser()]
  if os.environ.get(DATA_DIR_ENV):
    return [pathlib.Path(os.environ[DATA_DIR_ENV]).expanduser()]
  return [user_data_dir(), pathlib.Path.cwd().parent / "shared" / "data"]


def tried(candidates: List[pathlib.Path]) -> str:
  """'a (missing), b' for an error that lists where data was looked for."""
  return ", ".join(f"{c}{'' if c.exists() else ' (missing)'}"
                   for c in candidates)


def find_root(data_dir: Optional[str], name: str,
              is_root: Callable[[pathlib.Path], bool],
              expected: str, hint: str) -> pathlib.Path:
  """The data set's folder: the base folder itself or its `name/` child.

  Args:
    data_dir: the --data_dir value (None: environment, then shared/data).
    name: the data set's folder name, e.g. "mini_imagenet".
    is_root: whether a folder holds the data set.
    expected: what such a folder holds, for the error message.
    hint: how else to get the data, for the error message.
  """
  candidates = base_dirs(data_dir)
  for base in candidates:
    for root in (base, base / name):
      if root.is_dir() and is_root(root):
        return root
  raise DataError(f"{name} not found: looked in {tried(candidates)} (each "
                  f"folder and its {name}/) for {expected}. Point --data_dir "
                  f"(or the {DATA_DIR_ENV} environment variable) at a folder "
                  f"that does{hint}.")
