"""The Omniglot VAE of the LASIUM paper (Appendix), as plain Keras models.

Encoder: 4 x [Conv2D(64, 3x3, stride 2, 'same') + BatchNorm + ReLU]
(28 -> 14 -> 7 -> 4 -> 2), flatten, then two Dense(20) heads: the mean and
the log-variance of q(z | x).

Decoder: the paper's text starts from Dense(7*7*64) and "mirrors" the encoder,
which does not add up to 28x28 with four stride-2 blocks (7 -> 14 -> 28 -> 56
-> 112). What is built here: Dense(7*7*64) + ReLU, reshape 7x7x64, then
2 x [Conv2DTranspose(64, 3x3, stride 2, 'same') + BatchNorm + ReLU]
(7 -> 14 -> 28), then Conv2D(1, 3x3, 'same', sigmoid): 28x28x1 in [0, 1].

Other sizes and colour (`--dataset=folder`): the same layers at any side
that is a multiple of 4, with 1 or 3 channels.
"""

from __future__ import annotations

import keras
from keras import layers

from lasium_tf.models import seeded_initializers

LATENT_DIM = 20  # The paper and the authors' code.


def build_encoder(latent_dim: int = LATENT_DIM, image_size: int = 28,
                  seed: int = 0, channels: int = 1) -> keras.Model:
  init = seeded_initializers(seed)
  images = keras.Input((image_size, image_size, channels), name="images")
  x = images
  for _ in range(4):
    x = layers.Conv2D(64, 3, strides=2, padding="same",
                      kernel_initializer=next(init))(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
  x = layers.Flatten()(x)
  mean = layers.Dense(latent_dim, name="mean", dtype="float32",
                      kernel_initializer=next(init))(x)
  log_var = layers.Dense(latent_dim, name="log_var", dtype="float32",
                         kernel_initializer=next(init))(x)
  return keras.Model(images, [mean, log_var], name="encoder")


def build_decoder(latent_dim: int = LATENT_DIM, image_size: int = 28,
                  seed: int = 0, channels: int = 1) -> keras.Model:
  if image_size % 4:
    raise ValueError(f"image_size must be a multiple of 4, got {image_size}.")
  base = image_size // 4
  init = seeded_initializers(seed)
  z = keras.Input((latent_dim,), name="z")
  x = layers.Dense(base * base * 64, kernel_initializer=next(init))(z)
  x = layers.ReLU()(x)
  x = layers.Reshape((base, base, 64))(x)
  for _ in range(2):
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same",
                               kernel_initializer=next(init))(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
  images = layers.Conv2D(channels, 3, padding="same", activation="sigmoid",
                         dtype="float32", kernel_initializer=next(init))(x)
  return keras.Model(z, images, name="decoder")
