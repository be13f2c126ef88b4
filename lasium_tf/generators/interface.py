"""One generator interface for LASIUM: latent vectors in, images in [0, 1] out.

LASIUM only needs a generator to `decode` latent vectors (and, for a VAE,
to `encode` real images into anchors). Two implementations:

* `KerasGenerator`: our own Keras decoder (and encoder), in process.
* `SavedModelGenerator`: a SavedModel loaded with `hub.load`, a local path
  or a TF-Hub handle, described by a `ModuleSpec` (signature, output key and
  range, resizing, latent norm). Published Omniglot generators
  (`pretrained/`) have a `generate` signature (input `z` [batch, latent] ->
  output `default`, images in [0, 1]) and, for a VAE, an `encode` signature
  (input `images` -> `mean`, `log_var`). `PRESETS` describe the paper's
  TF-Hub generators (BigBiGAN, ProGAN). The latent size is always read from
  the signature.

`save_generator_module` writes such a SavedModel from a Keras decoder/encoder;
it needs none of this project's code to load.

`Bfloat16Decoding` runs a Keras decoder in bfloat16 (`--decode_precision`);
`lasium_tf.generative.in_bfloat16` gives one for any generator this
project trained, published SavedModels included.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Dict, Optional, Tuple

import keras
import tensorflow as tf

from lasium_tf.config import white_strokes
from lasium_tf.core.files import atomic_directory


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
    return encoder_outputs(self.encoder(images, training=False))["mean"]


def bfloat16_twin(model: keras.Model) -> keras.Model:
  """`model` rebuilt with every layer under Keras' `mixed_bfloat16` policy
  (float32 weights, bfloat16 arithmetic), holding copies of its weights."""
  config = model.get_config()
  _compute_in_bfloat16(config["layers"])
  twin = keras.Model.from_config(config)
  twin.set_weights(model.get_weights())
  return twin


def _compute_in_bfloat16(layers) -> None:
  for layer in layers:
    if layer["class_name"] == "InputLayer":
      continue
    if "layers" in layer["config"]:  # A nested model.
      _compute_in_bfloat16(layer["config"]["layers"])
    layer["config"]["dtype"] = "mixed_bfloat16"


class Bfloat16Decoding:
  """A generator whose decoder computes in bfloat16; images float32.

  Decoding a meta-batch is about half of a LASIUM GAN meta-iteration on a
  CPU, and the Omniglot GAN's two 128-channel transposed convolutions run in
  about 0.6x the time in bfloat16 on CPUs with AVX-512 BF16 (docs/speed.md),
  changing a pixel by about 1e-3 on average. Encoding (a VAE's anchors)
  stays with `base`, in float32.

  Args:
    decoder: the Keras decoder (float32) to run in bfloat16.
    base: the generator it decodes for (its `encode` is used as it is).
  """

  def __init__(self, decoder: keras.Model, base):
    self.base = base
    self.decoder = bfloat16_twin(decoder)
    self.latent_dim = base.latent_dim

  @property
  def can_encode(self) -> bool:
    return self.base.can_encode

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    images = tf.cast(self.decoder(z, training=False), tf.float32)
    return tf.clip_by_value(images, 0.0, 1.0)

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    return self.base.encode(images)


def encoder_outputs(encoded) -> dict:
  """An encoder's output as the `encode` signature names it: a VAE's
  posterior [mean, log_var] as both, an autoencoder's one code (ACAI) as
  "mean", the code CACTUs and LASIUM's VAE anchors read."""
  if isinstance(encoded, (list, tuple)):
    return {"mean": encoded[0], "log_var": encoded[1]}
  return {"mean": encoded}


@dataclasses.dataclass(frozen=True)
class ModuleSpec:
  """How to call a generator SavedModel / TF-Hub module.

  The latent size is always read from the signature's input; what a signature
  cannot say (the output range, the latent prior's norm) is stated here.
  """

  handle: str
  signature: str = "generate"
  output_key: str = "default"
  output_range: Tuple[float, float] = (0.0, 1.0)
  image_size: Optional[int] = None  # Resize outputs to this square size.
  unit_latents: bool = False  # Normalise z to unit length before decoding.
  encode_signature: Optional[str] = None


# Off-the-shelf TF-Hub generators of the paper (mini-ImageNet, CelebA).
PRESETS = {
    # BigBiGAN: z [batch, 120] -> images 128x128x3 in [-1, 1].
    "bigbigan": ModuleSpec("https://tfhub.dev/deepmind/bigbigan-resnet50/1",
                           signature="generate", output_range=(-1.0, 1.0),
                           image_size=84),
    # ProGAN (CelebA): z [batch, 512] -> 128x128x3 in [0, 1]; the authors
    # normalise latent vectors to unit length for it.
    "progan": ModuleSpec("https://tfhub.dev/google/progan-128/1",
                         signature="default", output_range=(0.0, 1.0),
                         image_size=84, unit_latents=True),
}


class SavedModelGenerator:
  """A generator SavedModel loaded through `hub.load` (path or handle).

  `TFHUB_CACHE_DIR` is honoured by `hub.load` for downloaded handles; a local
  folder (e.g. an extracted module) is loaded as it is.
  """

  def __init__(self, spec):
    import tensorflow_hub as hub  # Optional at import time of this module.

    spec = spec if isinstance(spec, ModuleSpec) else ModuleSpec(spec)
    self.spec = spec
    handle = spec.handle
    path = pathlib.Path(handle).expanduser()
    if "://" not in handle and not path.exists():
      raise FileNotFoundError(
          f"no generator at {handle}: give a SavedModel folder (e.g. "
          f"pretrained/omniglot_gan), a TF-Hub handle, or train one with "
          f"--mode=train_generator and export it with --mode=export_generator.")
    self.module = hub.load(str(path) if path.exists() else handle)
    signatures = self.module.signatures
    if spec.signature not in signatures:
      raise ValueError(f"{handle} has no {spec.signature!r} signature (it has "
                       f"{sorted(signatures)}).")
    self._generate = signatures[spec.signature]
    self._encode = (signatures.get(spec.encode_signature)
                    if spec.encode_signature else None)
    _, inputs = self._generate.structured_input_signature
    self._input_name, input_spec = next(iter(inputs.items()))
    self.latent_dim = int(input_spec.shape[-1])
    outputs = self._generate.structured_outputs
    if spec.output_key not in outputs:
      raise ValueError(f"{handle}'s {spec.signature!r} signature has no "
                       f"output {spec.output_key!r} (it has {sorted(outputs)}).")

  @property
  def can_encode(self) -> bool:
    return self._encode is not None

  @property
  def decode_variables(self):
    """The variables the `generate` signature computes with (the module
    keeps them alive)."""
    return self._generate.variables

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    """Images in [0, 1], resized to the spec's image size."""
    if self.spec.unit_latents:
      z = tf.math.l2_normalize(z, axis=-1)
    images = self._generate(**{self._input_name: z})[self.spec.output_key]
    low, high = self.spec.output_range
    if (low, high) != (0.0, 1.0):
      images = (images - low) / (high - low)
    if self.spec.image_size is not None:
      images = tf.image.resize(images, [self.spec.image_size] * 2,
                               method="bilinear", antialias=True)
    return tf.clip_by_value(images, 0.0, 1.0)

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    if self._encode is None:
      raise ValueError("this generator has no encode signature; VAE anchors "
                       "need one.")
    return self._encode(images=images)["mean"]


class InkSwapped:
  """Another generator's images with ink and paper swapped (1 - x).

  An Omniglot generator draws in the stroke convention it was trained on
  (`DataConfig.strokes`); seen through this, one trained on white strokes
  makes tasks for `--strokes=black` (and a VAE encodes black-stroke anchors),
  the same images up to that swap, so no generator is trained twice.
  """

  def __init__(self, generator):
    self.generator = generator
    self.latent_dim = generator.latent_dim

  @property
  def can_encode(self) -> bool:
    return self.generator.can_encode

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    return white_strokes(self.generator.decode(z), "black")

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    return self.generator.encode(white_strokes(images, "black"))


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
    return encoder_outputs(self.encoder(images, training=False))


def save_generator_module(decoder: keras.Model, path,
                          encoder: Optional[keras.Model] = None,
                          finish=None) -> pathlib.Path:
  """Saves a `generate` (and `encode`) SavedModel loadable with hub.load.

  Written to a temporary folder beside `path` and renamed into place, so a
  failed export never leaves half a model where a good one was;
  `finish(folder)`, if given, adds its files (card, pictures) before that.
  """
  module = _ExportModule(decoder, encoder)
  signatures = {"generate": module.generate}
  if encoder is not None:
    signatures["encode"] = module.encode
  with atomic_directory(path) as tmp:
    tf.saved_model.save(module, str(tmp), signatures=signatures)
    if finish is not None:
      finish(tmp)
  return pathlib.Path(path)


def match_strokes(generator, info: Dict, data):
  """Swaps an Omniglot generator's ink when it was trained on the other one.

  Generators trained before `--strokes` existed drew white strokes.
  """
  trained_on = info.get("strokes", "white")
  if "strokes" not in data.kind.options or trained_on == data.strokes:
    return generator, info
  return InkSwapped(generator), {
      **info, "ink_swapped": f"trained on {trained_on} strokes, "
                             f"used with {data.strokes}"}
