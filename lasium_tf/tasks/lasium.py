"""LASIUM task sampling: anchors, in-class policies, decoded Episodes.

Khodadadeh et al., "Unsupervised Meta-Learning through Latent-Space
Interpolation in Generative Models", ICLR 2021, Section 3.

A synthetic N-way task is made in latent space:
  1. N anchors, one per class, at least `min_distance` apart (rejection
     sampling). For a GAN they are drawn from the prior N(0, I); for a VAE
     they are the encoder's means of N random real training images, and those
     real images are the first sample of their classes (paper, Figure 2).
  2. K_tr + K_val - 1 more latent vectors per class from a policy, each a
     small pure function of the anchors (below, chosen by name in POLICIES).
  3. All vectors decoded in one generator call; per class, the first K_tr
     images are the support set and the rest the query set (an `Episode`).

Every random choice comes from stateless ops seeded by (seed, task index), so
task i is reproducible, whatever the batching.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from lasium_tf.tasks.augment import shift_queries
from lasium_tf.tasks.episodes import Episode, split_classes, task_seed
from lasium_tf.generators import IMAGE_ANCHORS, KINDS, PRIOR_ANCHORS

# The authors reject 128-d anchor sets whose smallest pairwise squared
# distance is below 246.09; the mean squared distance of two N(0, I) vectors
# is 2d = 256. The default threshold keeps that ratio for any latent size.
AUTHORS_MIN_SQUARED_DISTANCE_RATIO = 246.09 / 256.0


def interpolate(z: tf.Tensor, target: tf.Tensor, alpha) -> tf.Tensor:
  """z + alpha (target - z): the point at alpha on the segment z -> target.

  The one formula of LASIUM-RO (target a random vector) and LASIUM-OC
  (target another class's anchor); also draws the interpolation strips.
  """
  return z + alpha * (target - z)


def lasium_n(anchors: tf.Tensor, num_samples: int, seed: tf.Tensor,
             sigma2: float = 0.5, sigma_max: Optional[float] = None,
             sigma: Optional[float] = None, **_) -> tf.Tensor:
  """LASIUM-N: z' = z + e, e ~ N(0, sigma^2 I). Returns [N, M, d].

  The paper's Table 7 names the noise by its variance (`sigma2`); the
  authors' code took its "0.5" as the standard deviation, which `sigma`
  gives directly (it wins over `sigma2`).

  With `sigma_max`, each class draws its own sigma ~ U(0, sigma_max) instead
  of the fixed sigma^2: the authors' VAE runs draw sigma ~ U(0, 2), so
  classes range from tight to loose (docs/reproducing.md; one
  sigma per class is our reading of it).
  """
  noise = tf.random.stateless_normal(
      [tf.shape(anchors)[0], num_samples, tf.shape(anchors)[1]], seed)
  if sigma_max is None:
    sigma = math.sqrt(sigma2) if sigma is None else sigma
  else:
    sigma = tf.random.stateless_uniform(
        [tf.shape(anchors)[0], 1, 1],
        tf.random.experimental.stateless_fold_in(seed, 1), 0.0, sigma_max)
  return anchors[:, None, :] + sigma * noise


def lasium_ro(anchors: tf.Tensor, num_samples: int, seed: tf.Tensor,
              alpha: float = 0.2, **_) -> tf.Tensor:
  """LASIUM-RO: z' = z + alpha (v - z), v ~ N(0, I) a fresh random vector."""
  v = tf.random.stateless_normal(
      [tf.shape(anchors)[0], num_samples, tf.shape(anchors)[1]], seed)
  return interpolate(anchors[:, None, :], v, alpha)


def lasium_oc(anchors: tf.Tensor, num_samples: int, seed: tf.Tensor,
              alpha: float = 0.4, oc_sigma2: float = 1.0, **_) -> tf.Tensor:
  """LASIUM-OC: z' = z_i + alpha (z_j - z_i), z_j another anchor of the task.

  Sample m of class i moves towards anchor (i + 1 + m mod N) mod N, visiting
  every other class in turn, for any N. Every N-th sample, where that target
  would be the class itself, is z_i + N(0, oc_sigma2 I) instead, as the
  authors' code does (every 5th sample for N = 5), so no two samples of a
  class coincide while N - 1 < K_tr + K_val - 1.
  """
  n_way = tf.shape(anchors)[0]
  offsets = 1 + tf.range(num_samples) % n_way  # 1 .. N, N meaning itself.
  targets = (tf.range(n_way)[:, None] + offsets[None, :]) % n_way  # [N, M]
  z = anchors[:, None, :]
  towards = interpolate(z, tf.gather(anchors, targets), alpha)
  noise = tf.random.stateless_normal(tf.shape(towards), seed)
  noisy = z + math.sqrt(oc_sigma2) * noise
  is_self = tf.equal(offsets, n_way)[None, :, None]
  return tf.where(is_self, noisy, towards)


POLICIES: Dict[str, Callable[..., tf.Tensor]] = {
    "n": lasium_n, "ro": lasium_ro, "oc": lasium_oc}


def default_min_distance(latent_dim: int) -> float:
  """Euclidean anchor distance threshold matching the authors' 246.09 at
  128-d."""
  return math.sqrt(AUTHORS_MIN_SQUARED_DISTANCE_RATIO * 2.0 * latent_dim)


def min_pairwise_distance(points: tf.Tensor) -> tf.Tensor:
  """Smallest Euclidean distance between two distinct rows of [N, d]."""
  squared = tf.reduce_sum(tf.square(points[:, None] - points[None, :]), -1)
  off_diagonal = squared + tf.linalg.diag(
      tf.fill([tf.shape(points)[0]], np.float32(np.inf)))
  return tf.sqrt(tf.reduce_min(off_diagonal))


def rejection_sample(draw: Callable[[tf.Tensor], Tuple[tf.Tensor, ...]],
                     seed: tf.Tensor, min_distance: float,
                     max_tries: int = 100) -> Tuple[tf.Tensor, ...]:
  """Redraws `draw(seed_i)` until its anchors (first output) are far apart.

  Returns the first draw whose anchors are all at least `min_distance`
  apart; if none of `max_tries` is, the draw with the largest minimum
  distance (so the graph never fails on a too-strict threshold).
  """
  seeds = tf.random.experimental.stateless_split(seed, max_tries)
  first = draw(seeds[0])

  def spread(outputs):
    return min_pairwise_distance(outputs[0])

  def not_done(i, best, best_spread):
    del best
    return tf.logical_and(i < max_tries, best_spread < min_distance)

  def body(i, best, best_spread):
    candidate = draw(seeds[i])
    candidate_spread = spread(candidate)
    better = candidate_spread > best_spread
    best = tuple(tf.where(better, c, b) for c, b in zip(candidate, best))
    return i + 1, best, tf.maximum(candidate_spread, best_spread)

  _, best, _ = tf.while_loop(not_done, body,
                             (tf.constant(1), first, spread(first)))
  return best


@dataclasses.dataclass(frozen=True)
class TaskShape:
  n_way: int
  k_shot: int
  k_query: int

  @property
  def per_class(self) -> int:
    return self.k_shot + self.k_query


def sample_gan_task(generator, seed: tf.Tensor, shape: TaskShape,
                    policy: str, min_distance: float, max_tries: int = 100,
                    **hyperparameters) -> Episode:
  """A LASIUM task from a GAN: prior anchors, policy samples, one decode."""
  anchor_seed, policy_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  latent_dim = generator.latent_dim

  def draw(s):
    return (tf.random.stateless_normal([shape.n_way, latent_dim], s),)

  (anchors,) = rejection_sample(draw, anchor_seed, min_distance, max_tries)
  others = POLICIES[policy](anchors, shape.per_class - 1, policy_seed,
                            **hyperparameters)
  latents = tf.concat([anchors[:, None], others], axis=1)  # [N, K, d]
  images = generator.decode(tf.reshape(latents, [-1, latent_dim]))
  images = tf.reshape(images, tf.concat(
      [[shape.n_way, shape.per_class], tf.shape(images)[1:]], 0))
  return split_classes(_static(images, shape), shape.k_shot)


def sample_vae_task(generator, real_images: tf.Tensor, seed: tf.Tensor,
                    shape: TaskShape, policy: str, min_distance: float,
                    max_tries: int = 100, **hyperparameters) -> Episode:
  """A LASIUM task from a VAE: encoded real anchors, first sample real.

  `real_images` is the unlabeled training set [num_images, H, W, C]; N of
  them, distinct, are drawn per try, and their encoder means are the anchors.
  """
  anchor_seed, policy_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2))
  count = tf.shape(real_images)[0]

  def draw(s):
    picks = tf.math.top_k(tf.random.stateless_uniform([count], s),
                          shape.n_way).indices
    chosen = tf.gather(real_images, picks)
    return generator.encode(chosen), chosen

  anchors, chosen = rejection_sample(draw, anchor_seed, min_distance,
                                     max_tries)
  others = POLICIES[policy](anchors, shape.per_class - 1, policy_seed,
                            **hyperparameters)
  decoded = generator.decode(tf.reshape(others, [-1, generator.latent_dim]))
  decoded = tf.reshape(decoded, tf.concat(
      [[shape.n_way, shape.per_class - 1], tf.shape(decoded)[1:]], 0))
  images = tf.concat([chosen[:, None], decoded], axis=1)
  return split_classes(_static(images, shape), shape.k_shot)


