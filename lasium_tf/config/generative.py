"""How a generative model is trained (`GenerativeConfig`); its kind's
own defaults and checks come from `lasium_tf.generators.KINDS`."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from lasium_tf.errors import ConfigError
from lasium_tf.generators import KINDS as GENERATOR_KINDS
from lasium_tf.settings import one_of as _one_of, positive as _positive
from lasium_tf.settings import setting

# ACAI (an adversarially regularised autoencoder) serves as an encoder for
# CACTUs and the embedding baselines; it has no prior to draw anchors from.
# The generator's adversarial loss: one cross-entropy per latent batch, summed
# (ours), or one cross-entropy on the two batches' summed logits (authors').
GAN_GENERATOR_LOSSES = ("per_batch", "summed_logits")
# Label noise on fake targets: towards the real label, 0.05 U(0, 1) (ours),
# or beyond the fake label, -0.05 U(0, 1) (the authors' code, in our
# real = 1 convention).
GAN_FAKE_TARGETS = ("smoothed", "overshoot")
# Keras backends that train a generator (`lasium_tf.core.backends`).
GENERATOR_BACKENDS = ("tensorflow", "jax")



@dataclasses.dataclass(frozen=True)
class GenerativeConfig:
  """How to train a generative model (defaults: the authors' Omniglot runs)."""

  kind: str = setting("gan", "Generative model to train.",
                      flag="generator_type", choices=GENERATOR_KINDS)
  latent_dim: Optional[int] = setting(
      None, "Latent size (default: the kind's own, 128 GAN, 20 VAE; ACAI's "
      "is 256).")
  epochs: int = setting(500, "Generator training epochs.",
                        flag="generator_epochs")
  batch_size: int = setting(128, "Generator training batch size.",
                            flag="generator_batch_size")
  learning_rate: Optional[float] = setting(
      None, "Adam lr (default 3e-4 GAN, 1e-3 VAE, 1e-4 ACAI).",
      flag="generator_lr")
  # Keras' default beta_1, as the authors' GAN.
  adam_beta1: float = setting(0.9, "Adam beta_1 of the GAN's two optimizers.",
                              flag="generator_beta1")
  mode_seeking_weight: float = setting(
      1.0, "Weight of the MSGAN term (GAN).")
  label_noise: float = setting(0.05, flag=None)
  samples_every: int = setting(5, "Epochs between sample grids.")
  # The run's one --seed (Config.seed) fills this when the command line
  # builds a Config; a generator trained on its own reads --seed itself.
  seed: int = setting(0, "Seed of weights and training tasks.", flag="seed")
  generator_loss: str = setting(
      "per_batch", "GAN generator loss: a cross-entropy per latent batch, "
      "summed, or one on the two batches' summed logits (the authors' code).",
      flag="gan_generator_loss", choices=GAN_GENERATOR_LOSSES)
  fake_targets: str = setting(
      "smoothed", "Label noise on the discriminator's fake targets: towards "
      "the real label or beyond the fake label (the authors' code).",
      flag="gan_fake_targets", choices=GAN_FAKE_TARGETS)
  keep_last_batch: bool = setting(
      False, "Generator training keeps each epoch's last partial batch (the "
      "authors' code) instead of dropping it.")
  backend: str = setting(
      "tensorflow", "Keras backend that trains the generator: tensorflow, or "
      "jax (GPU machines with JAX but no TensorFlow CUDA build). Both write "
      "the same checkpoints; a run resumes on either.",
      flag="generator_backend", choices=GENERATOR_BACKENDS)
  snapshot_epochs: Tuple[int, ...] = setting(
      (), "Epochs whose generator checkpoints are kept besides the newest "
      "two (e.g. 10,30,100 for the GAN-epoch study).")
  max_seconds: Optional[float] = setting(
      None, "Stop generator training after the step in which this many "
      "seconds pass (saved, mid-epoch too; rerun to go on), e.g. a GPU "
      "session's budget.",
      flag="generator_max_seconds")

  @property
  def generator_kind(self):
    """The kind's description (`lasium_tf.generators.KINDS`)."""
    return GENERATOR_KINDS.get(self.kind)

  @property
  def resolved_latent_dim(self) -> int:
    return self.latent_dim or self.generator_kind.latent_dim

  @property
  def resolved_learning_rate(self) -> float:
    """Adam's rate: the kind's own (the authors' 3e-4 for the GAN, 1e-3
    for the VAE) unless --generator_lr is given."""
    if self.learning_rate is not None:
      return self.learning_rate
    return self.generator_kind.learning_rate

  def validate(self) -> None:
    _one_of("generator_type", self.kind, GENERATOR_KINDS)
    _positive("generator_epochs", self.epochs)
    _positive("generator_batch_size", self.batch_size)
    _positive("samples_every", self.samples_every)
    _one_of("gan_generator_loss", self.generator_loss, GAN_GENERATOR_LOSSES)
    _one_of("gan_fake_targets", self.fake_targets, GAN_FAKE_TARGETS)
    _one_of("generator_backend", self.backend, GENERATOR_BACKENDS)
    for epoch in self.snapshot_epochs:
      _positive("snapshot_epochs", epoch)
    if self.max_seconds is not None:
      _positive("generator_max_seconds", self.max_seconds)
    if self.latent_dim is not None:
      _positive("latent_dim", self.latent_dim)
    if self.learning_rate is not None:
      _positive("generator_lr", self.learning_rate)
    if not 0 <= self.adam_beta1 < 1:
      raise ConfigError(f"--generator_beta1 must be in [0, 1), got "
                        f"{self.adam_beta1}.")
    if self.mode_seeking_weight < 0:
      raise ConfigError(f"--mode_seeking_weight must be >= 0, got "
                        f"{self.mode_seeking_weight}.")
    self.generator_kind.check(self)
