"""Training the Omniglot GAN and VAE on unlabeled images, on any backend.

The training input is an array of images and nothing else: no labels reach
these functions (LASIUM is unsupervised). Both models are plain Keras models
(`models/omniglot_gan.py`, `models/omniglot_vae.py`) with Keras optimizers.

Each training step is written once, in `keras.ops`, as a pure function
from the variables' values, a batch and its random draws to new values
(`stateless_call`, `Optimizer.stateless_apply`); `lasium_tf.backends` adds
the only backend-specific parts, the gradient and the compiler, so the same
step runs on TensorFlow (CPU here) and on JAX (GPU machines that have JAX but
no TensorFlow CUDA build), chosen by `--generator_backend`. Every random
number of epoch e (the batch order, latent draws, label noise) comes from
NumPy's generator seeded with (seed, e), so a run resumed from the
checkpoint of epoch e continues exactly, on either backend. Checkpoints are
NumPy archives of every variable, optimizer state included
(`checkpoints/epoch_XXXX.npz`), written and read by this module only: a run
trained on a GPU with JAX resumes on CPU with TensorFlow, and back.

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

import contextlib
import dataclasses
import io
import json
import os
import pathlib
import re
import time
import zipfile
from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
from keras import ops

from lasium_tf import backends, gan_objective
from lasium_tf.config import (GENERATOR_KINDS, ConfigError, DivergedError,
                              GenerativeConfig, white_strokes)
from lasium_tf.files import atomic_write
from lasium_tf.models import omniglot_acai, omniglot_gan, omniglot_vae
from lasium_tf.progress import Progress
from lasium_tf.rundir import RunDir
from lasium_tf.stopping import StopSignals, Stopped

State = Dict[str, list]  # Variable values by group name (`_Model.groups`).
# Kinds with an encoder: their SavedModels carry an `encode` signature.
ENCODING_KINDS = ("vae", "acai")
# Kinds with a latent prior to sample: LASIUM's generators. An ACAI has
# none (random codes decode to nothing in particular).
PRIOR_KINDS = ("gan", "vae")


class _Model:
  """Networks and optimizers, and the variable groups a checkpoint holds.

  A group is a list of variables: a network's trainable ones (its name), its
  others such as BatchNorm statistics ("<name>.fixed"), or an optimizer's.
  """

  networks: Dict[str, keras.Model]
  optimizers: Dict[str, keras.optimizers.Optimizer]
  # A tf.distribute strategy whose scope built the model: each step's batch
  # is split over its replicas (`backends.value_and_grad`).
  strategy = None

  def groups(self) -> Dict[str, list]:
    groups = {}
    for name, network in self.networks.items():
      groups[name] = network.trainable_variables
      groups[f"{name}.fixed"] = network.non_trainable_variables
    for name, optimizer in self.optimizers.items():
      groups[name] = optimizer.variables
    return groups

  def state(self) -> State:
    """The values of every variable: the input of `step`."""
    return {k: [ops.convert_to_tensor(v) for v in vs]
            for k, vs in self.groups().items()}

  def assign(self, state: State) -> None:
    """Puts `state` (a step's output, or a checkpoint's) into the variables."""
    for name, variables in self.groups().items():
      for variable, value in zip(variables, state[name]):
        variable.assign(value)

  def _call(self, name: str, state: State, params, *inputs):
    """A network's forward pass on `params`: (outputs, new fixed values)."""
    return self.networks[name].stateless_call(
        params, state[f"{name}.fixed"], *inputs, training=True)

  def grid_images(self, fixed_z, fixed_images):
    """What a training run's sample grids show: decoded prior samples."""
    del fixed_images
    return self.decode(fixed_z)

  def train_step(self, images, draws: Optional[Dict] = None,
                 rng: Optional[np.random.Generator] = None) -> Dict:
    """One step on the variables themselves (an eager convenience)."""
    if draws is None:
      draws = self.draws(rng or np.random.default_rng(0), len(images))
    if not hasattr(self, "_compiled"):
      self._compiled = backends.compile_step(self.step)
    state, metrics = self._compiled(self.state(), images, draws)
    self.assign(state)
    return metrics


