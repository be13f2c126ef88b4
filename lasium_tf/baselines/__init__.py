"""Baselines scored on the very test tasks a learner is scored on.

A meta-learned number means little alone: on a data set of one's own, a
randomly initialised network trained on each support set, or matching raw
pixels, can beat it (they did, on a folder of drawings LASIUM was not tuned
for). Each baseline here is a pure function of (config, test part, shot)
returning the same outcome `lasium_tf.run.evaluation.evaluate` returns,
registered by name in `BASELINES`; `--eval_baselines` picks which run beside
every evaluation, and the result record carries them.

* "pixel_nn": each query takes the class of the support image most similar
  in raw pixels (cosine of the mean-centred pixel vectors, so brightness
  and contrast do not count; no training at all);
* "scratch": the learner's backbone with a fresh head, randomly initialised
  and trained on each support set alone with the evaluation's SGD steps and
  step size: the paper's "training from scratch" row (Table 1);
* the embedding baselines (`embedding.py`): 1-nearest neighbour, logistic
  regression, an MLP with dropout and cluster matching on an encoder's
  embedding (`--baseline_encoder`), CACTUs' rows of Table 1.

A baseline is one `BaselineKind` registered in `BASELINES`: from the
library's own modules (`simple.py`, `embedding.py`) or from the user's
(docs/extending.md). This package imports no TensorFlow until a baseline
is scored, so the configuration checks know the names without it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict

from lasium_tf.registry import Registry


@dataclasses.dataclass(frozen=True)
class BaselineKind:
  """A baseline, as the library sees it.

  Attributes:
    name: its `--eval_baselines` value.
    score: (config, test_part, k_shot, verbose) -> the outcome of
      `lasium_tf.run.evaluation.evaluate` on the evaluation's own test tasks.
    display: how records and messages name it.
    needs_encoder: it classifies an embedding: `--baseline_encoder` is
      required.
  """

  name: str
  score: Callable[..., Dict]
  display: str = ""
  needs_encoder: bool = False

  @property
  def title(self) -> str:
    return self.display or self.name


BASELINES: Registry[BaselineKind] = Registry("baseline", "eval_baselines")
for _name, _module in (("pixel_nn", "simple"), ("scratch", "simple"),
                       ("embedding_knn", "embedding"),
                       ("embedding_linear", "embedding"),
                       ("embedding_mlp", "embedding"),
                       ("cluster_matching", "embedding")):
  BASELINES.add_lazy(_name, f"lasium_tf.baselines.{_module}:{_name.upper()}")


def register(kind: BaselineKind, replace: bool = False) -> BaselineKind:
  """Adds a baseline (from the user's own module, say); returns it."""
  return BASELINES.register(kind, replace)


def score(config, test_part, k_shot: int,
          verbose: bool = False) -> Dict[str, Dict]:
  """{name: {accuracy, ci95, num_tasks, seconds}} of the configured
  baselines on the evaluation's own test tasks."""
  out = {}
  for name in config.eval.resolved_baselines(config.data.dataset):
    start = time.perf_counter()
    outcome = BASELINES.get(name).score(config, test_part, k_shot, verbose)
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
  shown = ", ".join(f"{_title(n)} {b['accuracy']:.2f} +- "
                    f"{b['ci95']:.2f}" for n, b in baselines.items())
  lost = [_title(n) for n, b in baselines.items()
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


def _title(name: str) -> str:
  """A recorded baseline's display name (its own name if no longer
  registered, as in an old record)."""
  return BASELINES.get(name).title if name in BASELINES else name
