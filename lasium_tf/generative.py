"""Training the Omniglot GAN and VAE on unlabeled images.

The training input is an array of images and nothing else: no labels reach
these functions (LASIUM is unsupervised). Both models are plain Keras models
(`models/omniglot_gan.py`, `models/omniglot_vae.py`) trained with explicit
random state (`tf.random.Generator`, checkpointed with the weights), so a
resumed run continues the same random stream.

GAN: non-saturating GAN loss with 0.05 uniform label noise on the
discriminator's targets, Adam 3e-4 for both networks; the generator's
adversarial loss is summed over its two latent batches (as the authors' code
does; a mean doubles the mode-seeking term's relative weight, and in a first
run here that drove the generator to high-contrast blobs for 4 epochs), plus
the mode-seeking regulariser of MSGAN (Mao et al., CVPR 2019) used by the
LASIUM authors:
for two latent batches z1, z2 and their images G(z1), G(z2),
ratio = mean_batch(mean_pixels |G(z1) - G(z2)| / mean_dims |z1 - z2|), and
the generator adds 1 / (ratio + 1e-5). Both images come from the generator
step's own z1 and z2 (the authors' code took G(z1) from the discriminator
step's batch, a bug not copied here).

VAE: binary cross-entropy summed over the 784 pixels plus the KL divergence
to N(0, I), averaged over latent dimensions as in the authors' code (a weak
KL, which keeps decoded samples sharp), Adam 1e-3.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from lasium_tf import pictures
from lasium_tf.config import GENERATOR_KINDS, GenerativeConfig
from lasium_tf.generators import KerasGenerator, SavedModelGenerator
from lasium_tf.progress import Progress
from models import omniglot_gan, omniglot_vae

class GAN:
  """Generator and discriminator with their optimizers and random state."""

  def __init__(self, latent_dim: int = omniglot_gan.LATENT_DIM,
               learning_rate: float = 3e-4, mode_seeking_weight: float = 1.0,
               label_noise: float = 0.05, seed: int = 0, image_size: int = 28):
    self.latent_dim = latent_dim
    self.generator = omniglot_gan.build_generator(
        latent_dim, image_size=image_size, seed=2 * seed)
    self.discriminator = omniglot_gan.build_discriminator(
        image_size, seed=2 * seed + 1)
    self.g_optimizer = keras.optimizers.Adam(learning_rate)
    self.d_optimizer = keras.optimizers.Adam(learning_rate)
    self.g_optimizer.build(self.generator.trainable_variables)
    self.d_optimizer.build(self.discriminator.trainable_variables)
    self.mode_seeking_weight = mode_seeking_weight
    self.label_noise = label_noise
    self.rng = tf.random.Generator.from_seed(seed)
    self.train_step = tf.function(self._train_step)

  def trackables(self) -> Dict:
    return {"generator": self.generator, "discriminator": self.discriminator,
            "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer,
            "rng": self.rng}

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    return self.generator(z, training=False)

  def _train_step(self, real: tf.Tensor) -> Dict[str, tf.Tensor]:
    batch = tf.shape(real)[0]
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    z = self.rng.normal([batch, self.latent_dim])
    real_targets = 1.0 - self.label_noise * self.rng.uniform([batch, 1])
    fake_targets = self.label_noise * self.rng.uniform([batch, 1])
    with tf.GradientTape() as tape:
      fake = self.generator(z, training=True)
      d_loss = (bce(real_targets, self.discriminator(real, training=True))
                + bce(fake_targets, self.discriminator(fake, training=True)))
    grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
    self.d_optimizer.apply(grads, self.discriminator.trainable_variables)

    z1 = self.rng.normal([batch, self.latent_dim])
    z2 = self.rng.normal([batch, self.latent_dim])
    ones = tf.ones([batch, 1])
    with tf.GradientTape() as tape:
      fake1 = self.generator(z1, training=True)
      fake2 = self.generator(z2, training=True)
      adversarial = (bce(ones, self.discriminator(fake1, training=True))
                     + bce(ones, self.discriminator(fake2, training=True)))
      ratio = mode_seeking_ratio(fake1, fake2, z1, z2)
      g_loss = adversarial + self.mode_seeking_weight / (ratio + 1e-5)
    grads = tape.gradient(g_loss, self.generator.trainable_variables)
    self.g_optimizer.apply(grads, self.generator.trainable_variables)
    return {"d_loss": d_loss, "g_loss": adversarial, "mode_seeking": ratio}


def stripe_score(images) -> float:
  """How much brighter odd rows or columns are than even ones (0 = none).

  The Omniglot GAN drifts in and out of a mode where strokes break into
  alternate bright and dark rows (or columns), an artefact of its 4x4 stride-2
  transposed convolutions (epoch 10, striped: 49.18% 5-way 1-shot for
  LASIUM-N-GAN-MAML at 1000 meta-iterations and 1000 test tasks, against
  53.49% after epoch 5; results/omniglot/gan_epochs/). The score is the larger of |log(odd / even)| over
  row sums and over column sums of [batch, H, W, 1] images; under 0.25 the
  samples look clean.
  """
  images = np.asarray(images, np.float64)[..., 0]
  rows = images.mean(axis=(0, 2))
  cols = images.mean(axis=(0, 1))
  ratios = [a[1::2].sum() / max(a[0::2].sum(), 1e-12) for a in (rows, cols)]
  return float(max(abs(np.log(max(r, 1e-12))) for r in ratios))


def mode_seeking_ratio(images1, images2, z1, z2) -> tf.Tensor:
  """MSGAN's image distance over latent distance, averaged over the batch."""
  image_axes = tf.range(1, tf.rank(images1))
  image_distance = tf.reduce_mean(tf.abs(images1 - images2), axis=image_axes)
  latent_distance = tf.reduce_mean(tf.abs(z1 - z2), axis=1)
  return tf.reduce_mean(image_distance / latent_distance)


