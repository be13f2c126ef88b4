"""Which images a run reads: the data set, its split, size, channels and
conventions (`DataConfig`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Tuple

from lasium_tf.config.images import BACKGROUNDS, STROKES
from lasium_tf.core import files
from lasium_tf.datasets import DATASETS, SPLITS
from lasium_tf.errors import ConfigError
from lasium_tf.settings import one_of as _one_of, positive as _positive
from lasium_tf.settings import setting

DATA_SOURCES = ("local", "tfds")


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
