"""The query shift: offsets, fill, purity, and where it may and may not act.

Fixture images hold each pixel's own coordinates (row * W + col + 1), so a
shifted image tells exactly which offset moved it and which pixels the shift
uncovered.
"""

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.tasks import augment, lasium
from lasium_tf.config import ConfigError, shift_fill_value
from lasium_tf.tasks.episodes import Episode, labelled_episodes, task_seed

FILL = -7.0


def coordinate_images(count, size=12, channels=1):
  """[count, size, size, channels]: pixel (y, x) holds y * size + x + 1."""
  grid = np.arange(1, size * size + 1, dtype=np.float32).reshape(size, size)
  return np.broadcast_to(grid[None, :, :, None],
                         (count, size, size, channels)).copy()


def recovered_offset(shifted, size):
  """The (tx, ty) that moved a coordinate image, from any pixel kept."""
  ys, xs = np.nonzero(shifted[..., 0] != FILL)
  value = int(shifted[ys[0], xs[0], 0]) - 1
  return xs[0] - value % size, ys[0] - value // size


@pytest.mark.parametrize("tx, ty", [(0, 0), (3, 0), (0, -5), (-2, 4),
                                    (4, -5)])
def test_shift_moves_pixels_and_fills_what_it_uncovers(tx, ty):
  size = 12
  image = coordinate_images(1, size)
  shifted = augment.shift_images(tf.constant(image), tf.constant([[tx, ty]]),
                                 FILL).numpy()[0]
  for y in range(size):
    for x in range(size):
      source_y, source_x = y - ty, x - tx
      if 0 <= source_y < size and 0 <= source_x < size:
        assert shifted[y, x, 0] == image[0, source_y, source_x, 0]
      else:
        assert shifted[y, x, 0] == FILL
  assert (shifted == FILL).sum() == size * size - (size - abs(tx)) * (
      size - abs(ty))


def test_offsets_cover_exactly_minus_s_to_s_minus_one():
  offsets = augment.random_offsets(20000, 5, tf.constant([3, 4], tf.int64))
  counts = np.bincount(offsets.numpy().ravel() + 5)
  assert len(counts) == 10  # -5 .. 4, nothing above.
  assert counts.min() > 0.9 * counts.mean()  # Spread over the whole range.


def episode_of(images, n_way=5, k_shot=1):
  images = tf.constant(images.reshape((n_way, -1) + images.shape[1:]))
  from lasium_tf.tasks.episodes import split_classes
  return split_classes(images, k_shot)


def test_queries_shifted_per_image_support_untouched_same_seed_same_task():
  size = 12
  episode = episode_of(coordinate_images(30, size))  # 5-way, 1 + 5.
  seed = task_seed(0, 7)
  shifted = augment.shift_queries(episode, seed, 5, FILL)
  np.testing.assert_array_equal(shifted.support_images,
                                episode.support_images)
  np.testing.assert_array_equal(shifted.query_labels, episode.query_labels)
  offsets = [recovered_offset(q, size) for q in shifted.query_images.numpy()]
  assert all(-5 <= tx <= 4 and -5 <= ty <= 4 for tx, ty in offsets)
  assert len(set(offsets)) > 10  # Drawn per image, not per task.
  again = augment.shift_queries(episode, task_seed(0, 7), 5, FILL)
  np.testing.assert_array_equal(again.query_images, shifted.query_images)
  other = augment.shift_queries(episode, task_seed(0, 8), 5, FILL)
  assert not np.array_equal(other.query_images, shifted.query_images)
  unshifted = augment.shift_queries(episode, seed, 0, FILL)
  assert unshifted is episode


def test_rgb_84_pixel_queries_shift_every_channel_alike():
  images = np.random.default_rng(0).random((10, 84, 84, 3), np.float32)
  episode = episode_of(images, n_way=2)
  shifted = augment.shift_queries(episode, task_seed(1, 2), 5, 0.0)
  assert shifted.query_images.shape == (8, 84, 84, 3)
  uncovered = shifted.query_images.numpy() == 0.0
  assert uncovered.any()
  np.testing.assert_array_equal(uncovered[..., 0], uncovered[..., 2])