class VAE:
  """Encoder and decoder trained on the evidence lower bound."""

  def __init__(self, latent_dim: int = omniglot_vae.LATENT_DIM,
               learning_rate: float = 1e-3, seed: int = 0,
               image_size: int = 28):
    self.latent_dim = latent_dim
    self.encoder = omniglot_vae.build_encoder(latent_dim, image_size,
                                              seed=2 * seed)
    self.decoder = omniglot_vae.build_decoder(latent_dim, image_size,
                                              seed=2 * seed + 1)
    self.optimizer = keras.optimizers.Adam(learning_rate)
    self.optimizer.build(self.trainable_variables)
    self.rng = tf.random.Generator.from_seed(seed)
    self.train_step = tf.function(self._train_step)

  @property
  def trainable_variables(self):
    return (self.encoder.trainable_variables
            + self.decoder.trainable_variables)

  def trackables(self) -> Dict:
    return {"encoder": self.encoder, "decoder": self.decoder,
            "optimizer": self.optimizer, "rng": self.rng}

  def encode(self, images: tf.Tensor) -> tf.Tensor:
    """Posterior means: the latent codes LASIUM-VAE anchors are made from."""
    mean, _ = self.encoder(images, training=False)
    return mean

  def decode(self, z: tf.Tensor) -> tf.Tensor:
    return self.decoder(z, training=False)

  def _train_step(self, images: tf.Tensor) -> Dict[str, tf.Tensor]:
    with tf.GradientTape() as tape:
      mean, log_var = self.encoder(images, training=True)
      eps = self.rng.normal(tf.shape(mean))
      z = mean + tf.exp(0.5 * log_var) * eps
      reconstruction = self.decoder(z, training=True)
      pixels = tf.cast(tf.reduce_prod(tf.shape(images)[1:]), tf.float32)
      bce = keras.losses.binary_crossentropy(
          tf.reshape(images, [tf.shape(images)[0], -1]),
          tf.reshape(reconstruction, [tf.shape(images)[0], -1]))
      reconstruction_loss = tf.reduce_mean(bce) * pixels
      kl = tf.reduce_mean(-0.5 * tf.reduce_mean(
          1.0 + log_var - tf.square(mean) - tf.exp(log_var), axis=1))
      loss = reconstruction_loss + kl
    grads = tape.gradient(loss, self.trainable_variables)
    self.optimizer.apply(grads, self.trainable_variables)
    return {"loss": loss, "reconstruction": reconstruction_loss, "kl": kl}


def build(config: GenerativeConfig, image_size: int = 28):
  """A fresh GAN or VAE as configured."""
  if config.kind not in GENERATOR_KINDS:
    raise ValueError(f"--generator_type={config.kind!r}: use one of "
                     f"{GENERATOR_KINDS}.")
  lr = config.learning_rate
  if config.kind == "gan":
    return GAN(config.resolved_latent_dim, lr or 3e-4,
               config.mode_seeking_weight, config.label_noise, config.seed,
               image_size)
  return VAE(config.resolved_latent_dim, lr or 1e-3, config.seed, image_size)


