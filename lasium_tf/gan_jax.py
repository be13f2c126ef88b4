"""The Omniglot GAN trained with Keras's JAX backend, for GPU machines.

Some GPU machines have JAX with CUDA but no TensorFlow CUDA build. This module
trains the same Keras networks (`models/omniglot_gan.py`) on the same
objective (`gan_objective`) as `generative.GAN`. What differs is the plumbing:
`jax.value_and_grad` over `stateless_call` instead of GradientTape, JAX keys
instead of `tf.random.Generator`, and a whole epoch compiled as one
`lax.scan`. It writes the generator's (and at the end the discriminator's)
weights as `.weights.h5`, which Keras loads into the TensorFlow-backend
networks; `generative.import_gan_weights` turns them into a generator training
folder that the rest of the library reads like one trained here.

Keras must run on the JAX backend: set KERAS_BACKEND=jax before anything
imports keras (`scripts/gan_jax.py` does).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Dict, Iterable, Optional

import jax
import jax.numpy as jnp
import keras
import numpy as np

from lasium_tf import gan_objective
from lasium_tf.config import GenerativeConfig, white_strokes
from lasium_tf.models import omniglot_gan
from lasium_tf.stopping import StopSignals, Stopped


def _weights_path(directory: str, network: str, epoch: int) -> str:
  return os.path.join(directory, f"{network}_epoch_{epoch:04d}.weights.h5")


def _resume_epoch(directory: str) -> int:
  """The newest epoch with both networks' weights in `directory`, else 0."""
  pattern = re.compile(r"discriminator_epoch_(\d+)\.weights\.h5")
  names = os.listdir(directory) if os.path.isdir(directory) else []
  epochs = [int(m.group(1)) for m in map(pattern.fullmatch, names) if m]
  complete = [e for e in epochs
              if os.path.exists(_weights_path(directory, "generator", e))]
  return max(complete, default=0)


def _optimizer_path(directory: str, epoch: int) -> str:
  return os.path.join(directory, f"optimizer_epoch_{epoch:04d}.npz")


