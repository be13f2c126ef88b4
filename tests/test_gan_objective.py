"""The GAN objective in keras.ops (`lasium_tf.gan_objective`)."""

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.generators import gan_objective


def test_generator_loss_sums_both_batches_and_adds_the_mode_seeking_term():
  logits = tf.zeros([4, 1])
  total, adversarial = gan_objective.generator_loss(logits, logits, 0.5, 2.0)
  assert float(adversarial) == pytest.approx(2 * np.log(2), rel=1e-5)
  assert float(total) == pytest.approx(2 * np.log(2) + 2.0 / (0.5 + 1e-5),
                                       rel=1e-5)
  d = gan_objective.discriminator_loss(tf.fill([4, 1], 10.0),
                                       tf.fill([4, 1], -10.0),
                                       tf.ones([4, 1]), tf.zeros([4, 1]))
  assert float(d) < 1e-3


def test_authors_generator_loss_is_one_cross_entropy_of_summed_logits():
  l1, l2 = tf.fill([4, 1], 1.0), tf.fill([4, 1], -1.0)
  _, per_batch = gan_objective.generator_loss(l1, l2, 1.0, 0.0)
  _, summed = gan_objective.generator_loss(l1, l2, 1.0, 0.0, "summed_logits")
  softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
  assert float(per_batch) == pytest.approx(softplus(-1) + softplus(1),
                                           rel=1e-5)
  assert float(summed) == pytest.approx(np.log(2), rel=1e-5)  # logit 0.


@pytest.mark.parametrize("kind, low, high", [("smoothed", 0.0, 0.05),
                                             ("overshoot", -0.05, 0.0)])
def test_fake_targets_smoothed_towards_real_or_beyond_the_fake_label(
    kind, low, high):
  u = tf.random.stateless_uniform([1000, 1], [0, 1])
  real, fake = gan_objective.discriminator_targets(u, u, 0.05, kind)
  assert 0.95 <= float(tf.reduce_min(real)) and float(
      tf.reduce_max(real)) <= 1.0
  assert low <= float(tf.reduce_min(fake)) and float(
      tf.reduce_max(fake)) <= high
  assert float(tf.reduce_max(fake) - tf.reduce_min(fake)) > 0.04
  # The discriminator's loss is finite and its gradient pushes fakes down.
  logits = tf.Variable(tf.zeros([1000, 1]))
  with tf.GradientTape() as tape:
    loss = gan_objective.discriminator_loss(tf.zeros([1000, 1]), logits,
                                            real, fake)
  assert np.isfinite(float(loss))
  assert float(tf.reduce_min(tape.gradient(loss, logits))) > 0

