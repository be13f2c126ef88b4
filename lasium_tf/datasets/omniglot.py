"""Omniglot (Lake et al., 2015) as a `--dataset`: 1,623 characters of 50
alphabets, 20 drawings each, grey; the paper's main benchmark.

The loader is `lasium_tf.data.omniglot` (the official zips, or TFDS).
"""

from __future__ import annotations

from lasium_tf import lazy
from lasium_tf.data.common import OMNIGLOT_IMAGES_PER_CLASS as IMAGES_PER_CLASS
from lasium_tf.datasets import DatasetKind, register
from lasium_tf.errors import ConfigError

loader = lazy.module("lasium_tf.data.omniglot")


def load(config, parts, verbose=True):
  """The whole set decoded once (cached), then each part's characters."""
  everything = loader.load_omniglot(config, verbose=verbose)
  return {p: loader.load_split(config, p, everything) for p in parts}


def check_shots(k_shot: int, k_query: int, what: str) -> None:
  """Omniglot has 20 images per class: K_tr + K_val cannot exceed that."""
  if k_shot + k_query > IMAGES_PER_CLASS:
    raise ConfigError(
        f"{what}: K_tr + K_val = {k_shot} + {k_query} = {k_shot + k_query} "
        f"images per class, but an Omniglot class has only "
        f"{IMAGES_PER_CLASS}; lower the shots or the queries.")


def check(config) -> None:
  check_shots(config.task.k_shot, config.task.k_query, "meta-training")
  for k in config.eval.k_shots:
    check_shots(k, config.eval.k_query, "evaluation")


# Its loader resizes the 105x105 drawings without an antialiasing filter,
# as the original MAML code did.
KIND = register(DatasetKind(
    name="omniglot", title="Omniglot", splits=("vinyals", "authors"),
    image_size=28, channels=1, load=load, antialias=False,
    options=frozenset({"strokes", "train_rotations"}),
    trains_generators=True, check=check), replace=True)
