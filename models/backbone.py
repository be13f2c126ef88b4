"""The four-block convolutional backbones of few-shot learning.

Two variants, chosen by name (`--backbone`):

* "paper": what the LASIUM paper's text describes (the standard backbone of
  Vinyals et al. 2016 and Finn et al. 2017): 4 x [Conv 3x3, 64 filters,
  'same', BatchNorm, ReLU, MaxPool 2x2], flattened.
* "code": what the authors' code actually ran (see
  docs/reproducing.md). On 28x28 Omniglot: 4 x [Conv 3x3,
  64 filters, stride 2, 'same', BatchNorm without scale, ReLU], then a spatial
  mean (the original MAML Omniglot network, about 2x cheaper per step). On
  84x84 RGB: 4 x [Conv 3x3, 32 filters, 'valid', BatchNorm without scale,
  MaxPool 2x2, ReLU], flattened (the original MAML mini-ImageNet network).
  That one needs images of at least 46 pixels (four 'valid' convolutions
  and pools); smaller RGB images (your own folder at 28 or 32) get the
  stride-2 network.

MAML puts a Dense(N) head on the features (`build_classifier`); ProtoNets
uses the features themselves. With `normalization="tasknorm_i"` every
BatchNorm is a `TaskNormalization` layer (`lasium_tf.learners.batchnorm`), which
adds TaskNorm-I's two learned blend weights; the other normalisations use
the network as it is.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lasium_tf.learners import batchnorm as norms
from lasium_tf.models import seeded_initializers

BACKBONES = ("paper", "code")


def build_backbone(name: str, input_shape: Sequence[int],
                   filters: int | None = None, seed: int = 0,
                   normalization: str = "transductive") -> keras.Model:
  """Returns a Keras model mapping images [B, H, W, C] to features [B, D]."""
  init = seeded_initializers(seed)
  if name not in BACKBONES:
    raise ValueError(f"unknown backbone {name!r}; use one of {BACKBONES}.")
  norm = (norms.TaskNormalization if norms.blends_instances(normalization)
          else layers.BatchNormalization)
  inputs = keras.Input(shape=tuple(input_shape))
  x = inputs
  # The stride-2 network: grey images, and any too small for the other.
  omniglot_like = input_shape[-1] == 1 or min(input_shape[:2]) < 46
  if name == "paper":
    for i in range(4):
      x = layers.Conv2D(filters or 64, 3, padding="same", name=f"conv{i}",
                        kernel_initializer=next(init))(x)
      x = norm(name=f"bn{i}")(x)
      x = layers.ReLU()(x)
      x = layers.MaxPool2D(2, padding="valid")(x)
    x = layers.Flatten()(x)
  elif omniglot_like:
    for i in range(4):
      x = layers.Conv2D(filters or 64, 3, strides=2, padding="same",
                        name=f"conv{i}", kernel_initializer=next(init))(x)
      x = norm(scale=False, name=f"bn{i}")(x)
      x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
  else:
    for i in range(4):
      x = layers.Conv2D(filters or 32, 3, padding="valid", name=f"conv{i}",
                        kernel_initializer=next(init))(x)
      x = norm(scale=False, name=f"bn{i}")(x)
      x = layers.MaxPool2D(2)(x)
      x = layers.ReLU()(x)
    x = layers.Flatten()(x)
  return keras.Model(inputs, x, name=f"conv4_{name}")


def configured(config) -> keras.Model:
  """The backbone a run's config names (`--backbone`, `--filters`,
  `--normalization`, `--seed`, its data's image shape), freshly
  initialised: what every learner's `build` starts from."""
  return build_backbone(config.backbone, config.data.image_shape,
                        filters=config.filters, seed=config.seed,
                        normalization=config.normalization)


def build_classifier(backbone: keras.Model, n_way: int,
                     seed: int = 0) -> keras.Model:
  """Backbone + Dense(n_way) head: the network MAML adapts."""
  inputs = keras.Input(shape=backbone.input_shape[1:])
  logits = layers.Dense(
      n_way, name="head",
      kernel_initializer=next(seeded_initializers(seed + 1)))(backbone(inputs))
  return keras.Model(inputs, logits, name="classifier")
