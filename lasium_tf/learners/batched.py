"""T tasks' copies of one Keras network in one graph, weights stacked.

MAML adapts a separate copy of the network to each task. Run one task at a
time (or T of them under `tf.map_fn`) and each step is a few dozen tiny ops
whose cost is per-op overhead, not arithmetic. Here the T copies run as one
network instead: every weight gains a leading task axis, the T tasks'
activations sit side by side on the channel axis, and each convolution is a
single grouped convolution (`feature_group_count` = T: group t sees only task
t's channels and kernel). BatchNorm normalises every (task, channel) on its
own task's batch, and the Dense head is a batched matmul. Gradients of the
summed task losses with respect to the stacked weights are each task's own
gradients, so T adaptations are one adaptation of the stacked weights.

`forward` can also normalise the images with another set's statistics (the
support set's: `lasium_tf.learners.batchnorm`), which is what makes a query's
answer independent of the other queries; MAML and ProtoNets run that through
this network with T = 1 for a single task.

Where TensorFlow's CPU kernels cannot differentiate a grouped convolution
(oneDNN off: see `lasium_tf/__init__.py`), `grouped_gradients_work()` says
so and MAML keeps the per-task path; T = 1 needs no grouping and always runs.

`BatchedNetwork.supports(model)` says whether a Keras model is built of the
layers this understands (the backbones of `models/backbone.py` with a Dense
head); callers keep the per-task path for anything else.
"""

from __future__ import annotations

import functools
import warnings
from typing import List, Sequence

import keras
import tensorflow as tf

from lasium_tf.learners import batchnorm as norms

Weights = List[tf.Tensor]

_SUPPORTED = (keras.layers.InputLayer, keras.layers.Conv2D,
              keras.layers.BatchNormalization, keras.layers.ReLU,
              keras.layers.MaxPooling2D, keras.layers.GlobalAveragePooling2D,
              keras.layers.Flatten, keras.layers.Dense)


def _layers(model: keras.Model) -> List[keras.layers.Layer]:
  """The model's layers in call order, nested models flattened."""
  out = []
  for layer in model.layers:
    if isinstance(layer, keras.Model):
      out += _layers(layer)
    elif not isinstance(layer, keras.layers.InputLayer):
      out.append(layer)
  return out


def _is_sequential_chain(model: keras.Model) -> bool:
  """Whether every layer feeds the next one only (no branches, no merges)."""
  for layer in model.layers:
    if len(layer._inbound_nodes) > 1:  # Shared layers are not a chain.
      return False
    if isinstance(layer, keras.Model) and not _is_sequential_chain(layer):
      return False
  return True