class GAN(_Model):
  """Generator and discriminator with their optimizers."""

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

  def decode(self, z):
    return self.generator(z, training=False)

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


class VAE(_Model):
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
    self.networks = {"encoder": self.encoder, "decoder": self.decoder}
    self.optimizer = keras.optimizers.Adam(learning_rate)
    self.optimizer.build(self.encoder.trainable_variables
                         + self.decoder.trainable_variables)
    self.optimizers = {"optimizer": self.optimizer}

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


class ACAI(_Model):
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
    self.latent_dim = omniglot_acai.LATENT_DIM
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


def build(config: GenerativeConfig, image_size: int = 28, channels: int = 1,
          strategy=None):
  """A fresh GAN or VAE as configured, for images [size, size, channels].

  With a tf.distribute `strategy` (TensorFlow backend), built in its scope:
  training then splits each batch over its replicas (data parallel).
  """
  if config.kind not in GENERATOR_KINDS:
    raise ValueError(f"--generator_type={config.kind!r}: use one of "
                     f"{GENERATOR_KINDS}.")
  lr = config.resolved_learning_rate
  with (strategy.scope() if strategy is not None
        else contextlib.nullcontext()):
    if config.kind == "gan":
      model = GAN(config.resolved_latent_dim, lr,
                  config.mode_seeking_weight, config.label_noise, config.seed,
                  image_size, config.adam_beta1, config.generator_loss,
                  config.fake_targets, channels)
    elif config.kind == "acai":
      model = ACAI(lr, config.seed, image_size, channels)
    else:
      model = VAE(config.resolved_latent_dim, lr, config.seed, image_size,
                  channels)
  model.strategy = strategy
  return model


def batches_per_epoch(num_images: int, config: GenerativeConfig) -> int:
  """Full batches, plus the last partial one if `keep_last_batch` (authors')."""
  full, rest = divmod(num_images, config.batch_size)
  return full + int(bool(rest) and config.keep_last_batch)


# The checkpoint format: this module is its one reader and writer.
_CHECKPOINT = re.compile(r"epoch_(\d{4,})\.npz")


def checkpoint_path(directory: str, epoch: int) -> pathlib.Path:
  return pathlib.Path(directory) / "checkpoints" / f"epoch_{epoch:04d}.npz"


def partial_path(directory: str) -> pathlib.Path:
  """Where a time budget that ran out mid-epoch leaves that epoch's
  progress (`save_partial`); the next run resumes from it."""
  return pathlib.Path(directory) / "checkpoints" / "partial_epoch.npz"


def _variables(model: _Model) -> Dict[str, np.ndarray]:
  return {f"{group}/{i}": np.asarray(v.numpy())
          for group, variables in model.groups().items()
          for i, v in enumerate(variables)}


def save_partial(model: _Model, directory: str, epoch: int, step: int,
                 sums: Dict[str, float]) -> pathlib.Path:
  """Saves the variables after `step` steps of epoch `epoch + 1`, and the
  epoch's loss sums so far, atomically: the rerun goes on from that step
  and ends with what an uninterrupted run would have (`train`)."""
  keys = sorted(sums)
  buffer = io.BytesIO()
  np.savez(buffer, epoch=np.int64(epoch), partial_step=np.int64(step),
           partial_keys=np.array(keys, dtype=str),
           partial_sums=np.array([sums[k] for k in keys], np.float64),
           **_variables(model))
  path = partial_path(directory)
  atomic_write(path, lambda f: f.write(buffer.getvalue()))
  return path


