"""Does the resize filter of image files change a model's answers?

The Omniglot loader resizes the 105x105 drawings to 28x28 without an
antialiasing filter (as the original MAML code did); image files given to
`few_shot` or a fitted classifier were resized with one until the data set
descriptions said how each loader resizes (`lasium_tf.datasets`). This
scores the same 5-way 1-shot tasks of Omniglot test characters (drawn from
the official files with a fixed seed, 5 queries a class) through a model's
`few_shot` signature with both filters, and prints each accuracy and their
paired difference with its 95% interval.

  python scripts/resize_filter.py --model=pretrained/lasium_ro_gan_maml_alpha04_40k_lr1e4 --tasks=200
"""

import pathlib
import tempfile
import zipfile

import numpy as np
from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

_MODEL = flags.DEFINE_multi_string(
    "model", ["pretrained/lasium_ro_gan_maml_alpha04_40k_lr1e4"],
    "Exported Omniglot models (light strokes on black).")
_TASKS = flags.DEFINE_integer("tasks", 200, "5-way 1-shot test tasks.")
_SEED = flags.DEFINE_integer("seed", 0, "Which tasks.")


def test_tasks(count, seed):
  """(support files [5], query files [25]) of `count` tasks."""
  from lasium_tf.data import omniglot

  found = omniglot.resolve_omniglot_dir(None) / "images_evaluation.zip"
  root = pathlib.Path(tempfile.mkdtemp())
  with zipfile.ZipFile(found) as archive:
    by_class = {}
    for name in archive.namelist():
      if name.endswith(".png"):
        by_class.setdefault(name.rsplit("/", 1)[0], []).append(name)
    classes = sorted(by_class)
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(count):
      support, queries = [], []
      for c in rng.choice(len(classes), 5, replace=False):
        drawings = sorted(by_class[classes[c]])
        paths = []
        for d in rng.choice(len(drawings), 6, replace=False):
          path = root / drawings[d].replace("/", "_")
          if not path.exists():
            path.write_bytes(archive.read(drawings[d]))
          paths.append(str(path))
        support.append(paths[0])
        queries += paths[1:]
      tasks.append((support, queries))
  return tasks


def main(argv):
  del argv
  import tensorflow as tf

  from lasium_tf.classifier import read_images

  tasks = test_tasks(_TASKS.value, _SEED.value)
  labels = np.repeat(np.arange(5), 5)
  for model_dir in _MODEL.value:
    few_shot = tf.saved_model.load(model_dir).signatures["few_shot"]
    scores = {}
    for antialias in (True, False):
      scores[antialias] = np.array([np.mean(few_shot(
          support_images=tf.constant(1 - read_images(s, [28, 28, 1],
                                                     antialias)),
          support_labels=tf.range(5, dtype=tf.int32),
          query_images=tf.constant(1 - read_images(q, [28, 28, 1],
                                                   antialias)))[
                                                       "logits"].numpy()
          .argmax(1) == labels) for s, q in tasks])
      a = scores[antialias]
      print(f"{model_dir}: antialias={antialias}: {100 * a.mean():.2f} +- "
            f"{196 * a.std() / np.sqrt(len(a)):.2f}%", flush=True)
    d = scores[True] - scores[False]
    print(f"{model_dir}: paired difference (antialias - none) over "
          f"{len(d)} tasks: {100 * d.mean():.2f} +- "
          f"{196 * d.std() / np.sqrt(len(d)):.2f} points", flush=True)


if __name__ == "__main__":
  app.run(main)
