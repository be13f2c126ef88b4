"""MAML as a `--learner` (Finn et al., ICML 2017; the paper's main learner).

The learner itself is `lasium_tf.learners.maml_core.MAML`, imported when one is
built, so that the command line knows the name, checks and card of the learner
without loading TensorFlow.
"""

from __future__ import annotations

from typing import Dict

from lasium_tf import lazy
from lasium_tf.errors import ConfigError
from lasium_tf.learners import LearnerKind, register

maml = lazy.module("lasium_tf.learners.maml_core")
backbone = lazy.module("lasium_tf.models.backbone")


def build(config):
  """MAML of the configured backbone with an N-way Dense head."""
  model = backbone.build_classifier(backbone.configured(config),
                                    config.task.n_way, seed=config.seed)
  return maml.MAML(model, inner_lr=config.maml.inner_lr,
                   inner_steps=config.maml.inner_steps,
                   first_order=config.maml.first_order,
                   meta_lr=config.maml.meta_lr,
                   eval_inner_lr=config.eval.inner_lr,
                   eval_inner_steps=config.eval.inner_steps,
                   batched=config.batched_tasks,
                   normalization=config.normalization,
                   eval_n_way=(config.eval.n_way
                               if config.eval.n_way < config.task.n_way
                               else None),
                   support_copies=config.eval.support_copies,
                   support_shift=config.eval.support_shift,
                   support_fill=(config.background_value
                                 if config.eval.support_copies else 0.0))


def from_model(model, normalization: str, card: Dict):
  """MAML around an exported classifier, adapting as its card says
  (`MAML.card`)."""
  adaptation = card.get("adaptation") or {}
  missing = [k for k in ("inner_steps", "inner_lr") if k not in adaptation]
  if missing:
    raise ConfigError(
        f"the model's card.json does not say how MAML adapts at test "
        f"({', '.join(missing)}): export it again (--mode=export) with "
        f"this version, or give its run's --eval_inner_steps and "
        f"--eval_inner_lr as inner_steps= and inner_lr=.")
  return maml.MAML(model, eval_inner_steps=int(adaptation["inner_steps"]),
                   eval_inner_lr=float(adaptation["inner_lr"]),
                   normalization=normalization,
                   support_copies=int(adaptation.get("support_copies", 0)),
                   support_shift=int(adaptation.get("support_shift", 3)),
                   support_fill=float(adaptation.get("support_fill", 0.0)))


def check(config) -> None:
  """A test task may have at most as many classes as the head."""
  if (config.eval.n_way > config.task.n_way
      and config.evaluates):
    raise ConfigError(
        f"MAML's head has --n_way={config.task.n_way} outputs but evaluation "
        f"asks for --eval_n_way={config.eval.n_way}: a test task may have at "
        f"most as many classes as the head (fewer use its first "
        f"--eval_n_way logits); raise --n_way or lower --eval_n_way.")


KIND = register(LearnerKind(name="maml", display="MAML", build=build,
                            from_model=from_model, check=check,
                            augments_support=True),
                replace=True)
