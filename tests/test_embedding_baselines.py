"""The embedding baselines: 1-NN, logistic regression, MLP, cluster matching."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf import generators
from lasium_tf.run import modes
from lasium_tf.baselines import BASELINES, embedding
from lasium_tf.data import shapes

EMBEDDING = [kind.name for kind in BASELINES.loaded() if kind.needs_encoder]


def separable_tasks(tasks=3, n_way=4, shots=2, queries=3, seed=0):
  """Embeddings [T, B, 6]: class c of task t sits near a center of its own,
  labels permuted per task, so only the support set tells them apart."""
  rng = np.random.default_rng(seed)
  support, s_labels, query, q_labels = [], [], [], []
  for _ in range(tasks):
    centers = rng.normal(scale=3.0, size=(n_way, 6))
    order = rng.permutation(n_way)
    support.append(np.repeat(centers, shots, 0)
                   + rng.normal(scale=0.1, size=(n_way * shots, 6)))
    s_labels.append(np.repeat(order, shots))
    query.append(np.repeat(centers, queries, 0)
                 + rng.normal(scale=0.1, size=(n_way * queries, 6)))
    q_labels.append(np.repeat(order, queries))
  as_tensor = lambda x, d: tf.constant(np.stack(x), d)  # noqa: E731
  return (as_tensor(support, tf.float32), as_tensor(s_labels, tf.int32),
          as_tensor(query, tf.float32), as_tensor(q_labels, tf.int32))


@pytest.mark.parametrize("classify", [
    embedding.knn_accuracy,
    lambda s, sl, q, ql: embedding.linear_accuracy(s, sl, q, ql, 4),
    lambda s, sl, q, ql: embedding.mlp_accuracy(s, sl, q, ql, 4),
], ids=["knn", "linear", "mlp"])
def test_each_classifier_separates_separable_tasks(classify):
  classify = tf.function(classify)  # As evaluation runs it: compiled.
  support, s_labels, query, q_labels = separable_tasks()
  np.testing.assert_array_equal(classify(support, s_labels, query, q_labels),
                                np.ones(3))
  # With the query labels swapped the same answers score 0: they come from
  # the support set, not from the queries' labels.
  swapped = (q_labels + 1) % 4
  np.testing.assert_array_equal(classify(support, s_labels, query, swapped),
                                np.zeros(3))


def test_cluster_matching_labels_clusters_by_support_majority():
  centers = tf.constant([[0.0, 0], [10, 0], [0, 10], [10, 10]])
  support = tf.constant([[[0.1, 0], [0.2, 0], [9.9, 0], [0, 9.8]]])
  s_labels = tf.constant([[0, 0, 1, 2]])
  # Queries in cluster 0 (majority label 0), cluster 1 (label 1), and in
  # cluster 3, which no support image labels: the nearest labelled
  # cluster's center is cluster 1's or 2's (equidistant) -> 1 (the first).
  query = tf.constant([[[0.3, 0.1], [10.2, 0.3], [10.0, 9.0]]])
  accuracy = embedding.cluster_matching_accuracy(
      support, s_labels, query, tf.constant([[0, 1, 1]]), centers, 3)
  np.testing.assert_allclose(accuracy, [1.0])


def test_embedding_baselines_need_an_encoder():
  with pytest.raises(config_lib.ConfigError, match="--baseline_encoder"):
    config_lib.EvalConfig(baselines="pixel_nn,embedding_knn").validate()
  config_lib.EvalConfig(baselines="embedding_knn",
                        encoder="pretrained/omniglot_vae").validate()


def test_embedding_baselines_score_beside_an_evaluation(tmp_path, monkeypatch):
  vae = generators.build(config_lib.GenerativeConfig(kind="vae"))
  monkeypatch.setattr(generators, "load_generator", lambda name: (
      generators.as_generator(vae), {"kind": "vae", "epochs": 0}))
  monkeypatch.setattr(embedding, "_CLUSTERS", 4)
  embedding._ENCODERS.clear()
  embedding._CENTERS.clear()
  dirs = shapes.write_shapes(tmp_path / "shapes", per_class=4)
  config = config_lib.Config(
      experiment_dir=str(tmp_path / "run"), task_source="none",
      mode="evaluate",
      data=config_lib.DataConfig(dataset="folder",
                                 data_dir=str(dirs["data_dir"]),
                                 eval_data_dir=str(dirs["eval_data_dir"])),
      eval=config_lib.EvalConfig(
          k_shots=(1,), k_query=2, num_tasks=2, inner_steps=1,
          tasks_per_call=2, encoder="vae",
          baselines=",".join(EMBEDDING)))
  config = modes.with_folder_background(modes.with_folder_channels(config))
  record = modes.run(config, verbose=False)["results"][1]
  assert set(record["baselines"]) == set(EMBEDDING)
  for outcome in record["baselines"].values():
    assert 0 <= outcome["accuracy"] <= 100 and outcome["num_tasks"] == 2
  again = modes.run(dataclasses.replace(
      config, experiment_dir=str(tmp_path / "again")),
      verbose=False)["results"][1]
  assert again["baselines"] == {k: {**v, "seconds": again["baselines"][k][
      "seconds"]} for k, v in record["baselines"].items()}
