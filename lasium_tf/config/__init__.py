"""Frozen configuration dataclasses.

Only `lasium_tf/main.py` reads absl FLAGS; it builds a `Config` and hands it to
`lasium_tf.run.modes.run`. Every library function takes explicit arguments or
one of these dataclasses, so notebooks and tests build a config directly.

`Config.validate` checks everything that can be checked without touching data
and raises `ConfigError` with a message that names the bad value and the fix.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional, Tuple

from lasium_tf.core import files
from lasium_tf.errors import ConfigError, DivergedError  # noqa: F401
from lasium_tf.settings import one_of, setting
from lasium_tf.settings import one_of as _one_of, positive as _positive
from lasium_tf.baselines import BASELINES
from lasium_tf.datasets import DATASETS, SPLITS
from lasium_tf.generators import KINDS as GENERATOR_KINDS
from lasium_tf.learners import LEARNERS
from lasium_tf.learners.normalizations import NORMALIZATIONS
from lasium_tf.tasks import SOURCES

# The settings by concern, one module each; all importable from here.
from lasium_tf.config.data import DATA_SOURCES, DataConfig  # noqa: E402,F401
from lasium_tf.config.generative import (  # noqa: E402,F401
    GAN_FAKE_TARGETS, GAN_GENERATOR_LOSSES, GENERATOR_BACKENDS,
    GenerativeConfig)
from lasium_tf.config.images import (  # noqa: E402,F401
    BACKGROUNDS, SHIFT_FILLS, STROKES, shift_fill_value, white_strokes)
from lasium_tf.config.learning import (  # noqa: E402,F401
    EVAL_SPLITS, EvalConfig, MAMLConfig, TaskConfig, check_results_template)
from lasium_tf.config.modes import MODES, Mode  # noqa: E402,F401
from lasium_tf.config.recipes import (  # noqa: E402
    RECIPES, flag_paths, get_path, set_path)
from lasium_tf.config.sources import (  # noqa: E402,F401
    ANCHOR_REJECTIONS, DECODE_PRECISIONS, POLICIES, CactusConfig,
    LasiumConfig, UmtraConfig)

# Which images give BatchNorm its statistics (`lasium_tf.learners.batchnorm`).
# tf.distribute strategies meta-learning runs under
# (`lasium_tf.run.distribute`).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
BACKBONES = ("paper", "code")


@dataclasses.dataclass(frozen=True)
class Config:
  """One experiment: what to train on, how, for how long, and how to test."""

  experiment_dir: str = setting(
      "/tmp/lasium_tf/experiment", "Checkpoints, TensorBoard logs and "
      "results go here; rerun to resume. {seed} is replaced by --seed: a "
      "folder per seed when one flagfile runs under several.")
  mode: str = setting("train_and_evaluate", "What to do.", choices=MODES)
  method: Optional[str] = setting(
      None, "Row name written into the results JSON; default from the "
      "learner and task source (e.g. Supervised MAML, LASIUM-RO-ProtoNets, "
      "Training from scratch).")
  learner: str = setting("maml", "Meta-learner.", choices=LEARNERS)
  task_source: str = setting(
      "labelled", "labelled: supervised tasks from the train split; lasium: "
      "tasks from a generator (--generator); umtra: each class one random "
      "unlabeled train image, its queries augmented copies; cactus: "
      "classes are k-means clusters of an encoder's embedding "
      "(--cactus_encoder); none: no "
      "meta-training (the 'training from scratch' baseline, --mode=evaluate); "
      "or a source your own module registers (--plugins).",
      choices=SOURCES)
  backbone: str = setting(
      "code", "paper: conv+maxpool blocks of the paper's text; code: the "
      "stride-2 network of the authors' code.", choices=BACKBONES)
  filters: Optional[int] = setting(
      None, "Filters in each of the backbone's convolutions (default: the "
      "backbone's own, 64 for Omniglot, 32 for 84x84 images; the CACTUs "
      "oracle's MAML used 32 on Omniglot).")
  normalization: str = setting(
      "transductive", "Which images give BatchNorm its statistics, in "
      "meta-training, evaluation and export: transductive (each batch its "
      "own, as the paper: a query's answer depends on the other queries), "
      "support (the support set's: answers for one image alone), "
      "support_and_query (each query with the support set and itself: "
      "answers for one image alone, no retraining needed), tasknorm_i (the "
      "support set's blended with each image's own, TaskNorm-I).",
      choices=NORMALIZATIONS)
  plugins: Optional[str] = setting(
      None, "Your own modules that register plug-ins (task sources, "
      "baselines), comma-separated module names or .py files, imported "
      "before the flags are read so that their names and settings are "
      "flags (docs/extending.md).")
  # The settings of task sources registered from outside the library, as
  # (name, settings) pairs; `settings_of` reads them. The library's own
  # sources keep theirs in fields of their names (`lasium`, `umtra` ...).
  plugin_settings: Tuple[Tuple[str, Any], ...] = setting((), flag=None)
  init_from: Optional[str] = setting(
      None, "--mode=evaluate or export: take the weights of a published "
      "classifier folder (its model.keras, e.g. pretrained/...) instead of "
      "a checkpoint, e.g. to score or re-export it with another "
      "--normalization.")
  continue_from: Optional[str] = setting(
      None, "--mode=train or train_and_evaluate: start meta-training from a "
      "published classifier folder (its model.keras) at the meta-iteration "
      "its card names, with a fresh optimizer state, e.g. to meta-train "
      "pretrained/... further on the tasks that come next; once "
      "--experiment_dir holds checkpoints, they are resumed instead (and "
      "--mode=evaluate or export reads them).")
  data: DataConfig = setting(factory=DataConfig)
  task: TaskConfig = setting(factory=TaskConfig)
  maml: MAMLConfig = setting(factory=MAMLConfig)
  eval: EvalConfig = setting(factory=EvalConfig)
  generative: GenerativeConfig = setting(factory=GenerativeConfig)
  lasium: LasiumConfig = setting(factory=LasiumConfig)
  umtra: UmtraConfig = setting(factory=UmtraConfig)
  cactus: CactusConfig = setting(factory=CactusConfig)
  export_dir: Optional[str] = setting(
      None, "Where --mode=export (a meta-learned backbone) or "
      "--mode=export_generator writes its SavedModel.")
  export_epoch: Optional[int] = setting(
      None, "The checkpoint epoch --mode=export_generator publishes (one its "
      "training folder kept, e.g. a --snapshot_epochs epoch); default: the "
      "newest.")
  iterations: int = setting(1000, "Meta-iterations.")
  max_seconds: Optional[float] = setting(
      None, "Stop meta-training once this many seconds of this run have "
      "passed (a checkpoint is saved, evaluation follows; rerun to go on "
      "towards --iterations), e.g. a fixed budget on a small machine.")
  checkpoint_every: int = setting(500, "Meta-iterations between checkpoints.")
  log_every: int = setting(50, "Meta-iterations between log lines.")
  seed: int = setting(0, "Seed of weights and training tasks.")
  seeds: Tuple[int, ...] = setting(
      (), "Run the experiment once per meta-training seed, in turn (e.g. "
      "0,1,2), each as --seed would; --experiment_dir (and --results_file) "
      "must contain {seed} so each run keeps its own folder and records.")
  results_file: Optional[str] = setting(
      None, "Also write results here ({k_shot} and {seed} are replaced).")
  replace_results: bool = setting(
      False, "Let this run replace a record at --results_file that other "
      "settings or another budget made (refused otherwise, so a shortened "
      "run of a published flagfile cannot overwrite its result).")
  table: Optional[int] = setting(None, "Paper table this run reproduces.")
  study: Optional[str] = setting(
      None, "Names a series of runs that vary one budget (e.g. gan_epochs); "
      "its results feed the plots, not the paper tables.")
  recipe: str = setting(
      "none", "Named settings applied to every flag not given: authors (as "
      "the authors' paper-era code ran), ours (our best: the query shift "
      "with a background fill), none (each flag's default).",
      choices=tuple(RECIPES))
  # MAML adapts the tasks of a meta-batch and of an evaluation call as one
  # stacked network (grouped convolutions, `lasium_tf.learners.batched`);
  # False: one network copy per task, the reference path. Same numbers up to
  # rounding.
  batched_tasks: bool = setting(
      True, "MAML adapts a meta-batch's or an evaluation call's tasks as one "
      "stacked network (grouped convolutions); false: task by task (the "
      "reference path).")
  strategy: str = setting(
      "default", "tf.distribute strategy of meta-training and evaluation: "
      "default (one device), mirrored (every local GPU, or --logical_cpus), "
      "multi_worker (machines named by TF_CONFIG), tpu.", choices=STRATEGIES)
  logical_cpus: Optional[int] = setting(
      None, "Split the CPU into this many logical devices, one replica each "
      "under --strategy=mirrored (to test distribution without GPUs).")
  command: str = setting("", flag=None)

  def with_recipe(self, name: str) -> "Config":
    """This config under the recipe `name`, as the command line makes it:
    the recipe's settings fill every setting still at its default (one
    given otherwise wins), and `recipe` names it."""
    one_of("recipe", name, tuple(RECIPES))
    config = dataclasses.replace(self, recipe=name)
    for flag, value in RECIPES[name].items():
      path = flag_paths(Config)[flag]
      if get_path(config, path) == get_path(Config(), path):
        config = set_path(config, path, value)
    return config

  def with_seed_in_paths(self) -> "Config":
    """This config with "{seed}" in `experiment_dir` and `results_file`
    replaced by `seed`, so that one flagfile run with --seed=0, 1, 2 keeps
    each seed's run and records apart (the report's seed spread)."""
    if self.seeds:
      return self  # Each run of the sweep fills in its own seed.
    seed = str(self.seed)
    return dataclasses.replace(
        self, experiment_dir=self.experiment_dir.replace("{seed}", seed),
        results_file=(None if self.results_file is None
                      else self.results_file.replace("{seed}", seed)))

  @property
  def resolved_shift_fill(self) -> float:
    """The pixel value the meta-training query shift uncovers."""
    return shift_fill_value(self.data.dataset, self.data.strokes,
                            self.task.shift_fill, self.data.background)

  @property
  def background_value(self) -> float:
    """The page colour of the run's images (the value of no ink)."""
    return shift_fill_value(self.data.dataset, self.data.strokes,
                            "background", self.data.background)

  @property
  def resolved_method(self) -> str:
    """The row name: `method`, or what the learner and task source make."""
    if self.method:
      return self.method
    return SOURCES.get(self.task_source).method_name(
        self, LEARNERS.get(self.learner).display)

  def validate(self) -> "Config":
    """Raises ConfigError for impossible values; returns self for chaining."""
    self._check_run()
    self._check_tasks()
    self._check_mode()
    self._check_plugins()
    return self

  def _check_run(self) -> None:
    """The run as a whole: mode, seeds, network, normalisation, where the
    weights come from, the distribution strategy."""
    _one_of("mode", self.mode, MODES)
    if self.seeds:
      if "{seed}" not in self.experiment_dir or (
          self.results_file and "{seed}" not in self.results_file):
        raise ConfigError(
            "--seeds runs one experiment per seed: put {seed} in "
            "--experiment_dir (and --results_file), e.g. "
            "--experiment_dir=experiments/my_row_seed{seed}, so the runs "
            "do not share a folder.")
      if len(set(self.seeds)) != len(self.seeds):
        raise ConfigError(f"--seeds repeats a seed: {self.seeds}.")
    SOURCES.get(self.task_source)  # Names the choices if unknown.
    LEARNERS.get(self.learner)
    _one_of("backbone", self.backbone, BACKBONES)
    if self.filters is not None and self.filters < 1:
      raise ConfigError(f"--filters must be at least 1, got {self.filters}.")
    _one_of("normalization", self.normalization, NORMALIZATIONS)
    _one_of("strategy", self.strategy, STRATEGIES)
    if self.init_from and not self.run_mode.reads_weights:
      raise ConfigError(
          f"--init_from scores or re-exports a published classifier "
          f"(--mode=evaluate or --mode=export); --mode={self.mode} starts "
          f"from --experiment_dir's checkpoints: drop the flag.")
    if self.continue_from:  # An empty --continue_from= names none.
      # --mode=evaluate or export with the continued run's own flagfile
      # reads the checkpoints that run wrote; the flag is not used then.
      if self.init_from:
        raise ConfigError(
            f"--continue_from meta-trains a published classifier further and "
            f"--init_from scores one as it is: give one (to score or export "
            f"{self.init_from}, drop --continue_from).")
      if not self.meta_trains:
        raise ConfigError("--continue_from meta-trains further; "
                          "--task_source=none has no tasks to train on.")
    if self.logical_cpus is not None:
      _positive("logical_cpus", self.logical_cpus)
      if self.strategy != "mirrored":
        raise ConfigError(
            f"--logical_cpus splits the CPU into devices for "
            f"--strategy=mirrored; with --strategy={self.strategy} it would "
            f"do nothing: add --strategy=mirrored or drop the flag.")
    if self.strategy != "default" and not self.run_mode.distributes:
      raise ConfigError(
          f"--strategy={self.strategy} distributes meta-training, "
          f"evaluation and generator training; --mode={self.mode} runs on "
          f"one device: drop the flag.")
    if self.strategy != "default" and self.generative.backend != "tensorflow":
      raise ConfigError(
          f"--strategy={self.strategy} is TensorFlow's; "
          f"--generator_backend={self.generative.backend} trains on one "
          f"device: drop one of the two.")

  def _check_tasks(self) -> None:
    """The data, the tasks' shape, the optimisation and the evaluation
    protocol."""
    self.data.validate()
    _one_of("eval_split", self.eval.split, EVAL_SPLITS)
    self.eval.validate()
    _positive("n_way", self.task.n_way)
    _positive("k_shot", self.task.k_shot)
    _positive("k_query", self.task.k_query)
    _one_of("recipe", self.recipe, tuple(RECIPES))
    self._check_recipe_applied()
    _one_of("shift_fill", self.task.shift_fill, SHIFT_FILLS)
    if self.task.query_shift < 0:
      raise ConfigError(f"--query_shift must be >= 0 (0: no shift), got "
                        f"{self.task.query_shift}.")
    if self.task.query_shift:
      shift_fill_value(self.data.dataset, self.data.strokes,
                       self.task.shift_fill)
      if self.task.query_shift * 2 >= self.data.resolved_image_size:
        raise ConfigError(
            f"--query_shift={self.task.query_shift} would move a query past "
            f"its own {self.data.resolved_image_size}-pixel image; the "
            f"authors shift by up to 5 on 28x28 Omniglot.")
    _positive("eval_n_way", self.eval.n_way)
    for flag, ways in (("n_way", self.task.n_way),
                       ("eval_n_way", self.eval.n_way)):
      if ways < 2:
        raise ConfigError(
            f"--{flag}={ways}: a task of one class has nothing to tell "
            f"apart (every answer is right); give at least 2 classes.")
    _positive("eval_queries", self.eval.k_query)
    _positive("eval_tasks", self.eval.num_tasks)
    _positive("eval_tasks_per_call", self.eval.tasks_per_call)
    if self.eval.val_tasks is not None and self.eval.val_tasks < 0:
      raise ConfigError(f"--val_tasks must be >= 0 (0: no checkpoint "
                        f"selection), got {self.eval.val_tasks}.")
    if self.selects_checkpoint and self.eval.split == "val":
      raise ConfigError(
          "--eval_split=val would score the validation classes that picked "
          "the checkpoint: evaluate on --eval_split=test, or pass "
          "--val_tasks=0.")
    _positive("inner_steps", self.maml.inner_steps)
    _positive("eval_inner_steps", self.eval.inner_steps)
    _positive("inner_lr", self.maml.inner_lr)
    _positive("meta_lr", self.maml.meta_lr)
    _positive("meta_batch_size", self.maml.meta_batch_size)
    _positive("checkpoint_every", self.checkpoint_every)
    if self.max_seconds is not None:
      _positive("max_seconds", self.max_seconds)
    _positive("log_every", self.log_every)
    if self.eval.inner_lr is not None:
      _positive("eval_inner_lr", self.eval.inner_lr)
    if self.eval.support_copies < 0:
      raise ConfigError(f"--eval_support_copies must be >= 0 (0: none), got "
                        f"{self.eval.support_copies}.")
    if self.eval.support_copies and not (
        0 < 2 * self.eval.support_shift < self.data.resolved_image_size):
      raise ConfigError(
          f"--eval_support_shift={self.eval.support_shift} must be at least "
          f"1 and under half the image size "
          f"({self.data.resolved_image_size}); 3 measured best on Omniglot.")
    if self.results_file:
      check_results_template(self.results_file.replace("{seed}", "0")
                             if self.seeds else self.results_file)
    if self.table is not None and self.study is not None:
      raise ConfigError("--table and --study exclude each other: a table row "
                        "is one budget, a study a series of budgets.")
    if self.iterations < 0:
      raise ConfigError(f"--iterations must be >= 0, got {self.iterations}.")
    if self.iterations == 0 and self.trains:
      raise ConfigError(
          "--iterations=0 meta-trains nothing, and its evaluation would be "
          "an untrained network's: give --iterations > 0, or score an "
          "untrained network as what it is with --task_source=none "
          "--mode=evaluate (training from scratch).")
    if not self.eval.k_shots:
      raise ConfigError("--eval_k_shots is empty: give at least one shot, "
                        "e.g. --eval_k_shots=1,5.")
    for k in self.eval.k_shots:
      _positive("eval_k_shots", k)

  def _check_mode(self) -> None:
    """What the mode itself needs: a data set that trains generators, an
    export folder, a generator checkpoint."""
    self.data.kind.check(self)
    if not self.data.kind.trains_generators and (
        self.run_mode.trains_generator):
      raise ConfigError(
          f"--mode=train_generator trains the paper's Omniglot GAN or VAE; "
          f"for {self.data.dataset} the paper uses a TF-Hub generator "
          f"(--generator=bigbigan or --generator=progan).")
    if self.run_mode.trains_generator:
      self.generative.validate()
      if self.data.resolved_image_size % 4:
        raise ConfigError(
            f"the GAN and VAE upsample twice by 2: --image_size must be a "
            f"multiple of 4 to train one, got "
            f"{self.data.resolved_image_size}.")
    elif self.generative.backend != "tensorflow":
      raise ConfigError(
          f"--generator_backend={self.generative.backend} applies to "
          f"--mode=train_generator only; --mode={self.mode} runs on "
          f"TensorFlow: drop the flag.")
    if self.run_mode.exports and not self.export_dir:
      raise ConfigError(f"--mode={self.mode} needs --export_dir, the folder "
                        f"to write the SavedModel to.")
    if self.run_mode.exports:
      problem = files.export_target_problem(self.export_dir, "export_dir",
                                            keep=[self.experiment_dir])
      if problem:
        raise ConfigError(problem)
    if self.export_epoch is not None:
      _positive("export_epoch", self.export_epoch)
      if not self.run_mode.exports_generator:
        raise ConfigError(
            f"--export_epoch picks the generator checkpoint that "
            f"--mode=export_generator publishes; --mode={self.mode} does not "
            f"use it: drop the flag.")

  def _check_plugins(self) -> None:
    """The learner's and the task source's own checks, and what the
    library's choices exclude."""
    learner = LEARNERS.get(self.learner)
    source = SOURCES.get(self.task_source)
    learner.check(self)  # The learner's own conditions.
    if self.eval.support_copies and not learner.augments_support:
      raise ConfigError(
          f"--eval_support_copies enlarges the support set a learner adapts "
          f"on at test; --learner={self.learner} does not adapt there: drop "
          f"the flag (or use --learner=maml).")
    if self.trains:
      source.check(self)  # The source's own settings.
    if self.run_mode.draws_tasks:  # LASIUM tasks, drawn for a picture.
      self.lasium.validate()
    if self.data.train_rotations and not self.uses_labels:
      raise ConfigError(
          "--train_rotations adds rotated classes to labelled meta-training "
          "tasks (--task_source=labelled); LASIUM tasks have no classes to "
          "rotate.")
    if not source.meta_trains and self.trains:
      raise ConfigError(
          "--task_source=none trains nothing (the 'training from scratch' "
          "baseline); run it with --mode=evaluate.")

  def settings_of(self, source: str):
    """The settings of the task source `source`: its field of this config
    for the library's own, else its entry in `plugin_settings` (its
    settings class's defaults if none was given)."""
    if any(f.name == source for f in dataclasses.fields(self)):
      return getattr(self, source)
    given = dict(self.plugin_settings)
    if source in given:
      return given[source]
    return SOURCES.get(source).settings()

  def with_plugin_settings(self, source: str, settings) -> "Config":
    """This config with `settings` as the task source `source`'s (one
    registered from outside the library; its flags do the same on the
    command line)."""
    kept = tuple((name, value) for name, value in self.plugin_settings
                 if name != source)
    return dataclasses.replace(self,
                               plugin_settings=kept + ((source, settings),))

  @property
  def meta_trains(self) -> bool:
    """Whether the task source makes meta-training tasks at all ("none",
    training from scratch, makes none)."""
    return SOURCES.get(self.task_source).meta_trains

  @property
  def run_mode(self) -> Mode:
    """What `--mode` does (`config.modes.MODES`)."""
    return MODES[self.mode]

  @property
  def trains(self) -> bool:
    """Whether the mode meta-trains."""
    return self.run_mode.trains

  @property
  def evaluates(self) -> bool:
    """Whether the mode scores test tasks."""
    return self.run_mode.evaluates

  @property
  def uses_labels(self) -> bool:
    """Whether the task source's tasks come from the data's labels."""
    return SOURCES.get(self.task_source).uses_labels

  def _check_recipe_applied(self) -> None:
    """A config that names a recipe runs it: one built in Python with
    `recipe=` alone (whose settings all still hold their defaults) would
    record a recipe it never ran. A command line applies the recipe
    itself (an explicit flag may then override every one of its
    settings, on purpose), and records its command."""
    if self.command:
      return
    default = Config()
    changes = {flag: value for flag, value in RECIPES[self.recipe].items()
               if get_path(default, flag_paths(Config)[flag]) != value}
    if changes and all(get_path(self, flag_paths(Config)[flag])
                       == get_path(default, flag_paths(Config)[flag])
                       for flag in changes):
      shown = ", ".join(f"--{flag}={value}" for flag, value in changes.items())
      raise ConfigError(
          f"recipe={self.recipe!r} is named but none of its settings "
          f"({shown}) is applied: build the config with "
          f"Config(...).with_recipe({self.recipe!r}) (or "
          f"cli.config_from_args), or name recipe='none'.")

  @property
  def selects_checkpoint(self) -> bool:
    """Meta-training scores its checkpoints on validation tasks and the
    best one is evaluated and exported (`lasium_tf.run.selection`)."""
    return (self.meta_trains
            and self.eval.resolved_val_tasks(self.data.val_data_dir) > 0)
