"""Data sets, behind one registry: `DATASETS`, the `--dataset` choices.

Each data set is described once, in a `DatasetKind` (the way meta-dataset
records each of its sources): its name, class splits, image size and
channels, how its images are resized, which data-set settings it takes,
its own checks and its loader. The settings, the loaders' entry point
(`lasium_tf.data.load_parts`) and the few-shot programs read the
description and never ask which data set they hold; a user's module
registers its own data set the same way (`register`).

This package loads neither TensorFlow nor the loaders: the descriptions
name their loader modules, imported when a data set is loaded.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, FrozenSet, Iterator, Sequence, Tuple

from lasium_tf.registry import Registry, no_checks


@dataclasses.dataclass(frozen=True)
class DatasetKind:
  """A data set, as the library sees it.

  Attributes:
    name: its `--dataset` value.
    title: how messages and pictures name its images ("Omniglot").
    splits: the class splits it knows (`--split`); the first is the default.
    image_size: the side of the square network input by default.
    channels: its images' channels (a folder's are read from its files:
      `lasium_tf.run.modes` fills in `--channels` before a run).
    load: (DataConfig, parts, verbose) -> {part: task source} for the parts
      among "train", "val", "test" (`lasium_tf.data.load_parts`).
    antialias: whether its loader resizes with an antialiasing filter; an
      image file given to a model trained on it is resized the same way
      (`lasium_tf.classifier.read_images`), so the network sees what it was
      trained on.
    options: the data-set settings it takes beyond the common ones
      (`strokes`, `train_rotations`, `background`, `channels`,
      `val_data_dir`, `eval_data_dir`); any other one given is refused.
    sources: the `--data_source` values it can be read from.
    trains_generators: whether `--mode=train_generator` trains the paper's
      GAN or VAE on its training part (else a TF-Hub generator is used).
    train_folder: whether its training part is the unlabeled `--data_dir`
      folder, streamed file by file (else a labelled split in memory).
    baselines: the baselines its evaluation runs by default.
    check_data: DataConfig -> None, raising `ConfigError` for data settings
      it cannot read with.
    check: Config -> None, raising `ConfigError` for run settings it cannot
      run with (task shapes, the folders a mode needs).
  """

  name: str
  title: str
  splits: Tuple[str, ...]
  image_size: int
  channels: int
  load: Callable[..., Dict]
  antialias: bool = True
  options: FrozenSet[str] = frozenset()
  sources: Tuple[str, ...] = ("local", "tfds")
  trains_generators: bool = False
  train_folder: bool = False
  baselines: Tuple[str, ...] = ("pixel_nn",)
  check_data: Callable[[Any], None] = no_checks
  check: Callable[[Any], None] = no_checks


# --dataset name -> its description; the library's own import on first use.
DATASETS: Registry[DatasetKind] = Registry("data set", "dataset")
DATASETS.add_lazy("omniglot", "lasium_tf.datasets.omniglot:KIND")
DATASETS.add_lazy("mini_imagenet", "lasium_tf.datasets.mini_imagenet:KIND")
DATASETS.add_lazy("celeba", "lasium_tf.datasets.celeba:KIND")
DATASETS.add_lazy("celeba_attributes",
                  "lasium_tf.datasets.celeba:ATTRIBUTES")
DATASETS.add_lazy("folder", "lasium_tf.datasets.folder:KIND")


def register(kind: DatasetKind, replace: bool = False) -> DatasetKind:
  """Adds a data set (from the user's own module, say); returns it."""
  return DATASETS.register(kind, replace)


class AllSplits(Sequence):
  """Every registered data set's splits, in order, each once: the
  `--split` choices, read when the flags are defined (after plug-ins)."""

  def _names(self) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(s for name in DATASETS
                               for s in DATASETS.get(name).splits))

  def __getitem__(self, index):
    return self._names()[index]

  def __len__(self) -> int:
    return len(self._names())

  def __iter__(self) -> Iterator[str]:
    return iter(self._names())


SPLITS = AllSplits()