def load_partial(model: _Model, directory: str, epoch: int,
                 verbose: bool = True) -> Tuple[int, Dict[str, float]]:
  """(steps done, loss sums) of epoch `epoch + 1` from `save_partial`, its
  variables put into `model`; (0, {}) when there is none for that epoch (a
  stale or damaged one is removed, and the epoch restarts from the
  checkpoint of epoch `epoch`)."""
  path = partial_path(directory)
  if not path.exists():
    return 0, {}
  try:
    with np.load(path) as saved:
      saved_epoch = int(saved["epoch"])
      step = int(saved["partial_step"])
      sums = dict(zip((str(k) for k in saved["partial_keys"]),
                      (float(v) for v in saved["partial_sums"])))
    if saved_epoch != epoch:
      raise ValueError(f"it is of epoch {saved_epoch + 1}")
    load_checkpoint(model, path)
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    if verbose:
      why = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
      print(f"Skipped {path} ({why}); epoch {epoch + 1} restarts from the "
            f"checkpoint of epoch {epoch}.", flush=True)
    path.unlink()
    return 0, {}
  return step, sums


def checkpoint_epochs(directory: str) -> List[int]:
  """The epochs `directory/checkpoints` holds, oldest first."""
  folder = pathlib.Path(directory) / "checkpoints"
  names = os.listdir(folder) if folder.is_dir() else []
  return sorted(int(m.group(1)) for m in map(_CHECKPOINT.fullmatch, names) if m)


def save_checkpoint(model: _Model, directory: str, epoch: int,
                    keep: Tuple[int, ...] = ()) -> pathlib.Path:
  """Writes every variable of `model` at `epoch`, atomically.

  Keeps the newest two checkpoints and those of the epochs in `keep`.
  """
  buffer = io.BytesIO()
  np.savez(buffer, epoch=np.int64(epoch), **_variables(model))
  path = checkpoint_path(directory, epoch)
  atomic_write(path, lambda f: f.write(buffer.getvalue()))
  for old in checkpoint_epochs(directory)[:-2]:
    if old not in keep:
      checkpoint_path(directory, old).unlink()
  return path


def load_checkpoint(model: _Model, path) -> int:
  """Puts a checkpoint's values into `model`; returns its epoch.

  Refuses a checkpoint of another architecture (latent size, image size,
  GAN or VAE), naming what differs.
  """
  try:
    saved_file = np.load(path)
    saved_file.files  # noqa: B018 (reads the zip's index)
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise DamagedCheckpoint(
        f"{path} is damaged ({type(e).__name__}: "
        f"{str(e).splitlines()[0][:80] if str(e) else 'unreadable'})"
    ) from None
  with saved_file as saved:
    try:
      found = {k: saved[k].shape for k in saved.files
               if k != "epoch" and not k.startswith("partial_")}
      epoch_value = int(saved["epoch"])
    except (OSError, ValueError, EOFError, KeyError,
            zipfile.BadZipFile) as e:
      raise DamagedCheckpoint(
          f"{path} is damaged ({type(e).__name__}: "
          f"{str(e).splitlines()[0][:80] if str(e) else 'unreadable'})"
      ) from None
    expected = {f"{group}/{i}": tuple(v.shape)
                for group, variables in model.groups().items()
                for i, v in enumerate(variables)}
    if found != expected:
      differ = sorted(set(found) ^ set(expected)) or sorted(
          k for k in expected if expected[k] != found[k])
      raise ConfigError(
          f"{path} holds other networks than the configured ones ({len(found)} "
          f"arrays against {len(expected)} expected; first differing: "
          f"{differ[0]}): use the --generator_type, --latent_dim and image "
          f"size it was trained with, or a fresh --experiment_dir.")
    for group, variables in model.groups().items():
      for i, variable in enumerate(variables):
        variable.assign(saved[f"{group}/{i}"])
    return epoch_value


class DamagedCheckpoint(ConfigError):
  """A generator checkpoint that cannot be read (truncated, not a zip,
  holding pickled objects): named, and skipped for an older one where
  there is one."""


