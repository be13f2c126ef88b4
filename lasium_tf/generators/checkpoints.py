"""Generator checkpoints: one format, written and read by this module only.

Checkpoints are NumPy archives of every variable, optimizer state included
(`checkpoints/epoch_XXXX.npz`), so a run trained on a GPU with JAX resumes
on CPU with TensorFlow, and back; a time budget that runs out mid-epoch
leaves `checkpoints/partial_epoch.npz`. `restore` gives back the model of a
training folder, `trained_on` where each epoch ran.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import zipfile
from typing import Dict, List, Optional, Tuple

import numpy as np

from lasium_tf.config import ConfigError, GenerativeConfig
from lasium_tf.core.files import atomic_write
from lasium_tf.generators.base import GenerativeModel, build
from lasium_tf.records.rundir import RunDir

# The checkpoint format: this module is its one reader and writer.
CHECKPOINT_NAME = re.compile(r"epoch_(\d{4,})\.npz")


def checkpoint_path(directory: str, epoch: int) -> pathlib.Path:
  return pathlib.Path(directory) / "checkpoints" / f"epoch_{epoch:04d}.npz"


def partial_path(directory: str) -> pathlib.Path:
  """Where a time budget that ran out mid-epoch leaves that epoch's
  progress (`save_partial`); the next run resumes from it."""
  return pathlib.Path(directory) / "checkpoints" / "partial_epoch.npz"


def _variables(model: GenerativeModel) -> Dict[str, np.ndarray]:
  return {f"{group}/{i}": np.asarray(v.numpy())
          for group, variables in model.groups().items()
          for i, v in enumerate(variables)}


def save_partial(model: GenerativeModel, directory: str, epoch: int, step: int,
                 sums: Dict[str, float]) -> pathlib.Path:
  """Saves the variables after `step` steps of epoch `epoch + 1`, and the
  epoch's loss sums so far, atomically: the rerun goes on from that step
  and ends with what an uninterrupted run would have (`train`)."""
  keys = sorted(sums)
  buffer = io.BytesIO()
  np.savez(buffer, epoch=np.int64(epoch), partial_step=np.int64(step),
           partial_keys=np.array(keys, dtype=str),
           partial_sums=np.array([sums[k] for k in keys], np.float64),
           **_variables(model))
  path = partial_path(directory)
  atomic_write(path, lambda f: f.write(buffer.getvalue()))
  return path


def load_partial(model: GenerativeModel, directory: str, epoch: int,
                 verbose: bool = True) -> Tuple[int, Dict[str, float]]:
  """(steps done, loss sums) of epoch `epoch + 1` from `save_partial`, its
  variables put into `model`; (0, {}) when there is none for that epoch (a
  stale or damaged one is removed, and the epoch restarts from the
  checkpoint of epoch `epoch`)."""
  path = partial_path(directory)
  if not path.exists():
    return 0, {}
  try:
    with np.load(path) as saved:
      saved_epoch = int(saved["epoch"])
      step = int(saved["partial_step"])
      sums = dict(zip((str(k) for k in saved["partial_keys"]),
                      (float(v) for v in saved["partial_sums"])))
    if saved_epoch != epoch:
      raise ValueError(f"it is of epoch {saved_epoch + 1}")
    load_checkpoint(model, path)
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    if verbose:
      why = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
      print(f"Skipped {path} ({why}); epoch {epoch + 1} restarts from the "
            f"checkpoint of epoch {epoch}.", flush=True)
    path.unlink()
    return 0, {}
  return step, sums


def checkpoint_epochs(directory: str) -> List[int]:
  """The epochs `directory/checkpoints` holds, oldest first."""
  folder = pathlib.Path(directory) / "checkpoints"
  names = os.listdir(folder) if folder.is_dir() else []
  return sorted(int(m.group(1)) for m in map(CHECKPOINT_NAME.fullmatch, names) if m)


def save_checkpoint(model: GenerativeModel, directory: str, epoch: int,
                    keep: Tuple[int, ...] = ()) -> pathlib.Path:
  """Writes every variable of `model` at `epoch`, atomically.

  Keeps the newest two checkpoints and those of the epochs in `keep`.
  """
  buffer = io.BytesIO()
  np.savez(buffer, epoch=np.int64(epoch), **_variables(model))
  path = checkpoint_path(directory, epoch)
  atomic_write(path, lambda f: f.write(buffer.getvalue()))
  for old in checkpoint_epochs(directory)[:-2]:
    if old not in keep:
      checkpoint_path(directory, old).unlink()
  return path


def load_checkpoint(model: GenerativeModel, path) -> int:
  """Puts a checkpoint's values into `model`; returns its epoch.

  Refuses a checkpoint of another architecture (latent size, image size,
  GAN or VAE), naming what differs.
  """
  try:
    saved_file = np.load(path)
    saved_file.files  # noqa: B018 (reads the zip's index)
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise DamagedCheckpoint(
        f"{path} is damaged ({type(e).__name__}: "
        f"{str(e).splitlines()[0][:80] if str(e) else 'unreadable'})"
    ) from None
  with saved_file as saved:
    try:
      found = {k: saved[k].shape for k in saved.files
               if k != "epoch" and not k.startswith("partial_")}
      epoch_value = int(saved["epoch"])
    except (OSError, ValueError, EOFError, KeyError,
            zipfile.BadZipFile) as e:
      raise DamagedCheckpoint(
          f"{path} is damaged ({type(e).__name__}: "
          f"{str(e).splitlines()[0][:80] if str(e) else 'unreadable'})"
      ) from None
    expected = {f"{group}/{i}": tuple(v.shape)
                for group, variables in model.groups().items()
                for i, v in enumerate(variables)}
    if found != expected:
      differ = sorted(set(found) ^ set(expected)) or sorted(
          k for k in expected if expected[k] != found[k])
      raise ConfigError(
          f"{path} holds other networks than the configured ones ({len(found)} "
          f"arrays against {len(expected)} expected; first differing: "
          f"{differ[0]}): use the --generator_type, --latent_dim and image "
          f"size it was trained with, or a fresh --experiment_dir.")
    for group, variables in model.groups().items():
      for i, variable in enumerate(variables):
        variable.assign(saved[f"{group}/{i}"])
    return epoch_value


class DamagedCheckpoint(ConfigError):
  """A generator checkpoint that cannot be read (truncated, not a zip,
  holding pickled objects): named, and skipped for an older one where
  there is one."""


def load_newest_intact(model: GenerativeModel, directory: str,
                       verbose: bool = True) -> int:
  """Loads the newest checkpoint of `directory` that reads; its epoch.

  Damaged newer ones are named and skipped; if none reads, a ConfigError
  lists them.
  """
  broken = []
  for epoch in reversed(checkpoint_epochs(directory)):
    try:
      loaded = load_checkpoint(model, checkpoint_path(directory, epoch))
    except DamagedCheckpoint as e:
      broken.append(str(e))
      continue
    if broken and verbose:
      print(f"Skipped {'; '.join(broken)}; using epoch {loaded}.",
            flush=True)
    return loaded
  raise ConfigError(f"no checkpoint of {directory} can be read: "
                    f"{'; '.join(broken)}. Delete them to start afresh.")


def refuse_old_format(directory: str) -> None:
  """A folder written by lasium_tf before the one checkpoint format."""
  folder = pathlib.Path(directory)
  if (folder / "checkpoints" / "checkpoint").exists() or list(
      folder.glob("generator_epoch_*.weights.h5")):
    raise ConfigError(
        f"{directory} holds checkpoints in a format lasium_tf no longer reads "
        f"(TensorFlow ckpt-N files or scripts/gan_jax.py weights, from before "
        f"checkpoints/epoch_XXXX.npz): train it again, or export it with the "
        f"version that trained it.")


def trained_on(directory: str, until: Optional[int] = None) -> str:
  """Which backends trained which epochs, from `metrics.jsonl`.

  E.g. "jax on gpu (epochs 1-140), tensorflow on cpu (epochs 141-150)": a
  run may move between machines, and its card says where each part ran.
  `until`: only the epochs up to it (a snapshot's history).
  """
  path = pathlib.Path(directory) / "metrics.jsonl"
  lines = [json.loads(l) for l in path.read_text().splitlines()] if (
      path.exists()) else []
  spans: List[list] = []
  for line in lines:
    if until is not None and line["epoch"] > until:
      continue
    where = line.get("backend", "unknown")
    if spans and spans[-1][0] == where:
      spans[-1][2] = line["epoch"]
    else:
      spans.append([where, line["epoch"], line["epoch"]])
  return ", ".join(f"{w} (epoch{'s' if a != b else ''} "
                   f"{a}{'-' + str(b) if a != b else ''})"
                   for w, a, b in spans)


def restore(path: str, epoch: Optional[int] = None):
  """The GAN or VAE of a generator training folder, at its newest epoch.

  `path` is the folder, or one checkpoint in it
  (`<folder>/checkpoints/epoch_0100.npz`, a snapshot of the GAN-epoch study);
  `epoch` picks a kept checkpoint of the folder instead of the newest.
  Returns (model, GenerativeConfig, epoch, train command). The folder's
  config.json (written by --mode=train_generator) says which model and
  latent size it holds.
  """
  if os.path.isfile(path):
    checkpoint = pathlib.Path(path)
    directory = str(checkpoint.parent.parent)
  else:
    directory, checkpoint = path, None
  saved = RunDir(directory).saved_config()
  if saved is None:
    if any(os.path.exists(os.path.join(directory, name))
           for name in ("card.json", "variables", "fingerprint.pb")):
      raise FileNotFoundError(
          f"{directory} is a published SavedModel missing its "
          f"saved_model.pb: restore the folder or export it again "
          f"(--mode=export_generator).")
    raise FileNotFoundError(
        f"{directory} is not a generator training folder (no config.json); "
        f"train one with --mode=train_generator.")
  if saved.get("mode", "train_generator") != "train_generator" and not (
      checkpoint_epochs(directory)):
    raise ConfigError(
        f"{directory} is a meta-learning run folder (--mode="
        f"{saved['mode']}), not a generator training folder: pass the "
        f"generator it was trained on (its config.json's lasium.generator), "
        f"or a folder made by --mode=train_generator.")
  if not isinstance(saved.get("generative"), dict):
    raise ConfigError(
        f"{directory}/config.json has no generator settings (\"generative\"): "
        f"it is damaged or not a generator training folder's; train one "
        f"with --mode=train_generator.")
  config = GenerativeConfig(**{
      k: tuple(v) if isinstance(v, list) else v
      for k, v in saved["generative"].items()})
  data = saved.get("data", {})
  model = build(config, data.get("image_size") or 28,
                data.get("channels") or 1)
  refuse_old_format(directory)
  if checkpoint is None:
    epochs = checkpoint_epochs(directory)
    if not epochs:
      raise FileNotFoundError(f"{directory}/checkpoints holds no checkpoint "
                              f"yet; train at least one epoch.")
    if epoch is not None and epoch not in epochs:
      raise ConfigError(
          f"{directory} keeps no checkpoint of epoch {epoch} (it keeps "
          f"epochs {epochs}): pick one of those, or train with "
          f"--snapshot_epochs={epoch} to keep it.")
    if epoch is None:
      return (model, config, load_newest_intact(model, directory),
              saved.get("command", ""))
    checkpoint = checkpoint_path(directory, epoch)
  epoch = load_checkpoint(model, checkpoint)
  return model, config, epoch, saved.get("command", "")
