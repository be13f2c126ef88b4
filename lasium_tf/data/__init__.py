"""Data sets: Omniglot in memory; mini-ImageNet, CelebA and folders from files.

`load_parts(config, parts)` is the one entry point: it returns, for each part
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
  """{part: task source} for the configured data set."""
  if not parts:
    return {}
  size = config.resolved_image_size
  if config.dataset == "omniglot":
    from lasium_tf.data import omniglot

    everything = omniglot.load_omniglot(config, verbose=verbose)
    return {p: omniglot.load_split(config, p, everything) for p in parts}
  if config.dataset == "folder":
    from lasium_tf.data import folder

    channels = config.resolved_channels
    labelled = {"val": (config.val_data_dir, "--val_data_dir"),
                "test": (config.eval_data_dir, "--eval_data_dir")}
    return {p: (folder.load_unlabeled(config.data_dir, size, channels,
                                      config.skip_bad_images)
                if p == "train" else
                folder.load_labelled(labelled[p][0], size, channels,
                                     config.skip_bad_images,
                                     what=labelled[p][1]))
            for p in parts}
  if config.dataset == "mini_imagenet":
    from lasium_tf.data.mini_imagenet import load_mini_imagenet

    return {p: load_mini_imagenet(config.data_dir, p, size) for p in parts}
  from lasium_tf.data import celeba

  load = (celeba.load_celeba_identities if config.dataset == "celeba"
          else celeba.load_celeba_attributes)
  return {p: load(config.data_dir, p, size, config.source) for p in parts}


__all__ = ["DataError", "load_parts"]
