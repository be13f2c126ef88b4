"""Fit once, classify many: a few-shot classifier to save, serve and ship.

An exported meta-learned model (`--mode=export`) answers through
`few_shot(support_images, support_labels, query_images)`, which learns the
support set again in every call: MAML's 50 inner steps each time.
`FewShotClassifier.fit` does that once (MAML: the adapted weights;
ProtoNets: the prototypes; both: the support set's normalisation
statistics) and keeps the result, so each new image then costs one forward
pass:

  from lasium_tf.classifier import FewShotClassifier
  classifier = FewShotClassifier.fit(
      "pretrained/lasium_ro_gan_maml_alpha04_40k_lr1e4", "my_support/")
  classifier.predict(images)          # class names, one per image
  classifier.predict_proba(images)    # float32 [n, N]
  classifier.save("my_classifier")    # SavedModel + model.tflite + card
  FewShotClassifier.load("my_classifier").predict(images)

Each image's answer is its own: queries are normalised with the support
set's statistics (or TaskNorm-I's blend), never with the other queries',
so the labels are those of the export's `few_shot` signature on the same
support set (Khodadadeh et al., ICLR 2021, evaluate transductively instead;
`lasium_tf.learners.batchnorm`).

A saved classifier needs no code of this library: its `classify` signature
takes `images` (float32 [n, H, W, C] in [0, 1], drawn as the support images
were) and returns `probabilities` (float32 [n, N]) and `labels` (int32
[n]); `class_names` holds the names in label order, as do its card.json
and README; `model.tflite` gives the same outputs in the TFLite
interpreter.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from lasium_tf.run import export as export_lib
from lasium_tf.core import files
from lasium_tf.errors import ConfigError, FewShotError

# card.json's "kind" for a saved classifier (a backbone's card has none).
KIND = "few_shot_classifier"


def read_card(model_dir) -> Dict:
  """A model folder's card.json ({} without one); a damaged one is named."""
  card = os.path.join(model_dir, "card.json")
  if not os.path.exists(card):
    return {}
  try:
    with open(card) as f:
      loaded = json.load(f)
  except (OSError, ValueError) as e:
    raise FewShotError(f"{card} is damaged ({e}); export the model again "
                       f"(--mode=export) or restore the file.") from None
  if not isinstance(loaded, dict):
    raise FewShotError(f"{card} is not a card (a JSON object); export the "
                       f"model again (--mode=export).")
  return loaded


def is_saved_classifier(model_dir) -> bool:
  """Whether `model_dir` holds a classifier `FewShotClassifier.save` wrote."""
  return read_card(model_dir).get("kind") == KIND


def save_target_problem(folder, keep=()) -> Optional[str]:
  """Why a classifier may not be saved to `folder`, or None.

  The export rule (`files.export_target_problem`: never a folder of other
  files, never one of `keep` or above it) and, of the folders an export
  wrote, only an earlier saved classifier: a meta-learned model, the one
  being fitted or another, is never replaced by a classifier.
  """
  problem = files.export_target_problem(folder, "save_classifier",
                                        [k for k in keep if k])
  if problem is None and os.path.isdir(folder) and os.listdir(folder) and (
      not is_saved_classifier(folder)):
    problem = (f"--save_classifier={folder} holds an exported model, not a "
               f"saved classifier; give --save_classifier a new or empty "
               f"folder, e.g. experiments/my_classifier.")
  return problem


def resizes_with_antialias(card: Dict) -> bool:
  """Whether a model's training images were resized with an antialiasing
  filter: what its card says, else what its data set's loader does
  (`lasium_tf.datasets`; Omniglot's does not), else yes (folders)."""
  from lasium_tf.datasets import DATASETS

  if isinstance(card.get("antialias"), bool):
    return card["antialias"]
  dataset = card.get("dataset")
  if isinstance(dataset, str) and dataset in DATASETS:
    return DATASETS.get(dataset).antialias
  return True


def read_images(paths: Sequence[str], image_shape,
                antialias: bool = True) -> np.ndarray:
  """Image files as float32 [n, H, W, C] in [0, 1], as the loaders read
  them (`ImageFiles`; resized as the model's data set was:
  `resizes_with_antialias`); a file that cannot be decoded is named."""
  from lasium_tf.data.image_sets import ImageFiles

  size, _, channels = image_shape
  try:
    return ImageFiles(tuple(paths), size, channels, antialias).fetch(
        tf.range(len(paths))).numpy()
  except tf.errors.OpError:
    for name in paths:  # Which one: decode them one by one.
      try:
        ImageFiles((name,), size, channels, antialias).fetch(tf.range(1))
      except tf.errors.OpError:
        raise FewShotError(f"{name} cannot be decoded (a damaged image): "
                           f"replace or delete it.") from None
    raise


