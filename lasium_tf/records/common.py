"""What the run folder and the result records share: JSON files written
atomically and read with errors that name them, the code version and date a
record carries, and which settings are the experiment's."""

from __future__ import annotations

import datetime
import functools
import json
import pathlib
import subprocess
from typing import Dict, List, Optional

from lasium_tf.config import ConfigError
from lasium_tf.core.files import atomic_write


# Settings that say where or how fast a run goes, not what it measures.
NOT_THE_EXPERIMENT = {"command", "mode", "experiment_dir", "results_file",
                       "replace_results", "strategy", "logical_cpus",
                       "batched_tasks", "log_every", "plugins",
                       "eval.tasks_per_call"}


def flat(tree: Dict, prefix: str = "") -> Dict:
  """{"eval.k_query": 15, ...}: a nested config as dotted names."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def write_json(path, record: Dict) -> None:
  """Writes a JSON record atomically (sorted keys, indented)."""
  atomic_write(pathlib.Path(path), lambda f: f.write(
      (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()))


def read_json(path: pathlib.Path) -> Optional[Dict]:
  """The JSON object in `path`; None if there is no file; a ConfigError
  naming the file if it is damaged (empty, not JSON, not an object)."""
  if not path.exists():
    return None
  try:
    with open(path, "rb") as f:
      record = json.loads(f.read().decode("utf-8"))
  except (ValueError, UnicodeDecodeError) as e:
    record = e
  if not isinstance(record, dict):
    raise ConfigError(
        f"{path} is damaged (not a JSON object: "
        f"{str(record).splitlines()[0][:80] or 'empty'}); restore it from a "
        f"copy, or delete it and rerun with the flags the folder was made "
        f"with.")
  return record


def read_card(folder) -> Dict:
  """A published folder's `card.json` ({} without one; a ConfigError naming
  the file if it is damaged)."""
  return read_json(pathlib.Path(folder) / "card.json") or {}


def _git(*args) -> Optional[str]:
  try:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True,
        cwd=pathlib.Path(__file__).resolve().parent, check=True,
        timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return None


@functools.lru_cache(maxsize=1)
def code_version() -> Dict:
  """The commit the running code came from, and whether it had edits.

  Read once, at the first call (a run asks when it starts), so later commits
  during a long run do not mislabel its results, and importing the library
  runs no git.
  """
  status = _git("status", "--porcelain", "--untracked-files=no")
  return {"git_commit": _git("rev-parse", "HEAD"),
          "git_dirty": None if status is None else bool(status)}


# What makes a generator the same one: not its recorded commands, whose
# folder names may be rewritten (e.g. to repository paths) without changing
# a weight.
def normalization_of(record: Dict) -> str:
  """The normalisation a result record (or a card's result) was scored with;
  records from before the choice existed were transductive."""
  return (record.get("hyperparameters", {}).get("normalization")
          or record.get("normalization") or "transductive")


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec="seconds")


def settings_changed(ours: Dict, theirs: Dict) -> List[str]:
  """The settings (dotted names) of config dict `ours` that differ from
  record config `theirs`, where and how fast a run goes aside, and a
  setting left to its default here (None) aside."""
  ours, theirs = flat(ours), flat(theirs)
  return sorted(k for k in ours.keys() & theirs.keys()
                if ours[k] != theirs[k] and ours[k] is not None
                and k.split(".")[0] not in NOT_THE_EXPERIMENT
                and k not in NOT_THE_EXPERIMENT)