class BatchedNetwork:
  """Runs a Keras classifier for T tasks at once with stacked weights.

  Args:
    model: the network; its `trainable_variables` order is the weight order
      of `stateless_call`, and `forward` takes the same list with a leading
      task axis on every tensor.
  """

  def __init__(self, model: keras.Model):
    if not self.supports(model):
      raise ValueError(f"{model.name} has layers the batched path does not "
                       f"run; use the per-task path.")
    self.layers = _layers(model)
    index = {id(v): i for i, v in enumerate(model.trainable_variables)}
    self.weight_index = [[index[id(v)] for v in layer.trainable_variables]
                         for layer in self.layers]

  @staticmethod
  def supports(model: keras.Model) -> bool:
    layers = _layers(model)
    if not layers or not all(isinstance(l, _SUPPORTED) for l in layers):
      return False
    if not _is_sequential_chain(model):
      return False
    for layer in layers:
      if isinstance(layer, keras.layers.Conv2D):
        if layer.data_format != "channels_last" or layer.groups != 1 or (
            tuple(layer.dilation_rate) != (1, 1)) or layer.activation not in (
                keras.activations.linear, None):
          return False
      if isinstance(layer, keras.layers.BatchNormalization) and (
          layer.axis not in (-1, 3, [-1], [3])):
        return False
      if isinstance(layer, keras.layers.Dense) and layer.activation not in (
          keras.activations.linear, None):
        return False
      if isinstance(layer, (keras.layers.MaxPooling2D,
                            keras.layers.GlobalAveragePooling2D,
                            keras.layers.Flatten)) and getattr(
                                layer, "data_format",
                                "channels_last") != "channels_last":
        return False
    return True

  def forward(self, weights: Weights, images: tf.Tensor,
              context: tf.Tensor | None = None,
              normalization: str = "transductive") -> tf.Tensor:
    """Logits [T, B, N] of images [T, B, H, W, C] under stacked weights.

    BatchNorm runs in training mode, as MAML's `predict` runs it: with
    "transductive" `normalization`, each task's batch gives its own
    statistics; otherwise `context` [T, Bc, H, W, C] (each task's support
    set) gives them, passed through the network beside the images; without
    a context the images are their own (the support set itself).
    """
    context_size = None
    if context is not None and norms.uses_support_statistics(normalization):
      context_size = tf.shape(context)[1]
      images = tf.concat([context, images], axis=1)
    out = self._forward(weights, images, context_size,
                        norms.counts_the_query(normalization))
    return out if context_size is None else out[:, context_size:]

  def context_moments(self, weights: Weights, context: tf.Tensor
                      ) -> List[tuple]:
    """Each norm layer's (mean, variance) of one task's context [1, B, H,
    W, C] (its support set), in layer order: what `forward_fixed` needs to
    normalise images on their own, without the context in the call."""
    record = []
    self._forward(weights, context, None, record=record)
    return record

  def forward_fixed(self, weights: Weights, images: tf.Tensor,
                    moments: Sequence[tuple], context_size,
                    normalization: str) -> tf.Tensor:
    """`forward(weights, images, context, normalization)` of one task
    [1, B, ...] from its context's `context_moments` and size instead of the
    context itself: the same logits, one forward pass of the images only.
    A classifier fitted to a support set answers each image this way."""
    return self._forward(weights, images, context_size,
                         norms.counts_the_query(normalization),
                         given=list(moments))

  def _forward(self, weights: Weights, images: tf.Tensor,
               context_size, with_self: bool = False, given=None,
               record=None) -> tf.Tensor:
    tasks = tf.shape(images)[0]
    batch = tf.shape(images)[1]
    x = _tasks_to_channels(images)  # [B, H, W, T * C]
    channels = images.shape[-1]
    features = None  # [T, B, D] once the spatial part is done.
    for layer, indices in zip(self.layers, self.weight_index):
      w = [weights[i] for i in indices]
      if isinstance(layer, keras.layers.Conv2D):
        kernel = w[0]  # [T, kh, kw, C, O]
        out = kernel.shape[-1]
        grouped = tf.reshape(
            tf.transpose(kernel, [1, 2, 3, 0, 4]),
            tf.concat([tf.shape(kernel)[1:4], [tasks * out]], 0))
        x = tf.nn.conv2d(x, grouped, strides=layer.strides,
                         padding=layer.padding.upper())
        if layer.use_bias:
          x = x + tf.reshape(w[1], [-1])
        channels = out
      elif isinstance(layer, keras.layers.BatchNormalization):
        if record is not None:
          record.append(tf.nn.moments(x, axes=[0, 1, 2]))
        x = _batch_norm(x, w, layer, channels, context_size, with_self,
                        None if given is None else given.pop(0))
      elif isinstance(layer, keras.layers.ReLU):
        x = _relu(x, layer)
      elif isinstance(layer, keras.layers.MaxPooling2D):
        x = tf.nn.max_pool2d(x, layer.pool_size, layer.strides,
                             layer.padding.upper())
      elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
        pooled = tf.reduce_mean(x, axis=[1, 2])  # [B, T * C]
        features = tf.transpose(
            tf.reshape(pooled, [batch, tasks, channels]), [1, 0, 2])
      elif isinstance(layer, keras.layers.Flatten):
        spatial = tf.shape(x)[1:3]
        x5 = tf.reshape(x, tf.concat([[batch], spatial, [tasks, channels]],
                                     0))
        features = tf.reshape(tf.transpose(x5, [3, 0, 1, 2, 4]),
                              [tasks, batch, -1])
      elif isinstance(layer, keras.layers.Dense):
        features = tf.einsum("tbd,tdn->tbn", features, w[0])
        if layer.use_bias:
          features = features + w[1][:, None, :]
    return features


