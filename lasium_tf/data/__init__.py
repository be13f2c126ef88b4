"""Data sets: Omniglot in memory; mini-ImageNet, CelebA and folders from files.

Each is described in `lasium_tf.datasets` (its splits, sizes, checks and
which loader of this package reads it). `load_parts(config, parts)` is the
one entry point: it returns, for each part
("train", "val", "test"), a task source with `episodes(...)` and `check(...)`
(`omniglot.ClassImages`, `image_sets.LabelledImages` or
`image_sets.AttributeImages`; for `--dataset=folder` the "train" part is
`folder.UnlabeledImages`, "val" and "test" the labelled `--val_data_dir`
and `--eval_data_dir`).
"""

from __future__ import annotations

from typing import Dict, Sequence

from lasium_tf.config import DataConfig
from lasium_tf.data.common import DataError


def load_parts(config: DataConfig, parts: Sequence[str],
               verbose: bool = True) -> Dict:
  """{part: task source} for the configured data set (its description's
  loader, `lasium_tf.datasets`)."""
  if not parts:
    return {}
  return config.kind.load(config, tuple(parts), verbose)


__all__ = ["DataError", "load_parts"]