def load_newest_intact(model: _Model, directory: str,
                       verbose: bool = True) -> int:
  """Loads the newest checkpoint of `directory` that reads; its epoch.

  Damaged newer ones are named and skipped; if none reads, a ConfigError
  lists them.
  """
  broken = []
  for epoch in reversed(checkpoint_epochs(directory)):
    try:
      loaded = load_checkpoint(model, checkpoint_path(directory, epoch))
    except DamagedCheckpoint as e:
      broken.append(str(e))
      continue
    if broken and verbose:
      print(f"Skipped {'; '.join(broken)}; using epoch {loaded}.",
            flush=True)
    return loaded
  raise ConfigError(f"no checkpoint of {directory} can be read: "
                    f"{'; '.join(broken)}. Delete them to start afresh.")


def _refuse_old_format(directory: str) -> None:
  """A folder written by lasium_tf before the one checkpoint format."""
  folder = pathlib.Path(directory)
  if (folder / "checkpoints" / "checkpoint").exists() or list(
      folder.glob("generator_epoch_*.weights.h5")):
    raise ConfigError(
        f"{directory} holds checkpoints in a format lasium_tf no longer reads "
        f"(TensorFlow ckpt-N files or scripts/gan_jax.py weights, from before "
        f"checkpoints/epoch_XXXX.npz): train it again, or export it with the "
        f"version that trained it.")


class _Metrics:
  """Per-epoch metrics: `metrics.jsonl` always, TensorBoard where TF is."""

  def __init__(self, directory: str, kind: str):
    self.path = pathlib.Path(directory) / "metrics.jsonl"
    self.kind = kind
    try:
      import tensorflow as tf
    except ImportError:
      self.writer = None
    else:
      self.writer = tf.summary.create_file_writer(
          os.path.join(directory, "tensorboard"))

  def write(self, epoch: int, metrics: Dict) -> None:
    line = json.dumps({"epoch": epoch, "backend": backends.describe(),
                       **{k: round(float(v), 6) for k, v in metrics.items()}})
    old = self.path.read_bytes() if self.path.exists() else b""
    kept = b"".join(l + b"\n" for l in old.splitlines()
                    if json.loads(l)["epoch"] < epoch)
    atomic_write(self.path, lambda f: f.write(kept + line.encode() + b"\n"))
    if self.writer is not None:
      import tensorflow as tf
      with self.writer.as_default(step=epoch):
        for k, v in metrics.items():
          if k != "seconds":
            tf.summary.scalar(f"{self.kind}/{k}", float(v))
      self.writer.flush()


# Seconds between the progress lines of a generator epoch in a log file.
PROGRESS_SECONDS = 20.0


