"""Meta-learning as an experiment: prepare, restore, train, evaluate, record.

`meta_learn(config)` is what `--mode=train`, `evaluate`,
`train_and_evaluate` and `export` run; the outer loop is `run.loop.meta_train`
(draw a meta-batch of tasks from tf.data, take one `meta_step`, log,
checkpoint) and the checkpoints are `run.checkpoints`'. Rerunning the same
command resumes from the newest checkpoint in `experiment_dir` on the same
task stream (tasks are pure functions of seed and index). The run folder's
files belong to `lasium_tf.records.rundir`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
from typing import Dict, Optional

from lasium_tf import baselines
from lasium_tf import tasks as tasks_lib
from lasium_tf.config import Config, ConfigError, white_strokes
from lasium_tf.core.stopping import Stopped
from lasium_tf.data import load_parts
from lasium_tf.learners import build_learner, image_shape
from lasium_tf.records.rundir import RunDir, tensorboard
from lasium_tf.records.schema import export_card, result_record
from lasium_tf.run import distribute
from lasium_tf.run import selection as selection_lib
from lasium_tf.run.checkpoints import (checkpoint_candidates,
                                       checkpoint_manager, load_published,
                                       published_card,
                                       published_meta_iteration,
                                       restore_newest)
from lasium_tf.run.evaluation import evaluate
from lasium_tf.run.loop import meta_train


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
  (`lasium_tf.records.rundir`) into `config.experiment_dir`, which it holds
  locked meanwhile; returns the training metrics, one result record per
  evaluated shot and the meta-iteration. Under a tf.distribute `strategy`
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
  """Prepares the run, then exports, or trains and evaluates."""
  run, parts, source, learner, distributed, manager, step = _prepare(
      config, verbose, strategy, restore_from)
  selection = (selection_lib.CheckpointSelection(learner, parts["val"],
                                                  config, verbose)
               if "val" in parts and config.selects_checkpoint else None)
  if config.run_mode.exports:
    return _export(config, learner, int(step), verbose)
  training = {}
  if config.trains and int(step) < config.iterations:
    training = _train(config, run, source, learner, distributed, manager,
                      step, selection, strategy, verbose)
  train_seconds = run.add_train_seconds(
      training.get("unrecorded_seconds", 0.0))
  generator_info = (source and source.identity) or run.saved_generator()
  chosen = _use_selected(config, learner, int(step), selection, verbose)
  if chosen is None and config.init_from:
    # Published weights that were a selected checkpoint say so in their
    # records, which tells them apart from the same run's other weights.
    chosen = published_card(config.init_from).get("selection")
  results = {}
  if config.evaluates:
    for k_shot in config.eval.k_shots:
      results[k_shot] = _evaluate(
          config, run, parts, learner, distributed, k_shot, int(step),
          train_seconds, generator_info, chosen, strategy, verbose)
  return {"training": training, "results": results,
          "meta_iterations": int(step)}


def _prepare(config: Config, verbose: bool, strategy, restore_from):
  """Everything checked before anything is written (a bad --generator or
  --continue_from leaves no folder behind), then the run folder, the
  learner and its weights (published, resumed or continued)."""
  if config.continue_from and config.trains:
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
  source = (tasks_lib.build(config, parts)
            if config.trains and config.meta_trains else None)
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
  _restore(config, learner, manager, step, candidates, verbose)
  return run, parts, source, learner, distributed, manager, step


def _restore(config: Config, learner, manager, step, candidates,
             verbose: bool) -> None:
  """The weights to start from: --init_from's, the newest checkpoint's,
  --continue_from's, or fresh ones where training starts."""
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
  elif config.continue_from and config.trains:
    step.assign(load_published(learner, config.continue_from,
                               "continue_from", of_weights=True))
    if verbose:
      print(f"Continuing {config.continue_from} from meta-iteration "
            f"{int(step)} with a fresh optimizer state.", flush=True)
  elif not config.trains and config.meta_trains:
    raise ConfigError(
        f"--mode={config.mode} found no checkpoint under "
        f"{config.experiment_dir}/checkpoints; train first (--mode=train) "
        f"or point --experiment_dir at a trained experiment.")


def _export(config: Config, learner, step: int, verbose: bool) -> Dict:
  """`--mode=export`: the SavedModel of the run's (selected) weights."""
  from lasium_tf.run import export  # Only this mode needs it.

  card = export_card(config, step)
  chosen = _use_selected(config, learner, step, None, verbose)
  if chosen:
    card["selection"] = chosen
  path = export.export(learner, config.export_dir, image_shape(config),
                       card, card["trained_normalization"])
  if verbose:
    signatures = export.signature_normalizations(
        card["trained_normalization"])
    print(f"Exported the {config.learner} learner at meta-iteration "
          f"{step} to {path} (signatures: "
          + ", ".join(f"{k} {v}" for k, v in signatures.items()) + ").",
          flush=True)
  return {"path": str(path), "meta_iterations": step}


def _train(config: Config, run, source, learner, distributed, manager, step,
           selection, strategy, verbose: bool) -> Dict:
  """Meta-trains from `step` to `--iterations` on the run's task stream."""
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
    return meta_train(distributed or learner, tasks, config.iterations,
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


def _evaluate(config: Config, run, parts, learner, distributed, k_shot: int,
              step: int, train_seconds, generator_info, chosen, strategy,
              verbose: bool) -> Dict:
  """Scores `k_shot` test tasks (and the baselines on the same tasks),
  writes the result record and TensorBoard's evaluation scalars."""
  if verbose:
    print(f"Evaluating {config.eval.num_tasks} {config.eval.n_way}-way "
          f"{k_shot}-shot tasks ({config.eval.split} split).", flush=True)
  outcome = evaluate(learner, parts[config.eval.split], config.eval,
                     k_shot, verbose, distributed)
  outcome["baselines"] = baselines.score(
      config, parts[config.eval.split], k_shot)
  outcome["selection"] = chosen
  record = result_record(config, k_shot, outcome, step, train_seconds,
                         generator_info, distribute.describe(strategy))
  run.write_result(config, record)
  tensorboard(config, step, {
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
  return record


def _use_selected(config: Config, learner, step: int, selection,
                  verbose: bool) -> Optional[Dict]:
  """With checkpoint selection, puts the best validated weights into
  `learner` (scoring the current ones first if none were scored: a run
  trained before it had a validation split) and returns their score.

  A run folder that selected a checkpoint when it was trained is evaluated
  and exported at that checkpoint even without its validation flags (so
  `--mode=export` needs no `--val_data_dir`); `--val_tasks=0` asks for the
  newest instead. Published weights (`--init_from`) were selected, if at
  all, by the run that made them, as their card says: nothing is
  selected again."""
  if config.init_from:
    return None
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
