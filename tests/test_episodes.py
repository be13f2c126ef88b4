"""Invariants of the real-task sampler and the Episode layout."""

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.tasks import episodes


def labelled_images(num_classes=12, per_class=20, size=4):
  """Image [c, i] is filled with the value 1000 * c + i: its own id."""
  ids = (1000 * np.arange(num_classes)[:, None]
         + np.arange(per_class)[None, :]).astype(np.float32)
  return np.broadcast_to(ids[:, :, None, None, None],
                         (num_classes, per_class, size, size, 1)).copy()


def ids(images):
  return images[..., 0, 0, 0].numpy().astype(int)


def test_shapes_and_class_major_labels():
  task = episodes.sample_labelled_episode(
      tf.constant(labelled_images()), episodes.task_seed(0, 3), 5, 2, 3)
  assert task.support_images.shape == (10, 4, 4, 1)
  assert task.query_images.shape == (15, 4, 4, 1)
  np.testing.assert_array_equal(task.support_labels,
                                [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
  np.testing.assert_array_equal(task.query_labels, np.repeat(np.arange(5), 3))
  assert task.support_labels.dtype == tf.int32


def test_classes_distinct_and_labels_consistent_images_distinct():
  table = tf.constant(labelled_images())
  for index in range(20):
    task = episodes.sample_labelled_episode(
        table, episodes.task_seed(7, index), 5, 1, 15)
    support, query = ids(task.support_images), ids(task.query_images)
    support_class = support // 1000
    assert len(set(support_class)) == 5  # Distinct classes.
    for label in range(5):
      cls = support_class[label]
      in_query = query[task.query_labels.numpy() == label]
      assert set(in_query // 1000) == {cls}  # Labels match real classes.
      drawn = list(in_query) + [support[label]]
      assert len(set(drawn)) == 16  # No image used twice in a class.


def test_same_seed_same_task_other_index_other_task():
  table = tf.constant(labelled_images())
  a = episodes.sample_labelled_episode(table, episodes.task_seed(1, 5), 5, 1, 2)
  b = episodes.sample_labelled_episode(table, episodes.task_seed(1, 5), 5, 1, 2)
  c = episodes.sample_labelled_episode(table, episodes.task_seed(1, 6), 5, 1, 2)
  np.testing.assert_array_equal(ids(a.query_images), ids(b.query_images))
  assert not np.array_equal(ids(a.query_images), ids(c.query_images))


def test_dataset_start_resumes_the_same_stream():
  images = labelled_images()
  full = list(episodes.labelled_episodes(images, 3, 1, 1, seed=4, count=6))
  tail = list(episodes.labelled_episodes(images, 3, 1, 1, seed=4, start=4,
                                         count=2))
  for x, y in zip(full[4:], tail):
    np.testing.assert_array_equal(ids(x.support_images), ids(y.support_images))


def test_class_labels_are_a_random_assignment():
  """Over many tasks, label 0 goes to many different real classes."""
  table = tf.constant(labelled_images())
  first = {int(ids(episodes.sample_labelled_episode(
      table, episodes.task_seed(0, i), 5, 1, 1).support_images)[0] // 1000)
           for i in range(40)}
  assert len(first) >= 8


@pytest.mark.parametrize("n_way, k_shot, k_query, match", [
    (13, 1, 1, "lower --n_way"),
    (5, 15, 6, "only 20 per class"),
])
def test_impossible_tasks_are_refused(n_way, k_shot, k_query, match):
  with pytest.raises(ValueError, match=match):
    episodes.labelled_episodes(labelled_images(), n_way, k_shot, k_query, 0)
