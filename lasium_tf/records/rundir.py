"""The experiment folder and the result record: one owner for their files.

A meta-learning run's folder (`--experiment_dir`) holds
  * `config.json`: the training run's `Config` (evaluating or exporting the
    run later never overwrites it);
  * `generator.json`: what is known of the LASIUM generator it trained on;
  * `train_seconds.txt`: meta-training wall time summed over resumed runs;
  * `results_Kshot.json`: one result record per evaluated shot;
  * `checkpoints/` and `tensorboard/` (written by `lasium_tf.run.experiment`).
`RunDir` reads and writes these files, and refuses to resume a checkpoint
under other training settings or another generator. `result_record` writes
the one schema of a result JSON (also copied to `--results_file`);
`summarize` and `load_results` read it back as a `Summary`, the only view
of it that `lasium_tf.report` and `lasium_tf.plots` have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import functools
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, NamedTuple, Optional, Tuple

from lasium_tf.config import Config, ConfigError
from lasium_tf.learners.normalizations import NORMALIZATIONS
from lasium_tf.tasks import SOURCES
from lasium_tf.core.files import atomic_write, remove_entries, remove_stale_temps
from lasium_tf.core.stopping import cleanup_on_abrupt_exit

# What a checkpoint was trained on; a resumed run must not change it.
# The task sources' own settings (each registered source's settings class is
# a field of `Config` named after it, or one of `Config.plugin_settings`).
_RESUME_KEYS = ("task_source", "learner", "backbone", "task", "maml",
                *(f.name for f in dataclasses.fields(Config) if f.name in SOURCES),
                "plugin_settings", "seed")
_RESUME_DATA_KEYS = ("dataset", "split", "image_size", "strokes",
                     "train_rotations")


# Settings that say where or how fast a run goes, not what it measures.
_NOT_THE_EXPERIMENT = {"command", "mode", "experiment_dir", "results_file",
                       "replace_results", "strategy", "logical_cpus",
                       "batched_tasks", "log_every", "plugins",
                       "eval.tasks_per_call"}


def _flat(tree: Dict, prefix: str = "") -> Dict:
  """{"eval.k_query": 15, ...}: a nested config as dotted names."""
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def write_json(path, record: Dict) -> None:
  """Writes a JSON record atomically (sorted keys, indented)."""
  atomic_write(pathlib.Path(path), lambda f: f.write(
      (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()))


def _read_json(path: pathlib.Path) -> Optional[Dict]:
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
  return _read_json(pathlib.Path(folder) / "card.json") or {}


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
    return _read_json(self.path / name)

  @property
  def backup_path(self) -> pathlib.Path:
    """A second copy of config.json, so that a deleted config.json can
    neither let a checkpoint resume under other settings nor lose the
    run's record."""
    return self.path / "config.backup.json"

  def saved_config(self) -> Optional[Dict]:
    """The training run's config.json (else its backup), migrated to
    today's schema."""
    saved = _read_json(self.config_path)
    if saved is None:
      saved = _read_json(self.backup_path)
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
    if config.mode in ("train", "train_and_evaluate", "train_generator") or (
        not self.config_path.exists()):
      saved = (self.saved_config() if config.mode not in (
          "train", "train_and_evaluate", "train_generator") else None)
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
        old, new = _flat(saved[key]), _flat(now[key])
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
    return _read_json(self.path / "generator.json")

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
      record = _read_json(path) if path.exists() else None
      if not isinstance(record, dict) or not isinstance(
          record.get("config"), dict):
        continue
      theirs = _flat(record["config"])
      changed = settings_changed(ours, record["config"])
      if changed:
        shown = ", ".join(f"{k} {theirs[k]!r} -> {_flat(ours)[k]!r}"
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
        record = _read_json(path)
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


def normalization_of(record: Dict) -> str:
  """The normalisation a result record (or a card's result) was scored with;
  records from before the choice existed were transductive."""
  return (record.get("hyperparameters", {}).get("normalization")
          or record.get("normalization") or "transductive")


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


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec="seconds")


