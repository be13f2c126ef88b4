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
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
  try:
    yield tmp
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700.
    if path.exists():
      shutil.rmtree(path)
    tmp.rename(path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
