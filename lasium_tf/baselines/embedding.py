"""Classifiers on an encoder's embedding: the embedding rows of Table 1.

CACTUs (Hsu, Levine and Finn, ICLR 2019, Table 1) compared meta-learning on
its clusters with plain classifiers fitted to each test task's support set
in the same embedding, and the LASIUM paper quotes those rows. Here, on the
learner's own test tasks, in the embedding of `--baseline_encoder` (any
generator with an `encode` signature):

* "embedding_knn": 1-nearest neighbour among the support embeddings
  (Euclidean);
* "embedding_linear": multinomial logistic regression with an L2 penalty
  (C = 1, scikit-learn's convention: summed cross-entropy + |W|^2 / 2),
  fitted per task by 500 full-batch Adam steps from zero;
* "embedding_mlp": one hidden ReLU layer of 128 units with dropout 0.5,
  Adam (1e-3), 500 full-batch epochs. CACTUs stopped this one early on the
  query loss, which lets the query labels into training; here it never
  sees them (so it may score lower than their row);
* "cluster_matching": k-means (500 clusters) of the train images'
  embeddings; a support image labels its cluster, a query takes the
  majority label of the nearest labelled cluster (its own, when labelled).

Every task's classifier is fitted from its support set alone, all tasks of
an evaluation call at once (stacked weights), seeded by nothing but the
task's position, so a rerun gives the same numbers.
"""

from __future__ import annotations

from typing import Dict

from lasium_tf import lazy
from lasium_tf.baselines import BASELINES, BaselineKind

tf = lazy.module("tensorflow")
evaluation = lazy.module("lasium_tf.run.evaluation")

_FIT_STEPS = 500
_HIDDEN = 128
_DROPOUT = 0.5
_CLUSTERS = 500


def _embedded(encoder, images: tf.Tensor) -> tf.Tensor:
  """[T, B, ...] images -> [T, B, d] embeddings."""
  shape = tf.shape(images)
  flat = tf.reshape(images, tf.concat([[-1], shape[2:]], 0))
  z = tf.reshape(encoder.encode(flat), [shape[0] * shape[1], -1])
  return tf.reshape(z, [shape[0], shape[1], -1])


def _accuracy(predicted, labels) -> tf.Tensor:
  return tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32), 1)


def knn_accuracy(support, support_labels, query, query_labels) -> tf.Tensor:
  """[T] accuracy of 1-nearest-neighbour on embeddings [T, B, d]."""
  distances = tf.reduce_sum(
      (query[:, :, None] - support[:, None, :]) ** 2, -1)
  nearest = tf.argmin(distances, -1, output_type=tf.int32)
  return _accuracy(tf.gather(support_labels, nearest, batch_dims=1),
                   query_labels)


def _adam_fit(loss_fn, weights, steps: int, lr: float):
  """Minimises loss_fn(weights, step) by full-batch Adam from `weights`."""
  beta1, beta2, eps = 0.9, 0.999, 1e-8
  zeros = [tf.zeros_like(w) for w in weights]

  def body(i, ws, ms, vs):
    with tf.GradientTape() as tape:
      tape.watch(ws)
      loss = loss_fn(ws, i)
    grads = tape.gradient(loss, ws)
    t = tf.cast(i + 1, tf.float32)
    ms = [beta1 * m + (1 - beta1) * g for m, g in zip(ms, grads)]
    vs = [beta2 * v + (1 - beta2) * g * g for v, g in zip(vs, grads)]
    ws = [w - lr * (m / (1 - beta1 ** t)) / (tf.sqrt(v / (1 - beta2 ** t))
                                              + eps)
          for w, m, v in zip(ws, ms, vs)]
    return i + 1, ws, ms, vs

  _, weights, _, _ = tf.while_loop(lambda i, *_: i < steps, body,
                                   (tf.constant(0), weights, zeros, zeros))
  return weights


def linear_accuracy(support, support_labels, query, query_labels, n_way,
                    steps: int = _FIT_STEPS) -> tf.Tensor:
  """[T] accuracy of L2 logistic regression (C = 1) fitted per task."""
  tasks, dims = tf.shape(support)[0], tf.shape(support)[2]
  one_hot = tf.one_hot(support_labels, n_way)

  def loss(ws, step):
    del step
    w, b = ws
    logits = tf.einsum("tbd,tdn->tbn", support, w) + b[:, None]
    return (tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(
        one_hot, logits)) + 0.5 * tf.reduce_sum(w * w))

  w, b = _adam_fit(loss, [tf.zeros([tasks, dims, n_way]),
                          tf.zeros([tasks, n_way])], steps, 0.05)
  logits = tf.einsum("tbd,tdn->tbn", query, w) + b[:, None]
  return _accuracy(tf.argmax(logits, -1, output_type=tf.int32), query_labels)