def result_record(config: Config, k_shot: int, outcome: Dict,
                  meta_iterations: int, train_seconds: float,
                  generator_info: Optional[Dict] = None,
                  devices: Optional[Dict] = None) -> Dict:
  """The result JSON of one evaluated shot: accuracy, budget, settings.

  `outcome` is `experiment.evaluate`'s; `devices` says where it ran
  (`distribute.describe`: strategy and replicas); every setting is stated
  once under
  "hyperparameters" (what report and plots read), the whole config under
  "config".
  """
  source = SOURCES.get(config.task_source)
  return {
      "method": config.resolved_method,
      "dataset": config.data.dataset,
      "n_way": config.eval.n_way,
      "k_shot": k_shot,
      "k_query": config.eval.k_query,
      "num_tasks": outcome["num_tasks"],
      "accuracy": round(outcome["accuracy"], 2),
      "ci95": round(outcome["ci95"], 2),
      **({"degenerate": True} if outcome.get("degenerate") else {}),
      **({"baselines": outcome["baselines"]} if outcome.get("baselines")
         else {}),
      **({"selection": outcome["selection"]} if outcome.get("selection")
         else {}),
      "command": config.command,
      "budget": {
          "meta_iterations": meta_iterations,
          "meta_batch_size": config.maml.meta_batch_size,
          "meta_train_seconds": round(train_seconds, 1),
          "eval_tasks": outcome["num_tasks"],
          "eval_adaptation_steps": config.eval.inner_steps,
          "eval_seconds": round(outcome["seconds"], 1),
          "eval_path": outcome.get("path", "per_task"),
          **(devices or {}),
      },
      "hyperparameters": {
          "backbone": config.backbone, "split": config.data.resolved_split,
          "normalization": config.normalization,
          **({"strokes": config.data.strokes}
             if "strokes" in config.data.kind.options else {}),
          **({"background": config.data.background}
             if config.data.background else {}),
          **({"train_rotations": True} if config.data.train_rotations
             else {}),
          "learner": config.learner,
          "recipe": config.recipe,
          "train_task": dataclasses.asdict(config.task),
          "maml": dataclasses.asdict(config.maml),
          "eval_inner_lr": config.eval.inner_lr or config.maml.inner_lr,
          "eval_seed": config.eval.seed, "seed": config.seed,
          **source.record(config, generator_info),
          "task_source": config.task_source,
      },
      **({"table": config.table} if config.table is not None else {}),
      **({"study": config.study} if config.study is not None else {}),
      "config": dataclasses.asdict(config),
      "date": now(),
      **code_version(),
  }


def export_card(config: Config, meta_iterations: int) -> Dict:
  """What an exported backbone is: its training command, budget, accuracy.

  The accuracy is the training run's own results at the exported
  meta-iteration, where there are any, each with the normalisation it was
  scored with; with `--init_from`, the published card's results that this
  folder did not score again are kept, and so is its checkpoint selection.
  """
  run = RunDir(config.experiment_dir)
  trained = run.saved_config() or {}
  keys = ("n_way", "k_shot", "accuracy", "ci95", "num_tasks")
  results = {(normalization_of(r), r["k_shot"]): {
      **{k: r[k] for k in keys}, "normalization": normalization_of(r)}
             for r in run.results_at(meta_iterations)}
  published = {}
  if config.init_from:
    published = read_card(config.init_from)
    for r in published.get("results", []):
      results.setdefault((normalization_of(r), r["k_shot"]),
                         {**r, "normalization": normalization_of(r)})
  return {"method": config.resolved_method, "learner": config.learner,
          "backbone": config.backbone, "recipe": config.recipe,
          "dataset": config.data.dataset,
          "images": (f"{config.data.strokes} strokes"
                     if "strokes" in config.data.kind.options else
                     "RGB" if config.data.resolved_channels == 3 else "grey"),
          # How its training images were resized: an image file given to
          # the model is read the same way (`classifier.read_images`).
          "antialias": config.data.kind.antialias,
          "meta_iterations": meta_iterations,
          "trained_normalization": (
              published.get("trained_normalization", "transductive")
              if config.init_from else
              trained.get("normalization", "transductive")),
          "train_command": published.get(
              "train_command", trained.get("command", config.command)),
          "export_command": config.command,
          **({"selection": published["selection"]}
             if published.get("selection") else {}),
          "results": [results[k] for k in sorted(results)],
          "date": now(), **code_version()}


