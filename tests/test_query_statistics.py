"""scripts/query_statistics.py: each variant scores what it names."""

import importlib.util
import pathlib

import numpy as np
import tensorflow as tf

from test_batched import random_tasks
from test_normalization import SHAPE, maml

SCRIPT = (pathlib.Path(__file__).resolve().parents[1] / "scripts"
          / "query_statistics.py")


def script():
  spec = importlib.util.spec_from_file_location("query_statistics", SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_support_and_queries_are_the_library_evaluations():
  """`support` is what the support-normalised learner's evaluation scores,
  `queries` what the transductive one's scores, on the same weights."""
  tasks = random_tasks(SHAPE, tasks=3, seed=4)
  scores = script().scorer(maml("support", seed=2), 0.0)(tasks)
  np.testing.assert_array_equal(
      scores["support"], maml("support", seed=2).evaluate(tasks))
  np.testing.assert_array_equal(
      scores["queries"], maml("transductive", seed=2).evaluate(tasks))
  assert set(scores) == set(script().VARIANTS)


def test_other_queries_are_the_next_tasks():
  """With every task of the batch the same, the next task's queries are the
  task's own, and so score the same."""
  one = random_tasks(SHAPE, tasks=1, seed=5)
  same = type(one)(*(tf.repeat(p, 3, axis=0) for p in one))
  scorer = script().scorer(maml("support", seed=3), 0.0)
  scores = scorer(same)
  np.testing.assert_array_equal(scores["other_queries"], scores["queries"])
