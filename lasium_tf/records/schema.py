"""The one result record: `result_record` writes its schema (also copied to
`--results_file`), `export_card` an exported model's card; `summarize` and
`load_results` read records back as a typed `Summary`, the only view of
them that `lasium_tf.report` and `lasium_tf.plots` have."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from lasium_tf.config import Config, ConfigError
from lasium_tf.learners.normalizations import NORMALIZATIONS
from lasium_tf.records.common import (code_version, normalization_of, now,
                                      read_card, read_json, settings_changed)
from lasium_tf.records.rundir import RunDir
from lasium_tf.tasks import SOURCES


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
          # The rule the weights were meta-trained with: a published
          # classifier's (`--init_from`) may differ from the one scored.
          "trained_normalization": (
              read_card(config.init_from).get("trained_normalization",
                                              "transductive")
              if config.init_from else config.normalization),
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
  # (meta-iteration, validation accuracy) of that selection: the same pair
  # in two records names the same weights, however each was scored.
  selection: Optional[Tuple[int, float]] = None
  # The rule the weights were meta-trained with (`normalization` is the one
  # they were scored with).
  trained_normalization: str = "transductive"
  # Shifted copies of each support image adapted on at test
  # (`--eval_support_copies`).
  support_copies: int = 0

  @property
  def one_at_a_time(self) -> bool:
    """Whether a query's answer was independent of the other queries."""
    return not NORMALIZATIONS.get(self.normalization).transductive

  @property
  def papers_rule(self) -> bool:
    """Whether BatchNorm ran as the paper's (plain batch statistics)."""
    return NORMALIZATIONS.get(self.normalization).paper

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
    if self.support_copies:
      parts.append(f"{self.support_copies} shifted copies of each support "
                   f"image at test")
    if (self.trained_normalization != self.normalization
        and not NORMALIZATIONS.get(self.trained_normalization).paper):
      parts.append(f"meta-trained with {self.trained_normalization}")
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
      selection=_selection(record.get("selection")),
      support_copies=(saved.get("eval") or {}).get("support_copies") or 0,
      trained_normalization=hyper.get("trained_normalization") or (
          # Scored from a published folder before the field: every such
          # record scored a transductively trained network.
          "transductive" if saved.get("init_from")
          else normalization_of(record)),
      **_inner_lrs(hyper.get("learner"), saved))


def _selection(chosen) -> Optional[Tuple[int, float]]:
  if not isinstance(chosen, dict) or "accuracy" not in chosen:
    return None
  return chosen.get("meta_iteration"), chosen["accuracy"]


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
    record = read_json(path)  # A damaged file is named, never skipped.
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
