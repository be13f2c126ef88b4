"""Classify new images with an exported few-shot model and a support folder.

  python -m lasium_tf.few_shot --model=pretrained/lasium_ro_gan_maml \\
      --support=my_support --query=new1.png --query=new_images/

`--support` holds one subfolder per class (its name is the class) with the
K labelled examples; each `--query` is an image or a folder of images. The
model is a SavedModel written by `--mode=export` (its `few_shot` signature:
MAML adapts to the support set, ProtoNets builds prototypes), so this needs
only TensorFlow and the model folder. Prints each query's predicted class
and the probabilities of every class, as a table, JSON or CSV (`--format`).

Fit once, classify many: `--save_classifier=OUT` learns the support set
once and saves the classifier (`lasium_tf.classifier`: a SavedModel with a
`classify` signature, `model.tflite` and a card naming the classes);
`--model=OUT` without `--support` then classifies with it, one forward pass
per image:

  python -m lasium_tf.few_shot --model=pretrained/lasium_ro_gan_maml \\
      --support=my_support --save_classifier=my_classifier
  python -m lasium_tf.few_shot --model=my_classifier --query=new_images/

A query's answer does not depend on the other queries: exports made since
`--normalization` existed normalise the queries with the support set's
statistics (`lasium_tf.learners.batchnorm`). An older export normalises the
queries as one batch, so a lone image is answered near chance; this says so
and names the re-export command.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from typing import Dict, List, Optional, Sequence

from absl import app, flags

from lasium_tf.errors import FewShotError


def _input_shape(model) -> List[int]:
  try:
    signature = model.signatures["few_shot"]
  except (AttributeError, KeyError):
    raise FewShotError("the model has no few_shot signature: export a "
                       "meta-learned model with --mode=export.") from None
  if hasattr(model, "input_shape"):  # Exports that check shapes themselves.
    shape = [int(d) for d in model.input_shape.numpy()]
  else:
    spec = signature.structured_input_signature[1]["support_images"]
    shape = [int(d) for d in spec.shape[1:]]
  if len(shape) != 3 or min(shape) < 1:
    raise FewShotError(f"the model's input shape reads {shape}, not [height, "
                       f"width, channels]: its variables are damaged; export "
                       f"it again (--mode=export).")
  return shape


_LOADED: Dict = {}


def _load(model_dir: str):
  """The SavedModel at `model_dir`, loaded once per process while its files
  stay as they are: a notebook classifying image after image with one model
  pays for loading it (1-3 s) once, and a re-export is loaded anew."""
  import tensorflow as tf

  pb = os.path.join(model_dir, "saved_model.pb")
  key = (os.path.realpath(model_dir), os.stat(pb).st_mtime_ns)
  if key not in _LOADED:
    _LOADED.clear()  # Keep one model: a process going through many holds few.
    try:
      _LOADED[key] = tf.saved_model.load(model_dir)
    except Exception as e:  # pylint: disable=broad-except
      # A truncated or zeroed variables file, a damaged saved_model.pb:
      # TensorFlow raises anything from IndexError to OpError.
      first = (str(e).strip().splitlines() or [""])[0][:200]
      raise FewShotError(
          f"--model={model_dir} cannot be loaded ({type(e).__name__}: "
          f"{first}); its files are damaged: export it again "
          f"(--mode=export) or restore the folder.") from None
  return _LOADED[key]


def _queries(queries: Sequence[str], skip_bad: bool) -> List[str]:
  """The query image files: each --query an image or a folder of them."""
  from lasium_tf.data import folder

  query_paths = folder.image_paths(list(queries))
  if not query_paths:
    raise FewShotError("no --query images given: pass --query=IMAGE or "
                       "--query=FOLDER.")
  problems = {p: folder.image_problem(p) for p in query_paths}
  bad = [p for p, problem in problems.items() if problem]
  if bad and not skip_bad:
    raise FewShotError(f"--query {bad[0]} {problems[bad[0]]}: replace or "
                       f"delete it, or pass --skip_bad_images to skip such "
                       f"files (they are counted).")
  if bad:
    print(f"Skipped {len(bad)} unreadable query image(s), e.g. {bad[0]}.",
          file=sys.stderr, flush=True)
    query_paths = [p for p in query_paths if not problems[p]]
    if not query_paths:
      raise FewShotError("none of the --query images could be read.")
  return query_paths


def _result(names, query_paths, probabilities) -> Dict:
  return {"classes": list(names), "predictions": [
      {"query": q, "prediction": names[int(p.argmax())],
       "probabilities": {n: round(float(v), 4) for n, v in zip(names, p)}}
      for q, p in zip(query_paths, probabilities)]}


def _is_model(model_dir: str) -> None:
  if not model_dir or not os.path.isfile(os.path.join(model_dir,
                                                      "saved_model.pb")):
    raise FewShotError(f"--model={model_dir} is not a SavedModel folder; "
                       f"give the folder --mode=export (or "
                       f"--save_classifier) wrote.")


def classify(model_dir: str, support_dir: str, queries: Sequence[str],
             skip_bad: bool = False) -> Dict:
  """{"classes": names, "predictions": [{query, prediction, probabilities}]}
  from an exported model's `few_shot` signature and a support folder."""
  import tensorflow as tf

  from lasium_tf import classifier

  _is_model(model_dir)
  card = classifier.read_card(model_dir)
  if card.get("kind") == classifier.KIND:
    raise FewShotError(f"--model={model_dir} is a classifier already fitted "
                       f"to its support set: drop --support to classify "
                       f"with it.")
  model = _load(model_dir)
  shape = _input_shape(model)
  if not hasattr(model, "input_shape"):  # Exported before --normalization.
    print(f"warning: {model_dir} is an export whose few_shot normalises the "
          f"queries as one batch (transductive): a lone image is answered "
          f"near chance. Re-export it (its flags with --mode=export "
          f"--init_from={model_dir} --export_dir=DIR) for answers that do "
          f"not depend on the other queries.", file=sys.stderr)
  antialias = classifier.resizes_with_antialias(card)
  names, support, labels = classifier.support_folder(support_dir, shape,
                                                     skip_bad, antialias)
  query_paths = _queries(queries, skip_bad)
  query = classifier.read_images(query_paths, shape, antialias)
  # Exports since 2026-12-06 match the polarity in their signature too;
  # the published ones before them need it done here.
  if classifier.matches_polarity(support, card.get("images")) is False:
    support, query = 1.0 - support, 1.0 - query
  logits = model.signatures["few_shot"](
      support_images=tf.constant(support),
      support_labels=tf.constant(labels, tf.int32),
      query_images=tf.constant(query))["logits"]
  return _result(names, query_paths, tf.nn.softmax(logits).numpy())


