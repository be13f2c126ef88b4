"""mini-ImageNet (Vinyals et al., 2016; the split of Ravi & Larochelle,
2017) as a `--dataset`: 100 ImageNet classes of 600 RGB images.

The loader is `lasium_tf.data.mini_imagenet` (the images and the split's
CSVs, read locally; TFDS has no copy).
"""

from __future__ import annotations

from lasium_tf import lazy
from lasium_tf.datasets import DatasetKind, register
from lasium_tf.errors import ConfigError

loader = lazy.module("lasium_tf.data.mini_imagenet")


def load(config, parts, verbose=True):
  del verbose
  size = config.resolved_image_size
  return {p: loader.load_mini_imagenet(config.data_dir, p, size)
          for p in parts}


def check_data(data) -> None:
  if data.source != "local":
    raise ConfigError(
        "--data_source=tfds has no mini-ImageNet; use --data_source=local "
        "with a local copy of the images and the Ravi split CSVs.")


KIND = register(DatasetKind(
    name="mini_imagenet", title="mini-ImageNet", splits=("ravi",),
    image_size=84, channels=3, load=load, sources=("local",),
    check_data=check_data), replace=True)
