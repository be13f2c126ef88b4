"""A meta-learning run's checkpoints: TensorFlow's CheckpointManager, read
robustly (a damaged index or newest checkpoint is set aside for the one
before), published classifiers' weights loaded as a starting point, and
full disks reported without a half-written checkpoint left behind."""

from __future__ import annotations

import os
import pathlib
from typing import Dict, List, Optional

import tensorflow as tf

from lasium_tf.config import ConfigError
from lasium_tf.core import files
from lasium_tf.errors import DiskFullError
from lasium_tf.records.common import read_card


def checkpoint_manager(learner, directory: str, verbose: bool = False):
  """The run's CheckpointManager and step variable.

  A damaged state file (`checkpoints/checkpoint`, TensorFlow's index of the
  checkpoints) is set aside: the checkpoints themselves are found from their
  files (`checkpoint_candidates`), and the next save writes a new index.
  """
  step = tf.Variable(0, dtype=tf.int64, name="step")
  checkpoint = tf.train.Checkpoint(model=learner.model,
                                   optimizer=learner.optimizer, step=step)
  folder = os.path.join(directory, "checkpoints")
  try:
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
  except (UnicodeDecodeError, ValueError) as e:
    state = os.path.join(folder, "checkpoint")
    os.replace(state, state + ".damaged")
    if verbose:
      print(f"{state} is damaged ({type(e).__name__}); set aside as "
            f"{state}.damaged, the checkpoints are found from their files.",
            flush=True)
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
  return manager, step


def checkpoint_candidates(manager, directory: Optional[str] = None
                          ) -> List[str]:
  """Every checkpoint in the manager's folder (or `directory`) whose files
  exist, newest first.

  Found from the files themselves, so a checkpoint written completely but
  whose state file (`checkpoint`) was not (a kill between the two) counts.
  """
  found = {}
  for index in tf.io.gfile.glob(os.path.join(directory or manager.directory,
                                             "ckpt-*.index")):
    prefix = index[:-len(".index")]
    number = prefix.rsplit("-", 1)[-1]
    if number.isdigit() and tf.io.gfile.glob(prefix + ".data-*"):
      found[int(number)] = prefix
  return [found[n] for n in sorted(found, reverse=True)]


def restore_newest(manager, candidates: List[str], verbose: bool) -> str:
  """Restores the newest checkpoint that reads; says which were broken.

  A damaged checkpoint (truncated data, a garbled index) is named and
  skipped for the next older one; if none reads, a ConfigError lists them.
  """
  broken = []
  for prefix in candidates:
    try:
      manager.checkpoint.restore(prefix).assert_consumed()
    except Exception as e:  # noqa: BLE001 (any unreadable file: try older)
      broken.append(f"{prefix} ({type(e).__name__})")
      continue
    if broken and verbose:
      print(f"Skipped damaged checkpoint(s) {', '.join(broken)}; "
            f"using {prefix}.", flush=True)
    return prefix
  raise ConfigError(
      f"no checkpoint under {manager.directory} can be read: "
      f"{', '.join(broken)}; delete them to start afresh, or restore the "
      f"folder from a copy.")


def published_card(folder: str, flag: str = "init_from") -> Dict:
  """A published classifier's `card.json` ({} without one); refuses a
  folder without `model.keras`."""
  if not os.path.isfile(os.path.join(folder, "model.keras")):
    raise ConfigError(
        f"--{flag}={folder} has no model.keras; give a folder written by "
        f"--mode=export (e.g. pretrained/lasium_ro_gan_maml_alpha04_40k).")
  return read_card(folder)


def published_meta_iteration(folder: str, flag: str = "init_from",
                             of_weights: bool = False) -> int:
  """The meta-iteration a published classifier's card names (0 without a
  card).

  That is the run's length, the budget a record of its weights reports.
  With checkpoint selection the weights are an earlier checkpoint:
  `of_weights` gives that one's meta-iteration, from which a run continued
  from the folder counts on, so that its meta-training tasks follow on from
  the weights' own.
  """
  card = published_card(folder, flag)
  chosen = (card.get("selection") or {}) if of_weights else {}
  value = (chosen.get("meta_iteration", card.get("meta_iterations", 0))
           if isinstance(chosen, dict) else None)
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise ConfigError(
        f"--{flag}={folder}: its card.json gives the meta-iteration "
        f"{value!r}, not a whole number: the card is damaged; export the "
        f"run again (--mode=export) or restore the folder.")
  return value


def load_published(learner, folder: str, flag: str = "init_from",
                   of_weights: bool = False) -> int:
  """Copies a published classifier's weights (`model.keras`) into `learner`.

  Returns `published_meta_iteration(folder, flag, of_weights)`. The network
  must be the one the flags build: same backbone, head and normalization.
  """
  from lasium_tf.run.export import load_keras_model

  step = published_meta_iteration(folder, flag, of_weights)
  try:
    published = load_keras_model(os.path.join(folder, "model.keras"))
  except ValueError as e:  # Safe mode refuses code; a damaged file too.
    raise ConfigError(
        f"--{flag}={folder}: its model.keras is refused ({e}); only a "
        f"file written by --mode=export is loaded, and no code in it is "
        f"run: export the run again.") from None
  ours = learner.model.weights
  theirs = published.weights
  if [tuple(v.shape) for v in ours] != [tuple(v.shape) for v in theirs]:
    raise ConfigError(
        f"--{flag}={folder} holds another network than the flags build "
        f"({len(theirs)} weights, {published.name}, against {len(ours)}, "
        f"{learner.model.name}): use the flagfile that trained it (its "
        f"card.json's train_command), with the same --learner, --backbone, "
        f"--n_way and, for tasknorm_i, --normalization.")
  for mine, value in zip(ours, theirs):
    mine.assign(value)
  return step


def save_checkpoint(manager, number: int) -> None:
  """`manager.save` at meta-iteration `number`; on a full disk its
  half-written `ckpt-N_temp*` is removed and a `DiskFullError` says so."""
  try:
    manager.save(checkpoint_number=number)
  except (tf.errors.OpError, OSError) as e:
    if not files.disk_full(e):
      raise
    files.remove_entries(
        pathlib.Path(manager.directory).glob(f"ckpt-{number}_temp*"))
    raise DiskFullError(files.disk_full_message(
        e, f"checkpoint {number} to {manager.directory}")) from None
