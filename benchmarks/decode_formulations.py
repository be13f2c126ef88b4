"""Ways of decoding a LASIUM GAN meta-batch, timed against the Keras model.

Decodes --images latent vectors (120: a Table 1 meta-batch of 4 tasks x 5
classes x 6 images) through the Omniglot GAN's generator in each of these
formulations, from the same weights, in one process:
  * keras: the Keras model in a tf.function (the sampler's path; baseline);
  * transposed: the same layers written as TensorFlow ops
    (`tf.nn.conv2d_transpose`);
  * phases: each stride-2 transposed convolution as four 2x2 convolutions,
    one per output phase, interleaved (the same multiply-adds, no zeros);
  * phases_3x3: the four phases as one 3x3 convolution with 4x the output
    channels (more multiply-adds, one large convolution);
  * keras_bfloat16: the Keras model under `mixed_bfloat16`, as
    `--decode_precision=bfloat16` runs it (`generators.Bfloat16Decoding`);
each op formulation also in bfloat16 and under XLA (`jit_compile`). Weights
are random unless --generator names a published GAN SavedModel (e.g.
pretrained/omniglot_gan), whose weights are then copied in, so that the
image differences are those of a trained generator. Printed per variant:
median seconds, the ratio to `keras`, and the largest and mean absolute
pixel difference from it; the last line is one JSON object.

  python benchmarks/decode_formulations.py --generator=pretrained/omniglot_gan
"""

import json
import sys

from absl import app, flags

import lasium_tf  # noqa: F401  (before TensorFlow: its oneDNN setting)
import numpy as np
import tensorflow as tf

from timing import median_seconds

_IMAGES = flags.DEFINE_integer("images", 120, "Latent vectors decoded.")
_REPEATS = flags.DEFINE_integer("repeats", 15, "Timed calls per variant.")
_GENERATOR = flags.DEFINE_string(
    "generator", None, "A GAN SavedModel of this project's architecture to "
    "take the weights from; random weights if not given.")
_XLA = flags.DEFINE_bool("xla", True, "Also time each op formulation "
                         "under jit_compile.")


def _transposed(x, kernel):
  side = x.shape[1]
  return tf.nn.conv2d_transpose(
      x, kernel, [tf.shape(x)[0], 2 * side, 2 * side, kernel.shape[2]], 2,
      "SAME")


# A stride-2, 4x4, 'same' transposed convolution gives output row 2m from
# input rows m-1, m (kernel rows 3, 1) and row 2m+1 from rows m, m+1
# (kernel rows 2, 0); columns alike. On the input padded by one, phase a's
# taps start at row a.
_PHASE_TAPS = ((3, 1), (2, 0))


def _interleave(phases, side, channels):
  """[B, h, w, (2, 2), C] phases (a-major) -> [B, 2h, 2w, C]."""
  y = tf.reshape(phases, [-1, side, side, 2, 2, channels])
  y = tf.transpose(y, [0, 1, 3, 2, 4, 5])
  return tf.reshape(y, [-1, 2 * side, 2 * side, channels])


def _phases(x, kernel):
  side = x.shape[1]
  k = tf.transpose(kernel, [0, 1, 3, 2])  # [kh, kw, in, out]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
  outs = []
  for a in (0, 1):
    for b in (0, 1):
      tap = tf.gather(tf.gather(k, _PHASE_TAPS[a], axis=0), _PHASE_TAPS[b],
                      axis=1)
      window = padded[:, a:a + side + 1, b:b + side + 1, :]
      outs.append(tf.nn.conv2d(window, tap, 1, "VALID"))
  return _interleave(tf.stack(outs, axis=3), side, k.shape[-1])


