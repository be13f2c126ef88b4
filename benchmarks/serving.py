"""Fit once, classify many: one image through few_shot against a fitted
classifier (issue 47).

For each model (by default the best published MAML and ProtoNets
backbones), on one 5-way 1-shot support set of real Omniglot test
characters (found by the library's data-location chain), times classifying
one image, in the same run:

* `few_shot_ms`: the export's `few_shot` signature with the support set
  passed in every call (MAML adapts again each time: 50 inner steps);
* `classify_ms`: the saved classifier's `classify` signature
  (`lasium_tf.classifier`: the support set learned once);
* `tflite_ms`: its `model.tflite` in the TFLite interpreter that ships with
  TensorFlow.

It also checks that the three give the same label to every query. The
last line printed is one JSON object: per model those times, the fit time,
the agreement and `speedup` = few_shot_ms / classify_ms.

  python benchmarks/serving.py --repeats=30
"""

import json
import pathlib
import sys
import tempfile
import time
import warnings
import zipfile

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

from timing import median_seconds

REPO = pathlib.Path(__file__).resolve().parent.parent
_MODELS = flags.DEFINE_multi_string(
    "model", ["pretrained/lasium_ro_gan_maml_alpha04_40k_lr1e4",
              "pretrained/lasium_ro_gan_protonets_alpha04"],
    "Exported models to time (relative to the repository, or absolute).")
_REPEATS = flags.DEFINE_integer("repeats", 30, "Timed calls per measurement.")
_ALPHABET = flags.DEFINE_string("alphabet", "Kannada",
                                "The Omniglot test alphabet of the task.")


def _task(image_shape, alphabet):
  """One 5-way 1-shot task of an Omniglot test alphabet: support images,
  labels and 5 queries per class, drawn as the files are (dark on light)."""
  import numpy as np

  from lasium_tf import classifier
  from lasium_tf.data import omniglot

  found = omniglot.resolve_omniglot_dir(None) / "images_evaluation"
  if found.is_dir():
    characters = sorted((found / alphabet).iterdir())[:5]
    drawings = [sorted(c.glob("*.png"))[:6] for c in characters]
  else:  # The official zip: its drawings copied out to files.
    root = pathlib.Path(tempfile.mkdtemp())
    with zipfile.ZipFile(found.with_suffix(".zip")) as archive:
      names = sorted(n for n in archive.namelist()
                     if n.endswith(".png") and f"/{alphabet}/" in n)
      characters = sorted({n.split("/")[-2] for n in names})[:5]
      drawings = []
      for character in characters:
        drawings.append([])
        for name in sorted(n for n in names if f"/{character}/" in n)[:6]:
          drawings[-1].append(root / name.replace("/", "_"))
          drawings[-1][-1].write_bytes(archive.read(name))
  support = [str(d[0]) for d in drawings]
  queries = [str(p) for d in drawings for p in d[1:]]
  return (classifier.read_images(support, image_shape),
          np.arange(5, dtype=np.int32),
          classifier.read_images(queries, image_shape))


def _measure(model_dir, repeats, alphabet):
  import numpy as np
  import tensorflow as tf

  from lasium_tf.classifier import FewShotClassifier, matches_polarity

  exported = tf.saved_model.load(model_dir)
  shape = [int(d) for d in exported.input_shape.numpy()]
  support, labels, queries = _task(shape, alphabet)
  card = json.loads((pathlib.Path(model_dir) / "card.json").read_text())
  if matches_polarity(support, card.get("images")) is False:
    support, queries = 1.0 - support, 1.0 - queries
  few_shot = exported.signatures["few_shot"]

  def through_few_shot(images):
    return few_shot(support_images=tf.constant(support),
                    support_labels=tf.constant(labels),
                    query_images=tf.constant(images))["logits"].numpy()

  start = time.perf_counter()
  fitted = FewShotClassifier.fit(model_dir, support, labels)
  fit_seconds = time.perf_counter() - start
  folder = pathlib.Path(tempfile.mkdtemp()) / "classifier"
  fitted.save(folder)
  classify = tf.saved_model.load(str(folder)).signatures["classify"]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # The interpreter's deprecation notice.
    interpreter = tf.lite.Interpreter(
        model_path=str(folder / "model.tflite"))
  lite = interpreter.get_signature_runner()

  one = queries[:1]
  times = {
      "few_shot_ms": median_seconds(lambda: through_few_shot(one), repeats),
      "classify_ms": median_seconds(
          lambda: classify(images=tf.constant(one))["labels"].numpy(),
          repeats),
      "tflite_ms": median_seconds(lambda: lite(images=one)["labels"],
                                  repeats)}
  times = {k: round(1000 * v, 3) for k, v in times.items()}
  expected = through_few_shot(queries).argmax(-1)
  served = classify(images=tf.constant(queries))["labels"].numpy()
  on_phone = lite(images=queries)["labels"]
  return {**times, "fit_s": round(fit_seconds, 2),
          "speedup": round(times["few_shot_ms"] / times["classify_ms"], 1),
          "tflite_speedup": round(times["few_shot_ms"] / times["tflite_ms"],
                                  1),
          "labels_agree": bool(np.array_equal(expected, served)
                               and np.array_equal(expected, on_phone)),
          "queries": int(len(queries))}


def main(argv):
  del argv
  results = {}
  for model in _MODELS.value:
    path = pathlib.Path(model)
    path = path if path.is_absolute() else REPO / path
    results[model] = _measure(str(path), _REPEATS.value, _ALPHABET.value)
    r = results[model]
    print(f"{model}: one image {r['few_shot_ms']:.1f} ms through few_shot, "
          f"{r['classify_ms']:.2f} ms through the saved classifier "
          f"({r['speedup']:.0f}x), {r['tflite_ms']:.2f} ms in TFLite; fit "
          f"once in {r['fit_s']:.1f} s; labels agree on {r['queries']} "
          f"queries: {r['labels_agree']}", flush=True)
  print(json.dumps(results))
  return 0 if all(r["labels_agree"] for r in results.values()) else 1


if __name__ == "__main__":
  sys.exit(app.run(main))