@functools.lru_cache(maxsize=1)
def grouped_gradients_work() -> bool:
  """Whether this TensorFlow can take second-order gradients of a grouped
  convolution (a 2-group probe of a few hundred weights, run once)."""
  images = tf.ones([1, 4, 4, 2])
  kernel = tf.ones([3, 3, 1, 4])
  try:
    with tf.GradientTape() as outer:
      outer.watch(kernel)
      with tf.GradientTape() as inner:
        inner.watch(kernel)
        loss = tf.reduce_sum(tf.nn.conv2d(images, kernel, 1, "SAME") ** 2)
      step = kernel - 0.1 * inner.gradient(loss, kernel)
      loss = tf.reduce_sum(tf.nn.conv2d(images, step, 1, "SAME") ** 2)
    outer.gradient(loss, kernel).numpy()
  except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
    warnings.warn(
        "TensorFlow cannot differentiate grouped convolutions here (oneDNN "
        "is off), so MAML runs task by task: slower, same results. Import "
        "lasium_tf before tensorflow, or set TF_ENABLE_ONEDNN_OPTS=1 before "
        "Python starts, to use the stacked path.", stacklevel=2)
    return False
  return True


def network_for(model: keras.Model, normalization: str):
  """The stacked network of `model`, or None where it cannot run it.

  Normalising with the support set's statistics goes through it, so those
  normalisations need a model it runs (the backbones of models/).
  """
  if BatchedNetwork.supports(model):
    return BatchedNetwork(model)
  if norms.uses_support_statistics(normalization):
    raise ValueError(
        f"normalization {normalization!r} runs through lasium_tf.learners.batched, "
        f"which does not run {model.name}; use normalization='transductive' "
        f"or a backbone of lasium_tf.models.backbone.")
  return None


def _tasks_to_channels(images: tf.Tensor) -> tf.Tensor:
  """[T, B, H, W, C] -> [B, H, W, T * C], task-major channels."""
  shape = tf.shape(images)
  x = tf.transpose(images, [1, 2, 3, 0, 4])
  return tf.reshape(x, [shape[1], shape[2], shape[3], shape[0] * shape[4]])


def _batch_norm(x, w, layer, channels, context_size, with_self=False,
                given=None):
  """Training-mode BatchNorm of every (task, channel) on its task's context.

  The first `context_size` rows of the batch give the statistics (None: all
  rows), each later row's own pixels joining them `with_self`; a
  `TaskNormalization` layer blends in each row's instance moments instead.
  With `given` (the context's moments), every row is normalised with them
  and the context, of `context_size` rows, is not in the batch.
  """
  w = list(w)
  scale = w.pop(0) if layer.scale else None
  center = w.pop(0) if layer.center else None
  alpha = None
  if isinstance(layer, norms.TaskNormalization):
    size = tf.shape(x)[0] if context_size is None else context_size
    alpha = tf.repeat(norms.blend_weight(w[0], w[1], size), channels)
  x = norms.normalise(x, layer.epsilon, context_size, alpha,
                      with_self and alpha is None, given)
  if scale is not None:
    x = x * tf.reshape(scale, [-1])
  if center is not None:
    x = x + tf.reshape(center, [-1])
  return x


def _relu(x, layer):
  if layer.max_value is None and not layer.negative_slope and not (
      layer.threshold):
    return tf.nn.relu(x)
  return layer(x)


def stack(weights: Sequence[tf.Tensor], tasks) -> Weights:
  """The same weights for each of `tasks` tasks: a leading axis of size T."""
  return [tf.tile(w[None], tf.concat([[tasks], tf.ones_like(tf.shape(w))], 0))
          for w in weights]
