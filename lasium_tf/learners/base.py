"""What MAML and ProtoNets share: the verbs the training loop calls.

A learner owns a Keras `model` and an Adam `optimizer` (both checkpointed)
and answers:
  * `meta_step(episodes)`: one optimizer step on a meta-batch [B, ...];
  * `evaluate(episodes)`: query accuracy of each task of a batch [T, ...],
    all adapted inside one compiled graph (`tf.map_fn`);
  * `few_shot_logits(support_images, support_labels, query_images, N)`: the
    whole test-time procedure on one task (what the exported SavedModel runs);
  * `fit_task(support_images, support_labels, N)` and `fitted_logits`: the
    same procedure split in two, the support set learned once into a
    `FittedTask` and each query then answered by one forward pass
    (`lasium_tf.classifier`: fit once, classify many);
  * `embedding`: the backbone, images -> features;
  * `normalization`: which images give BatchNorm its statistics
    (`lasium_tf.learners.batchnorm`); `with_normalization` gives the same
    learner normalising another way (an export's second signature, an
    evaluation of a transductively trained network with the support set's
    statistics).
Subclasses provide `meta_gradients`, `few_shot_logits` and `embedding`.
"""

from __future__ import annotations

import copy
from typing import Dict, List, NamedTuple, Tuple

import keras
import tensorflow as tf

from lasium_tf.core import backends
from lasium_tf.learners import batchnorm as norms
from lasium_tf.tasks.episodes import Episode


# The message of the check that evaluation's logits are finite.
NON_FINITE = "non-finite logits after adaptation"


def compiled(fn):
  """`fn` as a graph function, traced without AutoGraph.

  The learners' control flow is explicit (`tf.while_loop`, `tf.cond`,
  `tf.map_fn`; Python loops unroll on purpose, as MAML's inner steps must
  for second-order gradients), so AutoGraph's source conversion would
  change nothing in the graph; skipping it takes about a fifth off tracing
  a MAML meta-step (9.2 s -> 7.1 s, second order, measured on 2 cores).
  """
  backends.apply_graph_optimizer_setting()
  return tf.function(fn, autograph=False)


def checked_logits(logits: tf.Tensor) -> tf.Tensor:
  """The logits, or an InvalidArgumentError naming NON_FINITE."""
  return tf.debugging.assert_all_finite(logits, NON_FINITE)


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  return tf.reduce_mean(
      tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def accuracy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
  return tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))


class FittedTask(NamedTuple):
  """What a learner keeps of one support set to answer queries on their own.

  Attributes:
    weights: the network's weights after the support set (MAML: adapted;
      ProtoNets: the meta-learned ones).
    moments: each norm layer's (mean, variance) of the support set, the
      statistics that normalise a query (`lasium_tf.learners.batchnorm`).
    support_size: the support set's size (TaskNorm-I's blend and the
      support_and_query rule weigh by it).
    num_classes: N, the classes of the task.
    head: what else the answer needs (ProtoNets: the prototypes [N, D]).
  """

  weights: List[tf.Tensor]
  moments: List[Tuple[tf.Tensor, tf.Tensor]]
  support_size: int
  num_classes: int
  head: List[tf.Tensor]