class Summary(NamedTuple):
  """What a result JSON says, read in one place for report and plots.

  `summarize` builds it from a record of any age: settings that older
  records kept elsewhere (the split and ink under "config") or not at all
  are read or defaulted here, and nowhere else.
  """

  path: str  # Relative to the results folder.
  method: str
  dataset: str
  k_shot: int
  accuracy: float
  ci95: float
  command: str
  date: str
  table: Optional[int]
  study: Optional[str]
  recipe: str  # "none" for runs from before recipes existed.
  meta_iterations: Optional[int]
  trained_shot: Optional[int]  # The meta-training tasks' shot.
  eval_tasks: Optional[int]
  policy: Optional[str]
  values: Dict[str, float]  # The policy's sigma2 / sigma / sigma_max / alpha.
  source_settings: Dict[str, float]  # UMTRA's augmentation, CACTUs' k, P.
  generator_kind: Optional[str]
  generator_epochs: Optional[int]
  generator_run: str  # " (JAX-trained)" and the like; "" for the default.
  split: Optional[str]
  strokes: str
  train_rotations: bool
  query_shift: int
  shift_fill: Optional[str]
  normalization: str  # "transductive" for records from before the choice.
  seed: int  # The meta-training seed (`--seed`; 0 where not recorded).
  eval_seed: Optional[int]  # The test tasks' seed (`--eval_seed`).
  # {name: (accuracy, ci95)} of the baselines scored on the same tasks.
  baselines: Dict[str, Tuple[float, float]] = {}
  baseline_encoder: Optional[str] = None
  decode_precision: str = "float32"  # LASIUM's `--decode_precision`.
  cactus_encoder: Optional[str] = None  # The embedding CACTUs clustered.
  # Classes of the meta-training tasks where they differ from the test's.
  trained_ways: Optional[int] = None
  # The protocol settings Table 1 holds at the config's defaults (network
  # and its width, training and test queries, meta-batch), as run.
  backbone: str = Config().backbone
  filters: Optional[int] = None
  train_queries: Optional[int] = None
  eval_queries: Optional[int] = None
  meta_batch: Optional[int] = None
  # MAML's inner lr in meta-training and at test (None: not MAML, or a
  # record without its config; the test's None also: the training one).
  inner_lr: Optional[float] = None
  eval_inner_lr: Optional[float] = None
  # The published classifier meta-training started from (`--continue_from`).
  continued_from: Optional[str] = None
  # Adam's meta learning rate (None: not recorded).
  meta_lr: Optional[float] = None
  # The meta-iteration of the checkpoint scored, where it was selected on
  # validation tasks among the run's checkpoints (None: its last one).
  checkpoint: Optional[int] = None

  @property
  def one_at_a_time(self) -> bool:
    """Whether a query's answer was independent of the other queries."""
    return not NORMALIZATIONS.get(self.normalization).transductive

  @property
  def settings(self) -> str:
    """The policy's values, the query shift and rotation classes, in short:
    what tells two runs of one method apart in a table."""
    parts = [f"{k} {self.values[k]:g}" for k in _POLICY_VALUES
             if k in self.values]
    parts += [f"{k} {v:g}" for k, v in sorted(self.source_settings.items())]
    if self.query_shift:
      parts.append(f"shift {self.query_shift} ({self.shift_fill})")
    if self.train_rotations:
      parts.append("rotation classes")
    if self.decode_precision != "float32":
      parts.append(f"{self.decode_precision} decoding")
    if self.cactus_encoder:
      parts.append(f"{pathlib.PurePath(self.cactus_encoder).name} embedding")
    if self.continued_from:
      parts.append(f"continued from {pathlib.PurePath(self.continued_from).name}"
                   " (fresh optimizer)")
    if self.meta_lr not in (None, Config().maml.meta_lr):
      parts.append(f"meta lr {self.meta_lr:g}")
    if self.checkpoint is not None:
      parts.append(f"checkpoint {self.checkpoint}")
    return ", ".join(parts + self.protocol_changes)

  @property
  def protocol_changes(self) -> List[str]:
    """Where the run left Table 1's protocol (network, width, queries,
    meta-batch, MAML's inner lrs; the budget column names the split), in
    short; empty for a run at that protocol."""
    protocol = Config()
    parts = []
    if self.backbone != protocol.backbone:
      parts.append(_BACKBONE_NAMES.get(self.backbone,
                                       f"{self.backbone} network"))
    if self.filters:
      parts.append(f"{self.filters} filters")
    if self.train_queries not in (None, protocol.task.k_query):
      parts.append(_queries(self.train_queries, "training"))
    if self.eval_queries not in (None, protocol.eval.k_query):
      parts.append(_queries(self.eval_queries, "test"))
    if self.meta_batch not in (None, protocol.maml.meta_batch_size):
      parts.append(f"meta-batch {self.meta_batch}")
    if self.inner_lr not in (None, protocol.maml.inner_lr):
      parts.append(f"inner lr {self.inner_lr:g}")
    if self.eval_inner_lr not in (None, self.inner_lr):
      parts.append(f"test inner lr {self.eval_inner_lr:g}")
    return parts


