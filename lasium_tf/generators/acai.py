"""ACAI as a `--generator_type`: an encoder for CACTUs and the embedding
baselines, with no prior to draw LASIUM anchors from."""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from lasium_tf.errors import ConfigError
from lasium_tf.core import backends
from lasium_tf import lazy
from lasium_tf.generators import GeneratorKind, register
from lasium_tf.generators.base import GenerativeModel, State

keras = lazy.module("keras")
ops = lazy.module("keras.ops")

omniglot_acai = lazy.module("lasium_tf.models.omniglot_acai")

LATENT_DIM = 256  # A 4x4x16 code (`models.omniglot_acai`).


class ACAI(GenerativeModel):
  """ACAI: an autoencoder whose decoded interpolations a critic regularises.

  Berthelot, Raffel, Roy and Goodfellow, "Understanding and Improving
  Interpolation in Autoencoders via an Adversarial Regularizer", ICLR 2019;
  the networks of `models.omniglot_acai` (a 256-d code). Each step mixes
  every image's code with the next one's in the (shuffled) batch, z =
  a z1 + (1 - a) z2 with a ~ U(0, 1/2), and decodes the mix. The critic
  learns to answer a for a decoded mix and 0 for
  `gamma x + (1 - gamma) x_hat` (an image blended with its reconstruction,
  which keeps its job from being trivial); the autoencoder minimises its
  reconstruction error plus `adversarial_weight` times the critic's answer
  squared on its mixes, so that mixes look like images. Their Omniglot
  settings: weight 0.5, gamma 0.2. Losses are in ACAI's [-1, 1] image
  range.

  `encode` gives the codes CACTUs clusters (`--cactus_encoder`) and the
  embedding baselines classify (`--baseline_encoder`); with no prior to
  draw anchors from, it is not a LASIUM generator.
  """

  def __init__(self, learning_rate: float = 1e-4, seed: int = 0,
               image_size: int = 28, channels: int = 1,
               adversarial_weight: float = 0.5, gamma: float = 0.2):
    self.latent_dim = LATENT_DIM
    self.encoder = omniglot_acai.build_encoder(image_size, channels,
                                               seed=3 * seed)
    self.decoder = omniglot_acai.build_decoder(image_size, channels,
                                               seed=3 * seed + 1)
    self.critic = omniglot_acai.build_critic(image_size, channels,
                                             seed=3 * seed + 2)
    self.networks = {"encoder": self.encoder, "decoder": self.decoder,
                     "critic": self.critic}
    # What tasks and exports decode with: the decoder clipped to [0, 1]
    # (trained unclipped, so that no pixel loses its gradient).
    self.generator = omniglot_acai.clipped(self.decoder)
    self.optimizer = keras.optimizers.Adam(learning_rate)
    self.optimizer.build(self.encoder.trainable_variables
                         + self.decoder.trainable_variables)
    self.critic_optimizer = keras.optimizers.Adam(learning_rate)
    self.critic_optimizer.build(self.critic.trainable_variables)
    self.optimizers = {"optimizer": self.optimizer,
                       "critic_optimizer": self.critic_optimizer}
    self.adversarial_weight = adversarial_weight
    self.gamma = gamma

  @property
  def decoding(self):
    return self.generator

  @property
  def encoding(self):
    return self.encoder

  def encode(self, images):
    return self.encoder(images, training=False)

  def decode(self, z):
    return self.generator(z, training=False)

  def grid_images(self, fixed_z, fixed_images):
    """Reconstructions of fixed training images: an autoencoder has no
    prior to sample from."""
    del fixed_z
    return self.decode(self.encode(fixed_images))

  def draws(self, rng: np.random.Generator, batch: int) -> Dict[str, np.ndarray]:
    """Each image's mixing coefficient (its partner is the next image of
    the batch, whose order is already random: a pairing that also holds
    within each replica's share of a split batch)."""
    return {"alpha": 0.5 * rng.random((batch, 1), np.float32)}

  def step(self, state: State, images, draws: Dict) -> Tuple[State, Dict]:
    """An autoencoder step and a critic step from the same batch: pure, in
    keras.ops."""
    state = dict(state)
    split = len(state["encoder"])

    def critic(params, x):
      return self._call("critic", state, params, x)[0]

    def autoencode(params, batch):
      encoder, decoder = params[:split], params[split:]
      x = batch["images"]
      z = self._call("encoder", state, encoder, x)[0]
      reconstruction = self._call("decoder", state, decoder, z)[0]
      alpha = batch["alpha"]
      mixed_z = alpha * z + (1.0 - alpha) * ops.roll(z, 1, axis=0)
      mixed = self._call("decoder", state, decoder, mixed_z)[0]
      # ACAI's squared error on [-1, 1] images: 4 times ours on [0, 1].
      error = 4.0 * ops.mean(ops.square(x - reconstruction))
      fooled = ops.mean(ops.square(critic(state["critic"], mixed)))
      return error + self.adversarial_weight * fooled, (
          error, reconstruction, mixed)

    params = list(state["encoder"]) + list(state["decoder"])
    (ae_value, (error, reconstruction, mixed)), grads = (
        backends.value_and_grad(autoencode, self.strategy)(
            params, {"images": images, "alpha": draws["alpha"]}))

    def critic_loss(params, batch):
      on_mixes = ops.mean(ops.square(
          critic(params, batch["mixed"]) - batch["alpha"]))
      blend = (self.gamma * batch["images"]
               + (1.0 - self.gamma) * batch["reconstruction"])
      on_blends = ops.mean(ops.square(critic(params, blend)))
      return on_mixes + on_blends, ()

    (critic_value, _), critic_grads = backends.value_and_grad(
        critic_loss, self.strategy)(
            state["critic"],
            {"images": images, "alpha": draws["alpha"],
             "mixed": ops.stop_gradient(mixed),
             "reconstruction": ops.stop_gradient(reconstruction)})
    params, state["optimizer"] = backends.apply_gradients(
        self.optimizer, self.encoder.trainable_variables
        + self.decoder.trainable_variables, state["optimizer"], grads, params)
    state["encoder"], state["decoder"] = params[:split], params[split:]
    state["critic"], state["critic_optimizer"] = backends.apply_gradients(
        self.critic_optimizer, self.critic.trainable_variables,
        state["critic_optimizer"], critic_grads, state["critic"])
    return state, {"loss": ae_value, "reconstruction": error,
                   "critic": critic_value}


def build(config, image_size: int = 28, channels: int = 1) -> ACAI:
  return ACAI(config.resolved_learning_rate, config.seed, image_size,
              channels)


def check(config) -> None:
  """ACAI's code size is its architecture's."""
  if config.latent_dim is not None and config.latent_dim != LATENT_DIM:
    raise ConfigError(
        f"--latent_dim={config.latent_dim}: ACAI's Omniglot code is "
        f"4x4x16 = {LATENT_DIM}-d; drop --latent_dim.")


KIND = register(GeneratorKind(
    name="acai", display="ACAI", latent_dim=LATENT_DIM, learning_rate=1e-4,
    build=build, has_prior=False, check=check,
    encode_output=("`{\"mean\"}`: the 256-d code (CACTUs' clusters, "
                   "embedding baselines).")),
    replace=True)
