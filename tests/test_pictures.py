"""Task pictures: a column per class, support rows above query rows."""

import numpy as np
import tensorflow as tf

from lasium_tf.records import pictures


def test_task_picture_layout_and_class_edges():
  n_way, k_shot, k_query, size = 3, 1, 2, 4
  support = np.zeros((n_way * k_shot, size, size, 1), np.float32)
  query = np.ones((n_way * k_query, size, size, 1), np.float32)
  picture = pictures.task_picture(support, query, n_way, scale=1)
  pad, edge = 2, 2
  cell = size + 2 * edge + pad
  assert picture.shape == (3 * cell + pad + 3 * pad, n_way * cell + pad, 3)
  assert picture.dtype == np.uint8
  # Support images (0 = background) are white, queries (1 = strokes) black.
  top = pad + edge
  assert (picture[top:top + size, pad + edge:pad + edge + size] == 255).all()
  query_top = pad + cell + 3 * pad + edge
  assert (picture[query_top:query_top + size,
                  pad + edge:pad + edge + size] == 0).all()
  # Each column's edge has its class colour.
  for c in range(n_way):
    np.testing.assert_array_equal(picture[pad, pad + c * cell],
                                  pictures.CLASS_COLOURS[c])


def test_save_png_round_trip(tmp_path):
  image = np.random.default_rng(0).integers(0, 255, (5, 7, 3), np.uint8)
  path = pictures.save_png(tmp_path / "a" / "x.png", image)
  import tensorflow as tf
  np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(str(path))),
                                image)


class _Identity:
  """Decodes a 4-d latent into the 2x2 image of its values."""

  def decode(self, z):
    return tf.reshape(z, [-1, 2, 2, 1])


def test_interpolation_strips_run_from_start_to_end():
  starts = tf.zeros([2, 4])
  ends = tf.ones([2, 4])
  picture = pictures.interpolation_strips(_Identity(), starts, ends,
                                          alphas=(0.0, 0.5, 1.0), scale=1)
  pad, edge, size = 2, 2, 2
  cell = size + 2 * edge + pad
  assert picture.shape == (2 * cell + pad, 3 * cell + pad, 3)
  inner = [picture[pad + edge, pad + c * cell + edge, 0] for c in range(3)]
  # Strokes are drawn dark: 0 -> white, 0.5 -> grey, 1 -> black.
  assert inner == [255, 128, 0]
