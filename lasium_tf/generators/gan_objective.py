"""The Omniglot GAN's objective, written once in `keras.ops` for any backend.

The GAN's training step (`generative.GAN.step`) takes its losses from here
and runs on TensorFlow or on JAX (`--generator_backend`); this module imports
neither.

Non-saturating GAN loss with uniform label noise on the discriminator's
targets (the authors' code: 0.05), plus the mode-seeking regulariser of MSGAN
(Mao et al., CVPR 2019) used by the LASIUM authors: for two latent batches
z1, z2 and their images G(z1), G(z2),
ratio = mean_batch(mean_pixels |G(z1) - G(z2)| / mean_dims |z1 - z2|), and
the generator adds weight / (ratio + 1e-5). The generator's adversarial loss
is summed over its two latent batches (as the authors' code does; a mean
doubles the mode-seeking term's relative weight, and in a first run here that
drove the generator to high-contrast blobs for 4 epochs).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _bce(targets, logits):
  return ops.mean(ops.binary_crossentropy(targets, logits, from_logits=True))


def discriminator_loss(real_logits, fake_logits, real_targets, fake_targets):
  """Cross-entropy of real images against ~1 and generated ones against ~0."""
  return _bce(real_targets, real_logits) + _bce(fake_targets, fake_logits)


def mode_seeking_ratio(images1, images2, z1, z2):
  """MSGAN's image distance over latent distance, averaged over the batch."""
  image_axes = tuple(range(1, len(images1.shape)))
  image_distance = ops.mean(ops.abs(images1 - images2), axis=image_axes)
  latent_distance = ops.mean(ops.abs(z1 - z2), axis=1)
  return ops.mean(image_distance / latent_distance)


def discriminator_targets(real_uniform, fake_uniform, label_noise: float,
                          fake_targets: str = "smoothed"):
  """(real, fake) targets from U(0, 1) draws: 1 - noise u, and +/- noise u.

  "smoothed" moves fake targets towards the real label, into [0, noise];
  "overshoot" is the authors' code: it adds the noise to every target in its
  own convention (fake = 1, real = 0), which in ours (real = 1) puts fake
  targets beyond the fake label, in [-noise, 0]. Real targets are
  [1 - noise, 1] either way. Cross-entropy from logits is defined for such
  targets (TensorFlow and JAX both compute -t log s - (1 - t) log (1 - s)).
  """
  sign = -1.0 if fake_targets == "overshoot" else 1.0
  return 1.0 - label_noise * real_uniform, sign * label_noise * fake_uniform


def generator_loss(logits1, logits2, ratio, mode_seeking_weight: float,
                   generator_loss_kind: str = "per_batch"):
  """(total, adversarial): fool the discriminator on both batches, spread out.

  `logits1`, `logits2` are the discriminator's logits on G(z1) and G(z2);
  `ratio` is `mode_seeking_ratio` of the same images. "per_batch" sums one
  cross-entropy per batch; "summed_logits" is the authors' code: one
  cross-entropy of D(G(z1)) + D(G(z2)) against "real", which pushes the two
  batches' logits up together rather than each on its own.
  """
  ones = ops.ones_like(logits1)
  if generator_loss_kind == "summed_logits":
    adversarial = _bce(ones, logits1 + logits2)
  else:
    adversarial = _bce(ones, logits1) + _bce(ones, logits2)
  return adversarial + mode_seeking_weight / (ratio + 1e-5), adversarial


def stripe_score(images) -> float:
  """How much brighter odd rows or columns are than even ones (0 = none).

  The Omniglot GAN drifts in and out of a mode where strokes break into
  alternate bright and dark rows (or columns), an artefact of its 4x4 stride-2
  transposed convolutions (epoch 10, striped: 49.18% 5-way 1-shot for
  LASIUM-N-GAN-MAML at 1000 meta-iterations and 1000 test tasks, against
  53.49% after epoch 5; results/omniglot/gan_epochs/). The score is the larger
  of |log(odd / even)| over row sums and over column sums of
  [batch, H, W, 1] images; under 0.25 the samples look clean.
  """
  images = np.asarray(keras.ops.convert_to_numpy(images), np.float64)[..., 0]
  rows = images.mean(axis=(0, 2))
  cols = images.mean(axis=(0, 1))
  ratios = [a[1::2].sum() / max(a[0::2].sum(), 1e-12) for a in (rows, cols)]
  return float(max(abs(np.log(max(r, 1e-12))) for r in ratios))
