"""ACAI's networks for Omniglot, as plain Keras models.

ACAI (Berthelot, Raffel, Roy and Goodfellow, "Understanding and Improving
Interpolation in Autoencoders via an Adversarial Regularizer", ICLR 2019) is
an autoencoder whose decoded interpolations are pushed towards realism by a
critic; CACTUs (Hsu, Levine and Finn, ICLR 2019) clustered its codes for
their best Omniglot rows. The setting of their Omniglot runs: 32x32 inputs,
width 16, a 4x4x16 = 256-d code.

Every other generator here takes 28x28 images, so the encoder and the
critic resize 28 -> 32 first and the decoder resizes 32 -> 28 last
(bilinear); between them the networks are ACAI's 32x32 ones:

* encoder: for widths 16, 32, 64: two [Conv 3x3 + LeakyReLU(0.2)] and a
  2x2 average pool (32 -> 16 -> 8 -> 4); then Conv 3x3 (128) + LeakyReLU
  and Conv 3x3 to 16 channels: the code, [4, 4, 16];
* decoder: for widths 64, 32, 16: two [Conv 3x3 + LeakyReLU(0.2)] and a
  nearest-neighbour 2x upsampling (4 -> 8 -> 16 -> 32); then Conv 3x3 (16)
  + LeakyReLU and Conv 3x3 to the image's channels, linear;
* critic: the encoder's layers (weights of its own), the mean of its
  [4, 4, 16] output: one number per image, which it learns to make the
  interpolation coefficient of a decoded mix (0 for real images).

ACAI's networks work on images in [-1, 1]; these take and give the
project's [0, 1] images, mapping them to that range first (encoder, critic)
and back last (decoder, not clipped: `lasium_tf.generators.acai` clips what it
decodes for tasks).
"""

from __future__ import annotations

import keras
from keras import layers

from lasium_tf.models import seeded_initializers

ACAI_SIZE = 32  # The side ACAI's Omniglot networks are built for.
WIDTH = 16
SCALES = 3  # 32 -> 4.
CODE_CHANNELS = 16
LATENT_DIM = (ACAI_SIZE >> SCALES) ** 2 * CODE_CHANNELS  # 256.
LEAK = 0.2


def _conv(width, init, name=None):
  return layers.Conv2D(width, 3, padding="same", kernel_initializer=next(init),
                       name=name)


def _down(x, init, out_channels):
  for i in range(SCALES):
    for _ in range(2):
      x = layers.LeakyReLU(LEAK)(_conv(WIDTH << i, init)(x))
    x = layers.AveragePooling2D(2)(x)
  x = layers.LeakyReLU(LEAK)(_conv(WIDTH << SCALES, init)(x))
  return _conv(out_channels, init)(x)


def _check(image_size: int) -> None:
  if image_size != 28:
    raise ValueError(f"ACAI is built here for 28x28 images (ACAI's 32x32 "
                     f"networks behind a resize), got {image_size}; use "
                     f"--generator_type=vae or gan for other sizes.")


def _encoder_map(image_size: int, channels: int, seed: int):
  """The encoder's layers from [0, 1] images to a [4, 4, 16] map: (input,
  map), shared by the encoder and the critic (each its own weights)."""
  _check(image_size)
  init = seeded_initializers(seed)
  images = keras.Input((image_size, image_size, channels), name="images")
  x = layers.Rescaling(2.0, offset=-1.0)(images)
  x = layers.Resizing(ACAI_SIZE, ACAI_SIZE)(x)
  return images, _down(x, init, CODE_CHANNELS)


def build_encoder(image_size: int = 28, channels: int = 1,
                  seed: int = 0) -> keras.Model:
  """Images [28, 28, C] in [0, 1] -> codes [LATENT_DIM] (flattened 4x4x16)."""
  images, x = _encoder_map(image_size, channels, seed)
  code = layers.Flatten(name="code")(x)
  return keras.Model(images, code, name="encoder")


def build_decoder(image_size: int = 28, channels: int = 1,
                  seed: int = 0) -> keras.Model:
  """Codes [LATENT_DIM] -> images [28, 28, C] in about [0, 1] (not clipped)."""
  _check(image_size)
  init = seeded_initializers(seed)
  side = ACAI_SIZE >> SCALES
  code = keras.Input((LATENT_DIM,), name="z")
  x = layers.Reshape((side, side, CODE_CHANNELS))(code)
  for i in reversed(range(SCALES)):
    for _ in range(2):
      x = layers.LeakyReLU(LEAK)(_conv(WIDTH << i, init)(x))
    x = layers.UpSampling2D(2, interpolation="nearest")(x)
  x = layers.LeakyReLU(LEAK)(_conv(WIDTH, init)(x))
  x = _conv(channels, init)(x)
  x = layers.Resizing(image_size, image_size)(x)
  images = layers.Rescaling(0.5, offset=0.5, dtype="float32")(x)
  return keras.Model(code, images, name="decoder")


def build_critic(image_size: int = 28, channels: int = 1,
                 seed: int = 0) -> keras.Model:
  """Images [28, 28, C] in [0, 1] -> [1] each: the mean of an
  encoder-shaped network's output map."""
  images, x = _encoder_map(image_size, channels, seed)
  x = layers.Reshape((-1, 1))(x)  # Every value of the map, one channel.
  score = layers.GlobalAveragePooling1D(name="score")(x)  # [B, 1].
  return keras.Model(images, score, name="critic")


def clipped(decoder: keras.Model) -> keras.Model:
  """The decoder with its images clipped to [0, 1], for decoding tasks and
  exports (training uses the unclipped one, so every pixel keeps its
  gradient)."""
  images = layers.ReLU(max_value=1.0, dtype="float32")(decoder.output)
  return keras.Model(decoder.input, images, name="generator")
