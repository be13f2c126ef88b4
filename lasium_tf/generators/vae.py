"""The Omniglot VAE as a `--generator_type` (LASIUM-N-VAE, LASIUM-OC-VAE).

The networks are `models/omniglot_vae.py`. The loss is binary cross-entropy
summed over the pixels plus the KL divergence to N(0, I), averaged over
latent dimensions as in the authors' code (a weak KL, which keeps decoded
samples sharp), Adam 1e-3. LASIUM's anchors are the encoder's means of real
train images, which are their classes' first samples (paper, Figure 2).
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from lasium_tf.core import backends
from lasium_tf import lazy
from lasium_tf.generators import (IMAGE_ANCHORS, GeneratorKind,
                                  register)
from lasium_tf.generators.base import GenerativeModel, State

keras = lazy.module("keras")
ops = lazy.module("keras.ops")

omniglot_vae = lazy.module("lasium_tf.models.omniglot_vae")

LATENT_DIM = 20  # The paper and the authors' code (`models.omniglot_vae`).


class VAE(GenerativeModel):
  """Encoder and decoder trained on the evidence lower bound."""

  def __init__(self, latent_dim: int = LATENT_DIM,
               learning_rate: float = 1e-3, seed: int = 0,
               image_size: int = 28, channels: int = 1):
    self.latent_dim = latent_dim
    self.encoder = omniglot_vae.build_encoder(latent_dim, image_size,
                                              seed=2 * seed, channels=channels)
    self.decoder = omniglot_vae.build_decoder(latent_dim, image_size,
                                              seed=2 * seed + 1,
                                              channels=channels)
    self.networks = {"encoder": self.encoder, "decoder": self.decoder}
    self.optimizer = keras.optimizers.Adam(learning_rate)
    self.optimizer.build(self.encoder.trainable_variables
                         + self.decoder.trainable_variables)
    self.optimizers = {"optimizer": self.optimizer}

  @property
  def decoding(self):
    return self.decoder

  @property
  def encoding(self):
    return self.encoder

  def encode(self, images):
    """Posterior means: the latent codes LASIUM-VAE anchors are made from."""
    mean, _ = self.encoder(images, training=False)
    return mean

  def decode(self, z):
    return self.decoder(z, training=False)

  def draws(self, rng: np.random.Generator, batch: int) -> Dict[str, np.ndarray]:
    """The reparameterisation's noise."""
    return {"eps": rng.standard_normal((batch, self.latent_dim), np.float32)}

  def step(self, state: State, images, draws: Dict) -> Tuple[State, Dict]:
    """One Adam step on the negative ELBO: pure, in keras.ops."""
    state = dict(state)
    split = len(state["encoder"])

    def loss(params, batch):
      encoder, decoder = params[:split], params[split:]
      images = batch["images"]
      (mean, log_var), encoder_fixed = self._call("encoder", state, encoder,
                                                  images)
      z = mean + ops.exp(0.5 * log_var) * batch["eps"]
      reconstruction, decoder_fixed = self._call("decoder", state, decoder, z)
      batch = ops.shape(images)[0]
      pixels = float(np.prod(images.shape[1:]))
      bce = keras.losses.binary_crossentropy(
          ops.reshape(images, (batch, -1)),
          ops.reshape(reconstruction, (batch, -1)))
      reconstruction_loss = ops.mean(bce) * pixels
      kl = ops.mean(-0.5 * ops.mean(
          1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=1))
      return reconstruction_loss + kl, (encoder_fixed, decoder_fixed,
                                        reconstruction_loss, kl)

    params = list(state["encoder"]) + list(state["decoder"])
    (value, (encoder_fixed, decoder_fixed, reconstruction, kl)), grads = (
        backends.value_and_grad(loss, self.strategy)(
            params, {"images": images, "eps": draws["eps"]}))
    params, state["optimizer"] = backends.apply_gradients(
        self.optimizer, self.encoder.trainable_variables
        + self.decoder.trainable_variables, state["optimizer"], grads, params)
    state["encoder"], state["decoder"] = params[:split], params[split:]
    state["encoder.fixed"] = encoder_fixed
    state["decoder.fixed"] = decoder_fixed
    return state, {"loss": value, "reconstruction": reconstruction, "kl": kl}


def build(config, image_size: int = 28, channels: int = 1) -> VAE:
  return VAE(config.resolved_latent_dim, config.resolved_learning_rate,
             config.seed, image_size, channels)


def decoder(latent_dim: int, image_size: int = 28, channels: int = 1):
  return omniglot_vae.build_decoder(latent_dim, image_size=image_size,
                                    channels=channels)


KIND = register(GeneratorKind(
    name="vae", display="VAE", latent_dim=LATENT_DIM, learning_rate=1e-3,
    build=build, anchors=IMAGE_ANCHORS, decoder=decoder,
    encode_output="`{\"mean\", \"log_var\"}`: the posterior (VAE anchors)."),
    replace=True)