def support_folder(folder: str, image_shape, skip_bad: bool = False,
                   antialias: bool = True
                   ) -> Tuple[List[str], np.ndarray, np.ndarray]:
  """(class names, images, labels) of a folder of class subfolders."""
  from lasium_tf.data import folder as folders

  names, paths, labels = folders.labelled_files(folder, skip_bad,
                                                "--support")
  return (list(names), read_images(paths, image_shape, antialias),
          np.asarray(labels, np.int32))


def matches_polarity(images, trained_on: Optional[str]) -> Optional[bool]:
  """Whether grey `images` [n, H, W, 1] are drawn as the model's training
  images were ("white strokes": light on a dark page; "black strokes":
  dark on light), read from the median of their border pixels, the page,
  as folder runs detect a folder's background; None when the model or the
  images say nothing of ink (colour images, no card).

  Omniglot's files, and a user's drawings, are dark on light, while the
  Omniglot models read light strokes on black: the support images decide,
  so either polarity is read right and never silently misread.
  """
  if trained_on not in ("white strokes", "black strokes") or (
      images.shape[-1] != 1):
    return None
  pixels = np.asarray(images)[..., 0]
  border = np.concatenate([pixels[:, 0], pixels[:, -1], pixels[:, :, 0],
                           pixels[:, :, -1]], axis=1)
  light_page = float(np.median(border)) > 0.5
  return light_page == (trained_on == "black strokes")


def _backbone(model_dir: str) -> Tuple[object, Dict, List[int]]:
  """(learner, card, image shape) of an exported meta-learned model."""
  from lasium_tf.learners import LEARNERS

  card = read_card(model_dir)
  keras_file = os.path.join(model_dir, "model.keras")
  if card.get("kind") == KIND:
    raise FewShotError(
        f"{model_dir} is a classifier already fitted to its support set: "
        f"classify with it (FewShotClassifier.load, or few_shot without "
        f"--support), or fit the model it came from "
        f"({card.get('source', {}).get('model', 'its card names it')}).")
  if not os.path.isfile(keras_file) or "learner" not in card:
    raise FewShotError(
        f"{model_dir} is not a few-shot model (no model.keras with a "
        f"card.json naming its learner): give a folder --mode=export wrote, "
        f"e.g. pretrained/lasium_ro_gan_maml_alpha04_40k_lr1e4.")
  normalization = (card.get("signatures") or {}).get("few_shot")
  if normalization in (None, "transductive"):
    raise FewShotError(
        f"{model_dir} was exported before queries could be answered on "
        f"their own (its few_shot normalises them as one batch): export it "
        f"again with this version (its flags with --mode=export).")
  try:
    kind = LEARNERS.get(card["learner"])
  except ConfigError as e:
    raise FewShotError(f"{model_dir}: {e}") from None
  if kind.from_model is None:
    raise FewShotError(f"{model_dir}: learner {kind.name!r} cannot be "
                       f"rebuilt from an exported model.")
  try:
    model = export_lib.load_keras_model(keras_file)
  except ValueError as e:  # Safe mode refuses code; a damaged file too.
    raise FewShotError(
        f"{keras_file} is refused ({e}): only a file --mode=export "
        f"wrote is loaded, and no code in it is run; export it again.") from None
  try:
    learner = kind.from_model(model, normalization, card)
  except ConfigError as e:
    raise FewShotError(f"{model_dir}: {e}") from None
  return learner, card, [int(d) for d in model.inputs[0].shape[1:]]


class _Fitted(tf.Module):
  """The fitted task as variables, and the signature that answers with it.

  `classify` checks its images (`export.checked_images`); `answer` is the
  same arithmetic unchecked, which is what TFLite converts (its kernels
  have no assertions).
  """

  def __init__(self, learner, task, image_shape, class_names, invert: bool):
    super().__init__()
    self.image_shape = [int(d) for d in image_shape]
    self.weights = [tf.Variable(w, trainable=False) for w in task.weights]
    self.moments = [(tf.Variable(m, trainable=False),
                     tf.Variable(v, trainable=False)) for m, v in task.moments]
    self.head = [tf.Variable(h, trainable=False) for h in task.head]
    self.class_names = tf.Variable(list(class_names), trainable=False,
                                   dtype=tf.string)
    self.input_shape = tf.Variable(self.image_shape, trainable=False,
                                   dtype=tf.int32)
    self._learner = learner
    self._task = task
    self._invert = bool(invert)
    self.answer = tf.function(self._answer, input_signature=[
        tf.TensorSpec([None, *self.image_shape], tf.float32, name="images")])
    self.classify = tf.function(self._classify, input_signature=[
        tf.TensorSpec(None, tf.float32, name="images")])

  def _answer(self, images):
    if self._invert:  # Drawn as the support set, read as in training.
      images = 1.0 - images
    task = self._task._replace(weights=list(self.weights),
                               moments=list(self.moments),
                               head=list(self.head))
    logits = self._learner.fitted_logits(task, images)
    return {"probabilities": tf.nn.softmax(logits),
            "labels": tf.argmax(logits, axis=-1, output_type=tf.int32)}

  def _classify(self, images):
    return self._answer(export_lib.checked_images(self.image_shape, images,
                                                  "images"))


