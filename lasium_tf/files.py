"""Writing files and folders so that nothing half-written is left behind."""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def atomic_write(path, write_fn) -> None:
  """Writes via write_fn(file) to a temporary file, then renames it into place."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, "wb") as f:
      write_fn(f)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the default.
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


@contextlib.contextmanager
def atomic_directory(path):
  """Yields a temporary folder beside `path` that replaces it on success.

  On any error the temporary folder is removed and `path` is left as it was.
  An old `path` is renamed aside before the new folder is renamed in, and
  deleted only then, so at every moment a complete folder exists: `path`,
  or the aside copy (`.<name>.old-*`) that the next write restores first if
  a kill came between the two renames.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  _restore_aside(path)
  tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
  try:
    yield tmp
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700.
    aside = None
    if path.exists():
      aside = path.parent / f".{path.name}.old-{tmp.name.rsplit('.', 1)[-1]}"
      path.rename(aside)
    tmp.rename(path)
    if aside is not None:
      shutil.rmtree(aside, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def _restore_aside(path: pathlib.Path) -> None:
  """Puts back an old folder a killed swap left aside with `path` missing."""
  asides = sorted(path.parent.glob(f".{path.name}.old-*"))
  if asides and not path.exists():
    asides[-1].rename(path)
    asides = asides[:-1]
  for aside in asides:
    shutil.rmtree(aside, ignore_errors=True)
