"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017).

A task's classes are the means of their support embeddings (prototypes); a
query's logits are its negative squared Euclidean distances to them. The
embedding network is the MAML backbone without its head. Support and query
images of a task are embedded in one batch, so BatchNorm normalises with the
task's statistics, during meta-training and at test (transductive, as the
MAML learner does) unless the learner's `normalization` says otherwise: then
the support set is embedded on its own statistics and the queries on the
support set's (`lasium_tf.learners.batchnorm`), and a query's logits do not
depend on the other queries.

Same verbs as `lasium_tf.learners.maml_core.MAML`: `meta_step(episodes)`,
`evaluate(episodes)`, `few_shot_logits(...)`; the training loop, the CLI and
the evaluation do not know which learner they run.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lasium_tf.learners import batched
from lasium_tf.learners import batchnorm as norms
from lasium_tf.tasks.episodes import Episode
from lasium_tf.learners.base import MetaLearner, accuracy, cross_entropy


def class_means(support: tf.Tensor, support_labels: tf.Tensor,
                num_classes) -> tf.Tensor:
  """The prototypes c_k [N, D]: each class's mean support embedding."""
  one_hot = tf.one_hot(support_labels, num_classes, dtype=support.dtype)
  counts = tf.reduce_sum(one_hot, axis=0)[:, None]
  return tf.matmul(one_hot, support, transpose_a=True) / tf.maximum(
      counts, 1.0)


def distance_logits(query: tf.Tensor, prototypes: tf.Tensor) -> tf.Tensor:
  """-||q - c_k||^2 for query embeddings q [n, D] and prototypes [N, D]."""
  return -tf.reduce_sum(
      tf.square(query[:, None, :] - prototypes[None, :, :]), axis=-1)


def prototype_logits(support: tf.Tensor, support_labels: tf.Tensor,
                     query: tf.Tensor, num_classes) -> tf.Tensor:
  """-||q - c_k||^2 for query embeddings q and class means c_k."""
  return distance_logits(query, class_means(support, support_labels,
                                            num_classes))


class ProtoNets(MetaLearner):
  """Meta-learns an embedding whose class means classify queries.

  Args:
    model: the embedding network (images -> [batch, D]).
    meta_lr: Adam learning rate.
    tasks_in_parallel: tasks of an evaluation batch run at once.
    normalization: which images give BatchNorm its statistics
      (`lasium_tf.learners.normalizations.NORMALIZATIONS`).
  """

  def __init__(self, model: keras.Model, meta_lr: float = 1e-3,
               tasks_in_parallel: int = 8,
               normalization: str = "transductive"):
    self.normalization = norms.check(normalization)
    self.network = batched.network_for(model, normalization)
    super().__init__(model, meta_lr, tasks_in_parallel)

  @property
  def embedding(self) -> keras.Model:
    return self.model

  def embed(self, images: tf.Tensor, weights=None,
            context=None) -> tf.Tensor:
    """Features of `images` with `weights` (default: the model's own).

    `context` (support images) gives BatchNorm its statistics unless the
    normalization is transductive; without it `images` give their own.
    """
    weights = self.watched() if weights is None else weights
    if norms.uses_support_statistics(self.normalization):
      return self.network.forward(
          [w[None] for w in weights], images[None],
          None if context is None else context[None], self.normalization)[0]
    features, _ = self.model.stateless_call(
        weights, [tf.convert_to_tensor(v)
                  for v in self.model.non_trainable_variables],
        images, training=True)
    return features

  def fit_task(self, support_images, support_labels, num_classes=None):
    """The prototypes, computed once (`MetaLearner.fit_task`)."""
    if num_classes is None:
      num_classes = int(tf.reduce_max(support_labels)) + 1
    weights = self.watched()
    prototypes = class_means(self.embed(support_images, weights),
                             support_labels, num_classes)
    return self._fitted(weights, support_images, num_classes, [prototypes])

  def fitted_logits(self, task, images) -> tf.Tensor:
    return self.logits(self._fixed_forward(task, images), task.head[0])

  def logits(self, query: tf.Tensor, prototypes: tf.Tensor) -> tf.Tensor:
    """How query embeddings [n, D] score prototypes [N, D]: the negative
    squared Euclidean distance of the paper. A subclass may compare them
    otherwise (docs/extending.md's cosine prototypes)."""
    return distance_logits(query, prototypes)

  def few_shot_logits(self, support_images, support_labels, query_images,
                      num_classes=None, weights=None) -> tf.Tensor:
    """Logits [num_query, N] of one task; N defaults to max(label) + 1."""
    if num_classes is None:
      num_classes = tf.reduce_max(support_labels) + 1
    if norms.uses_support_statistics(self.normalization):
      support = self.embed(support_images, weights)
      query = self.embed(query_images, weights, context=support_images)
    else:
      count = tf.shape(support_images)[0]
      embedded = self.embed(tf.concat([support_images, query_images], 0),
                            weights)
      support, query = embedded[:count], embedded[count:]
    return self.logits(query, class_means(support, support_labels,
                                          num_classes))

  def task_loss(self, episode: Episode, weights=None):
    """Query loss and accuracy of the prototype classifier."""
    logits = self.few_shot_logits(episode.support_images,
                                  episode.support_labels,
                                  episode.query_images, weights=weights)
    return (cross_entropy(episode.query_labels, logits),
            accuracy(episode.query_labels, logits))
