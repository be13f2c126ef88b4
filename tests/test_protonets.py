"""ProtoNets behaviour on tiny inputs, and the shared learner interface."""

import numpy as np
import tensorflow as tf

from lasium_tf.tasks import episodes
from lasium_tf.learners.protonets_core import ProtoNets, prototype_logits
from lasium_tf.models.backbone import build_backbone
from test_maml import batch_of_tasks, class_images, N_WAY


def tiny_protonets(**kwargs):
  return ProtoNets(build_backbone("code", (16, 16, 1), filters=8), **kwargs)


def test_prototype_logits_are_negative_squared_distances_to_class_means():
  support = tf.constant([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
  labels = tf.constant([0, 0, 1, 1])
  query = tf.constant([[1.0, 1.0]])
  logits = prototype_logits(support, labels, query, 2).numpy()
  # Prototypes (1, 0) and (0, 5): squared distances 1 and 17.
  np.testing.assert_allclose(logits, [[-1.0, -17.0]])


def test_meta_steps_improve_query_accuracy():
  learner = tiny_protonets(meta_lr=0.003)
  held_out = batch_of_tasks(16, seed=99)
  before = float(tf.reduce_mean(learner.evaluate(held_out)))
  stream = iter(episodes.labelled_episodes(class_images(), N_WAY, 1, 3,
                                           seed=1).batch(4))
  for _ in range(30):
    metrics = learner.meta_step(next(stream))
  after = float(tf.reduce_mean(learner.evaluate(held_out)))
  assert set(metrics) == {"loss", "accuracy", "finite"}
  assert after > before or after > 0.95


def test_gradients_reach_every_trainable_variable():
  learner = tiny_protonets()
  tasks = batch_of_tasks(2)
  with tf.GradientTape() as tape:
    loss, _ = learner.task_loss(episodes.Episode(*(p[0] for p in tasks)))
  grads = tape.gradient(loss, learner.model.trainable_variables)
  for grad, var in zip(grads, learner.model.trainable_variables):
    assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0, (
        var.path)


def test_label_permutation_changes_nothing():
  """Prototypes are per label: relabelling permutes the logits' columns."""
  learner = tiny_protonets()
  tasks = batch_of_tasks(8, k_shot=2, k_query=4)
  permutation = tf.constant([2, 0, 1])
  permuted = episodes.Episode(
      tasks.support_images, tf.gather(permutation, tasks.support_labels),
      tasks.query_images, tf.gather(permutation, tasks.query_labels))
  np.testing.assert_allclose(learner.evaluate(tasks), learner.evaluate(permuted),
                             atol=1e-6)
