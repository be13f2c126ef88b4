"""Meta-learners, behind one registry: `LEARNERS`, the `--learner` choices.

The learners themselves are `lasium_tf.learners.maml_core.MAML` and
`lasium_tf.learners.protonets_core.ProtoNets` (the verbs every learner answers:
`lasium_tf.learners.base.MetaLearner`). Each learner module describes itself in
a `LearnerKind`: its name and row name, how to build it from a run's config,
how to rebuild it around an exported network (what a fitted classifier
starts from, `lasium_tf.classifier`) and its own config checks; what an
export's card keeps of a learner comes from the learner itself
(`MetaLearner.card`). The run engine, the export and the records ask
the registry and never which learner they hold; a user's module registers
its own learner the same way (docs/extending.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from lasium_tf.registry import Registry, no_checks


@dataclasses.dataclass(frozen=True)
class LearnerKind:
  """A meta-learner, as the library sees it.

  Attributes:
    name: its `--learner` value.
    display: its name in result rows ("MAML": "LASIUM-RO-GAN-MAML").
    build: config -> a `MetaLearner` with a freshly initialised network
      (`lasium_tf.models.backbone`; the run engine restores checkpoints).
    from_model: (keras_model, normalization, card) -> a `MetaLearner`
      around an exported network (`model.keras`), as the export's card.json
      describes it (what `MetaLearner.card` wrote: MAML's test-time
      adaptation), or None where a learner cannot be rebuilt so.
    check: config -> None, raising `ConfigError` for settings this learner
      cannot run with.
    augments_support: it takes `support_copies` (`--eval_support_copies`,
      test-time shifted copies of the support set) in its build and card.
  """

  name: str
  display: str
  build: Callable[[Any], Any]
  from_model: Callable[..., Any] = None
  check: Callable[[Any], None] = no_checks
  augments_support: bool = False


# --learner name -> its description; the library's own import on first use.
LEARNERS: Registry[LearnerKind] = Registry("learner", "learner")
LEARNERS.add_lazy("maml", "lasium_tf.learners.maml:KIND")
LEARNERS.add_lazy("protonets", "lasium_tf.learners.protonets:KIND")


def register(kind: LearnerKind, replace: bool = False) -> LearnerKind:
  """Adds a learner (from the user's own module, say); returns it."""
  return LEARNERS.register(kind, replace)


def image_shape(config):
  return config.data.image_shape


def shift_fill(config) -> float:
  """The pixel value the meta-training query shift uncovers."""
  return config.resolved_shift_fill


def build_learner(config):
  """The configured `--learner`, its network freshly initialised."""
  return LEARNERS.get(config.learner).build(config)
