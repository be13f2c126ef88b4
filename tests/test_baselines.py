"""Baselines on the learner's own test tasks: pixel matching, from scratch."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import baselines
from lasium_tf.tasks import episodes
from lasium_tf.baselines import simple
from lasium_tf import config as config_lib
from test_maml import N_WAY, class_images


def tasks_whose_queries_are(support, shuffle_labels=False):
  """Episodes [1, ...] whose queries are the support images themselves."""
  labels = tf.range(N_WAY, dtype=tf.int32)
  query_labels = tf.reverse(labels, [0]) if shuffle_labels else labels
  return episodes.Episode(support[None], labels[None], support[None],
                          query_labels[None])


def test_pixel_nn_finds_a_query_that_is_a_support_image():
  images = tf.constant(class_images()[:N_WAY, 0])
  assert float(simple.pixel_nn_accuracy(
      tasks_whose_queries_are(images))[0]) == 1.0
  # Labelled otherwise, the same nearest images are now wrong but one.
  assert float(simple.pixel_nn_accuracy(
      tasks_whose_queries_are(images, shuffle_labels=True))[0]) == (
          pytest.approx(1 / N_WAY))


def test_pixel_nn_ignores_brightness_and_contrast():
  images = tf.constant(class_images()[:N_WAY, 0])
  task = tasks_whose_queries_are(images)
  brighter = task._replace(query_images=0.5 * task.query_images + 0.3)
  assert float(simple.pixel_nn_accuracy(brighter)[0]) == 1.0


def test_the_default_baselines_follow_the_data_set():
  config = config_lib.EvalConfig()
  assert config.resolved_baselines("folder") == ("pixel_nn", "scratch")
  assert config.resolved_baselines("omniglot") == ("pixel_nn",)
  assert config_lib.EvalConfig(baselines="none").resolved_baselines(
      "folder") == ()
  assert config_lib.EvalConfig(baselines="scratch").resolved_baselines(
      "omniglot") == ("scratch",)
  with pytest.raises(config_lib.ConfigError, match="'knn' is not one of"):
    config_lib.Config(eval=config_lib.EvalConfig(baselines="knn")).validate()


def test_the_verdict_says_when_the_learner_does_not_beat_a_baseline():
  record = {"method": "LASIUM-RO-GAN-MAML", "k_shot": 1, "accuracy": 69.0,
            "ci95": 0.9, "baselines": {
                "pixel_nn": {"accuracy": 82.7, "ci95": 0.6},
                "scratch": {"accuracy": 60.0, "ci95": 0.9}}}
  text = baselines.verdict(record)
  assert "pixel nearest neighbour 82.70 +- 0.60" in text
  assert "does not beat pixel nearest neighbour by more" in text
  assert "training from scratch by" not in text.split("warning")[1]
  record["budget"] = {"meta_iterations": 0}  # Baselines scored alone.
  assert "warning" not in baselines.verdict(record)
  record["budget"] = {"meta_iterations": 10}
  assert "warning" in baselines.verdict(record)
  record["accuracy"] = 90.0
  assert "warning" not in baselines.verdict(record)
  assert baselines.verdict({"accuracy": 1, "ci95": 1}) == ""


def test_scratch_trains_an_untrained_network_on_each_support_set():
  """From scratch = MAML's evaluation with no meta-training: above chance
  on easy tasks, and the same number whatever learner was configured."""
  class Part:
    def episodes(self, n_way, k_shot, k_query, seed, start=0, count=None):
      return episodes.labelled_episodes(class_images(), n_way, k_shot,
                                        k_query, seed=seed, start=start).take(
                                            count)
  config = config_lib.Config(
      data=config_lib.DataConfig(image_size=16),
      task=config_lib.TaskConfig(n_way=N_WAY),
      eval=config_lib.EvalConfig(n_way=N_WAY, k_query=3, num_tasks=8,
                                 inner_steps=10, tasks_per_call=4,
                                 baselines="scratch,pixel_nn"))
  scored = baselines.score(config, Part(), 1)
  assert set(scored) == {"scratch", "pixel_nn"}
  assert scored["scratch"]["num_tasks"] == 8
  protonets = baselines.score(
      dataclasses.replace(config, learner="protonets"), Part(), 1)
  assert protonets["scratch"]["accuracy"] == scored["scratch"]["accuracy"]
  assert scored["pixel_nn"]["accuracy"] > 100 / N_WAY
