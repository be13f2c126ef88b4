"""Normalisation as a named choice: what a query's logits depend on."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.learners import batchnorm as norms
from lasium_tf.learners.batched import BatchedNetwork
from lasium_tf.learners.maml_core import MAML
from lasium_tf.models.backbone import build_backbone, build_classifier
from lasium_tf.learners.protonets_core import ProtoNets
from test_batched import random_tasks

SHAPE = (16, 16, 1)
NON_TRANSDUCTIVE = ("support", "support_and_query", "tasknorm_i")


def maml(normalization, batched=True, name="code", seed=0):
  backbone = build_backbone(name, SHAPE, filters=6, seed=seed,
                            normalization=normalization)
  return MAML(build_classifier(backbone, 4, seed=seed), inner_steps=2,
              eval_inner_steps=4, batched=batched,
              normalization=normalization)


def protonets(normalization):
  return ProtoNets(build_backbone("code", SHAPE, filters=6,
                                  normalization=normalization),
                   normalization=normalization)


def with_blend(learner, value=0.7):
  """Non-zero TaskNorm blend weights, so that a test sees them act."""
  for v in learner.model.trainable_variables:
    if "blend" in v.name:
      v.assign(value)
  return learner


def logits_one_at_a_time(learner, task):
  return np.concatenate([learner.few_shot_logits(
      task.support_images, task.support_labels,
      task.query_images[i:i + 1]).numpy()
                         for i in range(task.query_images.shape[0])])


def one_task(seed=0):
  tasks = random_tasks(SHAPE, tasks=1, seed=seed)
  return type(tasks)(*(p[0] for p in tasks))


def test_moments_of_the_support_rule_come_from_the_context_rows_only():
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=(7, 3, 3, 2)), tf.float32)
  mean, variance = norms.moments(x, 3)
  np.testing.assert_allclose(mean, x[:3].numpy().mean(axis=(0, 1, 2)),
                             atol=1e-6)
  np.testing.assert_allclose(variance, x[:3].numpy().var(axis=(0, 1, 2)),
                             atol=1e-5)
  whole, _ = norms.moments(x)
  np.testing.assert_allclose(whole, x.numpy().mean(axis=(0, 1, 2)),
                             atol=1e-6)


def test_tasknorm_moments_are_the_mixture_of_context_and_instance():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(5, 4, 4, 3)).astype(np.float32)
  alpha = 0.3
  mean, variance = norms.moments(tf.constant(x), 2, alpha)
  # The mixture alpha * N(context) + (1 - alpha) * N(instance), per image.
  for b in range(5):
    context = x[:2].reshape(-1, 3)
    instance = x[b].reshape(-1, 3)
    m = alpha * context.mean(0) + (1 - alpha) * instance.mean(0)
    second = (alpha * (context ** 2).mean(0)
              + (1 - alpha) * (instance ** 2).mean(0))
    np.testing.assert_allclose(mean[b, 0, 0], m, atol=1e-5)
    np.testing.assert_allclose(variance[b, 0, 0], second - m ** 2,
                               atol=1e-4)
  # alpha = 1 is the support rule, alpha = 0 instance normalisation.
  full, _ = norms.moments(tf.constant(x), 2, 1.0)
  np.testing.assert_allclose(full[3, 0, 0], x[:2].mean(axis=(0, 1, 2)),
                             atol=1e-5)
  none, _ = norms.moments(tf.constant(x), 2, 0.0)
  np.testing.assert_allclose(none[3, 0, 0], x[3].mean(axis=(0, 1)),
                             atol=1e-5)


def test_support_and_query_moments_are_those_of_the_support_and_the_query():
  """Each query row: the batch moments of [context; that row], by hand; the
  context rows: the context's own."""
  rng = np.random.default_rng(2)
  x = rng.normal(size=(6, 3, 3, 2)).astype(np.float32)
  mean, variance = norms.moments(tf.constant(x), 2, with_self=True)
  for b in range(6):
    rows = x[:2] if b < 2 else np.concatenate([x[:2], x[b:b + 1]])
    np.testing.assert_allclose(mean[b, 0, 0], rows.mean(axis=(0, 1, 2)),
                               atol=1e-5)
    np.testing.assert_allclose(variance[b, 0, 0], rows.var(axis=(0, 1, 2)),
                               atol=1e-5)


@pytest.mark.parametrize("normalization", NON_TRANSDUCTIVE)
@pytest.mark.parametrize("make", [maml, protonets], ids=["maml", "protonets"])
def test_a_query_alone_gets_the_logits_it_gets_in_a_batch(make,
                                                         normalization):
  learner = with_blend(make(normalization))
  task = one_task()
  together = learner.few_shot_logits(task.support_images, task.support_labels,
                                     task.query_images).numpy()
  np.testing.assert_allclose(logits_one_at_a_time(learner, task), together,
                             atol=1e-5)
  # Other queries beside it change nothing either.
  other = one_task(seed=9).query_images
  mixed = learner.few_shot_logits(
      task.support_images, task.support_labels,
      tf.concat([task.query_images[:2], other], 0)).numpy()
  np.testing.assert_allclose(mixed[:2], together[:2], atol=1e-5)


