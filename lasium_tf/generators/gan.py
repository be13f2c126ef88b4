"""The Omniglot GAN as a `--generator_type` (LASIUM's main generator).

The networks are `models/omniglot_gan.py`; the objective is
`gan_objective`'s (non-saturating loss, label noise, MSGAN's mode-seeking
term), with Adam 3e-4 for both networks. Both images of the mode-seeking
pair come from the generator step's own z1 and z2 (the authors' code took
G(z1) from the discriminator step's batch, a bug not copied here). LASIUM
draws its anchors from the prior N(0, I).
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from lasium_tf.core import backends
from lasium_tf import lazy
from lasium_tf.generators import (PRIOR_ANCHORS, GeneratorKind,
                                  register)
from lasium_tf.generators.base import GenerativeModel, State

keras = lazy.module("keras")
ops = lazy.module("keras.ops")

gan_objective = lazy.module("lasium_tf.generators.gan_objective")
omniglot_gan = lazy.module("lasium_tf.models.omniglot_gan")

LATENT_DIM = 128  # The authors' Omniglot code (`models.omniglot_gan`).


class GAN(GenerativeModel):
  """Generator and discriminator with their optimizers."""

  scores_samples = True

  def __init__(self, latent_dim: int = LATENT_DIM,
               learning_rate: float = 3e-4, mode_seeking_weight: float = 1.0,
               label_noise: float = 0.05, seed: int = 0, image_size: int = 28,
               adam_beta1: float = 0.9, generator_loss: str = "per_batch",
               fake_targets: str = "smoothed", channels: int = 1):
    self.latent_dim = latent_dim
    self.generator = omniglot_gan.build_generator(
        latent_dim, image_size=image_size, seed=2 * seed, channels=channels)
    self.discriminator = omniglot_gan.build_discriminator(
        image_size, seed=2 * seed + 1, channels=channels)
    self.networks = {"generator": self.generator,
                     "discriminator": self.discriminator}
    self.g_optimizer = keras.optimizers.Adam(learning_rate, beta_1=adam_beta1)
    self.d_optimizer = keras.optimizers.Adam(learning_rate, beta_1=adam_beta1)
    self.g_optimizer.build(self.generator.trainable_variables)
    self.d_optimizer.build(self.discriminator.trainable_variables)
    self.optimizers = {"g_optimizer": self.g_optimizer,
                       "d_optimizer": self.d_optimizer}
    self.mode_seeking_weight = mode_seeking_weight
    self.label_noise = label_noise
    self.generator_loss = generator_loss
    self.fake_targets = fake_targets

  @property
  def decoding(self):
    return self.generator

  def decode(self, z):
    return self.generator(z, training=False)

  def sample_metrics(self, samples) -> Dict[str, float]:
    """The stripe score of the epoch's samples (a collapse warning sign)."""
    return {"stripes": gan_objective.stripe_score(samples)}

  def draws(self, rng: np.random.Generator, batch: int) -> Dict[str, np.ndarray]:
    """A step's random numbers: the discriminator's z and label noise, and
    the generator's two latent batches."""
    normal = lambda: rng.standard_normal(  # noqa: E731
        (batch, self.latent_dim), np.float32)
    uniform = lambda: rng.random((batch, 1), np.float32)  # noqa: E731
    return {"z": normal(), "real_noise": uniform(), "fake_noise": uniform(),
            "z1": normal(), "z2": normal()}

  def step(self, state: State, real, draws: Dict) -> Tuple[State, Dict]:
    """A discriminator step, then a generator step against the new
    discriminator: pure, in keras.ops, on any backend."""
    state = dict(state)
    real_targets, fake_targets = gan_objective.discriminator_targets(
        draws["real_noise"], draws["fake_noise"], self.label_noise,
        self.fake_targets)

    def generate(params, z):
      return self._call("generator", state, params, z)[0]

    def discriminate(params, images):
      return self._call("discriminator", state, params, images)[0]

    def d_loss(params, batch):
      fake = generate(state["generator"], batch["z"])
      return gan_objective.discriminator_loss(
          discriminate(params, batch["real"]), discriminate(params, fake),
          batch["real_targets"], batch["fake_targets"]), ()

    (d_value, _), grads = backends.value_and_grad(d_loss, self.strategy)(
        state["discriminator"],
        {"real": real, "z": draws["z"], "real_targets": real_targets,
         "fake_targets": fake_targets})
    state["discriminator"], state["d_optimizer"] = backends.apply_gradients(
        self.d_optimizer, self.discriminator.trainable_variables,
        state["d_optimizer"], grads, state["discriminator"])
    def g_loss(params, batch):
      z1, z2 = batch["z1"], batch["z2"]
      fake1, fake2 = generate(params, z1), generate(params, z2)
      ratio = gan_objective.mode_seeking_ratio(fake1, fake2, z1, z2)
      total, adversarial = gan_objective.generator_loss(
          discriminate(state["discriminator"], fake1),
          discriminate(state["discriminator"], fake2), ratio,
          self.mode_seeking_weight, self.generator_loss)
      return total, (adversarial, ratio)

    (_, (adversarial, ratio)), grads = backends.value_and_grad(
        g_loss, self.strategy)(state["generator"],
                               {"z1": draws["z1"], "z2": draws["z2"]})
    state["generator"], state["g_optimizer"] = backends.apply_gradients(
        self.g_optimizer, self.generator.trainable_variables,
        state["g_optimizer"], grads, state["generator"])
    return state, {"d_loss": d_value, "g_loss": adversarial,
                   "mode_seeking": ratio}


def build(config, image_size: int = 28, channels: int = 1) -> GAN:
  return GAN(config.resolved_latent_dim, config.resolved_learning_rate,
             config.mode_seeking_weight, config.label_noise, config.seed,
             image_size, config.adam_beta1, config.generator_loss,
             config.fake_targets, channels)


def record(config) -> Dict:
  """The objective switches (the authors' GAN recipe sets them), for cards
  and result records."""
  return {"objective": {"generator_loss": config.generator_loss,
                        "fake_targets": config.fake_targets,
                        "keep_last_batch": config.keep_last_batch}}


def decoder(latent_dim: int, image_size: int = 28, channels: int = 1):
  return omniglot_gan.build_generator(latent_dim, image_size=image_size,
                                      channels=channels)


KIND = register(GeneratorKind(
    name="gan", display="GAN", latent_dim=LATENT_DIM, learning_rate=3e-4,
    build=build, anchors=PRIOR_ANCHORS, decoder=decoder, record=record),
    replace=True)