def train(model: _Model, images, config: GenerativeConfig, directory: str,
          verbose: bool = True, strokes: str = "white") -> Dict:
  """Trains `model` (GAN or VAE) on unlabeled `images` [n, H, W, C].

  `images` is an array, or a store with `len()` and `fetch(indices)` that
  decodes each batch as it is drawn (`data.folder.UnlabeledImages`: a
  folder of one's own images is never held in memory whole).

  Runs on Keras' backend, which must be `config.backend`; a model built
  with a tf.distribute strategy (`build(..., strategy=)`) splits each batch
  over its replicas. Resumes from the
  newest checkpoint in `directory/checkpoints`; saves one every epoch (the
  newest two and those of `config.snapshot_epochs` are kept), a sample grid
  `samples/epoch_XXXX.png` every `config.samples_every` epochs, and the
  epoch's mean losses to `metrics.jsonl` (and TensorBoard). A SIGINT or
  SIGTERM stops after the step in flight; the rerun restarts that epoch from
  the checkpoint before it, exactly. `config.max_seconds` ends training
  after the step in which it passes, saved (`save_partial`): the rerun
  goes on from that step and ends with the weights of an uninterrupted
  run. `strokes` is the images' ink
  (`DataConfig.strokes`): grids and the stripe score read samples as white
  strokes on black.
  """
  backends.require(config.backend)
  if hasattr(images, "fetch"):
    fetch = lambda order: np.asarray(images.fetch(order))  # noqa: E731
  else:
    if images.ndim != 4:
      raise ValueError(f"expected unlabeled images [n, H, W, C], got shape "
                       f"{images.shape}.")
    data = np.asarray(images, np.float32)
    fetch = data.__getitem__
  if len(images) < config.batch_size:
    raise ValueError(f"{len(images)} images are fewer than one batch of "
                     f"{config.batch_size}; lower --generator_batch_size.")
  if model.strategy is not None:
    replicas = model.strategy.num_replicas_in_sync
    rest = len(images) % config.batch_size if config.keep_last_batch else 0
    if config.batch_size < replicas or 0 < rest < replicas:
      raise ConfigError(
          f"a batch of {min(config.batch_size, rest or config.batch_size)} "
          f"images cannot be split over {replicas} replicas; raise "
          f"--generator_batch_size (or drop --keep_last_batch).")
  _refuse_old_format(directory)
  epochs = checkpoint_epochs(directory)
  epoch = load_newest_intact(model, directory, verbose) if epochs else 0
  done, resumed_sums = load_partial(model, directory, epoch, verbose)
  if (epochs or done) and verbose:
    print(f"Resumed {config.kind} training at epoch {epoch}"
          + (f", step {done} of epoch {epoch + 1}" if done else "") + ".",
          flush=True)
  log = _Metrics(directory, config.kind)
  fixed_z = np.random.default_rng([config.seed, 7]).standard_normal(
      (8 * 8, model.latent_dim), np.float32)
  fixed_images = fetch(np.arange(8 * 8) % len(images))  # An autoencoder's grid.
  steps_per_epoch = batches_per_epoch(len(images), config)
  step = backends.compile_step(model.step)
  state = model.state()
  metrics: Dict[str, float] = {}
  start = time.perf_counter()
  with StopSignals() as signals:
    while epoch < config.epochs:
      rng = np.random.default_rng([config.seed, epoch + 1])
      order = rng.permutation(len(images))
      progress = Progress(steps_per_epoch,
                          f"{config.kind} epoch {epoch + 1}/{config.epochs} "
                          f"step", verbose, every_seconds=PROGRESS_SECONDS)
      sums: Dict[str, float] = dict(resumed_sums)
      for i in range(done):  # The saved steps' random numbers, drawn again.
        model.draws(rng, len(order[i * config.batch_size:
                                   (i + 1) * config.batch_size]))
      for i in range(done, steps_per_epoch):
        batch = fetch(order[i * config.batch_size:
                            (i + 1) * config.batch_size])
        state, out = step(state, batch, model.draws(rng, len(batch)))
        for k, v in out.items():
          sums[k] = sums.get(k, 0.0) + float(v)
        progress.update(i + 1, [(k, v / (i + 1)) for k, v in sums.items()])
        if signals.received:
          raise Stopped(signals.received,
                        f"in epoch {epoch + 1}; it restarts from the "
                        f"checkpoint of epoch {epoch}",
                        time.perf_counter() - start)
        if (config.max_seconds is not None and i + 1 < steps_per_epoch
            and time.perf_counter() - start >= config.max_seconds):
          model.assign(state)
          save_partial(model, directory, epoch, i + 1, sums)
          if verbose:
            print(f"Stopped in epoch {epoch + 1} after step {i + 1}/"
                  f"{steps_per_epoch}: --generator_max_seconds="
                  f"{config.max_seconds:g} passed; saved, rerun to go on.",
                  flush=True)
          return {"epochs": epoch, "steps": i + 1,
                  "seconds": time.perf_counter() - start, **metrics}
      done, resumed_sums = 0, {}
      bad = [k for k, v in sums.items() if not np.isfinite(v)]
      if bad:
        newest = checkpoint_epochs(directory)
        raise DivergedError(
            f"{config.kind} training diverged in epoch {epoch + 1}: "
            f"{', '.join(bad)} not finite. Nothing of this epoch was saved"
            + (f"; the newest checkpoint is of epoch {newest[-1]}"
               if newest else "")
            + ". Lower --generator_lr, then rerun to resume.")
      epoch += 1
      model.assign(state)
      metrics = {k: v / steps_per_epoch for k, v in sums.items()}
      save_checkpoint(model, directory, epoch, config.snapshot_epochs)
      partial_path(directory).unlink(missing_ok=True)  # Its epoch is done.
      draw = epoch % config.samples_every == 0 or epoch == config.epochs
      samples = (white_strokes(ops.convert_to_numpy(model.grid_images(
          fixed_z, fixed_images)), strokes)
                 if draw or config.kind == "gan" else None)
      if config.kind == "gan":
        metrics["stripes"] = gan_objective.stripe_score(samples)
      if draw:
        from lasium_tf import pictures
        pictures.save_png(
            os.path.join(directory, "samples", f"epoch_{epoch:04d}.png"),
            pictures.grid(samples.reshape((8, 8) + samples.shape[1:])))
      seconds = time.perf_counter() - start
      log.write(epoch, {**metrics, "seconds": seconds})
      if verbose:
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"{config.kind} epoch {epoch}/{config.epochs} {shown} "
              f"({seconds:.0f} s)", flush=True)
      if (config.max_seconds is not None and seconds >= config.max_seconds
          and epoch < config.epochs):  # A finished run has nothing to go on.
        if verbose:
          print(f"Stopped after epoch {epoch}: --generator_max_seconds="
                f"{config.max_seconds:g} passed; rerun to go on.", flush=True)
        break
  return {"epochs": epoch, "seconds": time.perf_counter() - start, **metrics}


