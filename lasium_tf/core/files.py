"""Writing files and folders so that nothing half-written is left behind."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import re
import shutil
import tempfile
from typing import Iterable, Optional

from lasium_tf.core.stopping import cleanup_on_abrupt_exit

# Temporary names carry the writing process's id, `.<name>.<pid>.<random>`,
# so a later process can tell a killed writer's leftovers from a live one's.
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}$")


def remove_entries(paths) -> list:
  """Deletes each of `paths` (a folder with what it holds); their names."""
  removed = []
  for path in paths:
    path = pathlib.Path(path)
    if path.is_dir():
      shutil.rmtree(path, ignore_errors=True)
    else:
      path.unlink(missing_ok=True)
    removed.append(path.name)
  return removed


def disk_full(error: BaseException) -> bool:
  """Whether `error` says the disk (or the user's quota) is full: an
  OSError's errno, or the text of a TensorFlow error (its checkpoint and
  SavedModel writers raise ResourceExhaustedError or UnknownError)."""
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC,
                                                    errno.EDQUOT):
    return True
  text = str(getattr(error, "message", error))
  return "No space left on device" in text or "Disk quota exceeded" in text


def disk_full_message(error: BaseException, where="") -> str:
  """One line for a full disk: what failed, and the fix."""
  first = (str(getattr(error, "message", error)).strip().splitlines()
           or [type(error).__name__])[0][:160]
  return (f"the disk is full{' writing ' + str(where) if where else ''} "
          f"({first}); what was being written was removed: free space (or "
          f"give another folder) and rerun the command, which goes on from "
          f"its newest checkpoint.")


def _temp_prefix(path: pathlib.Path) -> str:
  return f".{path.name}.{os.getpid()}."


def _alive(pid: int) -> bool:
  if pid == os.getpid():
    return True
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Another user's live process.
    return True
  return True


def remove_stale_temps(folder) -> list:
  """Deletes the temporary files and folders killed writers left in `folder`.

  Only names this module makes (`.<name>.<pid>.<random>`) whose process is
  gone are touched; a writer still running keeps its temporary. Returns the
  names removed.
  """
  folder = pathlib.Path(folder)
  removed = []
  if not folder.is_dir():
    return removed
  for entry in folder.iterdir():
    match = _TEMP_NAME.match(entry.name)
    if match is None or _alive(int(match["pid"])):
      continue
    if entry.is_dir() and not entry.is_symlink():
      shutil.rmtree(entry, ignore_errors=True)
    else:
      entry.unlink(missing_ok=True)
    removed.append(entry.name)
  return removed


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def atomic_write(path, write_fn) -> None:
  """Writes via write_fn(file) to a temporary file, then renames it into
  place."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  remove_stale_temps(path.parent)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path))
  try:
    with os.fdopen(fd, "wb") as f:
      write_fn(f)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use the default.
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


# What a folder this library exports holds (`lasium_tf.run.export`,
# `lasium_tf.generators.save_generator_module`): a SavedModel, the Keras
# file, the card, its README and sample pictures. Only such a folder is
# ever replaced by an export; anything else is the user's.
EXPORT_ENTRIES = frozenset({"saved_model.pb", "fingerprint.pb", "variables",
                            "assets", "model.keras", "card.json", "README.md",
                            "samples.png", "model.tflite"})
# Files that make a folder a run folder (`lasium_tf.records.rundir`).
_RUN_MARKS = ("config.json", "commands.jsonl", "checkpoints")


def shared_files(first, second) -> list:
  """The files of folder `second` whose bytes are also a file of `first`
  (the same folder twice, a copy, or an image in both), by content: a
  path comparison misses a copy. Sorted paths relative to `second`."""
  import hashlib

  def digests(folder):
    out = {}
    for path in sorted(pathlib.Path(folder).rglob("*")):
      if path.is_file() and not path.name.startswith("."):
        try:
          out.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(),
                         str(path.relative_to(folder)))
        except OSError:
          continue  # Unreadable files are the loaders' to report.
    return out

  if not (os.path.isdir(first) and os.path.isdir(second)):
    return []
  mine = digests(first)
  return sorted(name for digest, name in digests(second).items()
                if digest in mine)


def is_export(folder) -> bool:
  """Whether `folder` is an export this library wrote: a SavedModel with
  its card, and nothing it does not write."""
  folder = pathlib.Path(folder)
  names = {entry.name for entry in folder.iterdir()}
  return {"saved_model.pb", "card.json"} <= names <= EXPORT_ENTRIES


def export_target_problem(path, flag: str, keep: Iterable = ()
                          ) -> Optional[str]:
  """Why an export may not write `path`, or None where it may.

  An export replaces its folder whole, so only a new or empty folder, or
  one an earlier export wrote (`is_export`), is taken. Never the folders in
  `keep` (the run or training folder being exported), a folder above one,
  or a folder holding run folders: `--export_dir=experiments` must not
  delete the runs in it.
  """
  target = pathlib.Path(os.path.realpath(path))
  fix = (f"give --{flag} a new or empty folder (or one an earlier export "
         f"wrote), e.g. pretrained/my_model.")
  for folder in keep:
    folder = pathlib.Path(os.path.realpath(folder))
    if target == folder:
      return f"--{flag}={path} is the folder being exported; {fix}"
    if target in folder.parents:
      return f"--{flag}={path} holds {folder}, the folder being exported; {fix}"
  if not target.exists():
    return None
  if not target.is_dir():
    return f"--{flag}={path} is a file, not a folder; {fix}"
  entries = sorted(e.name for e in target.iterdir())
  if not entries or is_export(target):
    return None
  runs = [e for e in entries if any((target / e / mark).exists()
                                    for mark in _RUN_MARKS)]
  if runs or any((target / mark).exists() for mark in _RUN_MARKS):
    what = (f"run folders ({', '.join(runs[:3])})" if runs
            else "a run's files")
    return (f"--{flag}={path} holds {what}, which an export would delete; "
            f"{fix}")
  return (f"--{flag}={path} holds files no export of this library wrote "
          f"({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}), "
          f"which an export would delete; {fix}")


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
  remove_stale_temps(path.parent)
  tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent,
                                      prefix=_temp_prefix(path)))
  try:
    # A signal that ends the program (`lasium_tf.core.stopping`) takes the
    # temporary folder with it.
    with cleanup_on_abrupt_exit(lambda: shutil.rmtree(tmp, True)):
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
