"""Frozen configuration dataclasses.

Only `lasium_tf/main.py` reads absl FLAGS; it builds a `Config` and hands it to
`lasium_tf.run.modes.run`. Every library function takes explicit arguments or one
of these dataclasses, so notebooks and tests build a config directly.

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

MODES = ("train", "evaluate", "train_and_evaluate", "export",
         "train_generator", "export_generator", "draw_tasks")
# Which images give BatchNorm its statistics (`lasium_tf.learners.batchnorm`).
# tf.distribute strategies meta-learning runs under (`lasium_tf.run.distribute`).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
BACKBONES = ("paper", "code")
POLICIES = ("n", "ro", "oc")
# The arithmetic LASIUM decodes its tasks in (`generative.in_bfloat16`).
DECODE_PRECISIONS = ("float32", "bfloat16")
# Which policies redraw anchors that lie too close: the authors' paper-era
# code never did ("none"), their later code did for LASIUM-N only ("n").
ANCHOR_REJECTIONS = ("all", "n", "none")
DATA_SOURCES = ("local", "tfds")
STROKES = ("white", "black")
# A grey folder's polarity: its background dark (light strokes) or light.
BACKGROUNDS = ("dark", "light")
SHIFT_FILLS = ("background", "ink")


def white_strokes(images, strokes: str):
  """Images drawn in `strokes` ink as white strokes on black, and back.

  Swapping ink (1 - x) is its own inverse, so this one function turns
  black-stroke arrays (or tensors) into the white-stroke form that the image
  cache, pictures and the stripe score use, and white ones into black.
  """
  return 1.0 - images if strokes == "black" else images


def shift_fill_value(dataset: str, strokes: str, fill: str,
                     background: Optional[str] = None) -> float:
  """The pixel value a query shift puts where it uncovers the image.

  "background" is the paper's page colour (0 for Omniglot read white on
  black, 1 for black on white; a grey folder's detected or given
  `--background`; 0, black, for RGB data sets); "ink" is
  Omniglot's stroke value, which is what the authors' code wrote (it filled
  with 0 on images whose strokes are 0, so shifted queries got ink bars).
  """
  if "strokes" not in DATASETS.get(dataset).options:  # No ink colour.
    if fill == "ink":
      raise ConfigError(
          f"--shift_fill=ink is Omniglot's stroke value; {dataset} images "
          f"have no ink colour: use --shift_fill=background.")
    return 1.0 if background == "light" else 0.0
  background = 1.0 if strokes == "black" else 0.0
  return background if fill == "background" else 1.0 - background


EVAL_SPLITS = ("train", "val", "test")

# Named recipes: settings by flag name, applied by the command line to every
# flag the user did not give (an explicit flag always wins). "none" is every
# flag's own default: the pipeline this project ran before the query shift.
# "authors" is everything as the authors' paper-era code ran it
# (docs/reproducing.md), the ink-valued shift fill included.
# "ours" is the project's best measured recipe: the authors' query shift with
# a background fill, on our defaults otherwise (results/README.md).
RECIPES = {
    "none": {},
    "authors": {
        "query_shift": 5, "shift_fill": "ink", "strokes": "black",
        "split": "authors", "anchor_rejection": "none",
        "gan_generator_loss": "summed_logits", "gan_fake_targets": "overshoot",
        "keep_last_batch": True,
    },
    "ours": {
        "query_shift": 5, "shift_fill": "background",
    },
}
# ACAI (an adversarially regularised autoencoder) serves as an encoder for
# CACTUs and the embedding baselines; it has no prior to draw anchors from.
# The generator's adversarial loss: one cross-entropy per latent batch, summed
# (ours), or one cross-entropy on the two batches' summed logits (authors').
GAN_GENERATOR_LOSSES = ("per_batch", "summed_logits")
# Label noise on fake targets: towards the real label, 0.05 U(0, 1) (ours),
# or beyond the fake label, -0.05 U(0, 1) (the authors' code, in our
# real = 1 convention).
GAN_FAKE_TARGETS = ("smoothed", "overshoot")
# Keras backends that train a generator (`lasium_tf.core.backends`).
GENERATOR_BACKENDS = ("tensorflow", "jax")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which data set, where it comes from and how it is split.

  Attributes:
    dataset: "omniglot", "mini_imagenet" (Ravi split), "celeba" (identity
      tasks, the paper's Table 2), "celeba_attributes" (2-way attribute
      tasks, Table 3, the CACTUs protocol) or "folder" (your own images:
      `data_dir` unlabeled, `eval_data_dir` one subfolder per class;
      `lasium_tf.data.folder`).
    eval_data_dir: --dataset=folder: the labelled test classes, one
      subfolder each.
    val_data_dir: --dataset=folder: labelled validation classes, one
      subfolder each, for model selection (`lasium_tf.run.selection`); never
      the test classes.
    channels: 1 (grey) or 3 (RGB); None: 1 for Omniglot, 3 for mini-ImageNet
      and CelebA, and for a folder what its images are (a mix is an error).
    skip_bad_images: a folder's files that are not PNG or JPEG images are
      skipped and counted instead of stopping the run.
    data_dir: a folder holding the data set's folder (`omniglot/`,
      `mini_imagenet/`, `celeba/`) or that folder itself; None means the
      `LASIUM_DATA_DIR` environment variable, then the repository's
      `../shared/data`.
    source: "local" (files on disk) or "tfds" (Omniglot, CelebA attributes).
    split: Omniglot: "vinyals" (1028/172/423 characters) or "authors"
      (1200/100/323, seed 47, as the paper's code); mini-ImageNet "ravi";
      CelebA "official" (list_eval_partition.txt). None: the first.
    image_size: side of the square images fed to the networks; None: 28 for
      Omniglot, 84 for the others.
    cache_dir: where decoded arrays are cached; None means the user cache.
    train_rotations: labelled meta-training on Omniglot also draws each
      train class rotated by 90, 180 and 270 degrees, as new classes (the
      original MAML protocol; for the supervised baselines).
    strokes: Omniglot's ink: "white" (strokes 1 on a background of 0, as the
      original MAML code reads Omniglot) or "black" (strokes 0 on 1, the
      files as they are, which is how the LASIUM authors' code reads them).
  """

  data_dir: Optional[str] = setting(
      None, "Folder with omniglot/, mini_imagenet/ or celeba/ (or that folder "
      "itself); default $LASIUM_DATA_DIR, then the user data folder "
      "(where python -m lasium_tf.data.download puts them), then "
      "../shared/data.")
  source: str = setting("local", "local files or tensorflow-datasets.",
                        flag="data_source", choices=DATA_SOURCES)
  split: Optional[str] = setting(
      None, "Class split: Omniglot vinyals (default) or authors; "
      "mini-ImageNet ravi; CelebA official.", choices=SPLITS)
  image_size: Optional[int] = setting(
      None, "Side of the network's square input; default 28 for Omniglot, 84 "
      "for the others.")
  cache_dir: Optional[str] = setting(
      None, "Decoded-image cache (default user cache).")
  dataset: str = setting(
      "omniglot", "omniglot; mini_imagenet (Ravi split); celeba (identity "
      "tasks, Table 2); celeba_attributes (2-way attribute tasks, Table 3); "
      "folder (your own images: --data_dir unlabeled, --eval_data_dir one "
      "subfolder per class).", choices=DATASETS)
  eval_data_dir: Optional[str] = setting(
      None, "--dataset=folder: the labelled test images, one subfolder per "
      "class (images at any depth below it).")
  val_data_dir: Optional[str] = setting(
      None, "--dataset=folder: labelled validation images, one subfolder "
      "per class, of classes that are neither in --eval_data_dir nor "
      "(ideally) in --data_dir; they pick the checkpoint (--val_tasks).")
  channels: Optional[int] = setting(
      None, "1 (grey) or 3 (RGB); default 1 for Omniglot, 3 for the others, "
      "and for --dataset=folder what its images are.")
  skip_bad_images: bool = setting(
      False, "--dataset=folder: skip files that are not PNG or JPEG images "
      "(counted) instead of stopping.")
  strokes: str = setting(
      "white", "Omniglot's ink: white strokes on black (the original MAML "
      "code) or black on white (the files as they are, as the LASIUM "
      "authors' code).", choices=STROKES)
  train_rotations: bool = setting(
      False, "Labelled Omniglot meta-training also draws each train class "
      "rotated by 90, 180 and 270 degrees as new classes.")
  background: Optional[str] = setting(
      None, "--dataset=folder, grey images: dark (light strokes on a dark "
      "background) or light (dark strokes on light paper, as drawings and "
      "scans are); default: detected from the images' borders. The query "
      "shift fills with it and pictures show the images as the files look.",
      choices=BACKGROUNDS)

  @property
  def kind(self):
    """The data set's description (`lasium_tf.datasets.DATASETS`)."""
    return DATASETS.get(self.dataset)

  @property
  def ink(self) -> str:
    """The images' strokes as `white_strokes` takes them: Omniglot's
    `strokes`; "black" for a grey folder on a light background."""
    if "background" in self.kind.options:
      return "black" if self.background == "light" else "white"
    return self.strokes

  def part_name(self, part: str) -> str:
    """How messages name a data part: "the omniglot vinyals split's test
    part", or for your own images the folder flag that holds it."""
    if "eval_data_dir" in self.kind.options:
      flag = {"train": "data_dir", "val": "val_data_dir"}.get(
          part, "eval_data_dir")
      return f"the --{flag} folder"
    return (f"the {self.dataset} {self.resolved_split} split's "
            f"{ {'val': 'validation'}.get(part, part)} part")

  @property
  def native_channels(self) -> int:
    """The data set's own channels (Omniglot grey, the others RGB)."""
    return self.kind.channels

  @property
  def resolved_split(self) -> str:
    return self.split or self.kind.splits[0]

  @property
  def resolved_image_size(self) -> int:
    if self.image_size is not None:
      return self.image_size
    return self.kind.image_size

  @property
  def resolved_channels(self) -> int:
    """Omniglot is grey (1 channel), the benchmarks' others RGB.

    A folder's channels come from its images; `lasium_tf.run.modes.run` fills
    them in before a run (`with_folder_channels`), 3 until then.
    """
    if self.channels is not None:
      return self.channels
    return self.native_channels

  @property
  def image_shape(self) -> Tuple[int, int, int]:
    size = self.resolved_image_size
    return (size, size, self.resolved_channels)

  def validate(self) -> None:
    _one_of("dataset", self.dataset, DATASETS)
    _one_of("data_source", self.source, DATA_SOURCES)
    kind = self.kind
    if self.split is not None:
      _one_of("split", self.split, kind.splits)
    if self.image_size is not None:
      _positive("image_size", self.image_size)
    _one_of("strokes", self.strokes, STROKES)
    if self.strokes != "white" and "strokes" not in kind.options:
      raise ConfigError(
          f"--strokes={self.strokes} is for Omniglot only; {self.dataset} is "
          f"read as its files are.")
    if self.background is not None:
      _one_of("background", self.background, BACKGROUNDS)
      if "background" not in kind.options or self.channels == 3:
        raise ConfigError(
            f"--background is the polarity of a grey --dataset=folder; "
            f"{self.dataset} images are read as they are (Omniglot's ink "
            f"is --strokes).")
    if self.train_rotations and "train_rotations" not in kind.options:
      raise ConfigError(
          f"--train_rotations makes Omniglot's rotated characters new "
          f"classes; {self.dataset}'s rotated images are not new classes.")
    if self.channels is not None and self.channels not in (1, 3):
      raise ConfigError(f"--channels must be 1 (grey) or 3 (RGB), got "
                        f"{self.channels}.")
    if self.channels is not None and "channels" not in kind.options and (
        self.channels != self.native_channels):
      raise ConfigError(
          f"{self.dataset} images have {self.native_channels} "
          f"channel(s); --channels is for --dataset=folder.")
    kind.check_data(self)
    if self.val_data_dir and self.eval_data_dir and (
        os.path.realpath(self.val_data_dir)
        == os.path.realpath(self.eval_data_dir)):
      raise ConfigError(
          "--val_data_dir is --eval_data_dir: a checkpoint picked on the "
          "test classes makes the test score optimistic; hold out other "
          "labelled classes for --val_data_dir.")
    if self.val_data_dir and self.eval_data_dir:
      shared = files.shared_files(self.val_data_dir, self.eval_data_dir)
      if shared:
        raise ConfigError(
            f"--val_data_dir and --eval_data_dir hold the same images "
            f"({len(shared)}, e.g. {shared[0]}): a checkpoint picked on "
            f"the test images makes the test score optimistic; hold out "
            f"other labelled classes for --val_data_dir.")
    if self.val_data_dir and "val_data_dir" not in kind.options:
      raise ConfigError(f"--val_data_dir is the validation folder of "
                        f"--dataset=folder; {self.dataset} has its own "
                        f"validation split.")
    if self.eval_data_dir and "eval_data_dir" not in kind.options:
      raise ConfigError(f"--eval_data_dir is the labelled folder of "
                        f"--dataset=folder; {self.dataset} has its own test "
                        f"split.")

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

  The inner-loop settings are MAML's; the meta learning rate and meta-batch
  size are shared by MAML and ProtoNets.
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