class FewShotClassifier:
  """A support set learned once; `predict` answers each image on its own.

  Build it with `fit` (from an exported model and a support set) or `load`
  (a folder `save` wrote).
  """

  def __init__(self, classify, class_names: Sequence[str], image_shape,
               card: Dict, module: Optional[_Fitted] = None,
               folder: Optional[str] = None):
    self._classify = classify
    self.class_names = list(class_names)
    self.image_shape = [int(d) for d in image_shape]
    self.card = card
    self._module = module
    self._folder = folder

  @classmethod
  def fit(cls, model_dir: str, support, labels=None,
          class_names: Optional[Sequence[str]] = None,
          skip_bad_images: bool = False) -> "FewShotClassifier":
    """Learns the support set once.

    Args:
      model_dir: a folder `--mode=export` wrote (e.g. a `pretrained/` one).
      support: a folder with one subfolder of images per class (the
        subfolder's name is the class), or float32 images [n, H, W, C] in
        [0, 1] with `labels` (int, 0 .. N-1).
      labels: the support images' classes, with an array `support`.
      class_names: the N names in label order (default "0" .. "N-1").
      skip_bad_images: skip support files that are not images (counted).
    """
    learner, card, image_shape = _backbone(model_dir)
    if isinstance(support, (str, os.PathLike)):
      if labels is not None:
        raise FewShotError("labels come from the support folder's "
                           "subfolders: give labels only with image arrays.")
      class_names, images, labels = support_folder(
          os.fspath(support), image_shape, skip_bad_images,
          resizes_with_antialias(card))
      source = os.fspath(support)
    else:
      images, labels, class_names = _support_arrays(
          support, labels, class_names, image_shape)
      source = "arrays"
    invert = matches_polarity(images, card.get("images")) is False
    if invert:
      images = 1.0 - images
    limit = learner.max_classes
    if limit is not None and len(class_names) > limit:
      raise FewShotError(
          f"the support set has {len(class_names)} classes but "
          f"{model_dir}'s head has {limit} outputs: give at most {limit} "
          f"classes.")
    task = learner.fit_task(tf.constant(images), tf.constant(labels),
                            len(class_names))
    module = _Fitted(learner, task, image_shape, class_names, invert)
    ink = card.get("images")
    if invert:
      ink = {"white strokes": "black strokes",
             "black strokes": "white strokes"}[ink]
    own = {"kind": KIND, "class_names": list(class_names),
           "image_shape": list(image_shape), "images": ink,
           "antialias": resizes_with_antialias(card),
           "support": {"source": source, "images_per_class": [
               int(np.sum(labels == k)) for k in range(len(class_names))]},
           "source": {"model": os.fspath(model_dir),
                      "method": card.get("method"),
                      "learner": card.get("learner"),
                      "normalization": card["signatures"]["few_shot"],
                      "adaptation": card.get("adaptation")}}
    return cls(module.classify, class_names, image_shape, own, module)

  @classmethod
  def load(cls, folder: str) -> "FewShotClassifier":
    """A classifier `save` wrote (needs only TensorFlow and the folder)."""
    card = read_card(folder)
    if card.get("kind") != KIND or not os.path.isfile(
        os.path.join(folder, "saved_model.pb")):
      raise FewShotError(
          f"{folder} is not a saved few-shot classifier (a folder "
          f"FewShotClassifier.save or few_shot --save_classifier wrote).")
    try:
      loaded = tf.saved_model.load(folder)
    except Exception as e:  # pylint: disable=broad-except
      first = (str(e).strip().splitlines() or [""])[0][:200]
      raise FewShotError(f"{folder} cannot be loaded ({type(e).__name__}: "
                         f"{first}); its files are damaged: save the "
                         f"classifier again.") from None
    signature = loaded.signatures["classify"]
    return cls(lambda images: signature(images=images), card["class_names"],
               card["image_shape"], card, folder=folder)

  def predict_proba(self, images) -> np.ndarray:
    """float32 [n, N]: each image's probability of each class."""
    return self._outputs(images)["probabilities"].numpy()

  def predict(self, images) -> List[str]:
    """Each image's most probable class name."""
    labels = self._outputs(images)["labels"].numpy()
    return [self.class_names[int(k)] for k in labels]

  def _outputs(self, images):
    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    if images.shape.rank == 3:  # One image.
      images = images[None]
    return self._classify(images)

  def save(self, folder: str) -> pathlib.Path:
    """Writes the SavedModel, `model.tflite`, card.json and a README to
    `folder` (atomically; only a new or empty folder, or an earlier saved
    classifier, is taken: `save_target_problem`)."""
    problem = save_target_problem(folder, (
        self.card.get("source", {}).get("model"), self._folder))
    if problem:
      raise FewShotError(problem)
    with files.atomic_directory(folder) as tmp:
      if self._module is None:  # Loaded: its files are the classifier.
        for entry in pathlib.Path(self._folder).iterdir():
          copy = shutil.copytree if entry.is_dir() else shutil.copy2
          copy(entry, tmp / entry.name)
        return pathlib.Path(folder)
      tf.saved_model.save(self._module, str(tmp), signatures={
          "classify": self._module.classify,
          "serving_default": self._module.classify})
      (tmp / "model.tflite").write_bytes(self.tflite())
      (tmp / "card.json").write_text(
          json.dumps(self.card, indent=2, sort_keys=True) + "\n")
      (tmp / "README.md").write_text(_readme(self.card,
                                             pathlib.Path(folder).name))
    return pathlib.Path(folder)

  def tflite(self) -> bytes:
    """The classifier as a TFLite flatbuffer (`answer`, without the input
    checks, which TFLite has no kernels for); inputs any batch."""
    if self._module is None:
      return (pathlib.Path(self._folder) / "model.tflite").read_bytes()
    function = self._module.answer.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function], self._module)
    return converter.convert()


