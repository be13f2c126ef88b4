"""CACTUs: k-means partitions, cluster tasks, the cached partitions."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf.tasks import cluster, encoders
from lasium_tf import generators
from lasium_tf.run import modes
from lasium_tf.data import shapes
from lasium_tf.tasks import cactus
from test_folder import folder_config


def blobs(centers, per_blob=40, scale=0.05, seed=0):
  rng = np.random.default_rng(seed)
  return np.concatenate([rng.normal(c, scale, (per_blob, len(c)))
                         for c in centers]).astype(np.float32)


def test_kmeans_finds_separated_blobs_and_is_seeded():
  points = blobs([[0, 0], [4, 0], [0, 4], [4, 4]])
  clusters = cluster.kmeans(points, 4, [0, 1])
  for blob in range(4):
    assert len(set(clusters[blob * 40:(blob + 1) * 40])) == 1
  assert len(set(clusters)) == 4
  np.testing.assert_array_equal(clusters, cluster.kmeans(points, 4, [0, 1]))


def test_partitions_are_reproducible_and_later_ones_scale_the_embedding():
  points = np.random.default_rng(1).normal(size=(200, 3)).astype(np.float32)
  a = cactus.make_partitions(points, 8, 3, seed=5, per_class=2)
  b = cactus.make_partitions(points, 8, 3, seed=5, per_class=2)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (3, 200) and a.max() < 8
  assert not np.array_equal(a[0], a[1])
  assert not np.array_equal(a, cactus.make_partitions(points, 8, 3, seed=6,
                                                      per_class=2))


def identity_pool(count):
  """Image i holds the value i / 1000 everywhere: tasks reveal their images."""
  table = tf.constant(np.arange(count, dtype=np.float32)[:, None, None, None]
                      * np.ones((1, 4, 4, 1), np.float32) / 1000)
  return lambda indices: tf.gather(table, indices)


def image_ids(images):
  return np.round(np.asarray(images)[..., 0, 0, 0] * 1000).astype(int)


def test_cluster_tasks_draw_whole_classes_from_large_clusters_only():
  # 12 images; clusters 0-3 have 3 members, cluster 4 has 2, cluster 5 one
  # (too small for K_tr + K_val = 3): never drawn.
  clusters = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5],
                      np.int32)
  source = cactus.ClusterTasks(clusters[None], identity_pool(15), n_way=3,
                               k_shot=1, k_query=2)
  seen = set()
  for index in range(40):
    episode = source.episode(7, index)
    support = image_ids(episode.support_images)
    query = image_ids(episode.query_images).reshape(3, 2)
    drawn = [clusters[support[c]] for c in range(3)]
    assert len(set(drawn)) == 3
    for c in range(3):
      members = {support[c], *query[c]}
      assert len(members) == 3
      assert {clusters[m] for m in members} == {drawn[c]}
    seen.update(drawn)
  assert seen == {0, 1, 2, 3}
  again = source.episode(7, 3)
  np.testing.assert_array_equal(again.query_images,
                                source.episode(7, 3).query_images)
  batches = list(source.meta_batches(7, 2).take(2))
  resumed = next(iter(source.meta_batches(7, 2, start_batch=1)))
  np.testing.assert_array_equal(batches[1].support_images,
                                resumed.support_images)


def test_too_few_usable_clusters_for_a_task_are_refused():
  clusters = np.array([[0, 0, 0, 1, 2, 3]], np.int32)
  with pytest.raises(config_lib.ConfigError, match="--cactus_clusters"):
    cactus.ClusterTasks(clusters, identity_pool(6), n_way=2, k_shot=1,
                        k_query=2)


class FakeEncoder:
  can_encode = True
  latent_dim = 2

  def encode(self, images):
    flat = tf.reshape(images, [tf.shape(images)[0], -1])
    return tf.stack([tf.reduce_mean(flat, 1), tf.math.reduce_std(flat, 1)],
                    1)


def test_partitions_are_cached_in_the_run_folder_and_checked(tmp_path,
                                                             monkeypatch):
  config = config_lib.Config(
      experiment_dir=str(tmp_path / "run"), task_source="cactus",
      task=config_lib.TaskConfig(n_way=2, k_shot=1, k_query=1),
      cactus=config_lib.CactusConfig(encoder="x", clusters=4))
  info = {"kind": "vae", "date": "d", "epochs": 3}
  fetch = identity_pool(60)
  first, identity = cactus.partitions_for(config, FakeEncoder(), info, 60,
                                          fetch)
  assert (tmp_path / "run" / cactus.PARTITIONS_FILE).exists()
  monkeypatch.setattr(cluster, "kmeans", lambda *a, **k: 1 / 0)
  kept, kept_identity = cactus.partitions_for(config, FakeEncoder(), info,
                                              60, fetch)
  np.testing.assert_array_equal(first, kept)
  assert kept_identity == identity
  with pytest.raises(config_lib.ConfigError, match="another encoder"):
    cactus.partitions_for(dataclasses.replace(
        config, cactus=config_lib.CactusConfig(encoder="x", clusters=5)),
        FakeEncoder(), info, 60, fetch)
  with pytest.raises(config_lib.ConfigError, match="another encoder"):
    cactus.partitions_for(config, FakeEncoder(), {**info, "epochs": 4}, 60,
                          fetch)


def test_an_encoder_without_encode_and_no_encoder_are_refused(monkeypatch):
  class Gan:
    can_encode = False
  monkeypatch.setattr(generators, "load_generator",
                      lambda name: (Gan(), {"kind": "gan"}))
  config = config_lib.Config(task_source="cactus",
                             cactus=config_lib.CactusConfig(encoder="gan"))
  with pytest.raises(config_lib.ConfigError, match="no encode signature"):
    encoders.load_encoder(config.cactus.encoder, config.data)
  with pytest.raises(config_lib.ConfigError, match="--cactus_encoder"):
    config_lib.Config(task_source="cactus").validate()


def test_cactus_end_to_end_on_a_folder_with_a_vae(tmp_path, monkeypatch):
  vae = generators.build(config_lib.GenerativeConfig(kind="vae"))
  monkeypatch.setattr(generators, "load_generator", lambda name: (
      generators.as_generator(vae), {"kind": "vae", "epochs": 0}))
  dirs = shapes.write_shapes(tmp_path / "shapes", per_class=6)
  config = folder_config(
      tmp_path, dirs, task_source="cactus",
      task=config_lib.TaskConfig(n_way=3, k_shot=1, k_query=1),
      cactus=config_lib.CactusConfig(encoder="vae", clusters=5),
      eval=config_lib.EvalConfig(n_way=3, k_shots=(1,), k_query=2,
                                 num_tasks=2, inner_steps=1,
                                 tasks_per_call=2, baselines="none"))
  config = modes.with_folder_background(modes.with_folder_channels(config))
  out = modes.run(config, verbose=False)
  record = out["results"][1]
  assert record["method"] == "CACTUs-MAML"
  assert record["hyperparameters"]["cactus"]["clusters"] == 5
  saved = (tmp_path / "run" / cactus.PARTITIONS_FILE).read_bytes()
  again = modes.run(dataclasses.replace(config, iterations=3), verbose=False)
  assert again["meta_iterations"] == 3
  assert (tmp_path / "run" / cactus.PARTITIONS_FILE).read_bytes() == saved