def save_classifier(model_dir: str, support_dir: str, out: str,
                    skip_bad: bool = False):
  """Fits `model_dir` to the support folder once and saves the classifier
  to `out` (`lasium_tf.classifier`); returns it."""
  from lasium_tf import classifier

  _is_model(model_dir)
  # Checked before the fit, which takes seconds; `save` checks again.
  problem = classifier.save_target_problem(out, (model_dir,))
  if problem:
    raise FewShotError(problem)
  fitted = classifier.FewShotClassifier.fit(model_dir, support_dir,
                                            skip_bad_images=skip_bad)
  fitted.save(out)
  return fitted


def classify_saved(model_dir: str, queries: Sequence[str],
                   skip_bad: bool = False) -> Dict:
  """The same result from a classifier `--save_classifier` wrote."""
  from lasium_tf import classifier

  _is_model(model_dir)
  if not classifier.is_saved_classifier(model_dir):
    raise FewShotError(f"--model={model_dir} is a meta-learned model, not a "
                       f"fitted classifier: give --support=FOLDER (one "
                       f"subfolder of labelled images per class).")
  return classify_with(classifier.FewShotClassifier.load(model_dir),
                       queries, skip_bad)


def classify_with(fitted, queries: Sequence[str],
                  skip_bad: bool = False) -> Dict:
  """The result of a fitted classifier (`lasium_tf.classifier`) on the
  query files, read as its model's training images were."""
  from lasium_tf import classifier

  query_paths = _queries(queries, skip_bad)
  images = classifier.read_images(query_paths, fitted.image_shape,
                                  classifier.resizes_with_antialias(
                                      fitted.card))
  return _result(fitted.class_names, query_paths,
                 fitted.predict_proba(images))


