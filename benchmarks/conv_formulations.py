"""Formulations of the stacked network's convolutions, timed per layer.

The stacked MAML path (`lasium_tf.learners.batched`) runs T tasks' copies of a
convolution as one grouped convolution. This times, for each convolution of
the stride-2 Omniglot backbone (3x3, stride 2, 64 filters) at evaluation's
shape (--tasks stacked tasks of --images support images each: 50 tasks of a
5-way 1-shot batch), a forward pass and the gradient a first-order
adaptation step takes (kernel, and input where a layer below needs it),
in one process, for:
  * grouped: `tf.nn.conv2d` with T groups (today's path; baseline);
  * patches: `tf.image.extract_patches` then one batched matmul per task;
  * slices: the 9 patch positions as strided slices then the batched matmul;
each also under XLA (`jit_compile`), and grouped also in bfloat16. The
last line is one JSON object: per variant the summed seconds over the four
layers and the ratio to grouped.

  python benchmarks/conv_formulations.py --tasks=50 --images=5
"""

import json
import sys

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)
import tensorflow as tf

from timing import median_seconds

_TASKS = flags.DEFINE_integer("tasks", 50, "Stacked tasks.")
_IMAGES = flags.DEFINE_integer("images", 5, "Images per task.")
_REPEATS = flags.DEFINE_integer("repeats", 15, "Timed calls per variant.")
_XLA = flags.DEFINE_bool("xla", True, "Also time each formulation under "
                         "jit_compile.")

# (input side, input channels) of the backbone's four convolutions on 28x28.
LAYERS = ((28, 1), (14, 64), (7, 64), (4, 64))
FILTERS = 64


def _grouped(x, k):
  """x [T, B, H, W, C], k [T, 3, 3, C, O] -> [B, Ho, Wo, T * O]."""
  t, b, h, w, c = x.shape
  xx = tf.reshape(tf.transpose(x, [1, 2, 3, 0, 4]), [b, h, w, t * c])
  kk = tf.reshape(tf.transpose(k, [1, 2, 3, 0, 4]), [3, 3, c, -1])
  return tf.nn.conv2d(xx, kk, 2, "SAME")


def _patches(x, k):
  t, b, h, w, c = x.shape
  p = tf.image.extract_patches(tf.reshape(x, [t * b, h, w, c]),
                               [1, 3, 3, 1], [1, 2, 2, 1], [1, 1, 1, 1],
                               "SAME")
  return tf.matmul(tf.reshape(p, [t, -1, 9 * c]),
                   tf.reshape(k, [t, 9 * c, -1]))


def _slices(x, k):
  t, b, h, w, c = x.shape
  out = -(-h // 2)
  pad = max((out - 1) * 2 + 3 - h, 0)
  xp = tf.pad(x, [[0, 0], [0, 0], [pad // 2, pad - pad // 2],
                  [pad // 2, pad - pad // 2], [0, 0]])
  cols = [xp[:, :, i:i + 2 * out - 1:2, j:j + 2 * out - 1:2, :]
          for i in range(3) for j in range(3)]
  p = tf.reshape(tf.stack(cols, axis=4), [t, -1, 9 * c])
  return tf.matmul(p, tf.reshape(k, [t, 9 * c, -1]))


FORMULATIONS = {"grouped": _grouped, "patches": _patches, "slices": _slices}


def _step(formulation, needs_input_gradient, xla):
  @tf.function(jit_compile=xla)
  def step(x, k):
    with tf.GradientTape() as tape:
      tape.watch([x, k])
      y = formulation(x, k)
      loss = tf.reduce_sum(tf.square(tf.cast(y, tf.float32)))
    return tape.gradient(loss, [x, k] if needs_input_gradient else [k])
  return step


def main(argv):
  del argv
  variants = [(name, tf.float32, xla) for name in FORMULATIONS
              for xla in ((False, True) if _XLA.value else (False,))]
  variants.append(("grouped", tf.bfloat16, False))
  totals = {}
  for side, channels in LAYERS:
    x32 = tf.random.stateless_normal(
        [_TASKS.value, _IMAGES.value, side, side, channels], [0, side])
    k32 = tf.random.stateless_normal(
        [_TASKS.value, 3, 3, channels, FILTERS], [1, side])
    for name, dtype, xla in variants:
      label = name + ("_bfloat16" if dtype == tf.bfloat16 else "") + (
          "_xla" if xla else "")
      x, k = tf.cast(x32, dtype), tf.cast(k32, dtype)
      step = _step(FORMULATIONS[name], channels > 1, xla)
      seconds = median_seconds(lambda: [g.numpy() for g in step(x, k)],
                               _REPEATS.value)
      totals[label] = totals.get(label, 0.0) + seconds
      print(f"{side}x{side}x{channels} {label:18s} {seconds * 1e3:8.2f} ms",
            flush=True)
  base = totals["grouped"]
  print(json.dumps({
      "benchmark": "conv_formulations", "tasks": _TASKS.value,
      "images_per_task": _IMAGES.value,
      "what": "forward + first-order gradient, the four backbone convolutions",
      "variants": {k: {"seconds": round(v, 5), "ratio": round(v / base, 3)}
                   for k, v in totals.items()}}), flush=True)


if __name__ == "__main__":
  sys.exit(app.run(main))
