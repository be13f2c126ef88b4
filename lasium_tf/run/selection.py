"""Model selection on validation classes, never on the test classes.

Unsupervised meta-learning has no labels to stop on, and the newest
checkpoint is not always the best: LASIUM's synthetic tasks can be learnt past
the point where real tasks improve. With a labelled validation split
(`--val_data_dir` for a folder; Omniglot's Vinyals validation alphabets),
every checkpoint that meta-training saves is scored on `--val_tasks`
validation tasks (5-way, the first `--eval_k_shots`, the test protocol's
queries and adaptation), and the best one is kept beside the run's
checkpoints. Evaluation and export then use it, and its record says which
meta-iteration it is and what it scored. The same scores compare runs:
`python -m lasium_tf.select RUN_DIR ...` names the run (policy, alpha, shift,
meta-iterations...) with the best validation accuracy, without reading any
test result.

The run folder holds `selection.json` (every scored checkpoint) and
`selected/` (the best checkpoint's weights, replaced atomically).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Dict, List, Optional

from lasium_tf.config import Config, ConfigError
from lasium_tf.core.files import atomic_directory
from lasium_tf.records.common import read_json, write_json
from lasium_tf.records.rundir import tensorboard

FILE = "selection.json"
FOLDER = "selected"


def read(experiment_dir) -> Optional[Dict]:
  """The run's selection record, or None if it selected nothing."""
  return read_json(pathlib.Path(experiment_dir) / FILE)


class CheckpointSelection:
  """Scores checkpoints on validation tasks and keeps the best one's weights.

  `score(step)` is called by `experiment.meta_train` after each checkpoint;
  `restore(learner, experiment_dir)` puts the best weights into a model.
  """

  def __init__(self, learner, val_part, config: Config, verbose: bool = True):
    self.learner, self.part, self.verbose = learner, val_part, verbose
    self.config = config
    self.k_shot = config.eval.k_shots[0]
    self.eval_config = dataclasses.replace(
        config.eval, num_tasks=config.eval.resolved_val_tasks(
            config.data.val_data_dir))
    self.path = pathlib.Path(config.experiment_dir)
    self.record = read(self.path) or {
        "split": "val", "n_way": config.eval.n_way, "k_shot": self.k_shot,
        "num_tasks": self.eval_config.num_tasks,
        "seed": self.eval_config.seed, "scores": []}

  @property
  def best(self) -> Optional[Dict]:
    scores = self.record["scores"]
    return max(scores, key=lambda s: (s["accuracy"], -s["meta_iteration"])
               ) if scores else None

  def score(self, step: int) -> Dict:
    """Scores the learner's current weights as meta-iteration `step`."""
    from lasium_tf.run.evaluation import evaluate
    outcome = evaluate(self.learner, self.part, self.eval_config,
                       self.k_shot, verbose=False)
    entry = {"meta_iteration": int(step),
             "accuracy": float(outcome["accuracy"]),
             "ci95": float(outcome["ci95"])}
    previous = self.best
    self.record["scores"] = [s for s in self.record["scores"]
                             if s["meta_iteration"] != step] + [entry]
    if self.best is entry:
      self._save_weights()
    self.record["selected"] = self.best["meta_iteration"]
    write_json(self.path / FILE, self.record)
    tensorboard(self.config, int(step), {
        "validation/accuracy": entry["accuracy"],
        "validation/ci95": entry["ci95"]})
    if self.verbose:
      kept = ("best so far" if self.best is entry else
              f"best stays meta-iteration {previous['meta_iteration']} "
              f"({previous['accuracy']:.2f})")
      print(f"validation at meta-iteration {step}: {entry['accuracy']:.2f} "
            f"+- {entry['ci95']:.2f}% on {self.eval_config.num_tasks} "
            f"{self.k_shot}-shot tasks ({kept})", flush=True)
    return entry

  def _save_weights(self) -> None:
    import tensorflow as tf  # Only here: `compare` reads JSON alone.
    checkpoint = tf.train.Checkpoint(model=self.learner.model)
    with atomic_directory(self.path / FOLDER) as folder:
      checkpoint.write(os.path.join(folder, "weights"))


def restore(learner, experiment_dir) -> Optional[Dict]:
  """Loads a run's selected weights into `learner`; returns their score
  (meta_iteration, accuracy, ci95), or None if the run selected nothing."""
  record = read(experiment_dir)
  if not record or not record.get("scores"):
    return None
  import tensorflow as tf
  prefix = os.path.join(experiment_dir, FOLDER, "weights")
  tf.train.Checkpoint(model=learner.model).read(prefix).assert_consumed()
  chosen = record["selected"]
  return next(s for s in record["scores"] if s["meta_iteration"] == chosen)


def _record_problem(record: Dict) -> Optional[str]:
  """Why a selection.json cannot be ranked (mistyped, non-finite), or
  None: `Infinity` must not rank a run best."""
  import math

  scores = record.get("scores")
  if not isinstance(scores, list) or not all(
      isinstance(s, dict) and isinstance(s.get("meta_iteration"), int)
      and all(isinstance(s.get(k), (int, float))
              and not isinstance(s.get(k), bool)
              and math.isfinite(s.get(k)) for k in ("accuracy", "ci95"))
      for s in scores):
    return (f"{FILE} holds a score that is not a finite number with its "
            f"meta-iteration; rerun the run's meta-training to score again")
  if scores and not any(s["meta_iteration"] == record.get("selected")
                        for s in scores):
    return f"{FILE}'s selected checkpoint is none of its scores"
  for key in ("split", "n_way", "k_shot", "num_tasks", "seed"):
    if key not in record:
      return f"{FILE} lacks {key!r}"
  return None


def compare(experiment_dirs: List[str]) -> List[Dict]:
  """Each run's best validation score, best run first.

  Runs are comparable when they were scored on the same validation tasks
  (split, ways, shots, task count and seed); a run that differs, or selected
  nothing, is listed with the reason and ranked last.
  """
  rows, reference = [], None
  for folder in experiment_dirs:
    try:
      record = read(folder)
    except ConfigError as e:  # Not JSON, not an object: named, ranked last.
      rows.append({"run": folder, "problem": str(e)})
      continue
    problem = _record_problem(record) if record else None
    if problem:
      rows.append({"run": folder, "problem": problem})
      continue
    if not record or not record.get("scores"):
      rows.append({"run": folder, "problem": "no validation scores (meta-"
                   "train it with --val_data_dir, or --val_tasks > 0)"})
      continue
    tasks = {k: record[k] for k in ("split", "n_way", "k_shot", "num_tasks",
                                    "seed")}
    reference = reference or tasks
    best = next(s for s in record["scores"]
                if s["meta_iteration"] == record["selected"])
    row = {"run": folder, **best, "scored": len(record["scores"]),
           "tasks": tasks}
    if tasks != reference:
      row["problem"] = (f"other validation tasks ({tasks}) than the first "
                        f"run's ({reference})")
    rows.append(row)
  return sorted(rows, key=lambda r: ("problem" in r, -r.get("accuracy", 0)))
