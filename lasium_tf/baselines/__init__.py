"""Baselines scored on the very test tasks a learner is scored on.

A meta-learned number means little alone: on a data set of one's own, a
randomly initialised network trained on each support set, or matching raw
pixels, can beat it (they did, on a folder of drawings LASIUM was not tuned
for). Each baseline here is a pure function of (config, test part, shot)
returning the same outcome `experiment.evaluate` returns, registered by
name in `BASELINES`; `--eval_baselines` picks which run beside every
evaluation, and the result record carries them.

* "pixel_nn": each query takes the class of the support image most similar
  in raw pixels (cosine of the mean-centred pixel vectors, so brightness
  and contrast do not count; no training at all);
* "scratch": the learner's backbone with a fresh head, randomly initialised
  and trained on each support set alone with the evaluation's SGD steps and
  step size: the paper's "training from scratch" row (Table 1);
* the embedding baselines (`embedding.py`): 1-nearest neighbour, logistic
  regression, an MLP with dropout and cluster matching on an encoder's
  embedding (`--baseline_encoder`), CACTUs' rows of Table 1.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict

import tensorflow as tf

from lasium_tf.config import Config


def pixel_nn_accuracy(episodes) -> tf.Tensor:
  """[T] query accuracy of 1-nearest-neighbour on centred-pixel cosine."""
  def flat(images):
    shape = tf.shape(images)
    vectors = tf.reshape(images, [shape[0], shape[1], -1])
    return tf.math.l2_normalize(vectors - tf.reduce_mean(
        vectors, axis=-1, keepdims=True), axis=-1)

  similarity = tf.einsum("tqd,tsd->tqs", flat(episodes.query_images),
                         flat(episodes.support_images))
  nearest = tf.argmax(similarity, axis=-1, output_type=tf.int32)
  predicted = tf.gather(episodes.support_labels, nearest, batch_dims=1)
  return tf.reduce_mean(tf.cast(tf.equal(predicted, episodes.query_labels),
                                tf.float32), axis=1)


class _Scorer:
  """The `evaluate(episodes)` verb `experiment.evaluate` calls."""

  def __init__(self, fn: Callable):
    self.evaluate = tf.function(fn)


def pixel_nn(config: Config, test_part, k_shot: int, verbose: bool) -> Dict:
  from lasium_tf import experiment
  return experiment.evaluate(_Scorer(pixel_nn_accuracy), test_part,
                             config.eval, k_shot, verbose)


def scratch(config: Config, test_part, k_shot: int, verbose: bool) -> Dict:
  from lasium_tf import experiment
  untrained = dataclasses.replace(
      config, learner="maml", task_source="none",
      task=dataclasses.replace(config.task, n_way=config.eval.n_way))
  return experiment.evaluate(experiment.build_learner(untrained), test_part,
                             config.eval, k_shot, verbose)


from lasium_tf.baselines import embedding  # noqa: E402

BASELINES: Dict[str, Callable] = {
    "pixel_nn": pixel_nn, "scratch": scratch,
    "embedding_knn": embedding.embedding_knn,
    "embedding_linear": embedding.embedding_linear,
    "embedding_mlp": embedding.embedding_mlp,
    "cluster_matching": embedding.cluster_matching}
NAMES = {"pixel_nn": "pixel nearest neighbour",
         "scratch": "training from scratch",
         "embedding_knn": "1-nearest neighbour on the embedding",
         "embedding_linear": "logistic regression on the embedding",
         "embedding_mlp": "MLP with dropout on the embedding",
         "cluster_matching": "cluster matching"}


def score(config: Config, test_part, k_shot: int,
          verbose: bool = False) -> Dict[str, Dict]:
  """{name: {accuracy, ci95, num_tasks, seconds}} of the configured
  baselines on the evaluation's own test tasks."""
  out = {}
  for name in config.eval.resolved_baselines(config.data.dataset):
    start = time.perf_counter()
    outcome = BASELINES[name](config, test_part, k_shot, verbose)
    out[name] = {"accuracy": round(outcome["accuracy"], 2),
                 "ci95": round(outcome["ci95"], 2),
                 "num_tasks": outcome["num_tasks"],
                 "seconds": round(time.perf_counter() - start, 1)}
  return out


def verdict(record: Dict) -> str:
  """The baselines beside the learner's number, and whether it beat them
  by more than the two intervals."""
  baselines = record.get("baselines") or {}
  if not baselines:
    return ""
  shown = ", ".join(f"{NAMES.get(n, n)} {b['accuracy']:.2f} +- "
                    f"{b['ci95']:.2f}" for n, b in baselines.items())
  lost = [NAMES.get(n, n) for n, b in baselines.items()
          if record["accuracy"] - record["ci95"]
          <= b["accuracy"] + b["ci95"]]
  text = f"  baselines on the same tasks: {shown}"
  # A run that meta-learned nothing (an evaluation of the baselines alone)
  # has no meta-learning to judge.
  learned = (record.get("budget") or {}).get("meta_iterations", 1)
  if lost and learned:
    text += (f"\nwarning: {record['method']} does not beat "
             f"{' and '.join(lost)} by more than the intervals at "
             f"{record['k_shot']} shot: meta-learning did not help here.")
  return text

