"""How the backbone's BatchNorm layers normalise a task: a named choice.

MAML and ProtoNets run BatchNorm in training mode at test time too, so the
statistics come from the images in the call, and which images those are
decides what a prediction depends on (Bronskill et al., "TaskNorm:
Rethinking Batch Normalization for Meta-Learning", ICML 2020):

* "transductive": every batch is normalised with its own statistics: the
  support set when adapting, the query batch when predicting. This is what
  the original MAML code and the LASIUM authors' code do, and every number
  of the paper assumes it; but a query's answer then depends on the other
  queries of the call, and one image sent alone is normalised by itself
  (chance-level answers).
* "support": the support set's statistics normalise the support set and
  the queries alike (TaskNorm's "MetaBN"). A query's answer depends on the
  support set and itself only.
* "support_and_query": each query normalised with the statistics of the
  support set and itself, at every BatchNorm layer: the support set's
  moments pooled with the query's own at weight |S| / (|S| + 1), the
  support rows keeping the support set's moments as while adapting. It
  follows the non-transductive test of Reptile (Nichol et al., "On
  First-Order Meta-Learning Algorithms", 2018: a test image classified in
  a batch with the training images), without the other queries and without
  a second pass of the support set per query. No weight is learned, so a
  transductively trained network uses it unchanged.
* "tasknorm_i": TaskNorm-I: the support set's moments blended with each
  image's own instance moments (over its pixels) by
  alpha = sigmoid(scale * |support| + offset), `scale` and `offset` learned
  per layer (`TaskNormalization`, both starting at 0, as in the TaskNorm
  authors' code). Also independent of the other queries.

The rule for which rows of a batch give the statistics ("context") is
`context_rule`; whether instance moments are blended in is a property of the
layer (`TaskNormalization`), so a TaskNorm-I network keeps its blending
under either rule. `moments` is the one place both the Keras layer and the
stacked network (`lasium_tf.learners.batched`) compute them.
"""

from __future__ import annotations

from typing import Optional, Tuple

import keras
from keras import ops

from lasium_tf.learners.normalizations import (  # noqa: F401
    DEFAULT_NON_TRANSDUCTIVE, NORMALIZATIONS)


def kind(name: str):
  """The rule named `name` (`learners.normalizations.NORMALIZATIONS`)."""
  if name not in NORMALIZATIONS:
    raise ValueError(f"unknown normalization {name!r}; use one of "
                     f"{', '.join(NORMALIZATIONS)}.")
  return NORMALIZATIONS.get(name)


def check(name: str) -> str:
  return kind(name).name


def uses_support_statistics(name: str) -> bool:
  """Whether queries are normalised with the support set's statistics."""
  return not kind(name).transductive


def counts_the_query(name: str) -> bool:
  """Whether each query joins the support set in its own statistics."""
  return kind(name).with_self


def blends_instances(name: str) -> bool:
  """Whether the network's norm layers are `TaskNormalization` layers."""
  return kind(name).blends_instances


def blend_weight(scale, offset, context_size):
  """TaskNorm's alpha = sigmoid(scale * |context| + offset)."""
  return ops.sigmoid(scale * ops.cast(context_size, scale.dtype) + offset)


def moments(x, context_size=None, alpha=None,
            with_self: bool = False, given=None) -> Tuple:
  """Mean and variance that normalise `x` [B, H, W, C], per channel.

  Args:
    x: activations; the first `context_size` rows are the context (the
      support set), the rest are normalised with the context's statistics.
    context_size: rows of `x` that give the statistics; None: all of them
      (the batch is its own context).
    alpha: TaskNorm-I's blend weight per channel ([C] or a scalar); None:
      plain batch moments. With it, the context's moments are pooled with
      each row's instance moments (their mixture's mean and variance), so
      the result has a leading batch axis.
    with_self: with a context: each row after the context is normalised
      with the moments of the context and itself (alpha = n / (n + 1) for n
      context rows: the "support_and_query" rule); the context rows keep
      the context's own. For layers without a learned blend only.
    given: the context's (mean, variance), computed once beforehand (a
      fitted classifier's support set): then every row of `x` is one to
      normalise and `context_size` is the size the context had.
  """
  if given is not None:
    mean, variance = given
  else:
    context = x if context_size is None else x[:context_size]
    mean, variance = ops.moments(context, axes=[0, 1, 2])
  if alpha is None and not (with_self and context_size is not None):
    return mean, variance
  if alpha is None:  # The pixels of n context images and one more.
    n = ops.cast(context_size, x.dtype)
    alpha = n / (n + 1.0)
  instance_mean, instance_variance = ops.moments(x, axes=[1, 2],
                                                 keepdims=True)
  pooled_mean = alpha * mean + (1.0 - alpha) * instance_mean
  pooled_variance = (
      alpha * (variance + ops.square(mean - pooled_mean))
      + (1.0 - alpha) * (instance_variance
                         + ops.square(instance_mean - pooled_mean)))
  if not with_self or given is not None:
    return pooled_mean, pooled_variance
  is_context = ops.reshape(
      ops.arange(ops.shape(x)[0]) < context_size, [-1, 1, 1, 1])
  return (ops.where(is_context, mean, pooled_mean),
          ops.where(is_context, variance, pooled_variance))


def normalise(x, epsilon: float, context_size: Optional[int] = None,
              alpha=None, with_self: bool = False, given=None):
  """`x` normalised by `moments` (no scale or offset applied)."""
  mean, variance = moments(x, context_size, alpha, with_self, given)
  return (x - mean) * ops.rsqrt(variance + epsilon)


@keras.saving.register_keras_serializable(package="lasium_tf")
class TaskNormalization(keras.layers.BatchNormalization):
  """BatchNorm with TaskNorm-I's learned blend of instance moments.

  Adds two scalar weights, `blend_scale` and `blend_offset` (after the
  BatchNorm's own). Called as a Keras layer it takes the whole batch as its
  context; the stacked network (`lasium_tf.learners.batched`) gives it the
  support set as context instead.
  """

  def build(self, input_shape):
    super().build(input_shape)
    self.blend_scale = self.add_weight(shape=(), initializer="zeros",
                                       name="blend_scale")
    self.blend_offset = self.add_weight(shape=(), initializer="zeros",
                                        name="blend_offset")

  def call(self, inputs, training=None, mask=None):
    alpha = blend_weight(self.blend_scale, self.blend_offset,
                         ops.shape(inputs)[0])
    x = normalise(inputs, self.epsilon, None, alpha)
    if self.scale:
      x = x * self.gamma
    if self.center:
      x = x + self.beta
    return x
