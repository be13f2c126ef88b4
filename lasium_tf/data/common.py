"""What every data loader shares: where data lives, and how it fails."""

from __future__ import annotations

import os
import pathlib
from typing import Callable, Optional

DATA_DIR_ENV = "LASIUM_DATA_DIR"


class DataError(RuntimeError):
  """Data missing, unreadable or in the wrong layout; says what to do."""


def base_dir(data_dir: Optional[str]) -> pathlib.Path:
  """`data_dir`, else `$LASIUM_DATA_DIR`, else `../shared/data`.

  The last is relative to the working directory (the repository root, where
  the commands of this project run), never to where the package is
  installed.
  """
  if data_dir:
    return pathlib.Path(data_dir).expanduser()
  if os.environ.get(DATA_DIR_ENV):
    return pathlib.Path(os.environ[DATA_DIR_ENV]).expanduser()
  return pathlib.Path.cwd().parent / "shared" / "data"


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
  base = base_dir(data_dir)
  for root in (base, base / name):
    if root.is_dir() and is_root(root):
      return root
  problem = (f"the data folder {base} does not exist" if not base.exists()
             else f"neither {base} nor {base / name} holds {expected}")
  raise DataError(f"{name} not found: {problem}. Point --data_dir (or the "
                  f"{DATA_DIR_ENV} environment variable) at a folder that "
                  f"does{hint}.")