def trained_on(directory: str, until: Optional[int] = None) -> str:
  """Which backends trained which epochs, from `metrics.jsonl`.

  E.g. "jax on gpu (epochs 1-140), tensorflow on cpu (epochs 141-150)": a
  run may move between machines, and its card says where each part ran.
  `until`: only the epochs up to it (a snapshot's history).
  """
  path = pathlib.Path(directory) / "metrics.jsonl"
  lines = [json.loads(l) for l in path.read_text().splitlines()] if (
      path.exists()) else []
  spans: List[list] = []
  for line in lines:
    if until is not None and line["epoch"] > until:
      continue
    where = line.get("backend", "unknown")
    if spans and spans[-1][0] == where:
      spans[-1][2] = line["epoch"]
    else:
      spans.append([where, line["epoch"], line["epoch"]])
  return ", ".join(f"{w} (epoch{'s' if a != b else ''} "
                   f"{a}{'-' + str(b) if a != b else ''})"
                   for w, a, b in spans)


def restore(path: str, epoch: Optional[int] = None):
  """The GAN or VAE of a generator training folder, at its newest epoch.

  `path` is the folder, or one checkpoint in it
  (`<folder>/checkpoints/epoch_0100.npz`, a snapshot of the GAN-epoch study);
  `epoch` picks a kept checkpoint of the folder instead of the newest.
  Returns (model, GenerativeConfig, epoch, train command). The folder's
  config.json (written by --mode=train_generator) says which model and
  latent size it holds.
  """
  if os.path.isfile(path):
    checkpoint = pathlib.Path(path)
    directory = str(checkpoint.parent.parent)
  else:
    directory, checkpoint = path, None
  saved = RunDir(directory).saved_config()
  if saved is None:
    if any(os.path.exists(os.path.join(directory, name))
           for name in ("card.json", "variables", "fingerprint.pb")):
      raise FileNotFoundError(
          f"{directory} is a published SavedModel missing its "
          f"saved_model.pb: restore the folder or export it again "
          f"(--mode=export_generator).")
    raise FileNotFoundError(
        f"{directory} is not a generator training folder (no config.json); "
        f"train one with --mode=train_generator.")
  if saved.get("mode", "train_generator") != "train_generator" and not (
      checkpoint_epochs(directory)):
    raise ConfigError(
        f"{directory} is a meta-learning run folder (--mode="
        f"{saved['mode']}), not a generator training folder: pass the "
        f"generator it was trained on (its config.json's lasium.generator), "
        f"or a folder made by --mode=train_generator.")
  if not isinstance(saved.get("generative"), dict):
    raise ConfigError(
        f"{directory}/config.json has no generator settings (\"generative\"): "
        f"it is damaged or not a generator training folder's; train one "
        f"with --mode=train_generator.")
  config = GenerativeConfig(**{
      k: tuple(v) if isinstance(v, list) else v
      for k, v in saved["generative"].items()})
  data = saved.get("data", {})
  model = build(config, data.get("image_size") or 28,
                data.get("channels") or 1)
  _refuse_old_format(directory)
  if checkpoint is None:
    epochs = checkpoint_epochs(directory)
    if not epochs:
      raise FileNotFoundError(f"{directory}/checkpoints holds no checkpoint "
                              f"yet; train at least one epoch.")
    if epoch is not None and epoch not in epochs:
      raise ConfigError(
          f"{directory} keeps no checkpoint of epoch {epoch} (it keeps "
          f"epochs {epochs}): pick one of those, or train with "
          f"--snapshot_epochs={epoch} to keep it.")
    if epoch is None:
      return (model, config, load_newest_intact(model, directory),
              saved.get("command", ""))
    checkpoint = checkpoint_path(directory, epoch)
  epoch = load_checkpoint(model, checkpoint)
  return model, config, epoch, saved.get("command", "")


