"""Training the Omniglot GAN and VAE on unlabeled images.

The training input is an array of images and nothing else: no labels reach
these functions (LASIUM is unsupervised). Both models are plain Keras models
(`models/omniglot_gan.py`, `models/omniglot_vae.py`) trained with explicit
random state (`tf.random.Generator`, checkpointed with the weights), so a
resumed run continues the same random stream.

GAN: the objective of `gan_objective` (non-saturating loss, label noise,
MSGAN's mode-seeking term), with Adam 3e-4 for both networks. Both images of
the mode-seeking pair come from the generator step's own z1 and z2 (the
authors' code took G(z1) from the discriminator step's batch, a bug not
copied here).

VAE: binary cross-entropy summed over the 784 pixels plus the KL divergence
to N(0, I), averaged over latent dimensions as in the authors' code (a weak
KL, which keeps decoded samples sharp), Adam 1e-3.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import sys
import time
from typing import Dict

import keras
import numpy as np
import tensorflow as tf

from lasium_tf import gan_objective, pictures
from lasium_tf.config import (GENERATOR_KINDS, DivergedError, GenerativeConfig,
                              white_strokes)
from lasium_tf.files import atomic_write
from lasium_tf.generators import KerasGenerator, SavedModelGenerator
from lasium_tf.progress import Progress
from lasium_tf.stopping import StopSignals, Stopped
from lasium_tf.models import omniglot_gan, omniglot_vae

class GAN:
  """Generator and discriminator with their optimizers and random state."""

  def __init__(self, latent_dim: int = omniglot_gan.LATENT_DIM,
               learning_rate: float = 3e-4, mode_seeking_weight: float = 1.0,
               label_noise: float = 0.05, seed: int = 0, image_size: int = 28,
               adam_beta1: float = 0.9, generator_loss: str = "per_batch",
               fake_targets: str = "smoothed", channels: int = 1):
    self.latent_dim = latent_dim
    self.generator = omniglot_gan.build_generator(
        latent_dim, image_size=image_size, seed=2 * seed, channels=channels)
    self.discriminator = omniglot_gan.build_discriminator(
        image_size, seed=2 * seed + 1, channels=channels)
    self.g_optimizer = keras.optimizers.Adam(learning_rate, beta_1=adam_beta1)
    self.d_optimizer = keras.optimizers.Adam(learning_rate, beta_1=adam_beta1)
    self.g_optimizer.build(self.generator.trainable_variables)
    self.d_optimizer.build(self.discriminator.trainable_variables)
    self.mode_seeking_weight = mode_seeking_weight
    self.label_noise = label_noise
    self.generator_loss = generator_loss
    self.fake_targets = fake_targets
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
    z = self.rng.normal([batch, self.latent_dim])
    real_targets, fake_targets = gan_objective.discriminator_targets(
        self.rng.uniform([batch, 1]), self.rng.uniform([batch, 1]),
        self.label_noise, self.fake_targets)
    with tf.GradientTape() as tape:
      fake = self.generator(z, training=True)
      d_loss = gan_objective.discriminator_loss(
          self.discriminator(real, training=True),
          self.discriminator(fake, training=True), real_targets, fake_targets)
    grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
    self.d_optimizer.apply(grads, self.discriminator.trainable_variables)

    z1 = self.rng.normal([batch, self.latent_dim])
    z2 = self.rng.normal([batch, self.latent_dim])
    with tf.GradientTape() as tape:
      fake1 = self.generator(z1, training=True)
      fake2 = self.generator(z2, training=True)
      ratio = gan_objective.mode_seeking_ratio(fake1, fake2, z1, z2)
      g_loss, adversarial = gan_objective.generator_loss(
          self.discriminator(fake1, training=True),
          self.discriminator(fake2, training=True), ratio,
          self.mode_seeking_weight, self.generator_loss)
    grads = tape.gradient(g_loss, self.generator.trainable_variables)
    self.g_optimizer.apply(grads, self.generator.trainable_variables)
    return {"d_loss": d_loss, "g_loss": adversarial, "mode_seeking": ratio}


class VAE:
  """Encoder and decoder trained on the evidence lower bound."""

  def __init__(self, latent_dim: int = omniglot_vae.LATENT_DIM,
               learning_rate: float = 1e-3, seed: int = 0,
               image_size: int = 28, channels: int = 1):
    self.latent_dim = latent_dim
    self.encoder = omniglot_vae.build_encoder(latent_dim, image_size,
                                              seed=2 * seed, channels=channels)
    self.decoder = omniglot_vae.build_decoder(latent_dim, image_size,
                                              seed=2 * seed + 1,
                                              channels=channels)
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


def build(config: GenerativeConfig, image_size: int = 28, channels: int = 1):
  """A fresh GAN or VAE as configured, for images [size, size, channels]."""
  if config.kind not in GENERATOR_KINDS:
    raise ValueError(f"--generator_type={config.kind!r}: use one of "
                     f"{GENERATOR_KINDS}.")
  lr = config.resolved_learning_rate
  if config.kind == "gan":
    return GAN(config.resolved_latent_dim, lr,
               config.mode_seeking_weight, config.label_noise, config.seed,
               image_size, config.adam_beta1, config.generator_loss,
               config.fake_targets, channels)
  return VAE(config.resolved_latent_dim, lr, config.seed, image_size,
             channels)


def batches_per_epoch(num_images: int, config: GenerativeConfig) -> int:
  """Full batches, plus the last partial one if `keep_last_batch` (authors')."""
  full, rest = divmod(num_images, config.batch_size)
  return full + int(bool(rest) and config.keep_last_batch)


def train(model, images: np.ndarray, config: GenerativeConfig,
          directory: str, verbose: bool = True,
          strokes: str = "white") -> Dict:
  """Trains `model` (GAN or VAE) on unlabeled `images` [n, H, W, C].

  `images` is an array, or a store with `len()` and `fetch(indices)` that
  decodes each batch as it is drawn (`data.folder.UnlabeledImages`: a
  folder of one's own images is never held in memory whole).

  Resumes from the newest checkpoint in `directory/checkpoints`; saves one
  every epoch, a sample grid `samples/epoch_XXXX.png` every
  `config.samples_every` epochs, and losses to TensorBoard. `strokes` is the
  images' ink (`DataConfig.strokes`): grids and the stripe score read
  samples as white strokes on black.
  """
  if hasattr(images, "fetch"):
    fetch = images.fetch
  else:
    if images.ndim != 4:
      raise ValueError(f"expected unlabeled images [n, H, W, C], got shape "
                       f"{images.shape}.")
    data = tf.constant(images)
    fetch = functools.partial(tf.gather, data)
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
  steps_per_epoch = batches_per_epoch(len(images), config)
  if len(images) < config.batch_size:
    raise ValueError(f"{len(images)} images are fewer than one batch of "
                     f"{config.batch_size}; lower --generator_batch_size.")
  metrics: Dict[str, float] = {}
  start = time.perf_counter()
  with StopSignals() as signals:
    while int(epoch) < config.epochs:
      order = tf.random.experimental.stateless_shuffle(
          tf.range(len(images)), [config.seed, int(epoch)])
      progress = Progress(steps_per_epoch,
                          f"{config.kind} epoch {int(epoch) + 1}/{config.epochs}",
                          verbose and sys.stdout.isatty())
      sums: Dict[str, float] = {}
      for step in range(steps_per_epoch):
        batch = fetch(order[step * config.batch_size:
                            (step + 1) * config.batch_size])
        out = model.train_step(batch)
        for k, v in out.items():
          sums[k] = sums.get(k, 0.0) + float(v)
        progress.update(step + 1, [(k, v / (step + 1)) for k, v in sums.items()])
        if signals.received:  # The epoch's checkpoint holds the random state.
          raise Stopped(signals.received,
                        f"in epoch {int(epoch) + 1}; it restarts from the "
                        f"checkpoint of epoch {int(epoch)}",
                        time.perf_counter() - start)
      bad = [k for k, v in sums.items() if not np.isfinite(v)]
      if bad:
        raise DivergedError(
            f"{config.kind} training diverged in epoch {int(epoch) + 1}: "
            f"{', '.join(bad)} not finite. Nothing of this epoch was saved"
            + (f"; the newest checkpoint is {manager.latest_checkpoint}"
               if manager.latest_checkpoint else "")
            + ". Lower --generator_lr, then rerun to resume.")
      epoch.assign_add(1)
      metrics = {k: v / steps_per_epoch for k, v in sums.items()}
      with writer.as_default(step=int(epoch)):
        for k, v in metrics.items():
          tf.summary.scalar(f"{config.kind}/{k}", v)
      manager.save(checkpoint_number=int(epoch))
      draw = (int(epoch) % config.samples_every == 0
              or int(epoch) == config.epochs)
      samples = (white_strokes(model.decode(fixed_z).numpy(), strokes)
                 if draw or config.kind == "gan" else None)
      if config.kind == "gan":
        metrics["stripes"] = gan_objective.stripe_score(samples)
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
  data = saved.get("data", {})
  model = build(config, data.get("image_size") or 28,
                data.get("channels") or 1)
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
    model, config, epoch, command = restore(path)
    info = {"kind": config.kind, "epochs": epoch, "source": path,
            "train_command": command}
    with open(os.path.join(path, "config.json")) as f:
      strokes = json.load(f).get("data", {}).get("strokes", "white")
    if strokes != "white":
      info["strokes"] = strokes
    return as_generator(model), info
  info = {"kind": "gan", "source": path}
  card = os.path.join(path, "card.json")
  if os.path.exists(card):
    with open(card) as f:
      info.update(json.load(f))
  spec = generators.ModuleSpec(
      path, encode_signature="encode" if info["kind"] == "vae" else None)
  return SavedModelGenerator(spec), info


def import_gan_weights(weights: str, directory: str, command: str = "") -> Dict:
  """Makes a generator training folder from weights `gan_jax.train` wrote.

  `weights` is `<run>/generator_epoch_XXXX.weights.h5`; `<run>/config.json`
  (written by `scripts/gan_jax.py`) gives the GAN's configuration and training
  command, and `<run>/discriminator_epoch_XXXX.weights.h5`, where present, the
  discriminator. `directory` receives config.json and a checkpoint at that
  epoch, so `load_generator`, `--generator` and `--mode=export_generator`
  read it like a folder trained here. Resuming training from it starts
  Adam's moments afresh (they are not carried over).
  """
  run_dir, name = os.path.split(weights)
  prefix, suffix = "generator_epoch_", ".weights.h5"
  if not (name.startswith(prefix) and name.endswith(suffix)
          and name[len(prefix):-len(suffix)].isdigit()):
    raise ValueError(f"{weights} is not a generator_epoch_XXXX.weights.h5 "
                     f"file written by scripts/gan_jax.py.")
  epoch = int(name[len(prefix):-len(suffix)])
  config_path = os.path.join(run_dir, "config.json")
  if not os.path.exists(config_path):
    raise FileNotFoundError(f"{config_path} is missing: it says how the "
                            f"weights beside it were trained.")
  with open(config_path) as f:
    saved = json.load(f)
  config = GenerativeConfig(**saved["generative"])
  model = build(config, saved.get("data", {}).get("image_size") or 28)
  model.generator.load_weights(weights)
  discriminator = os.path.join(run_dir,
                               f"discriminator_epoch_{epoch:04d}{suffix}")
  if os.path.exists(discriminator):
    model.discriminator.load_weights(discriminator)
  os.makedirs(directory, exist_ok=True)
  saved["command"] = f"{saved.get('command', '')}; then {command}".strip("; ")
  atomic_write(pathlib.Path(directory) / "config.json", lambda f: f.write(
      (json.dumps(saved, indent=2, sort_keys=True) + "\n").encode()))
  epoch_var = tf.Variable(epoch, dtype=tf.int64, name="epoch")
  checkpoint = tf.train.Checkpoint(epoch=epoch_var, **model.trackables())
  tf.train.CheckpointManager(
      checkpoint, os.path.join(directory, "checkpoints"),
      max_to_keep=2).save(checkpoint_number=epoch)
  return {"epoch": epoch, "directory": directory,
          "discriminator": os.path.exists(discriminator)}