@pytest.mark.parametrize("make", [maml, protonets], ids=["maml", "protonets"])
def test_transductive_logits_depend_on_the_other_queries(make):
  learner = make("transductive")
  task = one_task()
  together = learner.few_shot_logits(task.support_images, task.support_labels,
                                     task.query_images).numpy()
  assert np.abs(logits_one_at_a_time(learner, task) - together).max() > 1e-2


@pytest.mark.parametrize("normalization", NON_TRANSDUCTIVE)
def test_stacked_evaluation_equals_the_per_task_path(normalization):
  stacked = with_blend(maml(normalization))
  reference = MAML(stacked.model, eval_inner_steps=4, batched=False,
                   normalization=normalization)
  assert stacked.batched is not None and reference.batched is None
  tasks = random_tasks(SHAPE, tasks=3)
  np.testing.assert_allclose(stacked.evaluate(tasks).numpy(),
                             reference.evaluate(tasks).numpy(), atol=1e-6)


@pytest.mark.parametrize("normalization", NON_TRANSDUCTIVE)
def test_stacked_meta_gradients_equal_the_per_task_ones(normalization):
  stacked = with_blend(maml(normalization))
  reference = MAML(stacked.model, inner_steps=2, batched=False,
                   normalization=normalization)
  tasks = random_tasks(SHAPE, tasks=2)
  grads, metrics = stacked.meta_gradients(tasks)
  ref_grads, ref_metrics = reference.meta_gradients(tasks)
  np.testing.assert_allclose(metrics["loss"], ref_metrics["loss"], rtol=1e-5)
  for g, r in zip(grads, ref_grads):
    np.testing.assert_allclose(g.numpy(), r.numpy(), rtol=1e-3, atol=1e-5)


# Which rows give the moments of the support rows and of the query row, for
# one query behind n support images: the hand-made reference below.
HAND_RULES = {
    "support": lambda x, n: (x[:n], x[:n]),
    "support_and_query": lambda x, n: (x[:n], x),
}


@pytest.mark.parametrize("normalization", list(HAND_RULES))
def test_a_query_is_normalised_by_the_rows_its_rule_names(normalization):
  """Identity check by hand on the Keras layers, for one query: at every
  BatchNorm the support rows take the support set's moments (as while
  adapting); the query takes the support set's ("support") or those of the
  support rows and itself ("support_and_query")."""
  learner = maml(normalization, name="paper")
  task = one_task()
  weights = learner.initial_weights()
  got = learner.predict(weights, task.query_images[:1],
                        context=task.support_images).numpy()
  x = tf.concat([task.support_images, task.query_images[:1]], 0)
  n = task.support_images.shape[0]
  for layer in learner.embedding.layers[1:]:
    if isinstance(layer, keras.layers.BatchNormalization):
      parts = []
      for rows, given in zip((x[:n], x[n:]), HAND_RULES[normalization](x, n)):
        mean, var = tf.nn.moments(given, axes=[0, 1, 2])
        parts.append((rows - mean) * tf.math.rsqrt(var + layer.epsilon))
      x = tf.concat(parts, 0) * layer.gamma + layer.beta
    else:
      x = layer(x)
  head = learner.model.get_layer("head")
  np.testing.assert_allclose(got, head(x)[n:].numpy(), rtol=1e-4, atol=1e-4)


def test_tasknorm_layer_called_by_keras_equals_the_stacked_network():
  learner = with_blend(protonets("tasknorm_i"), 0.4)
  images = one_task().query_images
  keras_call = learner.model(images, training=True).numpy()
  stacked = BatchedNetwork(learner.model).forward(
      [v[None] for v in learner.watched()], images[None],
      normalization="tasknorm_i")[0].numpy()
  np.testing.assert_allclose(keras_call, stacked, atol=1e-5)


def test_tasknorm_blend_weights_are_learned():
  learner = maml("tasknorm_i")
  blends = [v for v in learner.model.trainable_variables if "blend" in v.name]
  assert len(blends) == 8  # Scale and offset of each of the four layers.
  learner.meta_step(random_tasks(SHAPE, tasks=2))
  assert all(float(v) != 0.0 for v in blends)


def test_with_normalization_shares_the_model_and_refuses_other_networks():
  learner = maml("transductive")
  other = learner.with_normalization("support")
  assert other.model is learner.model and other.optimizer is learner.optimizer
  assert other.normalization == "support"
  assert learner.normalization == "transductive"
  with pytest.raises(ValueError, match="TaskNorm-I has weights"):
    learner.with_normalization("tasknorm_i")
  with pytest.raises(ValueError, match="TaskNorm-I has weights"):
    maml("tasknorm_i").with_normalization("support")


def test_unknown_normalization_is_refused():
  with pytest.raises(ValueError, match="transductive, support, "
                     "support_and_query, tasknorm_i"):
    maml("batch")
