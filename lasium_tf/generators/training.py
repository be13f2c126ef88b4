"""The one training loop of every generator kind, on any Keras backend.

The training input is an array of images and nothing else: no labels reach
these functions (LASIUM is unsupervised). A model's step is pure
(`base.GenerativeModel.step`); `backends` adds the gradient and the
compiler, so the loop runs on TensorFlow (CPU) and on JAX (GPU machines
without a TensorFlow CUDA build), chosen by `--generator_backend`. Every
random number of epoch e (the batch order, latent draws, label noise) comes
from NumPy's generator seeded with (seed, e), so a run resumed from the
checkpoint of epoch e continues exactly, on either backend.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Dict

import numpy as np

from lasium_tf.core import backends
from lasium_tf import lazy
from lasium_tf.config import (ConfigError, GenerativeConfig,
                              white_strokes)
from lasium_tf.core.files import atomic_write
from lasium_tf.core.guards import TimeBudget, diverged, not_finite
from lasium_tf.generators.base import GenerativeModel
from lasium_tf.generators.checkpoints import (
    checkpoint_epochs, load_newest_intact, load_partial, partial_path,
    refuse_old_format, save_checkpoint, save_partial)
from lasium_tf.core.progress import Progress
from lasium_tf.core.stopping import StopSignals, Stopped

ops = lazy.module("keras.ops")


def batches_per_epoch(num_images: int, config: GenerativeConfig) -> int:
  """Full batches, plus the last partial one if `keep_last_batch` (authors')."""
  full, rest = divmod(num_images, config.batch_size)
  return full + int(bool(rest) and config.keep_last_batch)


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


def train(model: GenerativeModel, images, config: GenerativeConfig,
          directory: str, verbose: bool = True, strokes: str = "white") -> Dict:
  """Trains `model` (any registered kind) on unlabeled `images` [n, H, W, C].

  `images` is an array, or a store with `len()` and `fetch(indices)` that
  decodes each batch as it is drawn (`data.folder.UnlabeledImages`: a
  folder of one's own images is never held in memory whole).

  Runs on Keras' backend, which must be `config.backend`; a model built
  with a tf.distribute strategy (`build(..., strategy=)`) splits each batch
  over its replicas. Resumes from the newest checkpoint in
  `directory/checkpoints`; saves one every epoch (the newest two and those
  of `config.snapshot_epochs` are kept), a sample grid
  `samples/epoch_XXXX.png` every `config.samples_every` epochs, and the
  epoch's mean losses to `metrics.jsonl` (and TensorBoard). A SIGINT or
  SIGTERM stops after the step in flight; the rerun restarts that epoch from
  the checkpoint before it, exactly. `config.max_seconds` ends training
  after the step in which it passes, saved (`save_partial`): the rerun
  goes on from that step and ends with the weights of an uninterrupted
  run. `strokes` is the images' ink (`DataConfig.strokes`): grids and the
  sample scores read samples as white strokes on black.
  """
  backends.require(config.backend)
  fetch = _fetcher(images, config, model)
  run = _Run(model, config, directory, verbose, strokes, fetch, len(images))
  with StopSignals() as signals:
    while run.epoch < config.epochs:
      partial = run.train_epoch(signals)
      if partial is not None:
        return partial
      if run.end_epoch():
        break
  return {"epochs": run.epoch, "seconds": run.seconds(), **run.metrics}


def _fetcher(images, config: GenerativeConfig, model: GenerativeModel):
  """indices -> a batch of `images`, after checking there are enough."""
  if hasattr(images, "fetch"):
    fetch = lambda order: np.asarray(images.fetch(order))  # noqa: E731
  else:
    if images.ndim != 4:
      raise ValueError(f"expected unlabeled images [n, H, W, C], got shape "
                       f"{images.shape}.")
    fetch = np.asarray(images, np.float32).__getitem__
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
  return fetch


class _Run:
  """One training run's state between epochs: resumed from the folder's
  checkpoints, advanced an epoch at a time."""

  def __init__(self, model, config, directory, verbose, strokes, fetch,
               count):
    self.model, self.config, self.directory = model, config, directory
    self.verbose, self.strokes, self.fetch, self.count = (
        verbose, strokes, fetch, count)
    refuse_old_format(directory)
    epochs = checkpoint_epochs(directory)
    self.epoch = load_newest_intact(model, directory, verbose) if epochs else 0
    self.done, self.resumed_sums = load_partial(model, directory, self.epoch,
                                                verbose)
    if (epochs or self.done) and verbose:
      print(f"Resumed {config.kind} training at epoch {self.epoch}"
            + (f", step {self.done} of epoch {self.epoch + 1}"
               if self.done else "") + ".", flush=True)
    self.log = _Metrics(directory, config.kind)
    self.fixed_z = np.random.default_rng([config.seed, 7]).standard_normal(
        (8 * 8, model.latent_dim), np.float32)
    # An autoencoder's grid shows reconstructions of these.
    self.fixed_images = fetch(np.arange(8 * 8) % count)
    self.steps = batches_per_epoch(count, config)
    self.step = backends.compile_step(model.step)
    self.state = model.state()
    self.metrics: Dict[str, float] = {}
    self.budget = TimeBudget(config.max_seconds)

  def seconds(self) -> float:
    return self.budget.seconds()

  def train_epoch(self, signals):
    """Steps through epoch `epoch + 1` into `sums`; a result dict where the
    time budget ended it mid-epoch (saved), else None."""
    config, size = self.config, self.config.batch_size
    rng = np.random.default_rng([config.seed, self.epoch + 1])
    order = rng.permutation(self.count)
    progress = Progress(self.steps, f"{config.kind} epoch {self.epoch + 1}/"
                        f"{config.epochs} step", self.verbose,
                        every_seconds=PROGRESS_SECONDS)
    self.sums: Dict[str, float] = dict(self.resumed_sums)
    for i in range(self.done):  # The saved steps' random numbers, drawn again.
      self.model.draws(rng, len(order[i * size:(i + 1) * size]))
    for i in range(self.done, self.steps):
      batch = self.fetch(order[i * size:(i + 1) * size])
      self.state, out = self.step(self.state, batch,
                                  self.model.draws(rng, len(batch)))
      for k, v in out.items():
        self.sums[k] = self.sums.get(k, 0.0) + float(v)
      progress.update(i + 1, [(k, v / (i + 1)) for k, v in self.sums.items()])
      if signals.received:
        raise Stopped(signals.received,
                      f"in epoch {self.epoch + 1}; it restarts from the "
                      f"checkpoint of epoch {self.epoch}", self.seconds())
      if i + 1 < self.steps and self.budget.spent():
        return self._save_partial(i + 1)
    self.done, self.resumed_sums = 0, {}
    return None

  def _save_partial(self, steps: int) -> Dict:
    self.model.assign(self.state)
    save_partial(self.model, self.directory, self.epoch, steps, self.sums)
    if self.verbose:
      print(f"Stopped in epoch {self.epoch + 1} after step {steps}/"
            f"{self.steps}: --generator_max_seconds="
            f"{self.config.max_seconds:g} passed; saved, rerun to go on.",
            flush=True)
    return {"epochs": self.epoch, "steps": steps, "seconds": self.seconds(),
            **self.metrics}

  def end_epoch(self) -> bool:
    """Checks, saves, draws and logs the finished epoch; True where the time
    budget says to stop."""
    config = self.config
    bad = not_finite(self.sums)
    if bad:
      newest = checkpoint_epochs(self.directory)
      raise diverged(
          f"{config.kind} training diverged in epoch {self.epoch + 1}: "
          f"{', '.join(bad)} not finite", "Nothing of this epoch was saved",
          f"of epoch {newest[-1]}" if newest else None,
          "Lower --generator_lr, then rerun to resume.")
    self.epoch += 1
    self.model.assign(self.state)
    self.metrics = {k: v / self.steps for k, v in self.sums.items()}
    save_checkpoint(self.model, self.directory, self.epoch,
                    config.snapshot_epochs)
    partial_path(self.directory).unlink(missing_ok=True)  # Its epoch is done.
    self._samples()
    seconds = self.seconds()
    self.log.write(self.epoch, {**self.metrics, "seconds": seconds})
    if self.verbose:
      shown = " ".join(f"{k} {v:.4f}" for k, v in self.metrics.items())
      print(f"{config.kind} epoch {self.epoch}/{config.epochs} {shown} "
            f"({seconds:.0f} s)", flush=True)
    if self.budget.spent() and self.epoch < config.epochs:
      # A finished run has nothing to go on.
      if self.verbose:
        print(f"Stopped after epoch {self.epoch}: --generator_max_seconds="
              f"{config.max_seconds:g} passed; rerun to go on.", flush=True)
      return True
    return False

  def _samples(self) -> None:
    """The epoch's sample grid (every `samples_every` epochs and the last)
    and the scores its kind gives it (`GenerativeModel.sample_metrics`)."""
    config = self.config
    draw = self.epoch % config.samples_every == 0 or (
        self.epoch == config.epochs)
    scored = self.model.scores_samples
    if not (draw or scored):
      return
    samples = white_strokes(ops.convert_to_numpy(self.model.grid_images(
        self.fixed_z, self.fixed_images)), self.strokes)
    if scored:
      self.metrics.update(self.model.sample_metrics(samples))
    if draw:
      from lasium_tf.records import pictures
      pictures.save_png(
          os.path.join(self.directory, "samples",
                       f"epoch_{self.epoch:04d}.png"),
          pictures.grid(samples.reshape((8, 8) + samples.shape[1:])))