def mlp_accuracy(support, support_labels, query, query_labels, n_way,
                 steps: int = _FIT_STEPS, hidden: int = _HIDDEN,
                 dropout: float = _DROPOUT, seed=(0, 0)) -> tf.Tensor:
  """[T] accuracy of a one-hidden-layer ReLU network with dropout."""
  tasks, dims = tf.shape(support)[0], support.shape[2]
  seeds = tf.random.experimental.stateless_split(
      tf.constant(seed, tf.int64), 3)

  def glorot(shape, fan_in, fan_out, s):
    limit = tf.sqrt(6.0 / (fan_in + fan_out))
    return tf.random.stateless_uniform(shape, s, -limit, limit)

  one_hot = tf.one_hot(support_labels, n_way)

  def forward(ws, images, mask=None):
    w1, b1, w2, b2 = ws
    h = tf.nn.relu(tf.einsum("tbd,tdh->tbh", images, w1) + b1[:, None])
    if mask is not None:
      h = h * mask / (1.0 - dropout)
    return tf.einsum("tbh,thn->tbn", h, w2) + b2[:, None]

  def loss(ws, step):
    keep = tf.random.stateless_uniform(
        tf.concat([tf.shape(support)[:2], [hidden]], 0),
        tf.random.experimental.stateless_fold_in(seeds[2], step)) >= dropout
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
        one_hot, forward(ws, support, tf.cast(keep, tf.float32))))

  ws = _adam_fit(loss, [glorot([tasks, dims, hidden], dims, hidden, seeds[0]),
                        tf.zeros([tasks, hidden]),
                        glorot([tasks, hidden, n_way], hidden, n_way,
                               seeds[1]),
                        tf.zeros([tasks, n_way])], steps, 1e-3)
  return _accuracy(tf.argmax(forward(ws, query), -1, output_type=tf.int32),
                   query_labels)


def cluster_matching_accuracy(support, support_labels, query, query_labels,
                              centers, n_way) -> tf.Tensor:
  """[T] accuracy of cluster matching against k-means `centers` [k, d]."""
  def nearest_center(z):
    return tf.argmin(tf.reduce_sum((z[..., None, :] - centers) ** 2, -1), -1,
                     output_type=tf.int32)

  support_clusters = nearest_center(support)  # [T, S]
  labelled = tf.gather(centers, support_clusters)  # [T, S, d]
  distances = tf.reduce_sum((query[:, :, None] - labelled[:, None]) ** 2, -1)
  chosen = tf.gather(support_clusters,
                     tf.argmin(distances, -1, output_type=tf.int32),
                     batch_dims=1)  # [T, Q]: the nearest labelled cluster.
  same = tf.cast(tf.equal(chosen[:, :, None], support_clusters[:, None]),
                 tf.float32)  # [T, Q, S]
  votes = tf.einsum("tqs,tsn->tqn", same, tf.one_hot(support_labels, n_way))
  return _accuracy(tf.argmax(votes, -1, output_type=tf.int32), query_labels)


class _EmbeddingScorer:
  """The `evaluate(episodes)` verb `evaluation.evaluate` calls."""

  def __init__(self, encoder, classify):
    def evaluate(episodes):
      return classify(_embedded(encoder, episodes.support_images),
                      episodes.support_labels,
                      _embedded(encoder, episodes.query_images),
                      episodes.query_labels)
    self.evaluate = tf.function(evaluate)


_ENCODERS: Dict = {}
_CENTERS: Dict = {}


def _encoder(config):
  from lasium_tf.tasks.encoders import load_encoder

  key = (config.eval.encoder, config.data.strokes)
  if key not in _ENCODERS:
    _ENCODERS[key] = load_encoder(config.eval.encoder, config.data,
                                  "--baseline_encoder")[0]
  return _ENCODERS[key]


def _train_centers(config, encoder) -> tf.Tensor:
  """k-means centers of the train part's embedding (once per process)."""
  key = (config.eval.encoder, config.data.dataset, config.data.resolved_split,
         config.seed)
  if key not in _CENTERS:
    from lasium_tf.tasks import cluster, encoders
    from lasium_tf.data import load_parts
    from lasium_tf.tasks import unlabeled_pool

    size, fetch = unlabeled_pool(
        load_parts(config.data, ["train"], verbose=False)["train"])
    points = encoders.embed(encoder, size, fetch)
    _CENTERS[key] = cluster.kmeans_centers(points, min(_CLUSTERS, size),
                                           [config.seed, 7])
  return _CENTERS[key]


def _run(config, test_part, k_shot: int, verbose: bool, classify):
  return evaluation.evaluate(_EmbeddingScorer(_encoder(config), classify),
                             test_part,
                  config.eval, k_shot, verbose)


def embedding_knn(config, test_part, k_shot, verbose):
  return _run(config, test_part, k_shot, verbose, knn_accuracy)


def embedding_linear(config, test_part, k_shot, verbose):
  n_way = config.eval.n_way
  return _run(config, test_part, k_shot, verbose,
              lambda s, sl, q, ql: linear_accuracy(s, sl, q, ql, n_way))


def embedding_mlp(config, test_part, k_shot, verbose):
  n_way = config.eval.n_way
  return _run(config, test_part, k_shot, verbose,
              lambda s, sl, q, ql: mlp_accuracy(s, sl, q, ql, n_way))


def cluster_matching(config, test_part, k_shot, verbose):
  n_way = config.eval.n_way
  centers = _train_centers(config, _encoder(config))
  return _run(config, test_part, k_shot, verbose,
              lambda s, sl, q, ql: cluster_matching_accuracy(
                  s, sl, q, ql, centers, n_way))


EMBEDDING_KNN, EMBEDDING_LINEAR, EMBEDDING_MLP, CLUSTER_MATCHING = (
    BASELINES.register(BaselineKind(name, fn, display, needs_encoder=True),
                       replace=True)
    for name, fn, display in (
        ("embedding_knn", embedding_knn,
         "1-nearest neighbour on the embedding"),
        ("embedding_linear", embedding_linear,
         "logistic regression on the embedding"),
        ("embedding_mlp", embedding_mlp, "MLP with dropout on the embedding"),
        ("cluster_matching", cluster_matching, "cluster matching")))
