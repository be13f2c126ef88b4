"""Classify new images with an exported few-shot model and a support folder.

  python -m lasium_tf.few_shot --model=pretrained/lasium_ro_gan_maml \\
      --support=my_support --query=new1.png --query=new_images/

`--support` holds one subfolder per class (its name is the class) with the
K labelled examples; each `--query` is an image or a folder of images. The
model is a SavedModel written by `--mode=export` (its `few_shot` signature:
MAML adapts to the support set, ProtoNets builds prototypes), so this needs
only TensorFlow and the model folder. Prints each query's predicted class
and the probabilities of every class, as a table, JSON or CSV (`--format`).

A query's answer does not depend on the other queries: exports made since
`--normalization` existed normalise the queries with the support set's
statistics (`lasium_tf.normalization`). An older export normalises the
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

class FewShotError(ValueError):
  """Bad input to the classifier; the message names it and the fix."""


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
  import numpy as np

  if trained_on not in ("white strokes", "black strokes") or (
      images.shape[-1] != 1):
    return None
  pixels = np.asarray(images)[..., 0]
  border = np.concatenate([pixels[:, 0], pixels[:, -1], pixels[:, :, 0],
                           pixels[:, :, -1]], axis=1)
  light_page = float(np.median(border)) > 0.5
  return light_page == (trained_on == "black strokes")


def _card(path: str) -> Dict:
  card = os.path.join(path, "card.json")
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


def classify(model_dir: str, support_dir: str, queries: Sequence[str],
             skip_bad: bool = False) -> Dict:
  """{"classes": names, "predictions": [{query, prediction, probabilities}]}."""
  import tensorflow as tf

  from lasium_tf.data import folder
  from lasium_tf.data.image_sets import ImageFiles

  if not model_dir or not os.path.isfile(os.path.join(model_dir,
                                                      "saved_model.pb")):
    raise FewShotError(f"--model={model_dir} is not a SavedModel folder; "
                       f"give the folder --mode=export wrote.")
  model = _load(model_dir)
  size, _, channels = _input_shape(model)
  card = _card(model_dir)
  if not hasattr(model, "input_shape"):  # Exported before --normalization.
    print(f"warning: {model_dir} is an export whose few_shot normalises the "
          f"queries as one batch (transductive): a lone image is answered "
          f"near chance. Re-export it (its flags with --mode=export "
          f"--init_from={model_dir} --export_dir=DIR) for answers that do "
          f"not depend on the other queries.", file=sys.stderr)
  names, paths, labels = folder.labelled_files(support_dir, skip_bad,
                                               "--support")
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

  def read(files):
    try:
      images = ImageFiles(tuple(files), size, channels).fetch(
          tf.range(len(files)))
    except tf.errors.OpError:
      for i, name in enumerate(files):  # Which one: decode them one by one.
        try:
          ImageFiles((name,), size, channels).fetch(tf.range(1))
        except tf.errors.OpError:
          raise FewShotError(f"{name} cannot be decoded (a damaged image): "
                             f"replace or delete it.") from None
      raise
    return images

  support, query = read(paths), read(query_paths)
  if matches_polarity(support, card.get("images")) is False:
    support, query = 1.0 - support, 1.0 - query
  logits = model.signatures["few_shot"](
      support_images=support,
      support_labels=tf.constant(labels, tf.int32),
      query_images=query)["logits"]
  probabilities = tf.nn.softmax(logits).numpy()
  return {"classes": list(names), "predictions": [
      {"query": q, "prediction": names[int(p.argmax())],
       "probabilities": {n: round(float(v), 4) for n, v in zip(names, p)}}
      for q, p in zip(query_paths, probabilities)]}


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


HELP_GROUPS = {"model": ("model",), "images": ("support", "query",
                                                "skip_bad_images"),
               "output": ("format",)}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """This program's flags; defined when it runs, not when it is imported."""
  flags.DEFINE_string("model", None, "An exported few-shot SavedModel folder "
                      "(--mode=export).", flag_values=flag_values)
  flags.DEFINE_string("support", None, "A folder with one subfolder of "
                      "labelled images per class.", flag_values=flag_values)
  flags.DEFINE_multi_string("query", [], "An image, or a folder of images, to "
                            "classify; repeatable.", flag_values=flag_values)
  flags.DEFINE_enum("format", "table", ["table", "json", "csv"],
                    "How to print the predictions.", flag_values=flag_values)
  flags.DEFINE_bool("skip_bad_images", False, "Skip support files that are "
                    "not PNG or JPEG images (counted).",
                    flag_values=flag_values)
  flags.mark_flags_as_required(["model", "support"], flag_values=flag_values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from lasium_tf import quiet, stopping
  quiet.load_tensorflow(flags.FLAGS["verbosity"].present)
  import tensorflow as tf

  from lasium_tf.data import DataError

  try:
    with stopping.signals_end_the_program():
      f = flags.FLAGS
      result = classify(f.model, f.support, f.query, f.skip_bad_images)
  except (FewShotError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except tf.errors.InvalidArgumentError as e:
    print(f"error: {signature_error(e)}", file=sys.stderr)
    sys.exit(2)
  except stopping.Stopped as e:
    print(str(e), file=sys.stderr)
    sys.exit(128 + e.signal_number)
  print(render(result, flags.FLAGS.format))


def signature_error(error) -> str:
  """The model's own message from a failed check of its signature's inputs
  (`lasium_tf.export`), without TensorFlow's graph trace."""
  message = getattr(error, "message", str(error))
  found = re.search(r"assertion failed: \[([^\]]+)\]", message)
  if found:
    return f"the model refused its inputs: {found.group(1)}."
  return message.strip().splitlines()[0]


def run() -> None:
  """The program, on `sys.argv` (`python -m lasium_tf.few_shot`,
  `lasium-tf few-shot`)."""
  from lasium_tf import cli
  define_flags()
  app.run(main, flags_parser=lambda argv: cli.parse_or_exit(
      argv, "lasium_tf.few_shot", HELP_GROUPS))


if __name__ == "__main__":
  run()
