"""How far the MAML paths are from what these cores can do at all.

Issue-sized speed goals (1000 evaluation tasks in 25 s, 5-shot in 60 s, a
second-order meta-step in 0.045 s) only make sense below the machine's own
limit. This benchmark measures that limit two ways, in the same run as the
library's paths:

  * the arithmetic: the backbone's convolutions counted layer by layer
    (2 * output pixels * 9 * C_in * C_out multiply-adds per image forward;
    a gradient step costs the forward, the filter gradients and the input
    gradients of every layer but the first), and a large float32 matrix
    product's rate (GFLOP/s) on these cores: the best any formulation of
    the same arithmetic could reach;
  * a shared-network floor: the same number of images through ONE network
    (ordinary convolutions, one large batch: the kernels' best case), for
    the same number of steps. Every task of a batch has its own weights in
    the real computation, so no formulation of it can beat this floor by
    more than the large batch's efficiency.

The library's paths (`MAML.evaluate` on the stacked network, the
second-order `MAML.meta_step`) run on the same shapes; the ratios printed
are their times over the floor. The last line is one JSON object.

  python benchmarks/roofline.py
"""

import json
import sys

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)
from timing import median_seconds

_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls per measurement.")
_TASKS = flags.DEFINE_integer("tasks", 50, "Evaluation tasks per call.")
_STEPS = flags.DEFINE_integer(
    "steps", 50, "Adaptation steps at evaluation (the paper's 50; fewer only "
    "to smoke-test the script).")
_MATMUL = flags.DEFINE_integer("matmul_size", 2048,
                               "Side of the square matrices multiplied.")


def conv_flops(model) -> list:
  """Forward FLOPs per image of each Conv2D layer of `model`'s backbone."""
  import keras
  flops = []
  for layer in model.layers:
    if isinstance(layer, keras.Model):
      flops += conv_flops(layer)
    elif isinstance(layer, keras.layers.Conv2D):
      _, h, w, c_out = layer.output.shape
      kh, kw, c_in, _ = layer.kernel.shape
      flops.append(2 * h * w * kh * kw * c_in * c_out)
  return flops


def main(argv):
  del argv
  import numpy as np
  import tensorflow as tf
  from lasium_tf.tasks.episodes import Episode, class_major_labels
  from lasium_tf.learners.maml_core import MAML
  from lasium_tf.models.backbone import build_backbone, build_classifier

  n_way, k_query, steps, tasks = 5, 15, _STEPS.value, _TASKS.value
  repeats = _REPEATS.value
  model = build_classifier(build_backbone("code", (28, 28, 1)), n_way)
  layers = conv_flops(model)
  forward = sum(layers)
  # Forward, filter gradients, input gradients (none for the first layer).
  step = 3 * forward - layers[0]

  size = _MATMUL.value
  a = tf.random.uniform([size, size])
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, a)))
  peak = 2 * size ** 3 / median_seconds(lambda: matmul().numpy(), repeats)

  rng = tf.random.Generator.from_seed(0)

  def images(*shape):
    return rng.uniform([*shape, 28, 28, 1])

  def labels(*shape):
    *lead, per_class = shape
    base = class_major_labels(n_way, per_class)
    return tf.reshape(tf.tile(base, [int(np.prod(lead or [1]))]),
                      [*lead, n_way * per_class])

  maml = MAML(model, eval_inner_steps=steps)
  result = {"benchmark": "roofline",
            "stacked_path": maml.batched is not None,
            "tasks": tasks, "adaptation_steps": steps,
            "conv_gflop_per_image_forward": forward / 1e9,
            "conv_gflop_per_image_step": step / 1e9,
            "matmul_gflops": peak / 1e9}

  for k_shot in (1, 5):
    batch = Episode(images(tasks, n_way * k_shot),
                    labels(tasks, k_shot),
                    images(tasks, n_way * k_query),
                    labels(tasks, k_query))
    stacked = median_seconds(lambda: maml.evaluate(batch).numpy(), repeats)
    # One network, all the tasks' support images as one batch.
    shared = Episode(tf.reshape(batch.support_images, [-1, 28, 28, 1]),
                     tf.reshape(batch.support_labels, [-1]),
                     tf.reshape(batch.query_images, [-1, 28, 28, 1]),
                     tf.reshape(batch.query_labels, [-1]))
    one_network = tf.function(lambda: tf.reduce_sum(
        maml.few_shot_logits(shared.support_images, shared.support_labels,
                             shared.query_images)))
    floor = median_seconds(lambda: one_network().numpy(), repeats)
    flops = tasks * (steps * n_way * k_shot * step + n_way * k_query * forward)
    per_1000 = 1000 / tasks
    result[f"eval_{k_shot}shot"] = {
        "stacked_seconds_per_1000_tasks": stacked * per_1000,
        "shared_network_seconds_per_1000_tasks": floor * per_1000,
        "arithmetic_seconds_per_1000_tasks_at_matmul_rate":
            flops * per_1000 / peak,
        "stacked_over_shared": stacked / floor,
        "stacked_gflops": flops / stacked / 1e9,
        "shared_gflops": flops / floor / 1e9,
    }

  meta_batch, k_query_train = 4, 5
  episodes = Episode(images(meta_batch, n_way), labels(meta_batch, 1),
                     images(meta_batch, n_way * k_query_train),
                     labels(meta_batch, k_query_train))
  trainer = MAML(model, inner_lr=0.4, inner_steps=5)
  meta_step = median_seconds(
      lambda: trainer.meta_step(episodes)["loss"].numpy(), 5 * repeats)
  # The same images as one task of one network (a 20-image support set).
  merged = Episode(*(tf.reshape(p, [1, -1, *p.shape[2:]]) for p in episodes))
  merged_step = median_seconds(
      lambda: trainer.meta_step(merged)["loss"].numpy(), 5 * repeats)
  result["meta_step_order2"] = {
      "stacked_seconds": meta_step,
      "shared_network_seconds": merged_step,
      "stacked_over_shared": meta_step / merged_step,
  }
  result["device"] = ("GPU" if tf.config.list_physical_devices("GPU")
                      else "CPU")
  print(json.dumps(result))
  sys.stdout.flush()


if __name__ == "__main__":
  app.run(main)