@dataclasses.dataclass(frozen=True)
class GenerativeConfig:
  """How to train a generative model (defaults: the authors' Omniglot runs)."""

  kind: str = setting("gan", "Generative model to train.",
                      flag="generator_type", choices=GENERATOR_KINDS)
  latent_dim: Optional[int] = setting(
      None, "Latent size (default: the kind's own, 128 GAN, 20 VAE; ACAI's "
      "is 256).")
  epochs: int = setting(500, "Generator training epochs.",
                        flag="generator_epochs")
  batch_size: int = setting(128, "Generator training batch size.",
                            flag="generator_batch_size")
  learning_rate: Optional[float] = setting(
      None, "Adam lr (default 3e-4 GAN, 1e-3 VAE, 1e-4 ACAI).",
      flag="generator_lr")
  # Keras' default beta_1, as the authors' GAN.
  adam_beta1: float = setting(0.9, "Adam beta_1 of the GAN's two optimizers.",
                              flag="generator_beta1")
  mode_seeking_weight: float = setting(
      1.0, "Weight of the MSGAN term (GAN).")
  label_noise: float = setting(0.05, flag=None)
  samples_every: int = setting(5, "Epochs between sample grids.")
  # The run's one --seed (Config.seed) fills this when the command line
  # builds a Config; a generator trained on its own reads --seed itself.
  seed: int = setting(0, "Seed of weights and training tasks.", flag="seed")
  generator_loss: str = setting(
      "per_batch", "GAN generator loss: a cross-entropy per latent batch, "
      "summed, or one on the two batches' summed logits (the authors' code).",
      flag="gan_generator_loss", choices=GAN_GENERATOR_LOSSES)
  fake_targets: str = setting(
      "smoothed", "Label noise on the discriminator's fake targets: towards "
      "the real label or beyond the fake label (the authors' code).",
      flag="gan_fake_targets", choices=GAN_FAKE_TARGETS)
  keep_last_batch: bool = setting(
      False, "Generator training keeps each epoch's last partial batch (the "
      "authors' code) instead of dropping it.")
  backend: str = setting(
      "tensorflow", "Keras backend that trains the generator: tensorflow, or "
      "jax (GPU machines with JAX but no TensorFlow CUDA build). Both write "
      "the same checkpoints; a run resumes on either.",
      flag="generator_backend", choices=GENERATOR_BACKENDS)
  snapshot_epochs: Tuple[int, ...] = setting(
      (), "Epochs whose generator checkpoints are kept besides the newest "
      "two (e.g. 10,30,100 for the GAN-epoch study).")
  max_seconds: Optional[float] = setting(
      None, "Stop generator training after the step in which this many "
      "seconds pass (saved, mid-epoch too; rerun to go on), e.g. a GPU "
      "session's budget.",
      flag="generator_max_seconds")

  @property
  def generator_kind(self):
    """The kind's description (`lasium_tf.generators.KINDS`)."""
    return GENERATOR_KINDS.get(self.kind)

  @property
  def resolved_latent_dim(self) -> int:
    return self.latent_dim or self.generator_kind.latent_dim

  @property
  def resolved_learning_rate(self) -> float:
    """Adam's rate: the kind's own (the authors' 3e-4 for the GAN, 1e-3
    for the VAE) unless --generator_lr is given."""
    if self.learning_rate is not None:
      return self.learning_rate
    return self.generator_kind.learning_rate

  def validate(self) -> None:
    _one_of("generator_type", self.kind, GENERATOR_KINDS)
    _positive("generator_epochs", self.epochs)
    _positive("generator_batch_size", self.batch_size)
    _positive("samples_every", self.samples_every)
    _one_of("gan_generator_loss", self.generator_loss, GAN_GENERATOR_LOSSES)
    _one_of("gan_fake_targets", self.fake_targets, GAN_FAKE_TARGETS)
    _one_of("generator_backend", self.backend, GENERATOR_BACKENDS)
    for epoch in self.snapshot_epochs:
      _positive("snapshot_epochs", epoch)
    if self.max_seconds is not None:
      _positive("generator_max_seconds", self.max_seconds)
    if self.latent_dim is not None:
      _positive("latent_dim", self.latent_dim)
    if self.learning_rate is not None:
      _positive("generator_lr", self.learning_rate)
    if not 0 <= self.adam_beta1 < 1:
      raise ConfigError(f"--generator_beta1 must be in [0, 1), got "
                        f"{self.adam_beta1}.")
    if self.mode_seeking_weight < 0:
      raise ConfigError(f"--mode_seeking_weight must be >= 0, got "
                        f"{self.mode_seeking_weight}.")
    self.generator_kind.check(self)


