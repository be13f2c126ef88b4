"""The Omniglot GAN of the LASIUM paper (Appendix), as plain Keras models.

Generator: z -> Dense(7*7*128) + LeakyReLU(0.2) -> reshape 7x7x128 ->
2 x [Conv2DTranspose(128, 4x4, stride 2, 'same') + LeakyReLU(0.2)] ->
Conv2D(1, 7x7, 'same', sigmoid): 28x28x1 images in [0, 1], strokes 1.

Discriminator: 3 x [Conv2D(64 / 128 / 128, 3x3, stride 2, 'same') +
LeakyReLU(0.2)] -> global max pooling -> Dense(1) (a logit: real > 0).

Other sizes and colour (`--dataset=folder`): the same layers at any side
that is a multiple of 4 (the generator starts from side / 4 and upsamples
twice) with 1 or 3 output channels.
"""

from __future__ import annotations

import keras
from keras import layers

from lasium_tf.models import seeded_initializers

LATENT_DIM = 128  # The authors' Omniglot code.


def build_generator(latent_dim: int = LATENT_DIM, width: int = 128,
                    image_size: int = 28, seed: int = 0,
                    channels: int = 1) -> keras.Model:
  if image_size % 4:
    raise ValueError(f"image_size must be a multiple of 4, got {image_size}.")
  base = image_size // 4
  init = seeded_initializers(seed)
  z = keras.Input((latent_dim,), name="z")
  x = layers.Dense(base * base * width, kernel_initializer=next(init))(z)
  x = layers.LeakyReLU(0.2)(x)
  x = layers.Reshape((base, base, width))(x)
  for _ in range(2):
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same",
                               kernel_initializer=next(init))(x)
    x = layers.LeakyReLU(0.2)(x)
  # Outputs in float32 even under a mixed-precision policy.
  images = layers.Conv2D(channels, 7, padding="same", activation="sigmoid",
                         dtype="float32", kernel_initializer=next(init))(x)
  return keras.Model(z, images, name="generator")


def build_discriminator(image_size: int = 28, widths=(64, 128, 128),
                        seed: int = 0, channels: int = 1) -> keras.Model:
  init = seeded_initializers(seed)
  images = keras.Input((image_size, image_size, channels), name="images")
  x = images
  for width in widths:
    x = layers.Conv2D(width, 3, strides=2, padding="same",
                      kernel_initializer=next(init))(x)
    x = layers.LeakyReLU(0.2)(x)
  x = layers.GlobalMaxPooling2D()(x)
  logit = layers.Dense(1, dtype="float32", kernel_initializer=next(init))(x)
  return keras.Model(images, logit, name="discriminator")