def objective_info(config: GenerativeConfig) -> Dict:
  """{"objective": a GAN's objective switches}, for cards and result records
  (the authors' GAN recipe sets them; `lasium_tf.gan_objective`); {} for a
  VAE."""
  if config.kind != "gan":
    return {}
  return {"objective": {"generator_loss": config.generator_loss,
                        "fake_targets": config.fake_targets,
                        "keep_last_batch": config.keep_last_batch}}


def as_generator(model):
  """The LASIUM generator interface (`generators.KerasGenerator`) over a
  trained GAN or VAE."""
  from lasium_tf.generators import KerasGenerator

  if isinstance(model, VAE):
    return KerasGenerator(model.decoder, model.encoder)
  if isinstance(model, ACAI):
    return KerasGenerator(model.generator, model.encoder)
  return KerasGenerator(model.generator)


# The decoder network of each generator kind LASIUM samples from (the
# architecture of `build`'s models), by kind.
_DECODERS = {"gan": omniglot_gan.build_generator,
             "vae": omniglot_vae.build_decoder}


def in_bfloat16(generator, info: Dict):
  """`generator` decoding in bfloat16 (`generators.Bfloat16Decoding`).

  A Keras generator (a training folder or checkpoint) keeps its network. A
  SavedModel has only a float32 graph, so this rebuilds the decoder of its
  card's kind (`_DECODERS`, the image shape read off one decoded image) and
  copies in the variables its `generate` signature uses; that works for the
  generators this project exported, and a decoded probe must match the
  SavedModel's own images, or this refuses it (ValueError naming the fix).
  """
  from lasium_tf import generators

  if isinstance(generator, generators.KerasGenerator):
    return generators.Bfloat16Decoding(generator.decoder, generator)
  refusal = (f"bfloat16 decoding rebuilds the generator's network, which "
             f"it can for the GANs and VAEs this project trains, and "
             f"{info.get('source')} ({info.get('kind')}) is not one of them")
  if not isinstance(generator, generators.SavedModelGenerator) or (
      info.get("kind") not in _DECODERS):
    raise ValueError(f"{refusal}; use --decode_precision=float32.")
  probe = np.random.default_rng(3).standard_normal(
      [4, generator.latent_dim]).astype(np.float32)
  wanted = np.asarray(generator.decode(probe))
  decoder = _DECODERS[info["kind"]](
      generator.latent_dim, image_size=int(wanted.shape[1]),
      channels=int(wanted.shape[-1]))
  if not _copy_layer_by_layer(generator.decode_variables, decoder):
    raise ValueError(f"{refusal} (its weights are not those of "
                     f"models/omniglot_{info['kind']}.py); use "
                     f"--decode_precision=float32.")
  difference = np.abs(np.asarray(decoder(probe, training=False)) - wanted)
  if not difference.max() <= 1e-4:  # NaN fails too.
    raise ValueError(f"{refusal} (the rebuilt network draws other images); "
                     f"use --decode_precision=float32.")
  return generators.Bfloat16Decoding(decoder, generator)


