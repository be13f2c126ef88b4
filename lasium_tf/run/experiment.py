"""Meta-learning as an experiment: the loop and the evaluation protocol.

`meta_learn(config)` is what `--mode=train`, `evaluate`,
`train_and_evaluate` and `export` run; the outer loop is `meta_train`
below, visible in one place: draw a meta-batch of tasks from tf.data, take
one `meta_step`, log, checkpoint. Rerunning the same command resumes from the
newest checkpoint in `experiment_dir` on the same task stream (tasks are
pure functions of seed and index). The run folder's files belong to
`lasium_tf.records.rundir`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import pathlib
import shutil
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from lasium_tf import baselines
from lasium_tf.run import distribute
from lasium_tf.core import files
from lasium_tf.errors import DiskFullError
from lasium_tf import tasks as tasks_lib
from lasium_tf.config import (Config, ConfigError, DivergedError,
                              white_strokes)
# The learner and the evaluation protocol, named here as before.
from lasium_tf.run.evaluation import evaluate, mean_and_ci95  # noqa: F401
from lasium_tf.learners import build_learner, image_shape, shift_fill  # noqa: F401
from lasium_tf.data import load_parts
from lasium_tf.core.progress import Progress
from lasium_tf.records.rundir import (RunDir, export_card, read_card, result_record,
                              tensorboard)
from lasium_tf.run import selection as selection_lib
from lasium_tf.core.stopping import StopSignals, Stopped


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


# A meta-training loss this many times its first value is divergence.
GROWTH = 1e3
# Meta-iterations at loss ln N with chance accuracy that count as collapse.
COLLAPSE_STEPS = 100


def meta_train(learner, tasks: tf.data.Dataset, iterations: int,
               experiment_dir: str, checkpoint_every: int = 500,
               log_every: int = 50, start_step: int = 0,
               manager=None, step=None, verbose: bool = True,
               record_seconds=None, n_way: Optional[int] = None,
               on_checkpoint=None, max_seconds: Optional[float] = None
               ) -> Dict:
  """The outer loop: `iterations - start_step` meta-steps on `tasks`.

  Args:
    learner: anything with `meta_step(episodes)`: a learner, or a
      `distribute.DistributedLearner` (its model and optimizer are
      checkpointed by `manager`).
    tasks: batched Episodes (a tf.data stream, or a distributed one), the
      first one being meta-batch `start_step`.
    iterations: the total number of meta-steps to reach.
    manager, step: a CheckpointManager and its step variable.
    record_seconds: called with the seconds spent since its last call each
      time a checkpoint is saved, so a run killed outright (kill -9) still
      counts the time that produced its newest checkpoint.
    on_checkpoint: called with the meta-iteration after each checkpoint
      (`selection.CheckpointSelection.score`).
    max_seconds: once this call has run this long, a checkpoint is saved
      and training ends early (the returned "stopped_early" is True).
    n_way: the tasks' classes; with it, a run whose loss sits at ln N with
      chance accuracy (constant predictions) for `COLLAPSE_STEPS` steps is
      stopped as collapsed. A loss over `GROWTH` times its first value is
      stopped as diverged, finite or not.

  Returns:
    The mean loss and accuracy of the last `log_every` steps, the seconds
    spent in this call, and those not yet passed to `record_seconds`.
  """
  writer = tf.summary.create_file_writer(
      os.path.join(experiment_dir, "tensorboard"))
  progbar = Progress(iterations, "meta-train", verbose, start=start_step)
  start = mark = time.perf_counter()
  window: List[Dict[str, float]] = []
  current = start_step
  first_loss, collapsed = None, 0

  def saved():  # Named in divergence errors only: no cost per step.
    return manager.latest_checkpoint if manager is not None else None

  with StopSignals() as signals:
    for episodes in itertools.islice(tasks, iterations - start_step):
      metrics = {k: float(v) for k, v in learner.meta_step(episodes).items()}
      if not metrics.pop("finite", 1.0):
        raise DivergedError(
            f"meta-iteration {current + 1} diverged: its loss or a "
            f"meta-gradient is not finite (loss {metrics['loss']}). Nothing "
            f"of it was applied or saved"
            + (f"; the newest checkpoint is {saved()}" if saved() else "")
            + ". Lower --inner_lr or --meta_lr, then rerun to resume.")
      first_loss = metrics["loss"] if first_loss is None else first_loss
      if metrics["loss"] > GROWTH * max(first_loss, 1.0):
        raise DivergedError(
            f"meta-iteration {current + 1} diverged: its loss "
            f"{metrics['loss']:.4g} is over {GROWTH:g} times the first one "
            f"({first_loss:.4g}). Lower --meta_lr (for MAML also "
            f"--inner_lr) and start afresh in a new --experiment_dir"
            + (f" (the newest checkpoint, {saved()}, may hold diverged "
               f"weights)" if saved() else "") + ".")
      if n_way is not None and abs(metrics["loss"] - np.log(n_way)) < 1e-4 \
          and abs(metrics.get("accuracy", 0.0) - 1.0 / n_way) < 1e-6:
        collapsed += 1
      else:
        collapsed = 0
      if collapsed >= COLLAPSE_STEPS:
        raise DivergedError(
            f"meta-iteration {current + 1}: the network collapsed: for "
            f"{COLLAPSE_STEPS} meta-iterations its loss has been ln "
            f"{n_way} and its accuracy chance, the same answer for every "
            f"query. Lower --meta_lr (for MAML also --inner_lr) and start "
            f"afresh in a new --experiment_dir.")
      current += 1
      window = (window + [metrics])[-log_every:]
      if step is not None:
        step.assign(current)
      if current % log_every == 0 or current == iterations:
        mean = {k: float(np.mean([m[k] for m in window])) for k in metrics}
        with writer.as_default(step=current):
          for name, value in mean.items():
            tf.summary.scalar(f"meta_train/{name}", value)
        progbar.update(current, list(mean.items()))
      out_of_time = (max_seconds is not None
                     and time.perf_counter() - start >= max_seconds)
      if manager is not None and (current % checkpoint_every == 0
                                  or current == iterations
                                  or signals.received or out_of_time):
        if not os.path.isdir(experiment_dir):
          raise ConfigError(
              f"{experiment_dir} was deleted while meta-training wrote into "
              f"it; nothing more is written. Rerun the command to start "
              f"afresh.")
        save_checkpoint(manager, current)
        if record_seconds is not None:
          record_seconds(time.perf_counter() - mark)
          mark = time.perf_counter()
        if on_checkpoint is not None and not signals.received:
          on_checkpoint(current)
      if signals.received:
        writer.flush()
        raise Stopped(signals.received, f"at meta-iteration {current}",
                      time.perf_counter() - mark)
      if out_of_time and current < iterations:
        if verbose:
          print(f"Stopped at meta-iteration {current} of {iterations}: "
                f"--max_seconds={max_seconds:g} passed; rerun to go on.",
                flush=True)
        break
  writer.flush()
  last = ({k: float(np.mean([m[k] for m in window])) for k in window[0]}
          if window else {})
  return {"seconds": time.perf_counter() - start,
          "unrecorded_seconds": time.perf_counter() - mark,
          "stopped_early": current < iterations, **last}


def _check_against_data(config: Config, parts: Dict):
  if "val" in parts and config.selects_checkpoint:
    try:
      parts["val"].check(config.eval.n_way, config.eval.k_shots[0],
                         config.eval.k_query, config.data.part_name("val"))
    except ValueError as e:
      raise ConfigError(str(e)) from None
  if config.eval.split in parts:
    for k in config.eval.k_shots:
      try:
        parts[config.eval.split].check(config.eval.n_way, k,
                                       config.eval.k_query,
                                       config.data.part_name(
                                           config.eval.split))
      except ValueError as e:
        raise ConfigError(str(e)) from None


def _parts_needed(config: Config):
  """The data parts this run reads: training tasks, VAE anchors, test tasks."""
  training = (config.trains
              and config.meta_trains)
  parts = []
  if training and tasks_lib.needs_train_part(config):
    parts.append("train")
  if training and config.selects_checkpoint:
    parts.append("val")
  if config.evaluates:
    parts.append(config.eval.split)
  return list(dict.fromkeys(parts))


def meta_learn(config: Config, verbose: bool = True,
               strategy=None) -> Dict:
  """Meta-trains, evaluates or exports a learner as configured.

  Writes checkpoints, TensorBoard logs and the run folder's records
  (`lasium_tf.records.rundir`) into `config.experiment_dir`, which it holds locked
  meanwhile; returns the training metrics, one result record per evaluated
  shot and the meta-iteration. Under a tf.distribute `strategy`
  (`lasium_tf.run.distribute`) the meta-batches and evaluation calls are split
  over its replicas; a worker other than the chief writes to a temporary
  folder, removed at the end, and resumes from the chief's checkpoints.
  """
  if strategy is not None:
    distribute.per_replica_batch(strategy, config.maml.meta_batch_size)
  if distribute.is_chief(strategy):
    with RunDir(config.experiment_dir).lock():
      return _meta_learn(config, verbose, strategy)
  scratch = distribute.worker_dir(strategy)
  try:
    return _meta_learn(dataclasses.replace(
        config, experiment_dir=scratch, results_file=None), False, strategy,
        restore_from=os.path.join(config.experiment_dir, "checkpoints"))
  finally:
    shutil.rmtree(scratch, ignore_errors=True)


def _meta_learn(config: Config, verbose: bool = True, strategy=None,
                restore_from: Optional[str] = None) -> Dict:
  continuing = (config.continue_from
                and config.trains)
  if continuing:  # Refused before anything is read or written.
    published = published_meta_iteration(config.continue_from,
                                         "continue_from", of_weights=True)
    if published >= config.iterations:
      raise ConfigError(
          f"--continue_from={config.continue_from} is already at "
          f"meta-iteration {published}; ask for more (--iterations above "
          f"{published}).")
  parts = load_parts(config.data, _parts_needed(config), verbose)
  if config.data.train_rotations and "train" in parts:
    parts["train"] = parts["train"].with_rotations()
  _check_against_data(config, parts)

  training_run = (config.trains
                  and config.meta_trains)
  # The task source (a generator, for LASIUM) is built before anything is
  # written: a bad --generator leaves no experiment folder behind.
  source = tasks_lib.build(config, parts) if training_run else None
  run = RunDir(config.experiment_dir)
  os.makedirs(config.experiment_dir, exist_ok=True)
  if config.evaluates:
    run.check_writable(config)
    run.check_results_file(config)
  with (strategy.scope() if strategy is not None
        else contextlib.nullcontext()):
    learner = build_learner(config)
  manager, step = checkpoint_manager(learner, config.experiment_dir, verbose)
  distributed = (distribute.DistributedLearner(
      learner, strategy, source and source.replica_tasks(
          config.seed,
          config.maml.meta_batch_size // strategy.num_replicas_in_sync))
                 if strategy is not None else None)
  candidates = ([] if config.init_from
                else checkpoint_candidates(manager, restore_from))
  if candidates and restore_from is None:  # A worker reads the chief's.
    run.check_resume(config)
  run.record_config(config)
  if config.init_from:
    step.assign(load_published(learner, config.init_from))
    if verbose:
      chosen = published_card(config.init_from).get("selection") or {}
      picked = (f", its checkpoint of meta-iteration "
                f"{chosen['meta_iteration']}" if isinstance(chosen, dict)
                and "meta_iteration" in chosen else "")
      print(f"Weights from {config.init_from} (a {int(step)}-iteration "
            f"run{picked}).", flush=True)
  elif candidates:
    restored = restore_newest(manager, candidates, verbose)
    if verbose:
      print(f"Resumed from {restored} (meta-iteration {int(step)}).",
            flush=True)
  elif continuing:
    step.assign(load_published(learner, config.continue_from,
                               "continue_from", of_weights=True))
    if verbose:
      print(f"Continuing {config.continue_from} from meta-iteration "
            f"{int(step)} with a fresh optimizer state.", flush=True)
  elif config.mode in ("evaluate", "export") and config.meta_trains:
    raise ConfigError(
        f"--mode={config.mode} found no checkpoint under {config.experiment_dir}/"
        f"checkpoints; train first (--mode=train) or point --experiment_dir "
        f"at a trained experiment.")

  selection = (selection_lib.CheckpointSelection(learner, parts["val"],
                                                  config, verbose)
               if "val" in parts and config.selects_checkpoint else None)
  if config.mode == "export":
    from lasium_tf.run import export  # Only this mode needs it.
    card = export_card(config, int(step))
    chosen = _use_selected(config, learner, int(step), None, verbose)
    if chosen:
      card["selection"] = chosen
    path = export.export(learner, config.export_dir, image_shape(config),
                         card, card["trained_normalization"])
    if verbose:
      signatures = export.signature_normalizations(
          card["trained_normalization"])
      print(f"Exported the {config.learner} learner at meta-iteration "
            f"{int(step)} to {path} (signatures: "
            + ", ".join(f"{k} {v}" for k, v in signatures.items()) + ").",
            flush=True)
    return {"path": str(path), "meta_iterations": int(step)}

  training = {}
  if config.mode != "evaluate" and int(step) < config.iterations:
    start = int(step)
    if source.identity is not None:
      run.check_generator(source.identity)
    if strategy is not None:
      tasks = distribute.task_streams(
          strategy, source.input_stream(config.seed),
          config.maml.meta_batch_size, start)
    else:
      tasks = source.meta_batches(config.seed, config.maml.meta_batch_size,
                                  start_batch=start)
      picture = save_training_tasks(config, source)
      if verbose and picture:
        print(f"Its first meta-training tasks: {picture}", flush=True)
    if verbose:
      print(f"Meta-training {config.iterations - start} iterations "
            f"({start} done) on {config.task_source} tasks.", flush=True)
    try:
      training = meta_train(distributed or learner, tasks, config.iterations,
                            config.experiment_dir, config.checkpoint_every,
                            config.log_every, start, manager, step, verbose,
                            record_seconds=lambda seconds: (
                                run.keep_records(config),
                                run.add_train_seconds(seconds)),
                            n_way=config.task.n_way,
                            on_checkpoint=selection and selection.score,
                            max_seconds=config.max_seconds)
    except Stopped as stopped:
      run.add_train_seconds(stopped.seconds)  # A stopped segment counts.
      raise
  train_seconds = run.add_train_seconds(
      training.get("unrecorded_seconds", 0.0))
  generator_info = (source and source.identity) or run.saved_generator()

  chosen = _use_selected(config, learner, int(step), selection, verbose)
  if chosen is None and config.init_from:
    # Published weights that were a selected checkpoint say so in their
    # records, which tells them apart from the same run's other weights.
    chosen = published_card(config.init_from).get("selection")
  results = {}
  if config.mode != "train":
    for k_shot in config.eval.k_shots:
      if verbose:
        print(f"Evaluating {config.eval.num_tasks} {config.eval.n_way}-way "
              f"{k_shot}-shot tasks ({config.eval.split} split).", flush=True)
      outcome = evaluate(learner, parts[config.eval.split], config.eval,
                         k_shot, verbose, distributed)
      outcome["baselines"] = baselines.score(
          config, parts[config.eval.split], k_shot)
      outcome["selection"] = chosen
      record = result_record(config, k_shot, outcome, int(step),
                             train_seconds, generator_info,
                             distribute.describe(strategy))
      run.write_result(config, record)
      tensorboard(config, int(step), {
          f"evaluation/accuracy_{k_shot}shot": record["accuracy"],
          f"evaluation/ci95_{k_shot}shot": record["ci95"]})
      if verbose:
        print(f"{config.resolved_method}: {k_shot}-shot accuracy "
              f"{record['accuracy']:.2f} +- {record['ci95']:.2f}%"
              + baselines.verdict(record), flush=True)
      if outcome["degenerate"]:
        print(f"warning: every one of the {outcome['num_tasks']} test tasks "
              f"scored exactly chance (1/{config.eval.n_way}): the "
              f"classifier gives one answer to every query (a diverged or "
              f"collapsed network, or no training). The record is marked "
              f"\"degenerate\".", file=sys.stderr, flush=True)
      results[k_shot] = record
  return {"training": training, "results": results,
          "meta_iterations": int(step)}


def _use_selected(config: Config, learner, step: int, selection,
                  verbose: bool) -> Optional[Dict]:
  """With checkpoint selection, puts the best validated weights into
  `learner` (scoring the current ones first if none were scored: a run
  trained before it had a validation split) and returns their score.

  A run folder that selected a checkpoint when it was trained is evaluated
  and exported at that checkpoint even without its validation flags (so
  `--mode=export` needs no `--val_data_dir`); `--val_tasks=0` asks for the
  newest instead."""
  scored = selection_lib.read(config.experiment_dir)
  if not (config.selects_checkpoint or (
      config.eval.val_tasks is None and scored and scored.get("scores"))):
    return None
  if selection is not None and not selection.record["scores"]:
    selection.score(step)
  chosen = selection_lib.restore(learner, config.experiment_dir)
  if chosen is None:
    raise ConfigError(
        f"{config.experiment_dir} has no validated checkpoint "
        f"({selection_lib.FILE}) to evaluate or export: meta-train it with "
        f"--val_data_dir (or --val_tasks > 0), or pass --val_tasks=0 to use "
        f"the newest checkpoint.")
  if verbose:
    print(f"Using the checkpoint of meta-iteration {chosen['meta_iteration']}"
          f" (of {step}), the best on validation tasks: "
          f"{chosen['accuracy']:.2f} +- {chosen['ci95']:.2f}%.", flush=True)
  return chosen


def save_training_tasks(config: Config, source, count: int = 2):
  """`train_tasks.png` in the run folder: the first `count` meta-training
  tasks as the learner sees them (query shift included), side by side; a
  column per synthetic class, support on top. Written once per folder."""
  from lasium_tf.records import pictures

  path = os.path.join(config.experiment_dir, "train_tasks.png")
  if os.path.exists(path):
    return None
  tasks = source.episodes(config.seed, 0, count)
  ink = lambda x: white_strokes(x.numpy(), config.data.ink)  # noqa: E731
  picture = pictures.stack_pictures([
      pictures.task_picture(ink(tasks.support_images[t]),
                            ink(tasks.query_images[t]), config.task.n_way)
      for t in range(count)])
  pictures.save_png(path, picture)
  tensorboard(config, 0, image=("train_tasks", picture if picture.ndim == 3
                                else picture[..., None]), hparams=True)
  return path
