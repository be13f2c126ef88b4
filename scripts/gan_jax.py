"""Trains the Omniglot GAN on a GPU machine that has JAX but not TensorFlow.

Three steps, the first and last here (TensorFlow), the middle one there:

  # 1. The unlabeled train-split images, as one file to carry:
  python scripts/gan_jax.py --action=prepare --images=experiments/gan_jax/train_images.npz
  # 2. On the GPU machine (Keras on JAX; needs keras, jax, absl-py, h5py, and
  #    this package: pip install --no-deps --no-build-isolation -e .):
  python scripts/gan_jax.py --action=train --images=experiments/gan_jax/train_images.npz \
      --out=RUN --generator_epochs=500 --snapshot_epochs=10,30,100,500
  # 3. Back here: a generator training folder for --generator / export_generator:
  python scripts/gan_jax.py --action=import --weights=RUN/generator_epoch_0100.weights.h5 \
      --experiment_dir=$HOME/lasium_runs/omniglot_gan_jax_e100

The library does the work (`lasium_tf.gan_jax.train`,
`generative.import_gan_weights`); the GAN's flags mean what they mean in
`lasium_tf.main`, and their defaults are the authors' Omniglot recipe.
"""

import dataclasses
import json
import os
import pathlib
import shlex
import sys

from absl import app, flags

from lasium_tf import cli
from lasium_tf import config as config_lib


_ACTION = flags.DEFINE_enum("action", None, ["prepare", "train", "import"],
                            "Which step to run.")
_IMAGES = flags.DEFINE_string("images", None, "The .npz of train images.")
_OUT = flags.DEFINE_string("out", None, "train: folder for weights and log.")
_WEIGHTS = flags.DEFINE_string("weights", None,
                               "import: a generator_epoch_XXXX.weights.h5.")
_EXPERIMENT_DIR = flags.DEFINE_string(
    "experiment_dir", None, "import: the generator training folder to write.")
# The GAN's and the data's settings, generated from the same schema as
# lasium_tf.main's (`lasium_tf.cli`): same names, defaults and help.
cli.define_flags(config_lib.GenerativeConfig, only=(
    "latent_dim", "generator_epochs", "generator_batch_size", "generator_lr",
    "generator_beta1", "mode_seeking_weight", "seed", "gan_generator_loss",
    "gan_fake_targets", "keep_last_batch"))
cli.define_flags(config_lib.DataConfig, only=("data_dir", "split", "strokes"))
flags.adopt_module_key_flags(cli)
_SNAPSHOTS = flags.DEFINE_list("snapshot_epochs", [],
                               "Epochs whose generator weights are kept.")
_MAX_SECONDS = flags.DEFINE_float(
    "max_seconds", None, "Stop (saving both networks) after this long.")


def _required(*names):
  missing = [n for n in names if flags.FLAGS[n].value is None]
  if missing:
    raise app.UsageError(f"--action={_ACTION.value} needs "
                         + ", ".join(f"--{n}" for n in missing))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  _required("action")
  command = " ".join(shlex.quote(a) for a in ["python"] + sys.argv)
  if _ACTION.value == "prepare":
    _required("images")
    import numpy as np
    from lasium_tf.data import load_parts
    data = cli.build(config_lib.DataConfig)
    data.validate()
    images = load_parts(data, ["train"])["train"].unlabeled()
    os.makedirs(os.path.dirname(_IMAGES.value) or ".", exist_ok=True)
    np.savez_compressed(_IMAGES.value, images=images,
                        split=data.resolved_split, strokes=data.strokes)
    print(f"Wrote {len(images)} unlabeled images to {_IMAGES.value}.")
  elif _ACTION.value == "train":
    _required("images", "out")
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import numpy as np
    from lasium_tf import gan_jax
    with np.load(_IMAGES.value) as f:
      images, split = f["images"], str(f["split"])
      strokes = str(f["strokes"]) if "strokes" in f else "white"
    config = cli.build(config_lib.GenerativeConfig, kind="gan")
    try:
      config.validate()
    except config_lib.ConfigError as e:
      raise app.UsageError(str(e)) from None
    from lasium_tf.files import atomic_write
    config_path = pathlib.Path(_OUT.value) / "config.json"
    if config_path.exists():  # A resumed run keeps how it began.
      began = json.loads(config_path.read_text())["command"]
      command = f"{began}; then {command}"
    record = {"generative": dataclasses.asdict(config), "command": command,
              "trainer": f"lasium_tf.gan_jax on {jax.devices()[0]}",
              "data": {"dataset": "omniglot", "split": split,
                       "strokes": strokes,
                       "image_size": int(images.shape[1])}}
    atomic_write(config_path, lambda f: f.write(
        json.dumps(record, indent=2).encode()))
    from lasium_tf.stopping import Stopped
    try:
      gan_jax.train(images, _OUT.value, config,
                    [int(e) for e in _SNAPSHOTS.value], _MAX_SECONDS.value,
                    strokes=strokes)
    except Stopped as e:
      print(str(e), file=sys.stderr)
      sys.exit(128 + e.signal_number)  # The shell's code for that signal.
  else:
    _required("weights", "experiment_dir")
    from lasium_tf import generative
    out = generative.import_gan_weights(_WEIGHTS.value, _EXPERIMENT_DIR.value,
                                        command)
    print(f"Wrote a GAN training folder at epoch {out['epoch']} to "
          f"{out['directory']}.")


if __name__ == "__main__":
  app.run(main)