def train(model, images: np.ndarray, config: GenerativeConfig,
          directory: str, verbose: bool = True) -> Dict:
  """Trains `model` (GAN or VAE) on unlabeled `images` [n, H, W, C].

  Resumes from the newest checkpoint in `directory/checkpoints`; saves one
  every epoch, a sample grid `samples/epoch_XXXX.png` every
  `config.samples_every` epochs, and losses to TensorBoard.
  """
  if images.ndim != 4:
    raise ValueError(f"expected unlabeled images [n, H, W, C], got shape "
                     f"{images.shape}.")
  epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
  checkpoint = tf.train.Checkpoint(epoch=epoch, **model.trackables())
  manager = tf.train.CheckpointManager(
      checkpoint, os.path.join(directory, "checkpoints"), max_to_keep=2)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    if verbose:
      print(f"Resumed {config.kind} training at epoch {int(epoch)}.",
            flush=True)
  writer = tf.summary.create_file_writer(os.path.join(directory, "tensorboard"))
  fixed_z = tf.random.stateless_normal([8 * 8, model.latent_dim], [config.seed, 7])
  steps_per_epoch = len(images) // config.batch_size
  if steps_per_epoch == 0:
    raise ValueError(f"{len(images)} images are fewer than one batch of "
                     f"{config.batch_size}; lower --generator_batch_size.")
  data = tf.constant(images)
  metrics: Dict[str, float] = {}
  start = time.perf_counter()
  while int(epoch) < config.epochs:
    order = tf.random.experimental.stateless_shuffle(
        tf.range(len(images)), [config.seed, int(epoch)])
    progress = Progress(steps_per_epoch,
                        f"{config.kind} epoch {int(epoch) + 1}/{config.epochs}",
                        verbose and sys.stdout.isatty())
    sums: Dict[str, float] = {}
    for step in range(steps_per_epoch):
      batch = tf.gather(data, order[step * config.batch_size:
                                    (step + 1) * config.batch_size])
      out = model.train_step(batch)
      for k, v in out.items():
        sums[k] = sums.get(k, 0.0) + float(v)
      progress.update(step + 1, [(k, v / (step + 1)) for k, v in sums.items()])
    epoch.assign_add(1)
    metrics = {k: v / steps_per_epoch for k, v in sums.items()}
    with writer.as_default(step=int(epoch)):
      for k, v in metrics.items():
        tf.summary.scalar(f"{config.kind}/{k}", v)
    manager.save(checkpoint_number=int(epoch))
    draw = int(epoch) % config.samples_every == 0 or int(epoch) == config.epochs
    samples = (model.decode(fixed_z).numpy()
               if draw or config.kind == "gan" else None)
    if config.kind == "gan":
      metrics["stripes"] = stripe_score(samples)
      with writer.as_default(step=int(epoch)):
        tf.summary.scalar("gan/stripes", metrics["stripes"])
    if draw:
      pictures.save_png(
          os.path.join(directory, "samples", f"epoch_{int(epoch):04d}.png"),
          pictures.grid(samples.reshape((8, 8) + samples.shape[1:])))
    if verbose:
      shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
      print(f"{config.kind} epoch {int(epoch)}/{config.epochs} {shown} "
            f"({time.perf_counter() - start:.0f} s)", flush=True)
  writer.flush()
  return {"epochs": int(epoch), "seconds": time.perf_counter() - start,
          **metrics}


def restore(directory: str):
  """The GAN or VAE of a generator training folder, at its newest epoch.

  Returns (model, GenerativeConfig, epoch). The folder's config.json (written
  by --mode=train_generator) says which model and latent size it holds.
  """
  config_path = os.path.join(directory, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(
        f"{directory} is not a generator training folder (no config.json); "
        f"train one with --mode=train_generator.")
  with open(config_path) as f:
    saved = json.load(f)
  config = GenerativeConfig(**saved["generative"])
  image_size = saved.get("data", {}).get("image_size") or 28
  model = build(config, image_size)
  epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
  checkpoint = tf.train.Checkpoint(epoch=epoch, **model.trackables())
  latest = tf.train.latest_checkpoint(os.path.join(directory, "checkpoints"))
  if latest is None:
    raise FileNotFoundError(f"{directory}/checkpoints holds no checkpoint "
                            f"yet; train at least one epoch.")
  checkpoint.restore(latest).expect_partial()
  return model, config, int(epoch), saved.get("command", "")


def as_generator(model) -> KerasGenerator:
  """The LASIUM generator interface over a trained GAN or VAE."""
  if isinstance(model, VAE):
    return KerasGenerator(model.decoder, model.encoder)
  return KerasGenerator(model.generator)


def load_generator(path: str):
  """A generator from a preset name, a SavedModel or hub handle, or a folder.

  `path` is a preset of `generators.PRESETS` ("bigbigan", "progan"), a
  preset pointed at another copy of its module ("bigbigan:/local/module",
  "progan:https://..."), a SavedModel folder (a published generator, with
  its card.json), a TF-Hub handle, or a generator training folder (its
  newest checkpoint). Returns (generator, info); info has at least `kind`
  ("gan" or "vae").
  """
  from lasium_tf import generators  # The preset table lives there.

  preset, _, handle = path.partition(":")
  if preset in generators.PRESETS:
    spec = generators.PRESETS[preset]
    if handle:
      spec = dataclasses.replace(spec, handle=handle)
    return SavedModelGenerator(spec), {"kind": "gan", "preset": preset,
                                       "source": spec.handle}
  if os.path.isdir(path) and not os.path.exists(
      os.path.join(path, "saved_model.pb")):
    model, config, epoch, _ = restore(path)
    return as_generator(model), {"kind": config.kind, "epochs": epoch,
                                 "source": path}
  info = {"kind": "gan", "source": path}
  card = os.path.join(path, "card.json")
  if os.path.exists(card):
    with open(card) as f:
      info.update(json.load(f))
  spec = generators.ModuleSpec(
      path, encode_signature="encode" if info["kind"] == "vae" else None)
  return SavedModelGenerator(spec), info