def train(images: np.ndarray, directory: str, config: GenerativeConfig,
          snapshot_epochs: Iterable[int] = (),
          max_seconds: Optional[float] = None, verbose: bool = True,
          strokes: str = "white") -> Dict:
  """Trains the GAN on unlabeled `images` [n, H, W, 1] in [0, 1].

  `strokes` is the images' ink (`DataConfig.strokes`); the stripe score
  reads samples as white strokes on black.

  Saves the generator's weights after each epoch in `snapshot_epochs` and at
  the last epoch, with the discriminator's and both Adam states at the last
  epoch too, and appends one JSON line of losses and stripe score per epoch
  to `log.jsonl`. Stops early, saving all of it, once `max_seconds` of
  training have passed. Resumes from the newest epoch `directory` holds both
  networks of: exactly (epoch e always draws from the key of epoch e) where
  the Adam states were saved beside them, with fresh Adam moments where not
  (runs from before this was saved). Returns the last epoch's metrics.
  """
  if keras.backend.backend() != "jax":
    raise RuntimeError("lasium_tf.gan_jax needs KERAS_BACKEND=jax set before "
                       "keras is imported.")
  if config.kind != "gan":
    raise ValueError(f"gan_jax trains GANs, not {config.kind!r}.")
  n, size = images.shape[0], images.shape[1]
  batch, latent = config.batch_size, config.resolved_latent_dim
  steps = n // batch
  if steps == 0:
    raise ValueError(f"{n} images are fewer than one batch of {batch}.")
  generator = omniglot_gan.build_generator(latent, image_size=size,
                                           seed=2 * config.seed)
  discriminator = omniglot_gan.build_discriminator(size,
                                                   seed=2 * config.seed + 1)
  lr = config.resolved_learning_rate
  g_opt = keras.optimizers.Adam(lr, beta_1=config.adam_beta1)
  d_opt = keras.optimizers.Adam(lr, beta_1=config.adam_beta1)
  g_opt.build(generator.trainable_variables)
  d_opt.build(discriminator.trainable_variables)
  resumed = _resume_epoch(directory)
  if resumed:
    generator.load_weights(_weights_path(directory, "generator", resumed))
    discriminator.load_weights(
        _weights_path(directory, "discriminator", resumed))
    saved_optimizers = _optimizer_path(directory, resumed)
    if os.path.exists(saved_optimizers):
      with np.load(saved_optimizers) as f:
        for name, opt in (("g", g_opt), ("d", d_opt)):
          for i, v in enumerate(opt.variables):
            v.assign(f[f"{name}{i}"])
    if verbose:
      print(f"Resuming at epoch {resumed} from {directory}"
            + ("" if os.path.exists(saved_optimizers)
               else " (no Adam state saved there: fresh moments)") + ".",
            flush=True)
  state = tuple([v.value for v in variables] for variables in (
      generator.trainable_variables, discriminator.trainable_variables,
      g_opt.variables, d_opt.variables))
  noise, weight = config.label_noise, config.mode_seeking_weight
  rest = n - steps * batch if config.keep_last_batch else 0

  def gen(g, z):
    return generator.stateless_call(g, [], z, training=True)[0]

  def disc(d, x):
    return discriminator.stateless_call(d, [], x, training=True)[0]

  def step(state, inputs):
    g, d, g_vars, d_vars = state
    real, key = inputs
    size = real.shape[0]  # The batch, or an epoch's last partial batch.
    keys = jax.random.split(key, 5)
    z = jax.random.normal(keys[0], (size, latent))
    real_targets, fake_targets = gan_objective.discriminator_targets(
        jax.random.uniform(keys[1], (size, 1)),
        jax.random.uniform(keys[2], (size, 1)), noise, config.fake_targets)

    def d_loss_fn(d):
      return gan_objective.discriminator_loss(
          disc(d, real), disc(d, gen(g, z)), real_targets, fake_targets)

    d_loss, grads = jax.value_and_grad(d_loss_fn)(d)
    d, d_vars = d_opt.stateless_apply(d_vars, grads, d)
    z1 = jax.random.normal(keys[3], (size, latent))
    z2 = jax.random.normal(keys[4], (size, latent))

    def g_loss_fn(g):
      fake1, fake2 = gen(g, z1), gen(g, z2)
      ratio = gan_objective.mode_seeking_ratio(fake1, fake2, z1, z2)
      total, adversarial = gan_objective.generator_loss(
          disc(d, fake1), disc(d, fake2), ratio, weight,
          config.generator_loss)
      return total, (adversarial, ratio)

    (_, (adversarial, ratio)), grads = jax.value_and_grad(
        g_loss_fn, has_aux=True)(g)
    g, g_vars = g_opt.stateless_apply(g_vars, grads, g)
    return (g, d, g_vars, d_vars), jnp.stack([d_loss, adversarial, ratio])

  @jax.jit
  def run_epoch(state, data, key):
    order_key, steps_key = jax.random.split(key)
    order = jax.random.permutation(order_key, n)
    batches = order[:steps * batch].reshape(steps, batch)
    state, metrics = jax.lax.scan(
        lambda s, x: step(s, (data[x[0]], x[1])), state,
        (batches, jax.random.split(steps_key, steps)))
    if not rest:
      return state, metrics.mean(axis=0)
    state, last = step(state, (data[order[steps * batch:]],
                               jax.random.fold_in(steps_key, steps)))
    return state, (metrics.sum(axis=0) + last) / (steps + 1)

  sample = jax.jit(lambda g, z: generator.stateless_call(
      g, [], z, training=False)[0])

  def save(network, values, epoch):
    for v, value in zip(network.trainable_variables, values):
      v.assign(value)
    path = _weights_path(directory, network.name, epoch)
    network.save_weights(path + ".partial.weights.h5")
    os.replace(path + ".partial.weights.h5", path)

  def save_optimizers(g_vars, d_vars, epoch):
    path = _optimizer_path(directory, epoch)
    with open(path + ".partial", "wb") as f:
      np.savez(f, **{f"{name}{i}": np.asarray(value)
                     for name, values in (("g", g_vars), ("d", d_vars))
                     for i, value in enumerate(values)})
    os.replace(path + ".partial", path)

  os.makedirs(directory, exist_ok=True)
  data = jnp.asarray(images, jnp.float32)
  fixed_z = jax.random.normal(jax.random.key(config.seed + 7), (64, latent))
  base_key = jax.random.key(config.seed)
  snapshots = set(snapshot_epochs)
  start = time.perf_counter()
  metrics: Dict = {}
  if resumed >= config.epochs and verbose:
    print(f"{directory} already holds epoch {resumed} of {config.epochs}; "
          f"raise --generator_epochs to train on.", flush=True)
  # SIGINT / SIGTERM end the epoch in flight, which is then saved whole
  # (both networks and Adam's moments) as a last epoch, so the rerun resumes
  # from it exactly: every epoch's randomness derives from (seed, epoch).
  with StopSignals() as signals, open(os.path.join(directory, "log.jsonl"),
                                      "a") as log:
    for epoch in range(resumed + 1, config.epochs + 1):
      state, means = run_epoch(state, data, jax.random.fold_in(base_key, epoch))
      d_loss, g_loss, ratio = (float(x) for x in np.asarray(means))
      metrics = {"epoch": epoch, "d_loss": d_loss, "g_loss": g_loss,
                 "mode_seeking": ratio,
                 "stripes": gan_objective.stripe_score(
                     white_strokes(np.asarray(sample(state[0], fixed_z)),
                                   strokes)),
                 "seconds": round(time.perf_counter() - start, 1)}
      log.write(json.dumps(metrics) + "\n")
      log.flush()
      if verbose:
        print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in metrics.items()), flush=True)
      last = (epoch == config.epochs or bool(signals.received) or
              (max_seconds is not None and metrics["seconds"] >= max_seconds))
      if epoch in snapshots or last:
        save(generator, state[0], epoch)
      if last:
        save(discriminator, state[1], epoch)
        save_optimizers(state[2], state[3], epoch)
        if signals.received:
          raise Stopped(signals.received, f"after epoch {epoch} (saved)",
                        time.perf_counter() - start)
        break
  return metrics
