"""ProtoNets as a `--learner` (Snell, Swersky & Zemel, NeurIPS 2017).

The learner itself is `lasium_tf.learners.protonets_core.ProtoNets`, imported
when one is built.
"""

from __future__ import annotations

from typing import Dict

from lasium_tf import lazy
from lasium_tf.learners import LearnerKind, register

protonets = lazy.module("lasium_tf.learners.protonets_core")
backbone = lazy.module("lasium_tf.models.backbone")


def build(config):
  """ProtoNets of the configured backbone (features, no head)."""
  return protonets.ProtoNets(backbone.configured(config),
                             meta_lr=config.maml.meta_lr,
                             normalization=config.normalization)


def from_model(model, normalization: str, card: Dict):
  """ProtoNets around an exported embedding: prototypes need no settings."""
  del card
  return protonets.ProtoNets(model, normalization=normalization)


KIND = register(LearnerKind(name="protonets", display="ProtoNets",
                            build=build, from_model=from_model), replace=True)
