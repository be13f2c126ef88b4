"""Does Keras' mixed_bfloat16 policy speed up our networks on this machine?

Times, under float32 and then under `mixed_bfloat16` (bfloat16 compute,
float32 variables), in the same run: decoding a LASIUM meta-batch's images
(120 at the paper's 4 tasks x 5 classes x 6 images) through the Omniglot GAN's
generator, and one second-order MAML meta-step of the paper's Omniglot
configuration (per-task path). Random weights and data: only speed is
measured here. The last line printed is one JSON object with each time and
the bfloat16 / float32 ratio (below 1: bfloat16 is faster).

  python benchmarks/bfloat16.py --repeats=20
"""

import json
import sys

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)

from timing import median_seconds

_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per measurement.")
_INNER_STEPS = flags.DEFINE_integer(
    "inner_steps", 5, "MAML inner steps of the meta-step (the paper's 5).")
_META_BATCH = flags.DEFINE_integer(
    "meta_batch", 4, "Tasks per meta-batch (the paper's 4): the decoded "
    "images are 30 per task.")


def _measure(policy, repeats, inner_steps, tasks):
  import keras
  import tensorflow as tf
  from lasium_tf.tasks.episodes import Episode, class_major_labels
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models import omniglot_gan
  from lasium_tf.models.backbone import build_backbone, build_classifier

  keras.config.set_dtype_policy(policy)
  try:
    generator = omniglot_gan.build_generator(128)
    decode = tf.function(lambda z: generator(z, training=False))
    z = tf.random.normal([30 * tasks, 128])
    decode_seconds = median_seconds(lambda: decode(z).numpy(), repeats)

    model = build_classifier(build_backbone("code", (28, 28, 1)), 5)
    maml = MAML(model, inner_lr=0.4, inner_steps=inner_steps,
                batched=False)
    rng = tf.random.Generator.from_seed(0)
    episodes = Episode(
        rng.uniform([tasks, 5, 28, 28, 1]),
        tf.tile(class_major_labels(5, 1)[None], [tasks, 1]),
        rng.uniform([tasks, 25, 28, 28, 1]),
        tf.tile(class_major_labels(5, 5)[None], [tasks, 1]))
    step_seconds = median_seconds(
        lambda: maml.meta_step(episodes)["loss"].numpy(), repeats)
  finally:
    keras.config.set_dtype_policy("float32")
  return decode_seconds, step_seconds


def main(argv):
  del argv
  repeats = _REPEATS.value
  settings = (repeats, _INNER_STEPS.value, _META_BATCH.value)
  decode32, step32 = _measure("float32", *settings)
  decode16, step16 = _measure("mixed_bfloat16", *settings)
  print(json.dumps({
      "benchmark": "bfloat16",
      "meta_batch": _META_BATCH.value,
      "decoded_images": 30 * _META_BATCH.value,
      "gan_decode_float32_seconds": decode32,
      "gan_decode_bfloat16_seconds": decode16,
      "gan_decode_ratio": decode16 / decode32,
      "meta_step_float32_seconds": step32,
      "meta_step_bfloat16_seconds": step16,
      "meta_step_ratio": step16 / step32,
  }))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