_BACKBONE_NAMES = {"paper": "max-pool network"}


def _queries(count: int, which: str) -> str:
  return f"{count} {which} {'query' if count == 1 else 'queries'}"


_POLICY_VALUES = ("sigma2", "sigma", "sigma_max", "alpha")


def _generator_run(info: Dict) -> str:
  """GANs trained with Keras on JAX (`--generator_backend=jax`, or the
  earlier `scripts/gan_jax.py`) are runs apart from TensorFlow-trained ones,
  with their own epoch counts; so is a run with another Adam beta_1, and one
  with the authors' GAN objective (`--recipe=authors`)."""
  text = " ".join(str(info.get(k, "")) for k in ("train_command", "source",
                                                 "trainer"))
  parts = []
  if "gan_jax" in text or "--generator_backend=jax" in text:
    parts.append("JAX-trained")
    beta1 = re.search(r"--generator_beta1=([0-9.]+)", text)
    if beta1 or "beta05" in text:
      parts.append(f"Adam beta1 {beta1.group(1) if beta1 else '0.5'}")
  if (info.get("objective") or {}).get("generator_loss") == "summed_logits":
    parts.append("authors' GAN recipe")
  return f" ({', '.join(parts)})" if parts else ""


def summarize(record: Dict, path: str = "") -> Summary:
  """The `Summary` of a result record (`result_record`'s JSON)."""
  hyper = record.get("hyperparameters", {})
  saved = record.get("config") or {}
  data = saved.get("data") or {}
  budget = record.get("budget", {})
  task = hyper.get("train_task") or {}
  info = hyper.get("generator_info") or {}
  return Summary(
      path=path, method=record["method"],
      dataset=record.get("dataset", "omniglot"), k_shot=record["k_shot"],
      accuracy=record["accuracy"], ci95=record["ci95"],
      command=record.get("command", ""), date=record.get("date", ""),
      table=record.get("table"), study=record.get("study"),
      recipe=hyper.get("recipe", "none"),
      meta_iterations=budget.get("meta_iterations"),
      trained_shot=task.get("k_shot"), eval_tasks=budget.get("eval_tasks"),
      policy=hyper.get("policy"),
      values={k: hyper[k] for k in _POLICY_VALUES if k in hyper},
      source_settings={**(hyper.get("umtra") or {}), **{
          k: v for k, v in (hyper.get("cactus") or {}).items()
          if k in ("clusters", "partitions")}},
      generator_kind=info.get("kind"), generator_epochs=info.get("epochs"),
      generator_run=_generator_run(info),
      split=hyper.get("split", data.get("split")),
      strokes=hyper.get("strokes", data.get("strokes")) or "white",
      train_rotations=bool(hyper.get("train_rotations")),
      query_shift=task.get("query_shift") or 0,
      shift_fill=task.get("shift_fill"),
      normalization=normalization_of(record),
      seed=int(hyper.get("seed", 0)), eval_seed=hyper.get("eval_seed"),
      baselines={name: (b["accuracy"], b["ci95"])
                 for name, b in (record.get("baselines") or {}).items()},
      baseline_encoder=(saved.get("eval") or {}).get("encoder"),
      decode_precision=(saved.get("lasium") or {}).get("decode_precision")
      or "float32",
      cactus_encoder=(hyper.get("cactus") or {}).get("encoder"),
      trained_ways=(task.get("n_way") if task.get("n_way") not in (
          None, record.get("n_way")) else None),
      backbone=(saved.get("backbone") or hyper.get("backbone")
                or Config().backbone),
      filters=saved.get("filters"),
      train_queries=(saved.get("task") or {}).get("k_query"),
      eval_queries=(saved.get("eval") or {}).get("k_query"),
      meta_batch=(saved.get("maml") or {}).get("meta_batch_size"),
      continued_from=saved.get("continue_from"),
      meta_lr=(saved.get("maml") or {}).get("meta_lr"),
      checkpoint=(record.get("selection") or {}).get("meta_iteration"),
      **_inner_lrs(hyper.get("learner"), saved))


