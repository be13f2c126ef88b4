"""One generator interface for LASIUM: latent vectors in, images in [0, 1] out.

LASIUM only needs a generator to `decode` latent vectors (and, for a VAE,
to `encode` real images into anchors). Two implementations:

* `KerasGenerator`: our own Keras decoder (and encoder), in process.
* `SavedModelGenerator`: a SavedModel loaded with `hub.load`, a local path
  or a TF-Hub handle. Published Omniglot generators (`pretrained/`) have a
  `generate` signature (input `z` [batch, latent] -> output `default`,
  images in [0, 1]) and, for a VAE, an `encode` signature (input `images` ->
  `mean`, `log_var`). The latent size is read from the signature.

`export_generator` writes such a SavedModel from a Keras decoder/encoder; it
needs none of this project's code to load.
"""

from __future__ import annotations

import pathlib
from typing import Optional

import keras
import tensorflow as tf

from lasium_tf.files import atomic_directory


class KerasGenerator:
  """A Keras decoder (and optional encoder) behind the generator interface."""

  def __init__(self, decoder: keras.Model,
               encoder: Optional[keras.Model] = None):
    self.decoder = decoder
    self.encoder = encoder
    self.latent_dim = int(decoder.input_shape[-1])

  @property
  def can_encode(self) -> bool:
    return self.encoder is not None

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    return self.decoder(z, training=False)

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    if self.encoder is None:
      raise ValueError("this generator has no encoder; VAE anchors need one.")
    mean, _ = self.encoder(images, training=False)
    return mean


class SavedModelGenerator:
  """A generator SavedModel loaded through `hub.load` (path or handle)."""

  def __init__(self, handle: str, signature: str = "generate",
               output_key: str = "default"):
    import tensorflow_hub as hub  # Optional at import time of this module.

    path = pathlib.Path(handle).expanduser()
    if "://" not in handle and not path.exists():
      raise FileNotFoundError(
          f"no generator at {handle}: give a SavedModel folder (e.g. "
          f"pretrained/omniglot_gan), or train one with "
          f"--mode=train_generator and export it with --mode=export_generator.")
    self.module = hub.load(str(path) if path.exists() else handle)
    if signature not in self.module.signatures:
      raise ValueError(
          f"{handle} has no {signature!r} signature (it has "
          f"{sorted(self.module.signatures)}).")
    self._generate = self.module.signatures[signature]
    self._output_key = output_key
    self._encode = self.module.signatures.get("encode")
    _, inputs = self._generate.structured_input_signature
    self._input_name, spec = next(iter(inputs.items()))
    self.latent_dim = int(spec.shape[-1])

  @property
  def can_encode(self) -> bool:
    return self._encode is not None

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    return self._generate(**{self._input_name: z})[self._output_key]

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    if self._encode is None:
      raise ValueError("this generator has no 'encode' signature; VAE "
                       "anchors need one.")
    return self._encode(images=images)["mean"]


class _ExportModule(tf.Module):

  def __init__(self, decoder, encoder):
    super().__init__()
    self.decoder = decoder
    self.encoder = encoder
    latent_dim = int(decoder.input_shape[-1])
    self.latent_dim = tf.Variable(latent_dim, trainable=False,
                                  name="latent_dim")
    self.generate = tf.function(
        self._generate,
        input_signature=[tf.TensorSpec([None, latent_dim], tf.float32,
                                       name="z")])
    if encoder is not None:
      self.encode = tf.function(
          self._encode,
          input_signature=[tf.TensorSpec([None] + list(encoder.input_shape[1:]),
                                         tf.float32, name="images")])

  def _generate(self, z):
    return {"default": self.decoder(z, training=False)}

  def _encode(self, images):
    mean, log_var = self.encoder(images, training=False)
    return {"mean": mean, "log_var": log_var}


def export_generator(decoder: keras.Model, path,
                     encoder: Optional[keras.Model] = None) -> pathlib.Path:
  """Saves a `generate` (and `encode`) SavedModel loadable with hub.load.

  Written to a temporary folder beside `path` and renamed into place, so a
  failed export never leaves half a model where a good one was.
  """
  module = _ExportModule(decoder, encoder)
  signatures = {"generate": module.generate}
  if encoder is not None:
    signatures["encode"] = module.encode
  with atomic_directory(path) as tmp:
    tf.saved_model.save(module, str(tmp), signatures=signatures)
  return pathlib.Path(path)
