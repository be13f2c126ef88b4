"""MAML behaviour on a tiny network and tiny tasks (seconds, not minutes)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.tasks import episodes
from lasium_tf.learners.base import cross_entropy
from lasium_tf.learners.maml_core import MAML
from lasium_tf.models.backbone import build_backbone, build_classifier

N_WAY = 3


def tiny_maml(seed=0, backbone="code", **kwargs):
  model = build_classifier(
      build_backbone(backbone, (16, 16, 1), filters=8, seed=seed), N_WAY,
      seed=seed)
  kwargs.setdefault("inner_lr", 0.4)
  kwargs.setdefault("inner_steps", 2)
  return MAML(model, **kwargs)


def class_images(num_classes=10, per_class=8, seed=0):
  """Learnable classes: a fixed random prototype per class plus noise."""
  rng = np.random.default_rng(seed)
  protos = rng.uniform(size=(num_classes, 1, 16, 16, 1))
  noise = rng.normal(scale=0.1, size=(num_classes, per_class, 16, 16, 1))
  return np.clip(protos + noise, 0, 1).astype(np.float32)


def batch_of_tasks(count, k_shot=1, k_query=3, seed=0):
  ds = episodes.labelled_episodes(class_images(), N_WAY, k_shot, k_query,
                                  seed=seed, count=count)
  return next(iter(ds.batch(count)))


def task(index=0):
  return episodes.Episode(*(p[index] for p in batch_of_tasks(2)))


def test_same_seed_same_weights_other_seed_other_weights():
  weights = lambda seed: [w.numpy() for w in tiny_maml(seed).model.weights]
  for a, b in zip(weights(3), weights(3)):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b)
             for a, b in zip(weights(3), weights(4)))


def test_adapting_lowers_the_support_loss():
  maml = tiny_maml()
  episode = task()
  before = cross_entropy(episode.support_labels, maml.predict(
      maml.initial_weights(), episode.support_images))
  fast = maml.adapt(episode.support_images, episode.support_labels, steps=5)
  after = cross_entropy(episode.support_labels,
                        maml.predict(fast, episode.support_images))
  assert float(after) < 0.5 * float(before)
  # The model's own variables are untouched: fast weights are tensors.
  np.testing.assert_array_equal(maml.model.trainable_variables[0].numpy(),
                                maml.initial_weights()[0].numpy())


def test_loop_adaptation_equals_unrolled_adaptation():
  maml = tiny_maml()
  episode = task()
  unrolled = maml.adapt(episode.support_images, episode.support_labels,
                        steps=3, first_order=True)
  looped = maml.adapt_in_loop(episode.support_images, episode.support_labels,
                              steps=3, lr=maml.inner_lr)
  for a, b in zip(unrolled, looped):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_second_order_gradients_differ_from_first_order():
  episodes_batch = batch_of_tasks(2)
  second, _ = tiny_maml(first_order=False).meta_gradients(episodes_batch)
  first, _ = tiny_maml(first_order=True).meta_gradients(episodes_batch)
  differences = [float(tf.norm(a - b) / (tf.norm(a) + 1e-12))
                 for a, b in zip(second, first)]
  assert max(differences) > 1e-2


def test_second_order_gradient_matches_finite_differences():
  """The derivative of the post-adaptation loss is the second-order one.

  On a smooth float64 network: with ReLU the adapted weights jump where a
  unit switches, and finite differences mean nothing.
  """
  init = keras.initializers.GlorotUniform
  model = keras.Sequential([
      keras.Input((16, 16, 1), dtype="float64"),
      keras.layers.Flatten(dtype="float64"),
      keras.layers.Dense(6, activation="tanh", dtype="float64",
                         kernel_initializer=init(seed=0)),
      keras.layers.Dense(N_WAY, dtype="float64",
                         kernel_initializer=init(seed=1))])
  maml = MAML(model, inner_lr=0.5, inner_steps=2)
  single = task()
  episode = episodes.Episode(
      tf.cast(single.support_images, tf.float64), single.support_labels,
      tf.cast(single.query_images, tf.float64), single.query_labels)
  weights = maml.initial_weights()
  rng = np.random.default_rng(0)
  direction = [tf.constant(rng.normal(size=w.shape)) for w in weights]

  def meta_loss(sign):
    shifted = [w + sign * 1e-5 * d for w, d in zip(weights, direction)]
    return float(maml.task_loss(episode, shifted)[0])

  numeric = (meta_loss(1) - meta_loss(-1)) / 2e-5

  def directional(first_order):
    maml.first_order = first_order
    grads, _ = maml.meta_gradients(
        episodes.Episode(*(p[None] for p in episode)))
    return sum(float(tf.reduce_sum(g * d)) for g, d in zip(grads, direction))

  second, first = directional(False), directional(True)
  assert second == pytest.approx(numeric, rel=1e-4)
  assert abs(first - numeric) > 100 * abs(second - numeric)


@pytest.mark.parametrize("first_order", [False, True])
def test_gradients_reach_every_trainable_variable(first_order):
  maml = tiny_maml(first_order=first_order)
  grads, _ = maml.meta_gradients(batch_of_tasks(2))
  assert len(grads) == len(maml.model.trainable_variables)
  for grad, var in zip(grads, maml.model.trainable_variables):
    assert grad is not None, var.path
    assert float(tf.reduce_max(tf.abs(grad))) > 0, var.path


def test_meta_steps_lower_post_adaptation_query_loss_on_new_tasks():
  maml = tiny_maml(meta_lr=0.01, inner_steps=1, first_order=True)
  stream = iter(episodes.labelled_episodes(class_images(), N_WAY, 1, 3,
                                           seed=1).batch(4))
  held_out = batch_of_tasks(16, seed=99)
  before = float(maml.meta_gradients(held_out)[1]["loss"])
  for _ in range(60):
    metrics = maml.meta_step(next(stream))
  after = float(maml.meta_gradients(held_out)[1]["loss"])
  assert set(metrics) == {"loss", "accuracy", "finite"}
  assert float(metrics["finite"]) == 1.0  # Applied.
  assert after < 0.8 * before  # Measured: 0.87 -> 0.57.


def test_batched_evaluation_equals_one_task_at_a_time():
  maml = tiny_maml(eval_inner_steps=3)
  tasks = batch_of_tasks(5, k_query=4)
  batched = maml.evaluate(tasks).numpy()
  single = [float(maml.adapt_and_score(episodes.Episode(*(p[i] for p in tasks))))
            for i in range(5)]
  np.testing.assert_allclose(batched, single, atol=1e-6)


def test_label_permutation_does_not_change_accuracy_beyond_noise():
  maml = tiny_maml(eval_inner_steps=10)
  tasks = batch_of_tasks(40, k_shot=2, k_query=4)
  permutation = tf.constant([2, 0, 1])
  permuted = episodes.Episode(
      tasks.support_images, tf.gather(permutation, tasks.support_labels),
      tasks.query_images, tf.gather(permutation, tasks.query_labels))
  a = maml.evaluate(tasks).numpy()
  b = maml.evaluate(permuted).numpy()
  assert a.mean() > 0.5  # Learnable tasks: well above chance (1/3).
  noise = 2 * np.sqrt(a.var() / len(a) + b.var() / len(b)) + 0.02
  assert abs(a.mean() - b.mean()) < noise


@pytest.mark.parametrize("batched", [True, False])
def test_a_wider_head_tested_on_its_first_logits_is_the_narrow_head(batched):
  """Meta-trained 5-way, tested 3-way (CACTUs' 20-way -> 5-way): adapting
  and answering on the head's first 3 logits equals a 3-unit head holding
  those columns, because the other units get no gradient and no say."""
  wide = build_classifier(build_backbone("code", (16, 16, 1), filters=8,
                                         seed=2), 5, seed=2)
  narrow = build_classifier(build_backbone("code", (16, 16, 1), filters=8,
                                           seed=7), N_WAY, seed=7)
  for w_var, n_var in zip(wide.weights, narrow.weights):
    value = w_var.numpy()
    n_var.assign(value[..., :N_WAY] if value.shape != n_var.shape else value)
  settings = dict(inner_lr=0.4, inner_steps=1, eval_inner_steps=3,
                  batched=batched)
  tasks = batch_of_tasks(4)
  wide_maml = MAML(wide, eval_n_way=N_WAY, **settings)
  narrow_maml = MAML(narrow, **settings)
  np.testing.assert_allclose(wide_maml.evaluate(tasks),
                             narrow_maml.evaluate(tasks), atol=1e-6)
  logits = wide_maml.few_shot_logits(tasks.support_images[0],
                                     tasks.support_labels[0],
                                     tasks.query_images[0])
  np.testing.assert_allclose(
      logits[:, :N_WAY], narrow_maml.few_shot_logits(
          tasks.support_images[0], tasks.support_labels[0],
          tasks.query_images[0]), atol=1e-4)
  assert np.all(logits.numpy()[:, N_WAY:] == -1e9)
  # Without eval_n_way the wide head answers with all its units.
  assert MAML(wide, **settings).few_shot_logits(
      tasks.support_images[0], tasks.support_labels[0],
      tasks.query_images[0]).numpy()[:, N_WAY:].max() > -1e8


def test_the_graph_optimizer_setting_turns_grappler_off(monkeypatch):
  from lasium_tf.core import backends
  monkeypatch.setenv(backends.GRAPH_OPTIMIZER_ENV, "off")
  backends.apply_graph_optimizer_setting()
  assert tf.config.optimizer.get_experimental_options()[
      "disable_meta_optimizer"] is True


def test_support_copies_are_the_same_procedure_on_the_enlarged_set():
  """With support copies, evaluation (batched or task by task), the
  one-call procedure and a fitted task all adapt on the enlarged support
  set; a learner without copies given that set by hand answers the same.
  The card keeps the copies, and a learner rebuilt from it does the same."""
  from lasium_tf.learners import maml as maml_kind
  from lasium_tf.tasks.augment import enlarge_support

  kwargs = dict(eval_inner_steps=3, normalization="support")
  copied = tiny_maml(support_copies=2, support_shift=2, support_fill=0.0,
                     **kwargs)
  plain = tiny_maml(**kwargs)
  tasks = batch_of_tasks(3, k_query=4)
  one = episodes.Episode(*(p[0] for p in tasks))
  support, labels = enlarge_support(one.support_images, one.support_labels,
                                    2, 2, 0.0)
  assert support.shape[0] == 3 * one.support_images.shape[0]
  expected = plain.few_shot_logits(support, labels, one.query_images)
  logits = copied.few_shot_logits(one.support_images, one.support_labels,
                                   one.query_images)
  np.testing.assert_allclose(logits, expected, atol=1e-5)
  fitted = copied.fit_task(one.support_images, one.support_labels)
  assert fitted.support_size == support.shape[0]
  np.testing.assert_allclose(copied.fitted_logits(fitted, one.query_images),
                             expected, atol=1e-4)
  batched = copied.evaluate(tasks).numpy()
  single = [float(copied.adapt_and_score(
      episodes.Episode(*(p[i] for p in tasks)))) for i in range(3)]
  np.testing.assert_allclose(batched, single, atol=1e-6)
  assert not np.allclose(
      logits, plain.few_shot_logits(one.support_images, one.support_labels,
                                    one.query_images), atol=1e-3)
  card = copied.card()
  assert card["adaptation"]["support_copies"] == 2
  rebuilt = maml_kind.from_model(copied.model, "support", card)
  np.testing.assert_allclose(
      rebuilt.few_shot_logits(one.support_images, one.support_labels,
                              one.query_images), logits, atol=1e-5)
  assert "support_copies" not in plain.card()["adaptation"]


@pytest.mark.parametrize("changes, match", [
    (dict(support_copies=-1), "--eval_support_copies must be >= 0"),
    (dict(support_copies=2, support_shift=0), "--eval_support_shift=0"),
    (dict(support_copies=2, support_shift=14), "--eval_support_shift=14"),
    (dict(support_copies=2, learner="protonets"), "does not adapt there"),
])
def test_support_copies_that_cannot_work_are_refused(changes, match):
  from lasium_tf import config as config_lib

  learner = changes.pop("learner", "maml")
  config = config_lib.Config(learner=learner, task_source="labelled",
                             eval=config_lib.EvalConfig(**changes))
  with pytest.raises(config_lib.ConfigError, match=match):
    config.validate()
  config_lib.Config(learner=learner, task_source="labelled").validate()