@dataclasses.dataclass(frozen=True)
class LasiumConfig:
  """Where LASIUM tasks come from (paper Section 3).

  Attributes:
    generator: a generator SavedModel (e.g. pretrained/omniglot_gan, or a
      TF-Hub handle), or a generator training folder with checkpoints.
    policy: "n" (z + e), "ro" (towards a random vector), "oc" (towards
      another class's anchor).
    sigma2: LASIUM-N noise variance (the paper's Table 7 labels).
    sigma: LASIUM-N noise standard deviation; when set it replaces sigma2.
      The authors' code ran "0.5" as a standard deviation
      (docs/reproducing.md).
    sigma_max: if set, LASIUM-N draws each class's noise scale
      sigma ~ U(0, sigma_max) instead (the authors' VAE runs: 2).
    alpha: LASIUM-RO / -OC interpolation coefficient.
    oc_sigma2: noise variance of OC's every N-th sample (authors' code).
    anchor_min_distance: anchors closer than this are redrawn; None uses
      the authors' threshold for a GAN, 0 for a VAE.
    anchor_rejection: which policies redraw close anchors: "all" (our
      default), "n" (the authors' later code) or "none" (their paper-era
      code).
    decode_precision: "float32", or "bfloat16": the generator's network
      computes in bfloat16 (float32 weights), about 0.6x the decoding time
      of the Omniglot GAN on CPUs with AVX-512 BF16 (docs/speed.md), pixels
      within about 1e-3 of float32's on average.
  """

  generator: Optional[str] = setting(
      None, "LASIUM: a generator SavedModel (pretrained/...), TF-Hub handle, "
      "or generator training folder.")
  policy: str = setting("ro", "LASIUM in-class sampling policy.",
                        choices=POLICIES)
  sigma2: float = setting(0.5, "LASIUM-N noise variance.")
  sigma: Optional[float] = setting(
      None, "LASIUM-N noise standard deviation, instead of --sigma2 (the "
      "authors' code ran 0.5 as a standard deviation).")
  sigma_max: Optional[float] = setting(
      None, "If set, LASIUM-N draws each class's noise scale sigma ~ U(0, "
      "sigma_max) instead of --sigma2 (the authors' VAE: 2).")
  alpha: float = setting(0.2, "LASIUM-RO/-OC interpolation.")
  oc_sigma2: float = setting(1.0, "LASIUM-OC: variance of every N-th sample.")
  anchor_min_distance: Optional[float] = setting(
      None, "Redraw anchors closer than this (default: the authors' "
      "threshold for a GAN, 0 for a VAE).")
  max_anchor_tries: int = setting(100, flag=None)
  anchor_rejection: str = setting(
      "all", "Policies that redraw close anchors: all, n (the authors' later "
      "code) or none (their paper-era code).", choices=ANCHOR_REJECTIONS)
  decode_precision: str = setting(
      "float32", "LASIUM: the arithmetic of decoding tasks: float32, or "
      "bfloat16 (faster on CPUs with AVX-512 BF16; docs/speed.md).",
      choices=DECODE_PRECISIONS)

  def policy_hyperparameters(self):
    """The hyperparameters the chosen policy uses, by name."""
    if self.policy == "n":
      if self.sigma_max is not None:
        return {"sigma_max": self.sigma_max}
      if self.sigma is not None:
        return {"sigma": self.sigma}
      return {"sigma2": self.sigma2}
    if self.policy == "ro":
      return {"alpha": self.alpha}
    return {"alpha": self.alpha, "oc_sigma2": self.oc_sigma2}

  @property
  def resolved_min_distance(self) -> Optional[float]:
    """The anchor threshold for this policy: 0 where it rejects nothing."""
    if self.anchor_rejection == "none" or (
        self.anchor_rejection == "n" and self.policy != "n"):
      return 0.0
    return self.anchor_min_distance

  def validate(self) -> None:
    _one_of("policy", self.policy, POLICIES)
    if not self.generator:
      raise ConfigError(
          "LASIUM tasks need a generator: pass --generator=pretrained/"
          "omniglot_gan (a published SavedModel) or a generator training "
          "folder (--mode=train_generator makes one).")
    _positive("sigma2", self.sigma2)
    _positive("oc_sigma2", self.oc_sigma2)
    _one_of("anchor_rejection", self.anchor_rejection, ANCHOR_REJECTIONS)
    _one_of("decode_precision", self.decode_precision, DECODE_PRECISIONS)
    if self.sigma is not None:
      _positive("sigma", self.sigma)
      if self.sigma_max is not None:
        raise ConfigError("--sigma fixes LASIUM-N's noise scale and "
                          "--sigma_max draws it per class: give one.")
    if self.sigma_max is not None:
      _positive("sigma_max", self.sigma_max)
    _positive("max_anchor_tries", self.max_anchor_tries)
    if not 0 < self.alpha < 1:
      raise ConfigError(f"--alpha must lie in (0, 1) (a point between the "
                        f"anchor and the target), got {self.alpha}.")
    if self.anchor_min_distance is not None and self.anchor_min_distance < 0:
      raise ConfigError(f"--anchor_min_distance must be >= 0, got "
                        f"{self.anchor_min_distance}.")


