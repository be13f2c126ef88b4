"""SavedModel export of a meta-learned backbone with a few-shot signature.

The SavedModel needs none of this project's code: `tf.saved_model.load(path)`
in a fresh process gives

* `few_shot(support_images, support_labels, query_images)` ->
  `{"logits": float32[num_query, N]}`: the whole few-shot procedure in the
  graph (MAML: the evaluation-time adaptation from the meta-learned weights,
  with its step size and number of steps; ProtoNets: the prototype
  classifier). N is the number of distinct support labels (0 .. N-1), at
  most the head's size for MAML. BatchNorm normalises the queries with the
  support set's statistics (TaskNorm-I's blend for a network trained with
  it; `lasium_tf.learners.batchnorm`), so an image gets the same logits sent
  alone or in any batch;
* `few_shot_transductive(...)`: the same procedure with each batch
  normalised by its own statistics, as the paper evaluates (every paper
  number; for a TaskNorm-I network, its blend with the batch as context);
  pass whole balanced query sets (75 queries of a 5-way task), never
  single images;
* `embed(images)` -> `{"embeddings": float32[batch, D]}`: the backbone's
  features (BatchNorm on the statistics of the given batch, as in training:
  pass batches, not single images);
* `serving_default` = `few_shot`;
* `input_shape`: a variable holding [height, width, channels].

Images are float32 in [0, 1], NHWC at the training resolution; anything else
(another size or rank, NaN, 0..255 values) is refused with a message that
says so. A grey drawing model (its card's "images": "white strokes" or
"black strokes") takes drawings either way round: where the support images'
page (the median of their border pixels) is the other polarity, both sets
are inverted before the network sees them. The Keras model
itself is saved beside it as `model.keras` for fine-tuning in Keras.
"""

from __future__ import annotations

import json
import pathlib
from typing import Dict, Optional

import tensorflow as tf

from lasium_tf.learners import batchnorm as norms
from lasium_tf.core.files import atomic_directory


def signature_normalizations(trained: str) -> Dict[str, str]:
  """Signature name -> normalisation, for a network trained with `trained`.

  `few_shot` never depends on the other queries: TaskNorm-I where the
  network has it, else the support set's statistics (or the rule it was
  trained with); `few_shot_transductive` normalises each batch with its own
  statistics, the paper's procedure, on the same network (the rule's
  `counterpart`).
  """
  kind = norms.kind(trained)
  one_image, batch = ((norms.kind(kind.counterpart), kind)
                      if kind.transductive
                      else (kind, norms.kind(kind.counterpart)))
  return {"few_shot": one_image.name, "few_shot_transductive": batch.name}


def load_keras_model(path):
  """The Keras model an export saved (`model.keras`), in Keras' safe mode:
  no code in the file is run. A file safe mode refuses, or a damaged one,
  raises ValueError with the first line of Keras' reason."""
  import keras

  try:
    return keras.saving.load_model(str(path), compile=False)
  except ValueError as e:
    raise ValueError((str(e).strip().splitlines() or [""])[0][:200]) from None


def checked_images(image_shape, images, name):
  """The images, or an error naming what is wrong and the fix.

  Shape (rank 4, the network's size and channels, not empty), finite
  values, and the range [0, 1] the network was trained on. Every signature
  this library exports checks its images so (`lasium_tf.classifier` too).
  """
  image_shape = [int(d) for d in image_shape]
  expected = ", ".join(str(d) for d in image_shape)
  shape = tf.shape(images)
  with tf.control_dependencies([
      tf.debugging.assert_equal(
          tf.size(shape), 4,
          message=f"{name} must be float32[batch, {expected}]")]):
    with tf.control_dependencies([
        tf.debugging.assert_equal(
            shape[1:], tf.constant(image_shape),
            message=f"{name} must be float32[batch, {expected}]"),
        tf.debugging.assert_positive(shape[0],
                                     message=f"{name} is empty")]):
      with tf.control_dependencies([
          tf.debugging.assert_equal(
              tf.reduce_all(tf.math.is_finite(images)), True,
              message=f"{name} holds NaN or infinite values"),
          tf.debugging.assert_greater_equal(
              tf.reduce_min(images), 0.0,
              message=f"{name} must lie in [0, 1]"),
          tf.debugging.assert_less_equal(
              tf.reduce_max(images), 1.0,
              message=f"{name} must lie in [0, 1]: divide 8-bit pixel "
                      f"values by 255")]):
        return tf.ensure_shape(tf.identity(images), [None, *image_shape])