def _copy_layer_by_layer(saved, model: keras.Model) -> bool:
  """Assigns a SavedModel's variables (named `layer/variable:0`, layers in
  call order, a layer's variables in any order) to `model`'s layers in
  order; False, assigning nothing, where names or shapes do not match."""
  groups: Dict[str, Dict] = {}
  for variable in saved:
    layer, _, name = variable.name.rpartition("/")
    groups.setdefault(layer, {})[name.split(":")[0]] = variable
  layers = [l for l in model.layers if l.weights]
  pairs = []
  if len(layers) != len(groups):
    return False
  for layer, group in zip(layers, groups.values()):
    for weight in layer.weights:
      theirs = group.get(weight.name)
      if theirs is None or tuple(theirs.shape) != tuple(weight.shape):
        return False
      pairs.append((weight, theirs))
  for weight, theirs in pairs:
    weight.assign(theirs)
  return True


def load_generator(path: str):
  """A generator from a preset name, a SavedModel or hub handle, or a folder.

  `path` is a preset of `generators.PRESETS` ("bigbigan", "progan"), a
  preset pointed at another copy of its module ("bigbigan:/local/module",
  "progan:https://..."), a SavedModel folder (a published generator, with
  its card.json), a TF-Hub handle, a generator training folder (its newest
  checkpoint) or one checkpoint of one (`<folder>/checkpoints/epoch_0100.npz`).
  Returns (generator, info); info has at least `kind`
  ("gan" or "vae").
  """
  from lasium_tf import generators  # The preset table lives there.
  from lasium_tf.generators import SavedModelGenerator

  preset, _, handle = path.partition(":")
  if preset in generators.PRESETS:
    spec = generators.PRESETS[preset]
    if handle:
      spec = dataclasses.replace(spec, handle=handle)
    return SavedModelGenerator(spec), {"kind": "gan", "preset": preset,
                                       "source": spec.handle}
  if _CHECKPOINT.fullmatch(os.path.basename(path)) or (
      os.path.isdir(path) and not os.path.exists(
          os.path.join(path, "saved_model.pb"))):
    model, config, epoch, command = restore(path)
    info = {"kind": config.kind, "epochs": epoch, "source": path,
            "train_command": command, **objective_info(config)}
    folder = (os.path.dirname(os.path.dirname(path)) if os.path.isfile(path)
              else path)
    strokes = (RunDir(folder).saved_config().get("data") or {}).get(
        "strokes", "white")
    if strokes != "white":
      info["strokes"] = strokes
    return as_generator(model), info
  info = {"kind": "gan", "source": path}
  card = os.path.join(path, "card.json")
  if os.path.exists(card):
    loaded = RunDir(path).read_json_file("card.json")
    if not isinstance(loaded, dict):
      raise ConfigError(f"{card} is not a generator card (a JSON object); "
                        f"export the generator again.")
    info.update(loaded)
  if info["kind"] not in GENERATOR_KINDS:
    raise ConfigError(
        f"{card} names the generator kind {info['kind']!r}, none of "
        f"{', '.join(GENERATOR_KINDS)}: the card is damaged; export the "
        f"generator again (--mode=export_generator).")
  spec = generators.ModuleSpec(
      path, encode_signature="encode" if info["kind"] in ENCODING_KINDS
      else None)
  return SavedModelGenerator(spec), info