class MetaLearner:
  """Base of the learners: optimizer, compiled verbs, batched evaluation."""

  def __init__(self, model: keras.Model, meta_lr: float,
               tasks_in_parallel: int):
    self.model = model
    self.tasks_in_parallel = tasks_in_parallel
    self.optimizer = keras.optimizers.Adam(meta_lr)
    self.optimizer.build(model.trainable_variables)
    self.meta_step = compiled(self._meta_step)
    self.evaluate = compiled(self._evaluate)

  normalization = "transductive"

  @property
  def max_classes(self):
    """The most classes a task may have (a classifier head's size), or None
    where any number will do (a learner without a head)."""
    return None

  def card(self) -> Dict:
    """What an export's card.json keeps of this learner, so that its
    registry entry's `from_model` rebuilds it (`lasium_tf.learners`)."""
    return {}

  def with_normalization(self, normalization: str) -> "MetaLearner":
    """This learner, same model and optimizer, normalising another way.

    Only between normalisations of the same network: TaskNorm-I's layers
    carry weights the others lack.
    """
    if norms.blends_instances(normalization) != norms.blends_instances(
        self.normalization):
      raise ValueError(
          f"a network built for normalization {self.normalization!r} cannot "
          f"run as {normalization!r}: TaskNorm-I has weights of its own; "
          f"meta-train with --normalization={normalization}.")
    if norms.uses_support_statistics(normalization) and (
        getattr(self, "network", None) is None):
      raise ValueError(
          f"normalization {normalization!r} runs through lasium_tf.learners.batched, "
          f"which does not run {self.model.name}.")
    other = copy.copy(self)
    other.normalization = norms.check(normalization)
    other.meta_step = compiled(other._meta_step)
    other.evaluate = compiled(other._evaluate)
    return other

  def _meta_step(self, episodes: Episode) -> Dict[str, tf.Tensor]:
    """One optimizer step, applied only if the loss and gradients are finite.

    The returned "finite" (1 or 0) says whether it was applied: a diverged
    step leaves the weights and the optimizer's state as they were.
    """
    return self.apply_if_finite(*self.meta_gradients(episodes))

  def apply_if_finite(self, grads, metrics: Dict) -> Dict[str, tf.Tensor]:
    """Applies the meta-gradients if they and the loss are finite.

    Called in cross-replica context under a tf.distribute strategy, with
    gradients already averaged over replicas (`lasium_tf.run.distribute`).
    """
    finite = tf.reduce_all(tf.stack(
        [tf.reduce_all(tf.math.is_finite(metrics["loss"]))]
        + [tf.reduce_all(tf.math.is_finite(g)) for g in grads]))

    def apply():
      self.optimizer.apply(grads, self.model.trainable_variables)
      return tf.constant(True)

    tf.cond(finite, apply, lambda: tf.constant(False))
    return {**metrics, "finite": tf.cast(finite, tf.float32)}

  def adapt_and_score(self, episode: Episode) -> tf.Tensor:
    """Evaluation of one task: the few-shot procedure, query accuracy."""
    return accuracy(episode.query_labels, checked_logits(self.few_shot_logits(
        episode.support_images, episode.support_labels,
        episode.query_images)))

  def _evaluate(self, episodes: Episode) -> tf.Tensor:
    """Query accuracy of every task of a batch [T, ...], adapted in one
    graph."""
    return tf.map_fn(self.adapt_and_score, episodes,
                     fn_output_signature=tf.float32,
                     parallel_iterations=self.tasks_in_parallel)

  def task_loss(self, episode: Episode, weights=None):
    raise NotImplementedError

  def fit_task(self, support_images, support_labels,
               num_classes=None) -> FittedTask:
    """The support set learned once: `fitted_logits` then answers queries
    as `few_shot_logits` would on this support set."""
    raise NotImplementedError

  def fitted_logits(self, task: FittedTask, images) -> tf.Tensor:
    """Logits [n, N] of `images` from a `fit_task` result, each image
    answered on its own (one forward pass, no support set in the call)."""
    raise NotImplementedError

  def _fixed_network(self):
    """The stacked network that normalises with given statistics; a fitted
    task needs a normalisation that does not depend on the other queries."""
    if not norms.uses_support_statistics(self.normalization) or (
        getattr(self, "network", None) is None):
      raise ValueError(
          f"a fitted classifier answers each image on its own, which "
          f"normalization {self.normalization!r} of {self.model.name} does "
          f"not: use with_normalization('support') (or the network's "
          f"TaskNorm-I) on a backbone of lasium_tf.models.backbone.")
    return self.network

  def _fitted(self, weights, support_images, num_classes,
              head=()) -> FittedTask:
    moments = self._fixed_network().context_moments(
        [w[None] for w in weights], support_images[None])
    return FittedTask(list(weights), moments, int(support_images.shape[0]),
                      int(num_classes), list(head))

  def _fixed_forward(self, task: FittedTask, images) -> tf.Tensor:
    return self._fixed_network().forward_fixed(
        [w[None] for w in task.weights], images[None], task.moments,
        task.support_size, self.normalization)[0]

  def meta_gradients(self, episodes: Episode):
    """Gradients (one per trainable variable) of the mean task loss."""
    meta_batch = episodes.support_images.shape[0]
    with tf.GradientTape() as tape:
      watched = self.watched()
      tape.watch(watched)
      losses, accuracies = [], []
      for t in range(meta_batch):
        loss, acc = self.task_loss(Episode(*(p[t] for p in episodes)),
                                   watched)
        losses.append(loss)
        accuracies.append(acc)
      loss = tf.reduce_mean(tf.stack(losses))
    grads = tape.gradient(loss, watched)
    return grads, {"loss": loss, "accuracy": tf.reduce_mean(accuracies)}

  def watched(self):
    """What meta_gradients differentiates: tensors of the trainable weights."""
    return [tf.convert_to_tensor(v) for v in self.model.trainable_variables]