@dataclasses.dataclass(frozen=True)
class UmtraConfig:
  """UMTRA's task augmentation (Khodadadeh, Bölöni and Shah, NeurIPS 2019).

  A UMTRA task is N random unlabeled train images, each its class's one
  support image; the class's queries are augmented copies of it. The
  defaults are their Omniglot release's: half the pixels erased, then a
  translation of up to 6 pixels per axis. Setting both to 0 leaves the
  run's `--query_shift` as the only augmentation (the LASIUM-era variant).

  Attributes:
    dropout: the probability that a query pixel is set to the page colour.
    translation: T; each query moves by offsets uniform on [-T, T) pixels
      per axis, rounded (nearest-neighbour sampling).
  """

  dropout: float = setting(
      0.5, "UMTRA: probability that a query pixel is erased (set to the page "
      "colour); their Omniglot release: 0.5; 0: none.", flag="umtra_dropout")
  translation: float = setting(
      6.0, "UMTRA: queries move by up to this many pixels per axis (uniform "
      "on [-T, T), rounded); their Omniglot release: 6; 0: none.",
      flag="umtra_translation")

  def validate(self, image_size: int) -> None:
    if not 0 <= self.dropout < 1:
      raise ConfigError(f"--umtra_dropout is a probability in [0, 1) (1 "
                        f"would erase every query), got {self.dropout}.")
    if self.translation < 0 or 2 * self.translation >= image_size:
      raise ConfigError(
          f"--umtra_translation must be >= 0 and move a query by less than "
          f"half its {image_size}-pixel image, got {self.translation}; their "
          f"release moved 28x28 Omniglot by up to 6.")