def render(result: Dict, fmt: str) -> str:
  """The predictions as a table, JSON or CSV."""
  names = result["classes"]
  if fmt == "json":
    return json.dumps(result, indent=2)
  rows = [[r["query"], r["prediction"]]
          + [f"{r['probabilities'][n]:.4f}" for n in names]
          for r in result["predictions"]]
  header = ["query", "prediction"] + [f"p({n})" for n in names]
  if fmt == "csv":
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")
  widths = [max(len(r[i]) for r in [header] + rows)
            for i in range(len(header))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                   for r in [header] + rows)


HELP_GROUPS = {"model": ("model", "save_classifier"),
               "images": ("support", "query", "skip_bad_images"),
               "output": ("format",)}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """This program's flags; defined when it runs, not when it is imported."""
  flags.DEFINE_string("model", None, "An exported few-shot SavedModel folder "
                      "(--mode=export), or a classifier --save_classifier "
                      "wrote (then no --support).", flag_values=flag_values)
  flags.DEFINE_string("support", None, "A folder with one subfolder of "
                      "labelled images per class.", flag_values=flag_values)
  flags.DEFINE_multi_string("query", [], "An image, or a folder of images, to "
                            "classify; repeatable.", flag_values=flag_values)
  flags.DEFINE_string("save_classifier", None, "Fit --model to --support once "
                      "and save the classifier here (a SavedModel with a "
                      "classify signature, model.tflite and a card): each "
                      "image then costs one forward pass. A new or empty "
                      "folder.", flag_values=flag_values)
  flags.DEFINE_enum("format", "table", ["table", "json", "csv"],
                    "How to print the predictions.", flag_values=flag_values)
  flags.DEFINE_bool("skip_bad_images", False, "Skip support files that are "
                    "not PNG or JPEG images (counted).",
                    flag_values=flag_values)
  flags.mark_flags_as_required(["model"], flag_values=flag_values)


def _run(f) -> Optional[Dict]:
  """What the flags ask: classify, fit and save, or both."""
  if f.save_classifier:
    if not f.support:
      raise FewShotError("--save_classifier fits the model to a support set: "
                         "give --support=FOLDER too.")
    fitted = save_classifier(f.model, f.support, f.save_classifier,
                             f.skip_bad_images)
    print(f"Saved the classifier ({len(fitted.class_names)} classes) to "
          f"{f.save_classifier}; classify with: python -m lasium_tf.few_shot "
          f"--model={f.save_classifier} --query=IMAGE", file=sys.stderr,
          flush=True)
    if not f.query:
      return None
    return classify_with(fitted, f.query, f.skip_bad_images)
  if f.support:
    return classify(f.model, f.support, f.query, f.skip_bad_images)
  return classify_saved(f.model, f.query, f.skip_bad_images)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from absl import logging

  from lasium_tf.core import quiet, stopping
  verbose = flags.FLAGS["verbosity"].present
  quiet.load_tensorflow(verbose)
  import tensorflow as tf

  if not verbose:
    logging.set_verbosity(logging.WARNING)  # Hide TensorFlow's INFO lines.

  from lasium_tf.data import DataError

  try:
    with stopping.signals_end_the_program():
      result = _run(flags.FLAGS)
  except (FewShotError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except tf.errors.InvalidArgumentError as e:
    print(f"error: {signature_error(e)}", file=sys.stderr)
    sys.exit(2)
  except stopping.Stopped as e:
    print(str(e), file=sys.stderr)
    sys.exit(128 + e.signal_number)
  except Exception as e:  # pylint: disable=broad-except
    from lasium_tf.core import files
    if not files.disk_full(e):
      raise
    print(f"error: {files.disk_full_message(e)}", file=sys.stderr)
    sys.exit(2)
  if result is not None:
    print(render(result, flags.FLAGS.format))


def signature_error(error) -> str:
  """The model's own message from a failed check of its signature's inputs
  (`lasium_tf.run.export`), without TensorFlow's graph trace."""
  message = getattr(error, "message", str(error))
  found = re.search(r"assertion failed: \[([^\]]+)\]", message)
  if found:
    return f"the model refused its inputs: {found.group(1)}."
  return message.strip().splitlines()[0]


def run() -> None:
  """The program, on `sys.argv` (`python -m lasium_tf.few_shot`,
  `lasium-tf few-shot`)."""
  from lasium_tf.config import cli
  define_flags()
  app.run(main, flags_parser=lambda argv: cli.parse_or_exit(
      argv, "lasium_tf.few_shot", HELP_GROUPS))


if __name__ == "__main__":
  run()
