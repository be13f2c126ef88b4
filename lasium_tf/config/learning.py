"""The shape of tasks, the meta-learner's optimisation and the evaluation
protocol (`TaskConfig`, `MAMLConfig`, `EvalConfig`)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from lasium_tf.baselines import BASELINES
from lasium_tf.config.images import SHIFT_FILLS
from lasium_tf.datasets import DATASETS
from lasium_tf.errors import ConfigError
from lasium_tf.settings import setting

EVAL_SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class TaskConfig:
  """A meta-training task: N-way, K_tr support and K_val query images per class.

  Attributes:
    query_shift: S > 0 translates every query image of every meta-training
      task by integer offsets uniform on {-S, ..., S - 1} per axis, as the
      authors' paper-era pipeline did with S = 5 (`lasium_tf.tasks.augment`); 0
      (default) shifts nothing. Test tasks are never shifted.
    shift_fill: what the shift uncovers: "background" or "ink" (the
      authors' literal behaviour on Omniglot); see `shift_fill_value`.
  """

  n_way: int = setting(5, "Classes per meta-training task.")
  k_shot: int = setting(1, "Support images per class (K_tr).")
  k_query: int = setting(5, "Query images per class (K_val).")
  query_shift: int = setting(
      0, "Shift every meta-training query image by integer offsets uniform "
      "on {-S..S-1} per axis (the authors' pipeline: 5); 0: none. Test tasks "
      "are never shifted.")
  shift_fill: str = setting(
      "background", "What a query shift uncovers: the background, or "
      "Omniglot's ink value (the authors' code).", choices=SHIFT_FILLS)


@dataclasses.dataclass(frozen=True)
class MAMLConfig:
  """Meta-learning hyperparameters (paper values for Omniglot are the defaults).

  The meta learning rate and meta-batch size are every learner's (the outer
  loop, `run.loop`); the inner-loop settings are MAML's and a learner
  without an inner loop ignores them. The class keeps its name, and runs'
  config.json and result records their `"maml"` field, so that every
  recorded run and flagfile reads as it always did (issue 45 weighed moving
  the shared two into a class of their own against that).
  """

  inner_lr: float = setting(0.4, "MAML inner learning rate.")
  inner_steps: int = setting(5, "MAML inner steps.")
  first_order: bool = setting(False, "First-order MAML.")
  meta_lr: float = setting(0.001, "Adam meta learning rate.")
  meta_batch_size: int = setting(4, "Tasks per step.")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """The few-shot test protocol: 1000 tasks, 15 queries, 50 steps, one seed."""

  n_way: int = setting(5, "Classes per test task.", flag="eval_n_way")
  k_shots: Tuple[int, ...] = setting(
      (1, 5), "Support images per class at test.", flag="eval_k_shots")
  k_query: int = setting(15, "Query images per class at test.",
                         flag="eval_queries")
  num_tasks: int = setting(1000, "Test tasks.", flag="eval_tasks")
  inner_steps: int = setting(50, "Adaptation steps at test.",
                             flag="eval_inner_steps")
  inner_lr: Optional[float] = setting(
      None, "Adaptation lr at test (default --inner_lr).",
      flag="eval_inner_lr")
  support_copies: int = setting(
      0, "Test-time augmentation of the support set (a learner that "
      "adapts, MAML): it adapts on the support images and this many copies "
      "of each, shifted by up to --eval_support_shift pixels (uncovered "
      "pixels get the page colour), and normalises the queries with that "
      "enlarged set's statistics; the export and a fitted classifier do "
      "the same. 0: none.",
      flag="eval_support_copies")
  support_shift: int = setting(
      3, "Largest shift of --eval_support_copies, in pixels.",
      flag="eval_support_shift")
  seed: int = setting(42, "Seed of the test tasks (same for all runs).",
                      flag="eval_seed")
  split: str = setting("test", "Split the test tasks come from.",
                       flag="eval_split", choices=EVAL_SPLITS)
  tasks_per_call: int = setting(50, "Test tasks adapted per graph call.",
                                flag="eval_tasks_per_call")
  val_tasks: Optional[int] = setting(
      None, "Validation tasks scored at every checkpoint of meta-training "
      "(first --eval_k_shots, the validation split: --val_data_dir for a "
      "folder); the best checkpoint is the one evaluated and exported. 0: "
      "none, the newest is used; default 200 with --val_data_dir, else 0.")
  baselines: Optional[str] = setting(
      None, "Baselines scored on the same test tasks and recorded beside "
      "the result (lasium_tf.baselines): comma-separated pixel_nn, scratch, "
      "and with --baseline_encoder embedding_knn, embedding_linear, "
      "embedding_mlp, cluster_matching; "
      "none; default: pixel_nn and scratch for --dataset=folder, pixel_nn "
      "elsewhere.",
      flag="eval_baselines")
  encoder: Optional[str] = setting(
      None, "The encoder (a generator with an encode signature, e.g. "
      "pretrained/omniglot_vae) whose embedding the embedding baselines "
      "classify.", flag="baseline_encoder")

  def resolved_val_tasks(self, val_data_dir: Optional[str]) -> int:
    if self.val_tasks is None:
      return 200 if val_data_dir else 0
    return self.val_tasks

  def resolved_baselines(self, dataset: str) -> Tuple[str, ...]:
    if self.baselines is None:
      return DATASETS.get(dataset).baselines
    names = tuple(n.strip() for n in self.baselines.split(",") if n.strip())
    return () if names == ("none",) else names

  def validate(self) -> None:
    for name in self.resolved_baselines("folder"):
      if name not in BASELINES:
        raise ConfigError(
            f"--eval_baselines: {name!r} is not one of "
            f"{', '.join(BASELINES.names())} (or none).")
      if BASELINES.get(name).needs_encoder and not self.encoder:
        raise ConfigError(
            f"--eval_baselines={name} classifies an embedding: pass "
            f"--baseline_encoder, a generator with an encode signature "
            f"(e.g. pretrained/omniglot_vae).")


def check_results_template(template: str) -> None:
  """A --results_file may hold {k_shot} and nothing else: no other field,
  attribute, index, conversion or format spec."""
  import string
  try:
    fields = [(name, spec, conversion) for _, name, spec, conversion
              in string.Formatter().parse(template) if name is not None]
  except ValueError as e:
    fields = [(repr(e), None, None)]
  bad = [name for name, spec, conversion in fields
         if name != "k_shot" or spec or conversion]
  if bad:
    raise ConfigError(
        f"--results_file={template} has a placeholder other than {{k_shot}} "
        f"({bad[0]!r}); write e.g. results/omniglot/run_{{k_shot}}shot.json.")