@dataclasses.dataclass(frozen=True)
class CactusConfig:
  """CACTUs' clusters (Hsu, Levine and Finn, ICLR 2019).

  Attributes:
    encoder: a generator with an `encode` signature whose embedding of the
      unlabeled train images is clustered (e.g. pretrained/omniglot_vae).
    clusters: k, the clusters of each partition (CACTUs: 500).
    partitions: P, the k-means partitions tasks are drawn from (CACTUs: 1
      for MAML, 100 for ProtoNets); partition p >= 1 clusters the
      embeddings scaled by a random vector.
  """

  encoder: Optional[str] = setting(
      None, "CACTUs: a generator with an encode signature (e.g. "
      "pretrained/omniglot_vae) whose embedding of the train images is "
      "clustered.", flag="cactus_encoder")
  clusters: int = setting(500, "CACTUs: k-means clusters per partition.",
                          flag="cactus_clusters")
  partitions: int = setting(
      1, "CACTUs: k-means partitions tasks are drawn from (theirs: 1 for "
      "MAML, 100 for ProtoNets).", flag="cactus_partitions")

  def validate(self) -> None:
    if not self.encoder:
      raise ConfigError(
          "CACTUs clusters an embedding: pass --cactus_encoder, a generator "
          "with an encode signature (e.g. pretrained/omniglot_vae).")
    _positive("cactus_clusters", self.clusters)
    _positive("cactus_partitions", self.partitions)


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
  # stacked network (grouped convolutions, `lasium_tf.learners.batched`); False: one
  # network copy per task, the reference path. Same numbers up to rounding.
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
      path = _flag_paths()[flag]
      if _get(config, path) == _get(Config(), path):
        config = _set(config, path, value)
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
    source = SOURCES.get(self.task_source)
    learner = LEARNERS.get(self.learner)
    _one_of("backbone", self.backbone, BACKBONES)
    if self.filters is not None and self.filters < 1:
      raise ConfigError(f"--filters must be at least 1, got {self.filters}.")
    _one_of("normalization", self.normalization, NORMALIZATIONS)
    _one_of("strategy", self.strategy, STRATEGIES)
    if self.init_from is not None and self.mode not in ("evaluate",
                                                         "export"):
      raise ConfigError(
          f"--init_from scores or re-exports a published classifier "
          f"(--mode=evaluate or --mode=export); --mode={self.mode} starts "
          f"from --experiment_dir's checkpoints: drop the flag.")
    if self.continue_from is not None:
      # --mode=evaluate or export with the continued run's own flagfile
      # reads the checkpoints that run wrote; the flag is not used then.
      if self.init_from is not None:
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
    if self.strategy != "default" and self.mode not in (
        "train", "evaluate", "train_and_evaluate", "train_generator"):
      raise ConfigError(
          f"--strategy={self.strategy} distributes meta-training, "
          f"evaluation and generator training; --mode={self.mode} runs on "
          f"one device: drop the flag.")
    if self.strategy != "default" and self.generative.backend != "tensorflow":
      raise ConfigError(
          f"--strategy={self.strategy} is TensorFlow's; "
          f"--generator_backend={self.generative.backend} trains on one "
          f"device: drop one of the two.")
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
    self.data.kind.check(self)
    if not self.data.kind.trains_generators and (
        self.mode == "train_generator"):
      raise ConfigError(
          f"--mode=train_generator trains the paper's Omniglot GAN or VAE; "
          f"for {self.data.dataset} the paper uses a TF-Hub generator "
          f"(--generator=bigbigan or --generator=progan).")
    if self.mode == "train_generator":
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
    if self.mode in ("export", "export_generator") and not self.export_dir:
      raise ConfigError(f"--mode={self.mode} needs --export_dir, the folder "
                        f"to write the SavedModel to.")
    if self.mode in ("export", "export_generator"):
      problem = files.export_target_problem(self.export_dir, "export_dir",
                                            keep=[self.experiment_dir])
      if problem:
        raise ConfigError(problem)
    if self.export_epoch is not None:
      _positive("export_epoch", self.export_epoch)
      if self.mode != "export_generator":
        raise ConfigError(
            f"--export_epoch picks the generator checkpoint that "
            f"--mode=export_generator publishes; --mode={self.mode} does not "
            f"use it: drop the flag.")
    learner.check(self)  # The learner's own conditions.
    if self.trains:
      source.check(self)  # The source's own settings.
    if self.mode == "draw_tasks":  # LASIUM tasks, drawn for a picture.
      self.lasium.validate()
    if self.data.train_rotations and not self.uses_labels:
      raise ConfigError(
          "--train_rotations adds rotated classes to labelled meta-training "
          "tasks (--task_source=labelled); LASIUM tasks have no classes to "
          "rotate.")
    if not source.meta_trains and self.mode in ("train",
                                                "train_and_evaluate"):
      raise ConfigError(
          "--task_source=none trains nothing (the 'training from scratch' "
          "baseline); run it with --mode=evaluate.")
    return self

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
  def trains(self) -> bool:
    """Whether the mode meta-trains."""
    return self.mode in ("train", "train_and_evaluate")

  @property
  def evaluates(self) -> bool:
    """Whether the mode scores test tasks."""
    return self.mode in ("evaluate", "train_and_evaluate")

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
               if _get(default, _flag_paths()[flag]) != value}
    if changes and all(_get(self, _flag_paths()[flag])
                       == _get(default, _flag_paths()[flag])
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


def _flag_paths() -> dict:
  """{flag name: field path} of every command-line setting of `Config`."""
  paths = {}

  def walk(cls, path):
    for field in dataclasses.fields(cls):
      kind = field.default_factory if field.default_factory is not \
          dataclasses.MISSING else None
      if kind is not None and dataclasses.is_dataclass(kind):
        walk(kind, path + (field.name,))
      elif field.metadata.get("flag", "") is not None:
        paths.setdefault(field.metadata.get("flag") or field.name,
                         path + (field.name,))

  walk(Config, ())
  return paths


def _get(config, path):
  for name in path:
    config = getattr(config, name)
  return config


def _set(config, path, value):
  if len(path) == 1:
    return dataclasses.replace(config, **{path[0]: value})
  return dataclasses.replace(config, **{path[0]: _set(
      getattr(config, path[0]), path[1:], value)})
