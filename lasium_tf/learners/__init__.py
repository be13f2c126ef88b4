"""The configured meta-learner: backbone, head and learner from a `Config`.

The learners themselves are `lasium_tf.maml.MAML` and
`lasium_tf.protonets.ProtoNets` (the verbs every learner answers:
`lasium_tf.learner`); this package builds the one a run names, below the
run engine and the baselines that both need it.
"""

from __future__ import annotations

from lasium_tf.maml import MAML
from lasium_tf.models.backbone import build_backbone, build_classifier
from lasium_tf.protonets import ProtoNets


def image_shape(config):
  return config.data.image_shape


def shift_fill(config) -> float:
  """The pixel value the meta-training query shift uncovers."""
  return config.resolved_shift_fill


def build_learner(config):
  """The configured backbone in its learner: MAML (with a head) or ProtoNets."""
  backbone = build_backbone(config.backbone, image_shape(config),
                            filters=config.filters, seed=config.seed,
                            normalization=config.normalization)
  if config.learner == "protonets":
    return ProtoNets(backbone, meta_lr=config.maml.meta_lr,
                     normalization=config.normalization)
  model = build_classifier(backbone, config.task.n_way, seed=config.seed)
  return MAML(model, inner_lr=config.maml.inner_lr,
              inner_steps=config.maml.inner_steps,
              first_order=config.maml.first_order,
              meta_lr=config.maml.meta_lr,
              eval_inner_lr=config.eval.inner_lr,
              eval_inner_steps=config.eval.inner_steps,
              batched=config.batched_tasks,
              normalization=config.normalization,
              eval_n_way=(config.eval.n_way
                          if config.eval.n_way < config.task.n_way else None))