def _static(images: tf.Tensor, shape: TaskShape) -> tf.Tensor:
  images.set_shape([shape.n_way, shape.per_class] + [None] * (
      images.shape.rank - 2))
  return images


@dataclasses.dataclass(frozen=True)
class Anchors:
  """Where a task's anchors come from (`GeneratorKind.anchors` names one).

  Attributes:
    sample: (generator, real_images, seed, shape, policy, min_distance,
      max_tries, **hyperparameters) -> an Episode.
    needs_images: anchors are encoded real images, passed as real_images.
    min_distance: latent size -> the default anchor separation.
  """

  sample: Callable[..., Episode]
  needs_images: bool
  min_distance: Callable[[int], float]


ANCHORS: Dict[str, Anchors] = {
    PRIOR_ANCHORS: Anchors(
        lambda generator, real, *args, **kw: sample_gan_task(
            generator, *args, **kw),
        needs_images=False, min_distance=default_min_distance),
    # Encodings of distinct images: no separation asked by default.
    IMAGE_ANCHORS: Anchors(sample_vae_task, needs_images=True,
                           min_distance=lambda latent_dim: 0.0),
}


@dataclasses.dataclass(frozen=True)
class LasiumSampler:
  """Configured LASIUM task source: `episode(seed, index)` and `dataset`.

  Attributes:
    generator: a KerasGenerator or SavedModelGenerator.
    kind: the generator's kind (`lasium_tf.generators.KINDS`), which says
      where anchors come from: the prior (a GAN) or encoded real images (a
      VAE).
    policy: "n", "ro" or "oc".
    hyperparameters: sigma2 for N, alpha for RO and OC (oc_sigma2 for OC).
    min_distance: anchor separation; None uses default_min_distance for a
      GAN and 0 for a VAE (encodings of distinct images).
    real_images: the unlabeled images VAE anchors come from.
    query_shift, shift_fill: the authors' query shift
    (`lasium_tf.tasks.augment`):
      every query image moved by offsets in {-S, ..., S - 1}, uncovered
      pixels set to `shift_fill`; 0 shifts nothing.
  """

  generator: object
  kind: str
  policy: str
  shape: TaskShape
  hyperparameters: Dict[str, float] = dataclasses.field(default_factory=dict)
  min_distance: Optional[float] = None
  max_tries: int = 100
  real_images: Optional[np.ndarray] = None
  query_shift: int = 0
  shift_fill: float = 0.0

  def __post_init__(self):
    if self.policy not in POLICIES:
      raise ValueError(f"unknown LASIUM policy {self.policy!r}; use one of "
                       f"{sorted(POLICIES)}.")
    if self.kind not in KINDS or KINDS.get(self.kind).anchors not in ANCHORS:
      raise ValueError(
          f"generator kind {self.kind!r} gives LASIUM no anchors; use one of "
          f"{[k.name for k in KINDS.loaded() if k.anchors in ANCHORS]}.")
    if self.shape.n_way < 2:
      raise ValueError(f"a task needs at least 2 classes, got "
                       f"n_way={self.shape.n_way}.")
    if self.anchors.needs_images:
      if self.real_images is None:
        raise ValueError("VAE anchors are encoded real images: pass "
                         "real_images.")
      if not self.generator.can_encode:
        raise ValueError("VAE anchors need a generator with an encoder.")
      if self.shape.n_way > len(self.real_images):
        raise ValueError(
            f"{self.shape.n_way} anchors need as many real images; only "
            f"{len(self.real_images)} given.")

  @property
  def anchors(self) -> "Anchors":
    return ANCHORS[KINDS.get(self.kind).anchors]

  @property
  def threshold(self) -> float:
    if self.min_distance is not None:
      return self.min_distance
    return self.anchors.min_distance(self.generator.latent_dim)

  def episode(self, seed, index) -> Episode:
    """Task `index` of the stream named by `seed`."""
    return self._episode_from(self._real, seed, index)

  @property
  def _real(self) -> Optional[tf.Tensor]:
    if not self.anchors.needs_images:
      return None
    return tf.constant(self.real_images, tf.float32)

  def meta_batches(self, seed: int, meta_batch_size: int,
                   start_batch: int = 0) -> tf.data.Dataset:
    """Endless meta-batches [B, ...] of tasks start_batch * B, ... (prefetched).

    Each element is drawn by one traced tf.data function, prefetched while
    the learner takes its meta-step.
    """
    return (tf.data.Dataset.range(start_batch, np.iinfo(np.int64).max)
            .map(lambda b: self.episodes(seed, b * meta_batch_size,
                                         meta_batch_size))
            .prefetch(tf.data.AUTOTUNE))

  def episodes(self, seed, first, count: int) -> Episode:
    """Tasks first, ..., first + count - 1 stacked [count, ...]: a
    meta-batch, or a replica's share of one (`lasium_tf.run.distribute`)."""
    real = self._real
    episodes = [self._episode_from(real, seed, first + t)
                for t in range(count)]
    return Episode(*(tf.stack(parts) for parts in zip(*episodes)))

  def _episode_from(self, real, seed, index) -> Episode:
    task = task_seed(seed, index)
    episode = self.anchors.sample(self.generator, real, task, self.shape,
                                  self.policy, self.threshold,
                                  self.max_tries, **self.hyperparameters)
    return shift_queries(episode, task, self.query_shift, self.shift_fill)
