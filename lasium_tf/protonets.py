"""Prototypical Networks (Snell, Swersky & Zemel, NeurIPS 2017).

A task's classes are the means of their support embeddings (prototypes); a
query's logits are its negative squared Euclidean distances to them. The
embedding network is the MAML backbone without its head. Support and query
images of a task are embedded in one batch, so BatchNorm normalises with the
task's statistics, during meta-training and at test (transductive, as the
MAML learner does).

Same verbs as `lasium_tf.maml.MAML`: `meta_step(episodes)`,
`evaluate(episodes)`, `few_shot_logits(...)`; the training loop, the CLI and
the evaluation do not know which learner they run.
"""

from __future__ import annotations

from typing import Dict, Optional

import keras
import tensorflow as tf

from lasium_tf.episodes import Episode
from lasium_tf.maml import accuracy, cross_entropy


def prototype_logits(support: tf.Tensor, support_labels: tf.Tensor,
                     query: tf.Tensor, num_classes) -> tf.Tensor:
  """-||q - c_k||^2 for query embeddings q and class means c_k."""
  one_hot = tf.one_hot(support_labels, num_classes, dtype=support.dtype)
  counts = tf.reduce_sum(one_hot, axis=0)[:, None]
  prototypes = tf.matmul(one_hot, support, transpose_a=True) / tf.maximum(
      counts, 1.0)
  distances = tf.reduce_sum(
      tf.square(query[:, None, :] - prototypes[None, :, :]), axis=-1)
  return -distances


class ProtoNets:
  """Meta-learns an embedding whose class means classify queries.

  Args:
    model: the embedding network (images -> [batch, D]).
    meta_lr: Adam learning rate.
    tasks_in_parallel: tasks of an evaluation batch run at once.
  """

  def __init__(self, model: keras.Model, meta_lr: float = 1e-3,
               tasks_in_parallel: int = 8):
    self.model = model
    self.tasks_in_parallel = tasks_in_parallel
    self.optimizer = keras.optimizers.Adam(meta_lr)
    self.optimizer.build(model.trainable_variables)
    self.meta_step = tf.function(self._meta_step)
    self.evaluate = tf.function(self._evaluate)

  @property
  def embedding(self) -> keras.Model:
    return self.model

  def embed(self, images: tf.Tensor) -> tf.Tensor:
    return self.model(images, training=True)

  def few_shot_logits(self, support_images, support_labels, query_images,
                      num_classes=None) -> tf.Tensor:
    """Logits [num_query, N] of one task; N defaults to max(label) + 1."""
    if num_classes is None:
      num_classes = tf.reduce_max(support_labels) + 1
    count = tf.shape(support_images)[0]
    embedded = self.embed(tf.concat([support_images, query_images], 0))
    return prototype_logits(embedded[:count], support_labels,
                            embedded[count:], num_classes)

  def task_loss(self, episode: Episode, num_classes: int):
    logits = self.few_shot_logits(episode.support_images,
                                  episode.support_labels,
                                  episode.query_images, num_classes)
    return (cross_entropy(episode.query_labels, logits),
            accuracy(episode.query_labels, logits))

  def _meta_step(self, episodes: Episode) -> Dict[str, tf.Tensor]:
    meta_batch = episodes.support_images.shape[0]
    num_classes = tf.reduce_max(episodes.support_labels) + 1
    with tf.GradientTape() as tape:
      losses, accuracies = [], []
      for t in range(meta_batch):
        loss, acc = self.task_loss(Episode(*(p[t] for p in episodes)),
                                   num_classes)
        losses.append(loss)
        accuracies.append(acc)
      loss = tf.reduce_mean(tf.stack(losses))
    grads = tape.gradient(loss, self.model.trainable_variables)
    self.optimizer.apply(grads, self.model.trainable_variables)
    return {"loss": loss, "accuracy": tf.reduce_mean(accuracies)}

  def adapt_and_score(self, episode: Episode,
                      num_classes: Optional[int] = None) -> tf.Tensor:
    logits = self.few_shot_logits(episode.support_images,
                                  episode.support_labels,
                                  episode.query_images, num_classes)
    return accuracy(episode.query_labels, logits)

  def _evaluate(self, episodes: Episode) -> tf.Tensor:
    return tf.map_fn(self.adapt_and_score, episodes,
                     fn_output_signature=tf.float32,
                     parallel_iterations=self.tasks_in_parallel)
