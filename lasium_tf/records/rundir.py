"""The experiment folder: one owner for its files.

A meta-learning run's folder (`--experiment_dir`) holds
  * `config.json`: the training run's `Config` (evaluating or exporting the
    run later never overwrites it);
  * `generator.json`: what is known of the LASIUM generator it trained on;
  * `train_seconds.txt`: meta-training wall time summed over resumed runs;
  * `results_Kshot.json`: one result record per evaluated shot
    (`records.schema`);
  * `checkpoints/` and `tensorboard/` (written by `lasium_tf.run`).
`RunDir` reads and writes these files, and refuses to resume a checkpoint
under other training settings or another generator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
from typing import Dict, List, Optional

from lasium_tf.config import Config, ConfigError
from lasium_tf.core.files import (atomic_write, remove_entries,
                                  remove_stale_temps)
from lasium_tf.core.stopping import cleanup_on_abrupt_exit
from lasium_tf.learners.normalizations import NORMALIZATIONS
from lasium_tf.records.common import (code_version, flat, normalization_of,
                                      now, read_json, settings_changed,
                                      write_json)
from lasium_tf.tasks import SOURCES

# What a checkpoint was trained on; a resumed run must not change it.
# The task sources' own settings (each registered source's settings class is
# a field of `Config` named after it, or one of `Config.plugin_settings`).
_RESUME_KEYS = ("task_source", "learner", "backbone", "task", "maml",
                *(f.name for f in dataclasses.fields(Config) if f.name in SOURCES),
                "plugin_settings", "seed")
_RESUME_DATA_KEYS = ("dataset", "split", "image_size", "strokes",
                     "train_rotations")


_GENERATOR_IDENTITY = ("kind", "source", "preset", "epochs", "date",
                       "latent_dim", "strokes", "split")


def _identity(info: Dict) -> Dict:
  return {k: _same_place(info.get(k)) if k == "source" else info.get(k)
          for k in _GENERATOR_IDENTITY}


def _same_place(value):
  """A setting as compared on resume: a path that exists, by where it
  leads (pretrained/omniglot_gan and its absolute path are one
  generator); anything else (nested settings included) as it is."""
  if isinstance(value, dict):
    return {k: _same_place(v) for k, v in value.items()}
  if isinstance(value, str) and os.sep in value and os.path.exists(value):
    return os.path.realpath(value)
  return value


def _migrated(saved: Dict) -> Dict:
  """A config.json as today's schema: settings added since hold defaults."""
  defaults = json.loads(json.dumps(dataclasses.asdict(Config())))
  return {k: ({**defaults[k], **v} if isinstance(v, dict)
              and isinstance(defaults.get(k), dict) else v)
          for k, v in saved.items()}