def _support_arrays(images, labels, class_names, image_shape):
  images = np.asarray(images, np.float32)
  if labels is None:
    raise FewShotError("support images given as an array need labels "
                       "(int, 0 .. N-1, one per image).")
  labels = np.asarray(labels)
  if images.ndim != 4 or list(images.shape[1:]) != list(image_shape):
    raise FewShotError(
        f"support images are {list(images.shape)}; the model takes float32 "
        f"[n, {', '.join(str(d) for d in image_shape)}] (resize them, or "
        f"give a folder, which is resized for you).")
  if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
    raise FewShotError("support images must be finite values in [0, 1]: "
                       "divide 8-bit pixel values by 255.")
  if labels.shape != (len(images),) or not np.issubdtype(labels.dtype,
                                                         np.integer):
    raise FewShotError(f"labels must be {len(images)} integers, one per "
                       f"support image; got shape {labels.shape} of "
                       f"{labels.dtype}.")
  present = sorted(set(labels.tolist()))
  if present != list(range(len(present))):
    raise FewShotError(f"labels must use every class 0 .. N-1; got "
                       f"{present}.")
  if len(present) < 2:
    raise FewShotError("the support set has one class: a classifier needs "
                       "at least two.")
  if class_names is None:
    class_names = [str(k) for k in present]
  class_names = [str(n) for n in class_names]
  if len(class_names) != len(present):
    raise FewShotError(f"{len(class_names)} class_names for "
                       f"{len(present)} classes: give one name per class, "
                       f"in label order.")
  return images, labels.astype(np.int32), class_names


def _readme(card: Dict, name: str) -> str:
  shape = ", ".join(str(d) for d in card["image_shape"])
  names = "\n".join(f"{k}. `{n}`" for k, n in enumerate(card["class_names"]))
  source = card["source"]
  ink = {"white strokes": ", light strokes on a dark page",
         "black strokes": ", dark strokes on a light page"}.get(
             card.get("images") or "", "")
  return f"""# A few-shot classifier fitted once ({name})

{source['method'] or 'A meta-learned model'} (`{source['model']}`, learner
{source['learner']}) fitted to the support set `{card['support']['source']}`
({', '.join(str(n) for n in card['support']['images_per_class'])} images per
class). Each image is answered on its own, at the cost of one forward pass.

## Classes (label: name)
{names}

## Use (no lasium_tf code needed)
```python
import tensorflow as tf
model = tf.saved_model.load("{name}")
out = model.signatures["classify"](
    images=images)  # float32[n, {shape}] in [0, 1]{ink}
out["labels"]         # int32[n], indices into the classes above
out["probabilities"]  # float32[n, {len(card['class_names'])}]
```
On a phone: `model.tflite` gives the same outputs
(`tf.lite.Interpreter(model_path="{name}/model.tflite")`). With lasium_tf:
`python -m lasium_tf.few_shot --model={name} --query=IMAGE`.
"""