@pytest.mark.parametrize("dataset, strokes, fill, value", [
    ("omniglot", "white", "background", 0.0),
    ("omniglot", "white", "ink", 1.0),
    ("omniglot", "black", "background", 1.0),
    ("omniglot", "black", "ink", 0.0),  # The authors' literal 0.
    ("mini_imagenet", "white", "background", 0.0),
])
def test_fill_values_for_both_inks(dataset, strokes, fill, value):
  assert shift_fill_value(dataset, strokes, fill) == value


def test_ink_fill_on_rgb_data_is_refused():
  with pytest.raises(ConfigError, match="--shift_fill=background"):
    shift_fill_value("celeba", "white", "ink")


class CoordinateGenerator:
  """Decodes any latent into the same coordinate image plus its first value."""

  latent_dim = 4
  can_encode = False

  def decode(self, z):
    base = tf.constant(coordinate_images(1, 12))
    return base + 1000.0 * tf.round(z[:, :1])[:, :, None, None]


def test_lasium_tasks_shift_queries_only_the_rest_of_the_task_unchanged():
  shape = lasium.TaskShape(5, 1, 5)
  plain = lasium.LasiumSampler(CoordinateGenerator(), "gan", "n", shape,
                               {"sigma": 0.5}, min_distance=0.0)
  shifted = lasium.LasiumSampler(CoordinateGenerator(), "gan", "n", shape,
                                 {"sigma": 0.5}, min_distance=0.0,
                                 query_shift=5, shift_fill=FILL)
  a, b = plain.episode(3, 9), shifted.episode(3, 9)
  np.testing.assert_array_equal(a.support_images, b.support_images)
  assert (b.query_images.numpy() == FILL).any()
  assert not (a.query_images.numpy() == FILL).any()
  expected = augment.shift_queries(a, task_seed(3, 9), 5, FILL)
  np.testing.assert_array_equal(b.query_images, expected.query_images)
  batch = next(iter(shifted.meta_batches(3, 2, start_batch=4)))
  np.testing.assert_array_equal(batch.query_images[1], b.query_images)


def test_labelled_stream_shifts_task_i_with_its_own_seed_from_any_start():
  images = coordinate_images(8 * 6, 12).reshape(8, 6, 12, 12, 1)
  images = images + np.arange(8)[:, None, None, None, None] * 1000.0
  plain = list(labelled_episodes(images, 3, 1, 2, seed=5, start=4, count=3))
  stream = augment.shift_query_stream(
      labelled_episodes(images, 3, 1, 2, seed=5, start=4), 5, 4, 5, FILL)
  for i, (episode, shifted) in enumerate(zip(plain, stream.take(3))):
    expected = augment.shift_queries(episode, task_seed(5, 4 + i), 5, FILL)
    np.testing.assert_array_equal(shifted.query_images,
                                  expected.query_images)
    np.testing.assert_array_equal(shifted.support_images,
                                  episode.support_images)


def test_support_copies_follow_their_originals_shifted_by_one_draw():
  """Each image's copies come right after the originals, in order, each
  the original shifted (the coordinates tell by how much); the labels
  repeat; every task of a batch gets the same offsets, so a task's enlarged
  set does not depend on the batch it is in; 0 copies changes nothing."""
  size, copies = 12, 3
  images = tf.constant(coordinate_images(4, size))
  labels = tf.constant([0, 1, 2, 3])
  enlarged, enlarged_labels = augment.enlarge_support(images, labels, copies,
                                                      2, FILL)
  assert enlarged.shape == (4 + 4 * copies, size, size, 1)
  np.testing.assert_array_equal(enlarged[:4], images)
  np.testing.assert_array_equal(enlarged_labels,
                                [0, 1, 2, 3] + [0] * 3 + [1] * 3 + [2] * 3
                                + [3] * 3)
  offsets = [recovered_offset(np.asarray(image), size)
             for image in enlarged[4:]]
  assert all(-2 <= o <= 1 for pair in offsets for o in pair)
  assert len(set(offsets)) > 1
  batch, batch_labels = augment.enlarge_support(
      tf.stack([images, images]), tf.stack([labels, labels]), copies, 2, FILL)
  np.testing.assert_array_equal(batch[0], enlarged)
  np.testing.assert_array_equal(batch[1], enlarged)
  np.testing.assert_array_equal(batch_labels[1], enlarged_labels)
  same, same_labels = augment.enlarge_support(images, labels, 0, 2, FILL)
  assert same is images and same_labels is labels
