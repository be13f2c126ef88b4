"""The stacked-network path equals the per-task reference, task by task."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.learners import batched
from lasium_tf.tasks import episodes
from lasium_tf.learners.batched import BatchedNetwork
from lasium_tf.learners.maml_core import MAML
from lasium_tf.models.backbone import build_backbone, build_classifier

BACKBONES = [("code", (16, 16, 1)), ("paper", (16, 16, 1)),
             ("code", (46, 46, 3))]  # The last: the max-pool RGB network.


def model_for(name, shape, seed=0):
  return build_classifier(build_backbone(name, shape, filters=6, seed=seed),
                          4, seed=seed)


def random_tasks(shape, tasks=3, k_shot=2, k_query=3, n_way=4, seed=0):
  rng = np.random.default_rng(seed)
  labels = lambda k: np.tile(np.repeat(np.arange(n_way), k), (tasks, 1))
  return episodes.Episode(
      tf.constant(rng.uniform(size=(tasks, n_way * k_shot, *shape)),
                  tf.float32), tf.constant(labels(k_shot), tf.int32),
      tf.constant(rng.uniform(size=(tasks, n_way * k_query, *shape)),
                  tf.float32), tf.constant(labels(k_query), tf.int32))


def per_task_weights(tasks, seed=1):
  """Different weights per task: the initial ones, perturbed per task."""
  def of(model):
    rng = np.random.default_rng(seed)
    return [tf.constant(np.stack([
        v.numpy() + rng.normal(scale=0.05, size=v.shape) for _ in
        range(tasks)]), tf.float32) for v in model.trainable_variables]
  return of


@pytest.mark.parametrize("name, shape", BACKBONES)
def test_forward_equals_each_task_run_alone_with_its_own_weights(name, shape):
  model = model_for(name, shape)
  maml = MAML(model, batched=False)
  net = BatchedNetwork(model)
  tasks = random_tasks(shape)
  stacked = per_task_weights(3)(model)
  logits = net.forward(stacked, tasks.query_images).numpy()
  for t in range(3):
    alone = maml.predict([w[t] for w in stacked], tasks.query_images[t])
    np.testing.assert_allclose(logits[t], alone.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, shape", BACKBONES)
def test_adapting_all_tasks_at_once_equals_adapting_each(name, shape):
  model = model_for(name, shape)
  reference = MAML(model, batched=False)
  together = MAML(model)
  assert together.batched is not None
  tasks = random_tasks(shape)
  stacked = together.adapt_tasks(tasks.support_images, tasks.support_labels,
                                 steps=5, lr=0.4)
  for t in range(3):
    alone = reference.adapt_in_loop(tasks.support_images[t],
                                    tasks.support_labels[t], 5, 0.4)
    for s, a in zip(stacked, alone):
      np.testing.assert_allclose(s[t].numpy(), a.numpy(), atol=1e-4)


def test_batched_evaluation_is_the_default_and_agrees_with_per_task():
  from test_maml import batch_of_tasks, tiny_maml
  learned = tiny_maml(eval_inner_steps=10)
  reference = MAML(learned.model, eval_inner_steps=10, batched=False)
  assert learned.batched is not None and reference.batched is None
  tasks = batch_of_tasks(6, k_query=4)
  np.testing.assert_allclose(learned.evaluate(tasks).numpy(),
                             reference.evaluate(tasks).numpy(), atol=1e-6)


def test_stacking_repeats_the_weights_per_task():
  weights = [tf.constant([[1.0, 2.0]]), tf.constant([3.0])]
  stacked = batched.stack(weights, 4)
  assert stacked[0].shape == (4, 1, 2) and stacked[1].shape == (4, 1)
  np.testing.assert_array_equal(stacked[0][3], weights[0])


def test_networks_it_cannot_run_keep_the_per_task_path():
  inputs = keras.Input((8, 8, 1))
  x = keras.layers.Conv2D(4, 3)(inputs)
  x = keras.layers.Dropout(0.5)(x)
  x = keras.layers.Flatten()(x)
  model = keras.Model(inputs, keras.layers.Dense(2)(x))
  assert not BatchedNetwork.supports(model)
  with pytest.raises(ValueError, match="per-task path"):
    BatchedNetwork(model)
  maml = MAML(model, eval_inner_steps=2)
  assert maml.batched is None
  tasks = random_tasks((8, 8, 1), n_way=2)
  assert maml.evaluate(tasks).shape == (3,)
  residual_in = keras.Input((8, 8, 1))
  branch = keras.layers.Conv2D(1, 3, padding="same")(residual_in)
  merged = keras.layers.Add()([residual_in, branch])
  residual = keras.Model(residual_in, keras.layers.Dense(2)(
      keras.layers.Flatten()(merged)))
  assert not BatchedNetwork.supports(residual)


@pytest.mark.parametrize("first_order", [False, True])
def test_meta_gradients_of_the_stacked_meta_batch_equal_per_task(first_order):
  from test_maml import batch_of_tasks, tiny_maml
  together = tiny_maml(first_order=first_order)
  reference = MAML(together.model, inner_lr=0.4, inner_steps=2,
                   first_order=first_order, batched=False)
  tasks = batch_of_tasks(4)
  grads, metrics = together.meta_gradients(tasks)
  expected, expected_metrics = reference.meta_gradients(tasks)
  # Conv biases before BatchNorm get gradients of rounding size (~1e-8):
  # compare every gradient on the scale of the largest.
  scale = max(float(tf.reduce_max(tf.abs(e))) for e in expected)
  for g, e in zip(grads, expected):
    np.testing.assert_allclose(g.numpy() / scale, e.numpy() / scale,
                               atol=1e-4)
  assert float(metrics["loss"]) == pytest.approx(
      float(expected_metrics["loss"]), rel=1e-4)
  assert float(metrics["accuracy"]) == pytest.approx(
      float(expected_metrics["accuracy"]))
  # Second order differs from first order: the Hessian terms are there.
  if not first_order:
    first, _ = MAML(together.model, inner_lr=0.4, inner_steps=2,
                    first_order=True).meta_gradients(tasks)
    assert any(not np.allclose(g.numpy(), f.numpy(), atol=1e-4)
               for g, f in zip(grads, first))


def test_a_tensorflow_without_grouped_gradients_is_named_with_its_fix(
    monkeypatch):
  """Where TensorFlow was loaded before lasium_tf (oneDNN off) MAML falls
  back to the per-task path, and says so rather than silently running
  slower."""
  def refuse(*args, **kwargs):
    raise tf.errors.UnimplementedError(None, None, "grouped filter")
  batched.grouped_gradients_work.cache_clear()
  monkeypatch.setattr(tf.nn, "conv2d", refuse)
  try:
    with pytest.warns(UserWarning, match="Import lasium_tf before tensorflow"):
      assert batched.grouped_gradients_work() is False
  finally:
    monkeypatch.undo()
    batched.grouped_gradients_work.cache_clear()
  assert batched.grouped_gradients_work() is True
