"""SavedModel export of a meta-learned backbone with a few-shot signature.

The SavedModel needs none of this project's code: `tf.saved_model.load(path)`
in a fresh process gives

* `embed(images)` -> `{"embeddings": float32[batch, D]}`: the backbone's
  features (BatchNorm on the statistics of the given batch, as in training:
  pass batches, not single images);
* `few_shot(support_images, support_labels, query_images)` ->
  `{"logits": float32[num_query, N]}`: the whole few-shot procedure in the
  graph (MAML: the evaluation-time adaptation from the meta-learned weights,
  with its step size and number of steps; ProtoNets: the prototype
  classifier). N is the number of distinct support labels (0 .. N-1), at
  most the head's size for MAML;
* `serving_default` = `few_shot`.

Images are float32 in [0, 1], NHWC at the training resolution. The Keras model
itself is saved beside it as `model.keras` for fine-tuning in Keras.
"""

from __future__ import annotations

import pathlib
import tensorflow as tf

from lasium_tf.files import atomic_directory


class _FewShotModule(tf.Module):

  def __init__(self, learner, image_shape):
    super().__init__()
    self.learner = learner
    self.model = learner.model
    self.backbone = learner.embedding
    images = tf.TensorSpec([None, *image_shape], tf.float32)
    self.embed = tf.function(
        self._embed, input_signature=[images])
    self.few_shot = tf.function(
        self._few_shot,
        input_signature=[tf.TensorSpec([None, *image_shape], tf.float32,
                                       name="support_images"),
                         tf.TensorSpec([None], tf.int32,
                                       name="support_labels"),
                         tf.TensorSpec([None, *image_shape], tf.float32,
                                       name="query_images")])

  def _embed(self, images):
    return {"embeddings": self.backbone(images, training=True)}

  def _few_shot(self, support_images, support_labels, query_images):
    num_classes = tf.reduce_max(support_labels) + 1
    logits = self.learner.few_shot_logits(support_images, support_labels,
                                          query_images, num_classes)
    return {"logits": logits[:, :num_classes]}


def export(learner, path, image_shape) -> pathlib.Path:
  """Writes the SavedModel and `model.keras` to `path` (atomically)."""
  module = _FewShotModule(learner, tuple(image_shape))
  with atomic_directory(path) as tmp:
    tf.saved_model.save(module, str(tmp), signatures={
        "embed": module.embed, "few_shot": module.few_shot,
        "serving_default": module.few_shot})
    learner.model.save(tmp / "model.keras")
  return pathlib.Path(path)
