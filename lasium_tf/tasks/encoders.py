"""Encoders: generators with an `encode` signature, and their embeddings.

What CACTUs clusters (`lasium_tf.tasks.cactus`) and the embedding
baselines classify (`lasium_tf.baselines.embedding`): the published VAE's
posterior means or ACAI's code of every unlabeled image.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lasium_tf.errors import ConfigError


def embed(encoder, size: int, fetch, batch: int = 500) -> np.ndarray:
  """The encoder's embedding of every pool image, [n, d] float32."""
  parts = []
  for first in range(0, size, batch):
    indices = tf.range(first, min(first + batch, size))
    parts.append(tf.reshape(encoder.encode(fetch(indices)),
                            [len(indices), -1]).numpy())
  return np.concatenate(parts).astype(np.float32)


def load_encoder(name: str, data, flag: str = "--cactus_encoder"):
  """The encoder `name` (a generator with an `encode` signature) for images
  of `data` (a DataConfig), and what is known of it; refuses a generator
  without `encode`, naming `flag`."""
  from lasium_tf import generators

  try:
    encoder, info = generators.load_generator(name)
  except (OSError, ValueError) as e:
    raise ConfigError(f"{flag}={name}: {e}") from None
  encoder, info = generators.match_strokes(encoder, info, data)
  if not encoder.can_encode:
    raise ConfigError(
        f"{flag}={name} has no encode signature (a GAN decodes only): an "
        f"embedding needs an encoder, such as pretrained/omniglot_vae.")
  return encoder, info
