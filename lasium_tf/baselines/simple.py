"""The two baselines that need nothing but the test task: raw pixels, and
the learner's network trained from scratch on each support set."""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict

from lasium_tf import lazy
from lasium_tf.baselines import BASELINES, BaselineKind

tf = lazy.module("tensorflow")
evaluation = lazy.module("lasium_tf.run.evaluation")
learners = lazy.module("lasium_tf.learners")


def pixel_nn_accuracy(episodes) -> tf.Tensor:
  """[T] query accuracy of 1-nearest-neighbour on centred-pixel cosine."""
  def flat(images):
    shape = tf.shape(images)
    vectors = tf.reshape(images, [shape[0], shape[1], -1])
    return tf.math.l2_normalize(vectors - tf.reduce_mean(
        vectors, axis=-1, keepdims=True), axis=-1)

  similarity = tf.einsum("tqd,tsd->tqs", flat(episodes.query_images),
                         flat(episodes.support_images))
  nearest = tf.argmax(similarity, axis=-1, output_type=tf.int32)
  predicted = tf.gather(episodes.support_labels, nearest, batch_dims=1)
  return tf.reduce_mean(tf.cast(tf.equal(predicted, episodes.query_labels),
                                tf.float32), axis=1)


class _Scorer:
  """The `evaluate(episodes)` verb `evaluation.evaluate` calls."""

  def __init__(self, fn: Callable):
    self.evaluate = tf.function(fn)


def pixel_nn(config, test_part, k_shot: int, verbose: bool) -> Dict:
  return evaluation.evaluate(_Scorer(pixel_nn_accuracy), test_part,
                             config.eval,
                  k_shot, verbose)


def scratch(config, test_part, k_shot: int, verbose: bool) -> Dict:
  untrained = dataclasses.replace(
      config, learner="maml", task_source="none",
      task=dataclasses.replace(config.task, n_way=config.eval.n_way))
  return evaluation.evaluate(learners.build_learner(untrained), test_part,
                             config.eval, k_shot, verbose)


PIXEL_NN = BASELINES.register(BaselineKind(
    "pixel_nn", pixel_nn, "pixel nearest neighbour"), replace=True)
SCRATCH = BASELINES.register(BaselineKind(
    "scratch", scratch, "training from scratch"), replace=True)