class RunDir:
  """The files of one experiment folder (see the module docstring)."""

  def __init__(self, path):
    self.path = pathlib.Path(path)
    code_version()  # Provenance of the code this run imported.

  @contextlib.contextmanager
  def lock(self):
    """Holds the folder for this process; a second one gets a clear error.

    An advisory `flock` on `.lock`: the kernel releases it when the process
    ends, however it ends, so a killed run never leaves the folder locked.
    """
    created = not self.path.exists()
    made_lock = not (self.path / ".lock").exists()
    try:
      self.path.mkdir(parents=True, exist_ok=True)
      (self.path / ".lock").touch()
    except OSError as e:
      raise ConfigError(
          f"cannot use {self.path} as the experiment folder "
          f"({e.strerror or e}); point --experiment_dir at a folder that "
          f"can be written.") from None
    def remove_if_empty():
      if self.holds_work():
        return
      if created:
        shutil.rmtree(self.path, ignore_errors=True)  # Nothing was made.
      elif made_lock:  # The user's folder, as it was before the run.
        (self.path / ".lock").unlink(missing_ok=True)

    try:
      with self._locked(), cleanup_on_abrupt_exit(remove_if_empty):
        yield self
    except BaseException:
      remove_if_empty()
      raise

  def holds_work(self) -> bool:
    """Whether the folder holds anything a run produced: a checkpoint, a
    generator epoch or a result (not just its config and command log)."""
    checkpoints = self.path / "checkpoints"
    return (checkpoints.is_dir() and any(checkpoints.iterdir())) or any(
        self.path.glob("results_*.json"))

  @contextlib.contextmanager
  def _locked(self):
    with open(self.path / ".lock", "a+") as handle:
      try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise ConfigError(
            f"{self.path} is in use by {holder}; wait for it to finish, or "
            f"use another --experiment_dir.") from None
      handle.seek(0)
      handle.truncate()
      handle.write(f"process {os.getpid()}")
      handle.flush()
      self.remove_leftovers()
      try:
        yield
      finally:
        fcntl.flock(handle, fcntl.LOCK_UN)

  def remove_leftovers(self) -> List[str]:
    """Deletes what killed runs left: checkpoint and file temporaries.

    TensorFlow writes a checkpoint into `ckpt-N_temp*` before renaming it;
    a kill in between leaves that folder, which no restore reads. Called
    with the folder locked, so no live run of it is writing.
    """
    removed = remove_stale_temps(self.path)
    for folder in (self.path / "checkpoints",):
      removed += remove_stale_temps(folder)
      if folder.is_dir():
        removed += remove_entries(folder.glob("ckpt-*_temp*"))
    if removed:
      print(f"Removed {len(removed)} leftover(s) of an interrupted run from "
            f"{self.path}: {', '.join(sorted(removed)[:3])}.",
            file=sys.stderr, flush=True)
    return removed

  @property
  def config_path(self) -> pathlib.Path:
    return self.path / "config.json"

  def read_json_file(self, name: str) -> Optional[Dict]:
    """A JSON file of the folder (None if absent; damaged: an error
    naming it)."""
    return read_json(self.path / name)

  @property
  def backup_path(self) -> pathlib.Path:
    """A second copy of config.json, so that a deleted config.json can
    neither let a checkpoint resume under other settings nor lose the
    run's record."""
    return self.path / "config.backup.json"

  def saved_config(self) -> Optional[Dict]:
    """The training run's config.json (else its backup), migrated to
    today's schema."""
    saved = read_json(self.config_path)
    if saved is None:
      saved = read_json(self.backup_path)
    return None if saved is None else _migrated(saved)

  def keep_records(self, config: Config) -> None:
    """Called at every checkpoint: a config.json that vanished is written
    again (from this run's own config); a run folder that vanished stops
    the run, naming it, rather than finishing with half its records."""
    if not self.path.is_dir():
      raise ConfigError(
          f"{self.path} was deleted while meta-training wrote into it; "
          f"nothing more is written. Rerun the command to start afresh.")
    if not self.config_path.exists():
      write_json(self.config_path, self.saved_config() or
                 dataclasses.asdict(config))

  def record_config(self, config: Config) -> None:
    """Writes config.json for a training run; other modes keep the old one.

    Every command run on the folder, of any mode, is also appended to
    `commands.jsonl` (mode, command, date), so an export or evaluation of
    a trained run is on record beside the command that trained it.
    """
    self.path.mkdir(parents=True, exist_ok=True)
    if config.run_mode.writes_a_run or not self.config_path.exists():
      saved = (None if config.run_mode.writes_a_run
               else self.saved_config())
      record = saved or dataclasses.asdict(config)
      write_json(self.config_path, record)
      write_json(self.backup_path, record)
    self.record_command(config)

  def record_command(self, config: Config) -> None:
    path = self.path / "commands.jsonl"
    old = path.read_bytes() if path.exists() else b""
    line = json.dumps({"mode": config.mode, "command": config.command,
                       "date": now()}, sort_keys=True)
    atomic_write(path, lambda f: f.write(old + line.encode() + b"\n"))

  def check_resume(self, config: Config) -> None:
    """Refuses to resume (or evaluate) a checkpoint under other settings,
    and a checkpoint whose settings are on record nowhere."""
    saved = self.saved_config()
    if saved is None:
      raise ConfigError(
          f"{self.path} holds checkpoints but neither config.json nor "
          f"{self.backup_path.name} says what they were trained with; "
          f"restore config.json from a copy, or use a fresh "
          f"--experiment_dir.")
    now = json.loads(json.dumps(dataclasses.asdict(config)))
    changed = []
    for key in _RESUME_KEYS:
      if key not in saved or _same_place(saved[key]) == _same_place(now[key]):
        continue
      if isinstance(saved[key], dict) and isinstance(now[key], dict):
        old, new = flat(saved[key]), flat(now[key])
        changed += [f"{key}.{k}" for k in sorted(old.keys() & new.keys())
                    if _same_place(old[k]) != _same_place(new[k])] or [key]
      else:
        changed.append(key)
    saved_data = {"strokes": "white", **saved.get("data", {})}
    old_data = dataclasses.replace(config.data, **{
        k: v for k, v in saved_data.items() if k in _RESUME_DATA_KEYS})
    for key in ("dataset", "resolved_split", "resolved_image_size",
                "strokes", "train_rotations"):
      if getattr(old_data, key) != getattr(config.data, key):
        changed.append(f"data.{key.replace('resolved_', '')}")
    trained_norm = saved.get("normalization", "transductive")
    if config.trains:
      if trained_norm != config.normalization:
        changed.append("normalization")
    elif (NORMALIZATIONS.get(trained_norm).blends_instances
          != NORMALIZATIONS.get(config.normalization).blends_instances):
      same = [k.name for k in NORMALIZATIONS.loaded()
              if k.blends_instances
              == NORMALIZATIONS.get(trained_norm).blends_instances]
      raise ConfigError(
          f"{config.experiment_dir} was trained with --normalization="
          f"{trained_norm}; TaskNorm-I's network has weights the others "
          f"lack, so it cannot be scored or exported as "
          f"--normalization={config.normalization}: use --normalization="
          f"{' or '.join(same)}.")
    if changed:
      raise ConfigError(
          f"{config.experiment_dir} holds a checkpoint trained with other "
          f"settings ({', '.join(changed)} differ from its config.json); "
          f"use a fresh --experiment_dir, or the flags it was trained with.")

  def saved_generator(self) -> Optional[Dict]:
    return read_json(self.path / "generator.json")

  def check_generator(self, info: Dict) -> None:
    """Records the generator a run trains on; refuses a different one later.

    A generator path (pretrained/omniglot_gan) can be republished with other
    weights; resuming on those would mix two generators in one result.
    """
    saved = self.saved_generator()
    info = json.loads(json.dumps(info))
    if saved is None:
      write_json(self.path / "generator.json", info)
    elif _identity(saved) != _identity(info):
      differ = [k for k in _GENERATOR_IDENTITY
                if _identity(saved)[k] != _identity(info)[k]]
      raise ConfigError(
          f"{self.path} was meta-trained on another generator "
          f"({saved.get('source')}, {saved.get('epochs')} epochs, dated "
          f"{saved.get('date')}) than --generator gives now "
          f"({info.get('source')}, {info.get('epochs')} epochs, dated "
          f"{info.get('date')}; {', '.join(differ)} differ); use a fresh "
          f"--experiment_dir.")

  def add_train_seconds(self, seconds: float) -> float:
    """Total meta-training wall time across resumed runs."""
    path = self.path / "train_seconds.txt"
    total = seconds
    if path.exists():
      try:
        total += float(path.read_text())
      except ValueError:
        pass
    if seconds:
      atomic_write(path, lambda f: f.write(f"{total}\n".encode()))
    return total

  def result_paths(self, config: Config, k_shot: int) -> List[pathlib.Path]:
    """results_Kshot.json here, plus --results_file (with {k_shot})."""
    suffix = NORMALIZATIONS.get(config.normalization).result_suffix
    paths = [self.path / f"results_{k_shot}shot{suffix}.json"]
    if config.results_file:
      template = config.results_file
      if "{k_shot}" not in template:
        stem, ext = os.path.splitext(template)
        template = f"{stem}_{{k_shot}}shot{ext or '.json'}"
      paths.append(pathlib.Path(template.format(k_shot=k_shot)))
    return paths

  def check_writable(self, config: Config) -> None:
    """Fails before any work if a result could not be written later."""
    if config.results_file and os.path.isdir(config.results_file):
      raise ConfigError(
          f"--results_file={config.results_file} names a folder; give a file "
          f"name in it, e.g. "
          f"{os.path.join(config.results_file, 'run_{k_shot}shot.json')}.")
    for path in self.result_paths(config, 1):
      existing = path.parent.absolute()  # Nothing is created here.
      while not existing.exists():
        existing = existing.parent
      if not existing.is_dir() or not _can_write_in(existing):
        raise ConfigError(
            f"cannot write results under {path.parent}: {existing} is not a "
            f"writable folder; point --results_file or --experiment_dir at "
            f"a writable folder.")

  def check_results_file(self, config: Config) -> None:
    """Refuses, before any work, to replace a record at --results_file
    that another experiment made (other settings or budget), unless
    --replace_results: a shortened run of a published flagfile must not
    overwrite the published figure."""
    if not config.results_file or config.replace_results or (
        not config.evaluates):
      return
    ours = json.loads(json.dumps(dataclasses.asdict(config)))
    for k_shot in config.eval.k_shots:
      path = self.result_paths(config, k_shot)[-1]
      record = read_json(path) if path.exists() else None
      if not isinstance(record, dict) or not isinstance(
          record.get("config"), dict):
        continue
      theirs = flat(record["config"])
      changed = settings_changed(ours, record["config"])
      if changed:
        shown = ", ".join(f"{k} {theirs[k]!r} -> {flat(ours)[k]!r}"
                          for k in changed[:4])
        raise ConfigError(
            f"{path} holds the result of another experiment ({shown}"
            f"{', ...' if len(changed) > 4 else ''}); this run would "
            f"replace it. Give --results_file a new name (or drop it), or "
            f"pass --replace_results to replace it on purpose.")

  def write_result(self, config: Config, record: Dict) -> None:
    for path in self.result_paths(config, record["k_shot"]):
      write_json(path, record)

  def results_at(self, meta_iterations: int) -> List[Dict]:
    """This run's own result records at a meta-iteration, by shot."""
    records = []
    for path in sorted(self.path.glob("results_*shot*.json")):
      if re.fullmatch(r"results_\d+shot(_[a-z_]+)?\.json", path.name):
        record = read_json(path)
        if record.get("budget", {}).get("meta_iterations") == meta_iterations:
          records.append(record)
    return sorted(records, key=lambda r: (normalization_of(r), r["k_shot"]))


