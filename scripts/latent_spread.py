"""How far each LASIUM policy moves a generator's images from their anchor.

Prints the mean per-pixel L1 distance between a decoded anchor G(z) and
G(z') for each policy's in-class vector z', as a fraction of the distance
between two anchors' images, next to the same fraction for real Omniglot
(two drawings of one character against two characters). A policy whose
fraction is far below the real one makes classes that vary less than real
ones: easy meta-training tasks that teach little.

  python scripts/latent_spread.py --generator=pretrained/omniglot_gan
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))

_GENERATOR = flags.DEFINE_string("generator", "pretrained/omniglot_gan",
                                 "A GAN (SavedModel or training folder).")
_SAMPLES = flags.DEFINE_integer("samples", 200, "Anchors (and classes).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the latent draws.")


def main(argv):
  del argv
  import numpy as np
  import tensorflow as tf
  from lasium_tf.config import DataConfig
  from lasium_tf.data import load_parts
  from lasium_tf.generators import load_generator
  from lasium_tf.tasks.lasium import POLICIES

  n, seed = _SAMPLES.value, _SEED.value
  classes = load_parts(DataConfig(), ["train"], verbose=False)["train"].images
  rows = np.random.default_rng(seed).choice(len(classes), n, replace=False)
  first, second = classes[rows, 0], classes[rows, 1]
  same = np.abs(first - second).mean()
  other = np.abs(first - np.roll(first, 1, axis=0)).mean()
  print(f"real Omniglot: two drawings of a character {same / other:.2f} of "
        f"two characters' distance")
  generator, _ = load_generator(_GENERATOR.value)
  z = tf.random.stateless_normal([n, generator.latent_dim], [seed, 1])
  anchors = generator.decode(z).numpy()
  between = np.abs(anchors - np.roll(anchors, 1, axis=0)).mean()
  settings = [("RO alpha 0.2", "ro", {"alpha": 0.2}),
              ("RO alpha 0.4", "ro", {"alpha": 0.4}),
              ("N sigma^2 0.5", "n", {"sigma2": 0.5}),
              ("N sigma^2 1", "n", {"sigma2": 1.0}),
              ("N sigma^2 2", "n", {"sigma2": 2.0})]
  for name, policy, hyperparameters in settings:
    # One in-class vector per anchor, from the sampler's own policy.
    moved = POLICIES[policy](z, 1, tf.constant([seed, 2]), **hyperparameters)
    spread = np.abs(anchors - generator.decode(moved[:, 0]).numpy()).mean()
    print(f"{name}: {spread / between:.2f} of two anchors' distance")


if __name__ == "__main__":
  app.run(main)