def _inner_lrs(learner: Optional[str], saved: Dict) -> Dict:
  """MAML's inner lrs, from a record's config (nothing for other learners,
  whose config carries an unused inner lr)."""
  if learner != "maml" or not saved.get("maml"):
    return {}
  inner = saved["maml"].get("inner_lr")
  test = (saved.get("eval") or {}).get("inner_lr")
  return {"inner_lr": inner, "eval_inner_lr": inner if test is None else test}


def load_results(results_dir, check_commands: bool = False
                 ) -> List[Summary]:
  """Every result JSON under `results_dir`, summarized, in path order.

  JSON files that are not result records are skipped; a damaged or
  mistyped record is an error naming it. With `check_commands`, so is a
  record whose settings are not what its own command (its flagfile as it
  is now) gives: a figure published under a flagfile is that flagfile's.
  """
  results_dir = pathlib.Path(results_dir)
  if not results_dir.is_dir():
    raise ConfigError(f"{results_dir} is not a folder of result records; "
                      f"give the results folder (default: results).")
  summaries = []
  for path in sorted(results_dir.rglob("*.json")):
    record = _read_json(path)  # A damaged file is named, never skipped.
    if isinstance(record, dict) and {"method", "k_shot", "accuracy",
                                     "ci95"} <= set(record):
      check_record(record, path)
      if check_commands:
        check_command(record, path)
      try:
        summaries.append(summarize(
            record, path.relative_to(results_dir).as_posix()))
      except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f"{path} is a result record with a field of the wrong type "
            f"({type(e).__name__}: {e}); restore it from git or rerun its "
            f"command.") from None
  return summaries


def settings_changed(ours: Dict, theirs: Dict) -> List[str]:
  """The settings (dotted names) of config dict `ours` that differ from
  record config `theirs`, where and how fast a run goes aside, and a
  setting left to its default here (None) aside."""
  ours, theirs = _flat(ours), _flat(theirs)
  return sorted(k for k in ours.keys() & theirs.keys()
                if ours[k] != theirs[k] and ours[k] is not None
                and k.split(".")[0] not in _NOT_THE_EXPERIMENT
                and k not in _NOT_THE_EXPERIMENT)


def check_command(record: Dict, path) -> None:
  """Refuses a record whose settings its own command no longer gives."""
  import shlex

  from lasium_tf.config import cli

  command = record.get("command", "")
  if not (isinstance(record.get("config"), dict)
          and command.startswith("python -m lasium_tf.main ")):
    return
  try:
    config = cli.config_from_args(shlex.split(command)[3:])
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f"{path}: its command no longer parses ({e}); "
                      f"rerun it, or restore its flagfile.") from None
  if config.seeds:  # One seed of a sweep: that seed's own config.
    config = dataclasses.replace(config, seeds=(),
                                 seed=record["config"].get("seed", 0))
  changed = settings_changed(json.loads(json.dumps(
      dataclasses.asdict(config))), record["config"])
  if changed:
    raise ConfigError(
        f"{path} was made with other settings than its command gives now "
        f"({', '.join(changed[:4])}): rerun `{command}` to replace it, or "
        f"restore the flagfile it ran.")


def check_record(record: Dict, path) -> None:
  """A result record's numbers are numbers, and finite: a record saying
  `Infinity` or "88" would rank or print as a result it is not."""
  import math

  for key in ("accuracy", "ci95", "k_shot"):
    value = record.get(key)
    if (isinstance(value, bool) or not isinstance(value, (int, float))
        or not math.isfinite(value)):
      raise ConfigError(
          f"{path}: {key} is {value!r}, not a finite number; restore the "
          f"file from git or rerun its command.")