def _phases_3x3(x, kernel):
  side = x.shape[1]
  k = tf.transpose(kernel, [0, 1, 3, 2])
  # Phase a uses 3x3 offsets (a, a + 1) with kernel taps _PHASE_TAPS[a].
  parts = []
  for a in (0, 1):
    for b in (0, 1):
      rows = []
      for i in range(3):
        cols = []
        for j in range(3):
          if i - a in (0, 1) and j - b in (0, 1):
            cols.append(k[_PHASE_TAPS[a][i - a], _PHASE_TAPS[b][j - b]])
          else:
            cols.append(tf.zeros_like(k[0, 0]))
        rows.append(tf.stack(cols))
      parts.append(tf.stack(rows))
  big = tf.concat(parts, axis=-1)  # [3, 3, in, 4 * out]
  return _interleave(tf.nn.conv2d(x, big, 1, "SAME"), side, k.shape[-1])


FORMULATIONS = {"transposed": _transposed, "phases": _phases,
                "phases_3x3": _phases_3x3}


def _ops_decoder(generator, transposed, dtype):
  """The generator's layers as TensorFlow ops in `dtype`, images float32."""
  dense, up1, up2, out = [l for l in generator.layers if l.weights]
  width = up1.kernel.shape[-1]
  side = generator.output_shape[1] // 4

  def decode(z):
    cast = lambda w: tf.cast(w, dtype)  # noqa: E731
    x = tf.nn.leaky_relu(tf.matmul(cast(z), cast(dense.kernel))
                         + cast(dense.bias), 0.2)
    x = tf.reshape(x, [-1, side, side, width])
    for layer in (up1, up2):
      x = tf.nn.leaky_relu(transposed(x, cast(layer.kernel))
                           + cast(layer.bias), 0.2)
    x = tf.nn.conv2d(x, cast(out.kernel), 1, "SAME") + cast(out.bias)
    return tf.sigmoid(tf.cast(x, tf.float32))
  return decode


def main(argv):
  del argv
  from lasium_tf import generators
  from lasium_tf.models import omniglot_gan

  generator = omniglot_gan.build_generator(128)
  if _GENERATOR.value:
    module = tf.saved_model.load(_GENERATOR.value)  # Owns the variables.
    for mine, theirs in zip(generator.weights,
                            module.signatures["generate"].variables):
      if mine.shape != theirs.shape:
        raise SystemExit(f"{_GENERATOR.value} is not this project's "
                         f"Omniglot GAN ({theirs.name} {theirs.shape} where "
                         f"{mine.shape} was expected).")
      mine.assign(theirs)
  z = tf.random.stateless_normal([_IMAGES.value, 128], [0, 1])
  twin = generators.Bfloat16Decoding(generator,
                                     generators.KerasGenerator(generator))
  variants = {"keras": tf.function(lambda z: generator(z, training=False)),
              "keras_bfloat16": tf.function(twin.decode)}
  for name, transposed in FORMULATIONS.items():
    for dtype in (tf.float32, tf.bfloat16):
      for xla in (False, True) if _XLA.value else (False,):
        label = name + ("_bfloat16" if dtype == tf.bfloat16 else "") + (
            "_xla" if xla else "")
        variants[label] = tf.function(
            _ops_decoder(generator, transposed, dtype), jit_compile=xla)
  reference = variants["keras"](z).numpy()
  base = median_seconds(lambda: variants["keras"](z).numpy(), _REPEATS.value)
  out = {"benchmark": "decode_formulations", "images": _IMAGES.value,
         "weights": _GENERATOR.value or "random", "keras_seconds": base,
         "variants": {}}
  for name, decode in variants.items():
    images = decode(z).numpy()
    seconds = median_seconds(lambda: decode(z).numpy(), _REPEATS.value)
    difference = np.abs(images - reference)
    out["variants"][name] = {
        "seconds": round(seconds, 5), "ratio": round(seconds / base, 3),
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean())}
    print(f"{name:24s} {seconds:.4f} s  {seconds / base:.3f}x  max diff "
          f"{difference.max():.2e}", flush=True)
  print(json.dumps(out), flush=True)


if __name__ == "__main__":
  sys.exit(app.run(main))
