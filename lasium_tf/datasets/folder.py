"""Your own images as a `--dataset`: `--data_dir` a folder of unlabeled
images (any nesting) for the generator, `--eval_data_dir` (and
`--val_data_dir`) one subfolder of labelled images per class.

The loader is `lasium_tf.data.folder`; grey or RGB as the files are.
"""

from __future__ import annotations

from lasium_tf import lazy
from lasium_tf.datasets import DatasetKind, register
from lasium_tf.errors import ConfigError

loader = lazy.module("lasium_tf.data.folder")

# Which flag holds each labelled part.
LABELLED = {"val": "val_data_dir", "test": "eval_data_dir"}


def load(config, parts, verbose=True):
  del verbose
  size, channels = config.resolved_image_size, config.resolved_channels
  out = {}
  for part in parts:
    if part == "train":
      out[part] = loader.load_unlabeled(config.data_dir, size, channels,
                                        config.skip_bad_images)
    else:
      flag = LABELLED[part]
      out[part] = loader.load_labelled(getattr(config, flag), size, channels,
                                       config.skip_bad_images,
                                       what=f"--{flag}")
  return out


def check_data(data) -> None:
  if data.source != "local":
    raise ConfigError("--dataset=folder reads local files: drop "
                      "--data_source=tfds.")


def check(config) -> None:
  """Which folder each mode needs, and no labels."""
  if config.eval.split == "val" and not config.data.val_data_dir:
    raise ConfigError("--eval_split=val with --dataset=folder needs "
                      "--val_data_dir, the labelled validation folder.")
  if config.uses_labels and config.trains:
    raise ConfigError(
        "--dataset=folder's --data_dir images carry no labels: meta-train "
        "on generated tasks with --task_source=lasium (the point of "
        "LASIUM).")
  if config.run_mode.trains_generator and not config.data.data_dir:
    raise ConfigError("--mode=train_generator with --dataset=folder needs "
                      "--data_dir, the folder of unlabeled images.")
  if config.evaluates and not config.data.eval_data_dir:
    raise ConfigError(
        f"--mode={config.mode} with --dataset=folder needs --eval_data_dir, "
        f"a folder with one subfolder of labelled images per class.")


KIND = register(DatasetKind(
    name="folder", title="Your images'", splits=("folders",), image_size=28,
    channels=3, load=load, options=frozenset({
        "background", "channels", "val_data_dir", "eval_data_dir"}),
    sources=("local",), trains_generators=True, train_folder=True,
    baselines=("pixel_nn", "scratch"), check_data=check_data, check=check),
    replace=True)