def _can_write_in(folder: pathlib.Path) -> bool:
  """Whether a file can be made in `folder`: tried, not guessed from
  permission bits (root passes those; a read-only mount does not)."""
  try:
    with tempfile.TemporaryFile(dir=folder):
      return True
  except OSError:
    return False


def tensorboard(config: Config, step: int, scalars=None, image=None,
                hparams: bool = False) -> None:
  """Writes to the run's TensorBoard logs (`tensorboard/` of the run
  folder): scalars (evaluation and validation accuracy with their
  intervals), a picture (the meta-training tasks) and the run's settings
  as HParams, so TensorBoard shows what the records show."""
  import numpy as np
  import tensorflow as tf

  writer = tf.summary.create_file_writer(
      os.path.join(config.experiment_dir, "tensorboard"))
  with writer.as_default(step=step):
    for name, value in (scalars or {}).items():
      tf.summary.scalar(name, value)
    if image is not None:
      name, picture = image
      tf.summary.image(name, np.asarray(picture, np.float32)[None])
    if hparams:
      from tensorboard.plugins.hparams import api as hp
      flat = {}
      for group, value in json.loads(json.dumps(
          dataclasses.asdict(config))).items():
        for key, leaf in (value.items() if isinstance(value, dict)
                          else [("", value)]):
          name = f"{group}.{key}" if key else group
          if isinstance(leaf, (bool, int, float, str)) and name != "command":
            flat[name] = leaf
      hp.hparams(flat)
  writer.flush()