class _FewShotModule(tf.Module):

  def __init__(self, learner, image_shape, normalization: str,
               ink: str = ""):
    super().__init__()
    self.learner = learner.with_normalization(normalization)
    # "white strokes" / "black strokes": a grey drawing model's training
    # images, whose polarity the signature then matches (`_as_trained`).
    self.ink = ink if image_shape[-1] == 1 else ""
    self.model = learner.model
    self.backbone = learner.embedding
    self.image_shape = [int(d) for d in image_shape]
    self.head_size = learner.max_classes
    # Any shape and rank is let in, so that a wrong one meets
    # `checked_images`' message rather than a signature mismatch.
    images = tf.TensorSpec(None, tf.float32, name="images")
    self.embed = tf.function(self._embed, input_signature=[images])
    self.few_shot = tf.function(
        self._few_shot,
        input_signature=[tf.TensorSpec(None, tf.float32,
                                       name="support_images"),
                         tf.TensorSpec([None], tf.int32,
                                       name="support_labels"),
                         tf.TensorSpec(None, tf.float32,
                                       name="query_images")])

  def _embed(self, images):
    images = checked_images(self.image_shape, images, "images")
    return {"embeddings": self.backbone(images, training=True)}

  def _as_trained(self, support_images, query_images):
    """Both sets inverted where the support images are drawn the other way
    round from the training images (`classifier.matches_polarity`: the
    median of their border pixels is the page), so dark drawings on light
    paper reach a model trained on light strokes as it was trained."""
    if self.ink not in ("white strokes", "black strokes"):
      return support_images, query_images
    pixels = support_images[..., 0]
    border = tf.concat([pixels[:, 0], pixels[:, -1], pixels[:, :, 0],
                        pixels[:, :, -1]], axis=1)
    border = tf.sort(tf.reshape(border, [-1]))
    median = border[tf.size(border) // 2]
    light_page = median > 0.5
    flip = tf.not_equal(light_page, self.ink == "black strokes")
    return (tf.where(flip, 1.0 - support_images, support_images),
            tf.where(flip, 1.0 - query_images, query_images))

  def _few_shot(self, support_images, support_labels, query_images):
    support_images = checked_images(self.image_shape, support_images,
                                    "support_images")
    query_images = checked_images(self.image_shape, query_images,
                                  "query_images")
    support_images, query_images = self._as_trained(support_images,
                                                    query_images)
    num_classes = tf.reduce_max(support_labels) + 1
    checks = [
        tf.debugging.assert_equal(
            tf.shape(support_labels)[0], tf.shape(support_images)[0],
            message="support_labels needs one label per support image"),
        tf.debugging.assert_non_negative(
            support_labels, message="support_labels must be 0 .. N-1"),
        tf.debugging.assert_equal(
            tf.size(tf.unique(support_labels).y), num_classes,
            message="support_labels must use every class 0 .. N-1"),
    ]
    if self.head_size is not None:
      checks.append(tf.debugging.assert_less_equal(
          num_classes, self.head_size,
          message=f"the head of this model has {self.head_size} outputs: "
                  f"at most {self.head_size} classes (labels 0 .. "
                  f"{self.head_size - 1})"))
    with tf.control_dependencies(checks):
      logits = self.learner.few_shot_logits(
          tf.identity(support_images), support_labels, query_images,
          num_classes)
    return {"logits": logits[:, :num_classes]}


def export(learner, path, image_shape, card: Optional[Dict] = None,
           trained_normalization: Optional[str] = None) -> pathlib.Path:
  """Writes the SavedModel and `model.keras` to `path` (atomically).

  The signatures are `signature_normalizations(trained_normalization)`
  (default: the learner's own). With `card` (what produced the weights:
  commands, budget, accuracy), also `card.json` and a README saying how to
  use it.
  """
  signatures = signature_normalizations(trained_normalization
                                        or learner.normalization)
  ink = (card or {}).get("images", "")
  modules = {name: _FewShotModule(learner, tuple(image_shape), norm, ink)
             for name, norm in signatures.items()}
  root = modules["few_shot"]
  # The signatures take any shape (to check it themselves); what they
  # expect is kept beside them, for tools that read images to size.
  root.input_shape = tf.Variable(root.image_shape, trainable=False,
                                 dtype=tf.int32, name="input_shape")
  for name, module in modules.items():
    if name != "few_shot":
      setattr(root, name, module.few_shot)
  with atomic_directory(path) as tmp:
    tf.saved_model.save(root, str(tmp), signatures={
        "embed": root.embed, "serving_default": root.few_shot,
        **{name: module.few_shot for name, module in modules.items()}})
    learner.model.save(tmp / "model.keras")
    if card is not None:
      card = {**card, **learner.card(), "signatures": signatures}
      (tmp / "card.json").write_text(
          json.dumps(card, indent=2, sort_keys=True) + "\n")
      (tmp / "README.md").write_text(_readme(card, pathlib.Path(path).name,
                                             image_shape))
  return pathlib.Path(path)


def _readme(card: Dict, name: str, image_shape) -> str:
  signatures = card.get("signatures", {"few_shot": "transductive"})

  def accuracy(normalization):
    return "\n".join(
        f"  - {r['n_way']}-way {r['k_shot']}-shot: {r['accuracy']:.2f} +- "
        f"{r['ci95']:.2f}% on {r['num_tasks']} test tasks"
        for r in card.get("results", [])
        if r.get("normalization", "transductive") == normalization
    ) or "  - not evaluated"

  listing = "\n".join(
      f"- `{sig}` ({norm}): {norms.kind(norm).described}.\n{accuracy(norm)}"
      for sig, norm in signatures.items())
  shape = ", ".join(str(d) for d in image_shape)
  ink = {"white strokes": ", either polarity (the support images' page "
                          "decides)",
         "black strokes": ", either polarity (the support images' page "
                          "decides)"}.get(card.get("images", ""), "")
  chosen = card.get("selection")
  # With checkpoint selection the weights are an earlier checkpoint than
  # the run's last; the card says which, so no reader takes them for it.
  picked = (f"\n- Weights: the checkpoint of meta-iteration "
            f"{chosen['meta_iteration']}, the best of the run's checkpoints "
            f"on validation tasks ({chosen['accuracy']:.2f} +- "
            f"{chosen['ci95']:.2f}%)." if chosen else "")
  adaptation = card.get("adaptation") or {}
  if adaptation.get("support_copies"):
    picked += (f"\n- At test it adapts on the support set and "
               f"{adaptation['support_copies']} copies of each support "
               f"image shifted by up to {adaptation['support_shift']} "
               f"pixels, every signature alike.")
  return f"""# {card['method']}: a meta-learned few-shot classifier ({name})

- Learner: {card['learner']}, meta-trained {card['meta_iterations']}
  meta-iterations ({card.get('dataset', 'omniglot')}, recipe
  `{card.get('recipe', 'none')}`, normalization
  `{card.get('trained_normalization', 'transductive')}`).{picked}
- Train command: `{card['train_command']}`
- Export command: `{card['export_command']}`

## Signatures and their accuracy (1000-task evaluations of this network)
{listing}

## Use (no lasium_tf code needed)
```python
import tensorflow as tf
model = tf.saved_model.load("{name}")
logits = model.signatures["few_shot"](
    support_images=support,   # float32[N * K, {shape}] in [0, 1]{ink}
    support_labels=labels,    # int32[N * K], classes 0 .. N-1
    query_images=queries)["logits"]  # -> float32[num_query, N], any count
```
`embed(images)` gives the backbone's features. BatchNorm uses the statistics
of the batch it is given there, as in training: pass batches, not single
images.
"""
