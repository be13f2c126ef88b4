"""LASIUM sampler invariants, on generators whose images reveal their latents.

`IdentityGenerator` decodes a latent vector z in R^4 into a 2x2x1 "image"
holding z itself, so every image of a task tells which latent vector made
it: anchors, policy samples and distances can be checked exactly.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.tasks import lasium
from lasium_tf.tasks.episodes import Episode

D = 4


class IdentityGenerator:
  latent_dim = D
  can_encode = True

  def decode(self, z):
    return tf.reshape(z, [-1, 2, 2, 1])

  def encode(self, images):
    return tf.reshape(images, [-1, D])


def latents(images):
  return images.numpy().reshape(images.shape[0], D)


def by_class(episode, n_way, k_shot, k_query):
  """[N, K_tr + K_val, D] latents, class-major, support first."""
  support = latents(episode.support_images).reshape(n_way, k_shot, D)
  query = latents(episode.query_images).reshape(n_way, k_query, D)
  return np.concatenate([support, query], axis=1)


def gan_sampler(policy, n_way=5, k_shot=1, k_query=5, min_distance=0.0,
                **hyperparameters):
  return lasium.LasiumSampler(
      IdentityGenerator(), "gan", policy,
      lasium.TaskShape(n_way, k_shot, k_query), hyperparameters,
      min_distance=min_distance)


@pytest.mark.parametrize("policy", ["n", "ro", "oc"])
def test_shapes_labels_and_reproducibility(policy):
  sampler = gan_sampler(policy, n_way=3, k_shot=2, k_query=4)
  episode = sampler.episode(5, 11)
  assert episode.support_images.shape == (6, 2, 2, 1)
  assert episode.query_images.shape == (12, 2, 2, 1)
  np.testing.assert_array_equal(episode.support_labels, [0, 0, 1, 1, 2, 2])
  np.testing.assert_array_equal(episode.query_labels,
                                np.repeat(np.arange(3), 4))
  again = sampler.episode(5, 11)
  other = sampler.episode(5, 12)
  np.testing.assert_array_equal(episode.query_images, again.query_images)
  assert not np.allclose(episode.query_images, other.query_images)


def test_first_sample_of_each_class_is_its_anchor_and_anchors_far_apart():
  threshold = 1.5  # Two N(0, I_4) vectors lie sqrt(8) = 2.83 apart on average.

  def closest_pairs(sampler):
    out = []
    for index in range(20):
      anchors = by_class(sampler.episode(0, index), 5, 1, 5)[:, 0]
      distances = np.linalg.norm(anchors[:, None] - anchors[None], axis=-1)
      out.append(distances[~np.eye(5, dtype=bool)].min())
    return np.array(out)

  assert closest_pairs(gan_sampler("n", sigma2=0.01)).min() < threshold
  sampler = gan_sampler("n", min_distance=threshold, sigma2=0.01)
  assert closest_pairs(sampler).min() >= threshold
  for index in range(10):
    points = by_class(sampler.episode(0, index), 5, 1, 5)
    anchors = points[:, 0]
    # Each class's samples sit around its own anchor (distinct classes).
    nearest = np.argmin(np.linalg.norm(
        points[:, 1:, None] - anchors[None, None], axis=-1), axis=-1)
    np.testing.assert_array_equal(nearest, np.repeat(np.arange(5)[:, None],
                                                     5, axis=1))


def test_impossible_anchor_distance_returns_the_best_draw_without_hanging():
  sampler = gan_sampler("n", min_distance=1e6, sigma2=0.1)
  episode = sampler.episode(0, 0)
  assert np.all(np.isfinite(episode.support_images.numpy()))


def test_default_threshold_is_the_authors_at_128_dimensions():
  assert lasium.default_min_distance(128) ** 2 == pytest.approx(246.09)


def test_lasium_n_spread_grows_with_sigma():
  anchors = tf.zeros([5, 64])
  spreads = []
  for sigma2 in (0.5, 1.0, 2.0):
    samples = lasium.lasium_n(anchors, 50, tf.constant([0, 1], tf.int64),
                              sigma2=sigma2)
    assert samples.shape == (5, 50, 64)
    spreads.append(float(tf.math.reduce_std(samples)))
    assert spreads[-1] == pytest.approx(math.sqrt(sigma2), rel=0.05)
  assert spreads == sorted(spreads)


def test_lasium_n_with_sigma_max_draws_a_scale_per_class():
  anchors = tf.zeros([6, 64])
  seed = tf.constant([0, 1], tf.int64)
  samples = lasium.lasium_n(anchors, 40, seed, sigma_max=2.0).numpy()
  scales = samples.reshape(6, -1).std(axis=1)
  assert scales.min() >= 0.0 and scales.max() <= 2.0 * 1.1
  assert scales.max() - scales.min() > 0.2  # Classes differ in spread.
  # Without sigma_max the stream is the fixed-sigma one, as before.
  fixed = lasium.lasium_n(anchors, 40, seed, sigma2=0.5).numpy()
  plain = tf.random.stateless_normal([6, 40, 64], seed).numpy()
  np.testing.assert_allclose(fixed, math.sqrt(0.5) * plain, rtol=1e-6)


def test_lasium_n_sigma_is_a_standard_deviation_and_wins_over_sigma2():
  anchors = tf.zeros([5, 64])
  seed = tf.constant([2, 3], tf.int64)
  by_std = lasium.lasium_n(anchors, 40, seed, sigma2=2.0, sigma=0.5).numpy()
  by_variance = lasium.lasium_n(anchors, 40, seed, sigma2=0.25).numpy()
  np.testing.assert_allclose(by_std, by_variance, rtol=1e-6)
  assert by_std.std() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("rejection, policy, rejects", [
    ("all", "n", True), ("all", "ro", True), ("all", "oc", True),
    ("n", "n", True), ("n", "ro", False), ("n", "oc", False),
    ("none", "n", False), ("none", "ro", False),
])
def test_anchor_rejection_per_policy(rejection, policy, rejects):
  from lasium_tf.config import LasiumConfig
  threshold = 1.5
  config = LasiumConfig(generator="g", policy=policy,
                        anchor_rejection=rejection,
                        anchor_min_distance=threshold)
  sampler = lasium.LasiumSampler(
      IdentityGenerator(), "gan", policy, lasium.TaskShape(5, 1, 1),
      config.policy_hyperparameters(), config.resolved_min_distance)
  # Five 4-d anchors are closer than 1.5 in most draws: with rejection they
  # are redrawn until they are not.
  spreads = [float(lasium.min_pairwise_distance(tf.constant(by_class(
      sampler.episode(0, i), 5, 1, 1)[:, 0]))) for i in range(20)]
  if rejects:
    assert sampler.threshold == threshold
    assert min(spreads) >= threshold
  else:
    assert sampler.threshold == 0.0
    assert min(spreads) < threshold


@pytest.mark.parametrize("alpha", [0.2, 0.4])
def test_lasium_ro_samples_lie_on_segments_towards_random_vectors(alpha):
  anchors = tf.random.stateless_normal([5, D], [1, 2])
  seed = tf.constant([3, 4], tf.int64)
  samples = lasium.lasium_ro(anchors, 6, seed, alpha=alpha).numpy()
  z = anchors.numpy()[:, None]
  # v = z + (z' - z) / alpha is the random out-of-class vector.
  v = z + (samples - z) / alpha
  np.testing.assert_allclose(
      v, tf.random.stateless_normal([5, 6, D], seed).numpy(), atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(samples - z, axis=-1),
                             alpha * np.linalg.norm(v - z, axis=-1),
                             rtol=1e-5)
  assert len(np.unique(v.reshape(-1, D), axis=0)) == 30  # Fresh each time.


@pytest.mark.parametrize("n_way", [2, 3, 5, 7])
def test_lasium_oc_moves_towards_every_other_anchor_for_any_n(n_way):
  alpha = 0.4
  anchors = tf.random.stateless_normal([n_way, D], [5, 6]).numpy()
  num = 2 * n_way
  samples = lasium.lasium_oc(tf.constant(anchors), num,
                             tf.constant([0, 0], tf.int64),
                             alpha=alpha).numpy()
  for i in range(n_way):
    targets = set()
    for m in range(num):
      target = (i + 1 + m % n_way) % n_way
      if target == i:  # Every N-th sample: z_i + N(0, I) (authors' code).
        assert np.linalg.norm(samples[i, m] - anchors[i]) > 0
        continue
      expected = anchors[i] + alpha * (anchors[target] - anchors[i])
      np.testing.assert_allclose(samples[i, m], expected, atol=1e-5)
      targets.add(target)
    assert targets == set(range(n_way)) - {i}


def test_oc_through_the_sampler_stays_on_segments_between_anchors():
  alpha = 0.2
  sampler = gan_sampler("oc", n_way=4, k_shot=1, k_query=3, alpha=alpha)
  points = by_class(sampler.episode(1, 0), 4, 1, 3)
  anchors = points[:, 0]
  for i in range(4):
    for m, sample in enumerate(points[i, 1:]):
      j = (i + 1 + m) % 4
      length = np.linalg.norm(anchors[j] - anchors[i])
      assert np.linalg.norm(sample - anchors[i]) == pytest.approx(
          alpha * length, rel=1e-4)
      assert np.linalg.norm(sample - anchors[j]) == pytest.approx(
          (1 - alpha) * length, rel=1e-4)


def test_vae_tasks_start_with_distinct_real_images_and_encode_anchors():
  real = np.random.default_rng(0).normal(size=(30, 2, 2, 1)).astype(np.float32)
  sampler = lasium.LasiumSampler(
      IdentityGenerator(), "vae", "ro", lasium.TaskShape(5, 1, 4),
      {"alpha": 0.4}, real_images=real)
  points = by_class(sampler.episode(0, 2), 5, 1, 4)
  flat_real = real.reshape(30, D)
  first = points[:, 0]
  rows = [int(np.argmin(np.linalg.norm(flat_real - f, axis=1))) for f in first]
  np.testing.assert_allclose(first, flat_real[rows], atol=1e-6)  # Real.
  assert len(set(rows)) == 5  # Distinct images, distinct classes.
  # Other samples are RO moves from the encoded anchor (here, the image).
  for c in range(5):
    v = first[c] + (points[c, 1:] - first[c]) / 0.4
    assert np.all(np.linalg.norm(v - first[c], axis=1) > 0)


def test_meta_batches_resume_on_the_same_stream():
  sampler = gan_sampler("ro", n_way=3, k_shot=1, k_query=2, alpha=0.2)
  stream = iter(sampler.meta_batches(seed=3, meta_batch_size=2))
  first, second = next(stream), next(stream)
  assert isinstance(first, Episode)
  assert first.support_images.shape == (2, 3, 2, 2, 1)
  resumed = next(iter(sampler.meta_batches(seed=3, meta_batch_size=2,
                                           start_batch=1)))
  np.testing.assert_array_equal(second.query_images, resumed.query_images)
  # Task t of batch b is task b * B + t of the stream.
  np.testing.assert_array_equal(second.query_images[1],
                                sampler.episode(3, 3).query_images)


@pytest.mark.parametrize("kwargs, match", [
    (dict(policy="xx"), "unknown LASIUM policy"),
    (dict(kind="vae"), "pass real_images"),
    (dict(shape=lasium.TaskShape(1, 1, 1)), "at least 2 classes"),
])
def test_bad_sampler_arguments(kwargs, match):
  args = dict(generator=IdentityGenerator(), kind="gan", policy="n",
              shape=lasium.TaskShape(5, 1, 1))
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    lasium.LasiumSampler(**args)


def test_each_policy_is_named_once_with_its_function_and_settings():
  """The --policy choices are the settings table's names, and each has a
  sampling function: no list of policy names is kept twice."""
  from lasium_tf.config import sources

  assert sources.POLICIES == tuple(sources.POLICY_SETTINGS)
  assert set(lasium.POLICIES) == set(sources.POLICIES)
