"""Task sources: the registry, UMTRA's tasks and augmentations, end to end."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf.tasks import augment
from lasium_tf.run import modes
from lasium_tf import tasks
from lasium_tf import config as config_lib
from lasium_tf.data import folder, shapes
from lasium_tf.tasks import unlabeled_pool
from lasium_tf.tasks.umtra import UmtraTasks
from test_folder import folder_config

SIZE = 28


def numbered_pool(count=12):
  """Identity-revealing images: image i is a 6x6 ink square at the centre
  and the value i / 100 in its top-left pixel, so every decoded image
  says which pool image it came from."""
  pool = np.zeros((count, SIZE, SIZE, 1), np.float32)
  pool[:, 11:17, 11:17] = 1.0
  pool[:, 0, 0, 0] = np.arange(count) / 100
  return pool


def umtra(pool, **kwargs):
  table = tf.constant(pool)
  settings = dict(n_way=5, k_query=3, dropout=0.0, translation=0.0)
  settings.update(kwargs)
  return UmtraTasks(len(pool), lambda i: tf.gather(table, i), **settings)


def source_of(pool_index):
  return np.round(pool_index[..., 0, 0, 0] * 100).astype(int)


def test_every_registered_source_builds_and_config_knows_its_name():
  for kind in tasks.SOURCES.loaded():
    assert callable(kind.build) and callable(kind.needs_train_part)
    assert kind.name in tasks.SOURCES
  assert not tasks.SOURCES.get("none").meta_trains
  with pytest.raises(ValueError, match="--task_source=none meta-trains "
                     "nothing"):
    tasks.build(config_lib.Config(task_source="none"), {})
  with pytest.raises(config_lib.ConfigError, match="'nope' is not one of "
                     "labelled, lasium, umtra, cactus, none"):
    config_lib.Config(task_source="nope").validate()


def test_umtra_support_is_distinct_pool_images_queries_their_copies():
  pool = numbered_pool()
  episode = umtra(pool).episode(3, 7)
  support = source_of(episode.support_images.numpy())
  assert len(set(support)) == 5
  np.testing.assert_array_equal(episode.support_labels, np.arange(5))
  # Without augmentation each class's queries are exact copies of its image.
  np.testing.assert_array_equal(source_of(episode.query_images.numpy()),
                                np.repeat(support, 3))
  np.testing.assert_array_equal(episode.query_labels, np.repeat(
      np.arange(5), 3))


def test_umtra_tasks_are_pure_in_seed_and_index_and_resume_mid_stream():
  source = umtra(numbered_pool(), dropout=0.5, translation=6.0)
  a, b = source.episode(0, 5), source.episode(0, 5)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(source.episode(0, 6).query_images,
                            a.query_images)
  assert not np.array_equal(source.episode(1, 5).query_images,
                            a.query_images)
  from_start = list(source.meta_batches(0, 2).take(3))
  resumed = next(iter(source.meta_batches(0, 2, start_batch=2)))
  for x, y in zip(from_start[2], resumed):
    np.testing.assert_array_equal(x, y)
  stacked = source.episodes(0, 4, 2)
  np.testing.assert_array_equal(stacked.query_images, from_start[2].query_images)


def test_pixel_dropout_only_erases_about_its_rate_and_zero_is_identity():
  images = tf.constant(numbered_pool(40)[:, :, :, :])
  images = tf.where(images > 0, 1.0, 0.0)
  seed = tf.constant([1, 2], tf.int64)
  dropped = augment.pixel_dropout(images, 0.5, 0.0, seed).numpy()
  kept = dropped == images.numpy()
  assert np.all(kept | (dropped == 0.0))  # Ink erased to the page, no more.
  ink = images.numpy() == 1.0
  assert 0.4 < (dropped[ink] == 0).mean() < 0.6
  on_light_page = augment.pixel_dropout(1.0 - images, 0.5, 1.0, seed).numpy()
  np.testing.assert_array_equal(on_light_page, 1.0 - dropped)
  assert augment.pixel_dropout(images, 0.0, 0.0, seed) is images


def test_translate_moves_by_rounded_offsets_within_the_range_and_fills():
  dot = np.zeros((2000, SIZE, SIZE, 1), np.float32)
  dot[:, 14, 14] = 1.0
  moved = augment.translate(tf.constant(dot), 6.0, 0.5,
                            tf.constant([0, 9], tf.int64)).numpy()
  ys, xs = np.nonzero(moved[..., 0] == 1.0)[1:]
  dy, dx = ys - 14, xs - 14
  assert len(dy) == 2000  # The dot never leaves a 28-pixel image.
  assert dy.min() == -6 and dy.max() == 6 and dx.min() == -6 and dx.max() == 6
  # Rounded offsets from [-6, 6): the ends are half as likely as the inside.
  counts = np.bincount(dx + 6, minlength=13) / 2000
  assert counts[0] < 0.7 * counts[6] and counts[12] < 0.7 * counts[6]
  corners = moved[:, [0, -1]][:, :, [0, -1]]
  assert set(np.unique(moved)) <= {0.0, 0.5, 1.0}  # Uncovered: the fill.
  assert (corners == 0.5).any()


def test_umtra_augmentations_compose_with_the_query_shift():
  pool = numbered_pool()
  plain = umtra(pool, query_shift=5).episode(0, 3)
  both = umtra(pool, dropout=0.5, translation=6.0, query_shift=5).episode(0, 3)
  np.testing.assert_array_equal(plain.support_images, both.support_images)
  assert not np.array_equal(plain.query_images, both.query_images)
  shifted_only = umtra(pool, query_shift=5).episode(0, 3).query_images
  unshifted = umtra(pool).episode(0, 3).query_images
  assert not np.array_equal(shifted_only, unshifted)


def test_unlabeled_pool_reads_a_folder_and_an_array_part(tmp_path):
  dirs = shapes.write_shapes(tmp_path, per_class=2)
  part = folder.load_unlabeled(str(dirs["data_dir"]), SIZE, 1)
  size, fetch = unlabeled_pool(part)
  assert size == 10
  np.testing.assert_array_equal(fetch(tf.constant([3])),
                                part.fetch(tf.constant([3])))

  class ArrayPart:
    def unlabeled(self):
      return numbered_pool(7)
  size, fetch = unlabeled_pool(ArrayPart())
  assert size == 7
  assert source_of(fetch(tf.constant([4, 2])).numpy()).tolist() == [4, 2]


@pytest.mark.parametrize("change, match", [
    (dict(task=config_lib.TaskConfig(k_shot=2)), "--k_shot=1"),
    (dict(umtra=config_lib.UmtraConfig(dropout=1.0)), "--umtra_dropout"),
    (dict(umtra=config_lib.UmtraConfig(translation=14)),
     "--umtra_translation"),
])
def test_umtra_settings_that_cannot_work_are_refused(change, match):
  config = dataclasses.replace(config_lib.Config(task_source="umtra"),
                               **change)
  with pytest.raises(config_lib.ConfigError, match=match):
    config.validate()
  # Evaluation alone does not use them.
  dataclasses.replace(config, mode="evaluate").validate()


def test_umtra_end_to_end_on_a_folder_trains_resumes_and_records(tmp_path):
  dirs = shapes.write_shapes(tmp_path / "shapes", per_class=4)
  config = folder_config(tmp_path, dirs, task_source="umtra",
                         eval=config_lib.EvalConfig(
                             k_shots=(1,), k_query=2, num_tasks=2,
                             inner_steps=1, tasks_per_call=2,
                             baselines="none"))
  config = modes.with_folder_background(modes.with_folder_channels(config))
  out = modes.run(config, verbose=False)
  assert out["meta_iterations"] == 2
  record = out["results"][1]
  assert record["method"] == "UMTRA-MAML"
  assert record["hyperparameters"]["umtra"] == {"dropout": 0.5,
                                                "translation": 6.0}
  assert (tmp_path / "run" / "train_tasks.png").exists()
  again = modes.run(dataclasses.replace(config, iterations=3), verbose=False)
  assert again["meta_iterations"] == 3
  # A resumed run may not change the augmentation it trained with.
  with pytest.raises(config_lib.ConfigError, match="umtra"):
    modes.run(dataclasses.replace(config, iterations=4, umtra=(
        config_lib.UmtraConfig(dropout=0.1))), verbose=False)
  saved = json.loads((tmp_path / "run" / "config.json").read_text())
  assert saved["task_source"] == "umtra" and saved["umtra"]["dropout"] == 0.5


def test_labelled_tasks_refuse_a_shape_the_train_part_cannot_supply():
  from lasium_tf.data.omniglot import ClassImages
  from lasium_tf.tasks import labelled
  part = ClassImages(np.zeros((4, 3, SIZE, SIZE, 1), np.float32),
                     tuple("abcd"))
  config = config_lib.Config(task=config_lib.TaskConfig(n_way=5))
  with pytest.raises(config_lib.ConfigError, match="train part has only 4"):
    labelled.build(config, {"train": part})
  tasks_ = labelled.build(dataclasses.replace(config, task=(
      config_lib.TaskConfig(n_way=3, k_shot=1, k_query=2))), {"train": part})
  assert tasks_.episodes(0, 0, 2).support_images.shape == (2, 3, SIZE, SIZE, 1)
