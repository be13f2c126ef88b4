"""MAML (Finn, Abbeel & Levine, ICML 2017) on a real Keras 3 model.

Fast weights are plain tensors passed to `model.stateless_call`, so the
model's variables are never patched: `adapt` returns a list of tensors, one
per trainable variable, and `predict` runs the model with them. Under an
outer `tf.GradientTape` the inner gradients are themselves differentiated
(second order, the default); `first_order=True` stops them (FOMAML).

BatchNorm runs in training mode (`training=True`), during meta-training and
at evaluation; which images give its statistics is the learner's
`normalization` (`lasium_tf.learners.batchnorm`): "transductive", each batch its
own, as the original MAML code and the LASIUM authors' code do; "support" or
"tasknorm_i", the support set's, so that a query's logits do not depend on
the other queries of the call. The same choice holds in meta-training,
evaluation and the exported classifier.

The verbs:
  * `adapt(support_images, support_labels)` -> fast weights,
  * `predict(fast_weights, images)` -> logits,
  * `meta_step(episodes)` -> metrics, one Adam step on a meta-batch,
  * `evaluate(episodes)` -> per-task query accuracy, many tasks in one graph.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import keras
import tensorflow as tf

from lasium_tf.learners import batched
from lasium_tf.learners import batchnorm as norms
from lasium_tf.learners.batched import grouped_gradients_work, network_for
from lasium_tf.tasks.augment import enlarge_support
from lasium_tf.tasks.episodes import Episode
from lasium_tf.learners.base import (MetaLearner, accuracy, checked_logits,
                               cross_entropy)


def first_logits(logits: tf.Tensor, num_classes) -> tf.Tensor:
  """A wider head's logits [..., H] as an N-way classifier's: the units from
  N on pushed to -1e9, so softmax, loss and argmax see the first N only.

  How CACTUs tested its 20-way meta-trained MAML on 5-way tasks (Hsu et al.,
  ICLR 2019): the head cut to its first 5 logits. None keeps the head.
  """
  if num_classes is None:
    return logits
  unused = tf.range(tf.shape(logits)[-1]) >= num_classes
  return tf.where(unused, tf.constant(-1e9, logits.dtype), logits)


def task_cross_entropies(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """[T] mean cross-entropy of each task, from labels [T, B], logits [T, B, N].

  The gradient of their sum with respect to stacked weights is each task's
  own gradient: the tasks share no weight.
  """
  return tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits), axis=1)

Weights = List[tf.Tensor]


class MAML(MetaLearner):
  """Model-agnostic meta-learning of a Keras classifier's initial weights.

  Args:
    model: a Keras classifier whose output has one logit per class (N).
    inner_lr: step size of the inner (adaptation) SGD during meta-training.
    inner_steps: inner SGD steps during meta-training.
    first_order: drop second-order terms of the meta-gradient.
    meta_lr: Adam learning rate of the outer loop.
    eval_inner_lr: adaptation step size at evaluation (default inner_lr).
    eval_inner_steps: adaptation steps at evaluation (paper: 50).
    tasks_in_parallel: how many tasks of an evaluation batch the per-task
      path adapts at once (`tf.map_fn`'s parallel_iterations).
    batched: adapt all tasks of an evaluation batch as one stacked network
      (`lasium_tf.learners.batched`: grouped convolutions) where the model
      allows; False keeps the per-task path, the reference.
    normalization: which images give BatchNorm its statistics
      (`lasium_tf.learners.normalizations.NORMALIZATIONS`); all but
      "transductive" need a model the stacked network runs.
    support_copies, support_shift, support_fill: the test-time support
      set is the given one plus this many copies of each image, shifted by
      up to `support_shift` pixels (`tasks.augment.enlarge_support`);
      meta-training is untouched. 0 copies: the support set as given.
  """

  def __init__(self, model: keras.Model, inner_lr: float = 0.4,
               inner_steps: int = 5, first_order: bool = False,
               meta_lr: float = 1e-3, eval_inner_lr: Optional[float] = None,
               eval_inner_steps: int = 50, tasks_in_parallel: int = 8,
               batched: bool = True, normalization: str = "transductive",
               eval_n_way: Optional[int] = None, support_copies: int = 0,
               support_shift: int = 3, support_fill: float = 0.0):
    self.normalization = norms.check(normalization)
    self.network = network_for(model, normalization)
    super().__init__(model, meta_lr, tasks_in_parallel)
    self.inner_lr = inner_lr
    self.inner_steps = inner_steps
    self.first_order = first_order
    self.eval_inner_lr = inner_lr if eval_inner_lr is None else eval_inner_lr
    self.eval_inner_steps = eval_inner_steps
    # Test tasks with fewer classes than the head adapt and answer on its
    # first eval_n_way logits (`first_logits`); None: as many as the head.
    self.eval_n_way = eval_n_way
    self.support_copies = int(support_copies)
    self.support_shift = int(support_shift)
    self.support_fill = float(support_fill)
    self.batched = (self.network if batched and self.network is not None
                    and grouped_gradients_work() else None)

  def card(self) -> Dict:
    """How the exported network adapts at test: what its `few_shot`
    signature does, and what a fitted classifier does once."""
    copies = ({"support_copies": self.support_copies,
               "support_shift": self.support_shift,
               "support_fill": self.support_fill}
              if self.support_copies else {})
    return {"adaptation": {"inner_steps": int(self.eval_inner_steps),
                           "inner_lr": float(self.eval_inner_lr), **copies}}

  def test_support(self, images: tf.Tensor, labels: tf.Tensor):
    """The support set the test-time adaptation learns (one task or a
    batch of tasks): the given one, enlarged with shifted copies where
    `support_copies` asks for them."""
    return enlarge_support(images, labels, self.support_copies,
                           self.support_shift, self.support_fill)

  @property
  def max_classes(self) -> int:
    """The head's size: a task has at most this many classes."""
    return int(self.model.outputs[0].shape[-1])

  @property
  def embedding(self) -> keras.Model:
    """The backbone: the classifier's nested model before its Dense head."""
    return next(layer for layer in self.model.layers
                if isinstance(layer, keras.Model))

  def initial_weights(self) -> Weights:
    return self.watched()

  def predict(self, weights: Weights, images: tf.Tensor,
              num_classes=None, context=None) -> tf.Tensor:
    """Logits of the model run with `weights`.

    With `num_classes` N below the head's size, the logits of the head's
    other units are pushed to -1e9: an N-way classifier from a wider head.
    `context` (the support images) gives BatchNorm its statistics unless
    the normalization is transductive; without it, `images` give their own.
    """
    if norms.uses_support_statistics(self.normalization):
      logits = self.network.forward(
          [w[None] for w in weights], images[None],
          None if context is None else context[None], self.normalization)[0]
    else:
      logits, _ = self.model.stateless_call(
          weights, [tf.convert_to_tensor(v)
                    for v in self.model.non_trainable_variables],
          images, training=True)
    return first_logits(logits, num_classes)

  def inner_update(self, weights: Weights, images: tf.Tensor,
                   labels: tf.Tensor, lr: float, first_order: bool,
                   num_classes=None) -> Weights:
    """One SGD step on the task loss, differentiable unless first_order."""
    with tf.GradientTape() as tape:
      tape.watch(weights)
      loss = cross_entropy(labels,
                           self.predict(weights, images, num_classes))
    grads = tape.gradient(loss, weights)
    if first_order:
      grads = [tf.stop_gradient(g) for g in grads]
    return [w - lr * g for w, g in zip(weights, grads)]

  def adapt(self, support_images: tf.Tensor, support_labels: tf.Tensor,
            weights: Optional[Weights] = None, steps: Optional[int] = None,
            lr: Optional[float] = None,
            first_order: Optional[bool] = None) -> Weights:
    """Fine-tunes `weights` (default: the meta-learned ones) on a support set.

    Python-unrolled, so that second-order gradients flow through every step;
    use `adapt_in_loop` for the long, first-order adaptation of evaluation.
    """
    weights = self.initial_weights() if weights is None else weights
    steps = self.inner_steps if steps is None else steps
    lr = self.inner_lr if lr is None else lr
    first_order = self.first_order if first_order is None else first_order
    for _ in range(steps):
      weights = self.inner_update(weights, support_images, support_labels, lr,
                                  first_order)
    return weights

  def adapt_in_loop(self, support_images: tf.Tensor,
                    support_labels: tf.Tensor, steps: int, lr: float,
                    weights: Optional[Weights] = None,
                    num_classes=None) -> Weights:
    """Evaluation-time adaptation as a tf.while_loop: one step's graph, not
    50."""
    weights = self.initial_weights() if weights is None else weights

    def body(i, *ws):
      return (i + 1, *self.inner_update(list(ws), support_images,
                                        support_labels, lr, True,
                                        num_classes))

    _, *weights = tf.while_loop(lambda i, *_: i < steps, body,
                                (tf.constant(0), *weights))
    return list(weights)

  def adapt_tasks(self, support_images: tf.Tensor, support_labels: tf.Tensor,
                  steps: int, lr: float) -> Weights:
    """First-order adaptation of T tasks at once: stacked fast weights.

    `support_images` [T, B, H, W, C]; returns every weight with a leading
    task axis, task t's equal to `adapt_in_loop` on task t alone (up to
    float rounding). Needs the stacked network (`self.batched`).
    """
    net = self.batched
    tasks = tf.shape(support_images)[0]

    def body(i, *weights):
      weights = list(weights)
      with tf.GradientTape() as tape:
        tape.watch(weights)
        loss = tf.reduce_sum(task_cross_entropies(
            support_labels, first_logits(net.forward(
                weights, support_images, normalization=self.normalization),
                self.eval_n_way)))
      grads = tape.gradient(loss, weights)
      return (i + 1, *[w - lr * g for w, g in zip(weights, grads)])

    _, *weights = tf.while_loop(
        lambda i, *_: i < steps, body,
        (tf.constant(0), *batched.stack(self.initial_weights(), tasks)))
    return list(weights)

  def _evaluate(self, episodes: Episode) -> tf.Tensor:
    """Query accuracy of every task of a batch [T, ...].

    On the stacked network where the model allows (one grouped convolution
    per layer for all T tasks), else task by task under `tf.map_fn`.
    """
    if self.batched is None:
      return super()._evaluate(episodes)
    support, labels = self.test_support(episodes.support_images,
                                        episodes.support_labels)
    weights = self.adapt_tasks(support, labels, self.eval_inner_steps,
                               self.eval_inner_lr)
    logits = checked_logits(first_logits(self.batched.forward(
        weights, episodes.query_images, support, self.normalization),
                                         self.eval_n_way))
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(
        tf.equal(predictions, episodes.query_labels), tf.float32), axis=1)

  def meta_gradients(self, episodes: Episode):
    """Gradients of the meta-batch's mean query loss after adaptation.

    On the stacked network the T tasks adapt as one (second-order terms
    included unless first_order); else task by task (`MetaLearner`).
    """
    if self.batched is None:
      return super().meta_gradients(episodes)
    net = self.batched
    with tf.GradientTape() as tape:
      watched = self.watched()
      tape.watch(watched)
      weights = batched.stack(watched, tf.shape(episodes.support_images)[0])
      for _ in range(self.inner_steps):
        with tf.GradientTape() as inner:
          inner.watch(weights)
          loss = tf.reduce_sum(task_cross_entropies(
              episodes.support_labels,
              net.forward(weights, episodes.support_images,
                          normalization=self.normalization)))
        grads = inner.gradient(loss, weights)
        if self.first_order:
          grads = [tf.stop_gradient(g) for g in grads]
        weights = [w - self.inner_lr * g for w, g in zip(weights, grads)]
      logits = net.forward(weights, episodes.query_images,
                           episodes.support_images, self.normalization)
      loss = tf.reduce_mean(task_cross_entropies(episodes.query_labels,
                                                 logits))
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    accuracy_ = tf.reduce_mean(tf.cast(
        tf.equal(predictions, episodes.query_labels), tf.float32))
    return tape.gradient(loss, watched), {"loss": loss,
                                          "accuracy": accuracy_}

  def task_loss(self, episode: Episode, weights: Optional[Weights] = None):
    """Query loss and accuracy after adapting to the support set."""
    fast = self.adapt(episode.support_images, episode.support_labels, weights)
    logits = self.predict(fast, episode.query_images,
                          context=episode.support_images)
    return (cross_entropy(episode.query_labels, logits),
            accuracy(episode.query_labels, logits))

  def fit_task(self, support_images, support_labels, num_classes=None):
    """The evaluation-time adaptation, done once: the adapted weights and
    their support statistics (`MetaLearner.fit_task`)."""
    if num_classes is None:
      num_classes = self.eval_n_way
    if num_classes is None:
      num_classes = int(tf.reduce_max(support_labels)) + 1
    support_images, support_labels = self.test_support(support_images,
                                                       support_labels)
    fast = self.adapt_in_loop(support_images, support_labels,
                              self.eval_inner_steps, self.eval_inner_lr,
                              num_classes=num_classes)
    return self._fitted(fast, support_images, num_classes)

  def fitted_logits(self, task, images) -> tf.Tensor:
    return first_logits(self._fixed_forward(task, images), task.num_classes)

  def few_shot_logits(self, support_images, support_labels, query_images,
                      num_classes=None) -> tf.Tensor:
    """The evaluation procedure on one task: adapt, then query logits.

    `num_classes` (N) may be below the head's size; None uses the
    learner's `eval_n_way` (by default the head's size).
    """
    if num_classes is None:
      num_classes = self.eval_n_way
    support_images, support_labels = self.test_support(support_images,
                                                       support_labels)
    fast = self.adapt_in_loop(support_images, support_labels,
                              self.eval_inner_steps, self.eval_inner_lr,
                              num_classes=num_classes)
    return self.predict(fast, query_images, num_classes, support_images)
