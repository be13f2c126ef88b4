"""CelebA (Liu et al., 2015) as two `--dataset`s: identity tasks (the
paper's Table 2) and 2-way attribute tasks (Table 3), RGB faces.

The loader is `lasium_tf.data.celeba` (local files or TFDS).
"""

from __future__ import annotations

from lasium_tf import lazy
from lasium_tf.datasets import DatasetKind, register
from lasium_tf.errors import ConfigError

loader = lazy.module("lasium_tf.data.celeba")


def load_identities(config, parts, verbose=True):
  del verbose
  return {p: loader.load_celeba_identities(
      config.data_dir, p, config.resolved_image_size, config.source)
          for p in parts}


def load_attributes(config, parts, verbose=True):
  del verbose
  return {p: loader.load_celeba_attributes(
      config.data_dir, p, config.resolved_image_size, config.source)
          for p in parts}


def check_attributes(config) -> None:
  """Attribute tasks are 2-way: a conjunction against its negation."""
  if config.eval.n_way != 2:
    raise ConfigError(
        f"CelebA attribute tasks are 2-way (a conjunction of attribute "
        f"values against its negation); set --eval_n_way=2, got "
        f"{config.eval.n_way}.")
  if config.uses_labels and config.trains and config.task.n_way != 2:
    raise ConfigError(
        f"labelled CelebA attribute tasks are 2-way; set --n_way=2, got "
        f"{config.task.n_way}.")


KIND = register(DatasetKind(
    name="celeba", title="CelebA", splits=("official",), image_size=84,
    channels=3, load=load_identities), replace=True)
ATTRIBUTES = register(DatasetKind(
    name="celeba_attributes", title="CelebA", splits=("official",),
    image_size=84, channels=3, load=load_attributes,
    check=check_attributes), replace=True)
