"""Which images give BatchNorm its statistics: the `--normalization` registry.

MAML and ProtoNets run BatchNorm in training mode at test time too, so what
a prediction depends on is decided by which images the statistics come
from (Bronskill et al., "TaskNorm: Rethinking Batch Normalization for
Meta-Learning", ICML 2020). Each choice is a `NormalizationKind`: the rule
it follows (`lasium_tf.learners.batchnorm.moments` computes every one of them),
whether a query's answer depends on the other queries, whether the network
has weights of its own for it, and how an export's card describes it. The
learners, the export, the run folder and the records read these fields and
never ask for a name; `lasium_tf.learners.batchnorm` documents each rule.
"""

from __future__ import annotations

import dataclasses

from lasium_tf.registry import Registry


@dataclasses.dataclass(frozen=True)
class NormalizationKind:
  """A normalisation rule, as the library sees it.

  Attributes:
    name: its `--normalization` value.
    described: what an export's README says of a signature using it.
    transductive: each batch gives its own statistics, so a query's answer
      depends on the other queries of the call (the paper's procedure).
    with_self: each query joins the support set in its own statistics.
    blends_instances: the network's norm layers are TaskNorm-I layers,
      with learned weights the other networks lack.
    counterpart: the rule of the other kind (transductive or not) for the
      same network: what an export offers beside its own rule, so that a
      classifier has both a one-image signature and the transductive one.
    paper: the paper's own rule: its records carry no suffix and stand in
      the tables beside the paper's figures.
  """

  name: str
  described: str
  transductive: bool = False
  with_self: bool = False
  blends_instances: bool = False
  counterpart: str = "transductive"
  paper: bool = False

  @property
  def result_suffix(self) -> str:
    """What its result files' names add (none for the paper's rule)."""
    return "" if self.paper else f"_{self.name}"


NORMALIZATIONS: Registry[NormalizationKind] = Registry("normalization",
                                                       "normalization")
TRANSDUCTIVE = NORMALIZATIONS.register(NormalizationKind(
    "transductive", transductive=True, counterpart="support", paper=True,
    described="each batch normalised with its own statistics, as the paper "
              "evaluates: send whole balanced query sets (e.g. 75 queries of "
              "a 5-way task), never single images"))
NORMALIZATIONS.register(NormalizationKind(
    "support",
    described="queries normalised with the support set's statistics: an "
              "image gets the same answer alone or in any batch"))
NORMALIZATIONS.register(NormalizationKind(
    "support_and_query", with_self=True,
    described="each query normalised with the statistics of the support set "
              "and itself: an image gets the same answer alone or in any "
              "batch"))
NORMALIZATIONS.register(NormalizationKind(
    "tasknorm_i", blends_instances=True,
    counterpart="tasknorm_i_transductive",
    described="TaskNorm-I (the support set's statistics blended with each "
              "image's own): the same answer alone or in any batch"))
NORMALIZATIONS.register(NormalizationKind(
    "tasknorm_i_transductive", transductive=True, blends_instances=True,
    counterpart="tasknorm_i",
    described="TaskNorm-I with each batch as its own context (its "
              "statistics blended with each image's own), as the paper "
              "evaluates: send whole balanced query sets, never single "
              "images"))
# What an exported classifier and the few-shot command line use by default
# for a transductively trained network: no retraining needed.
DEFAULT_NON_TRANSDUCTIVE = TRANSDUCTIVE.counterpart


def register(kind: NormalizationKind,
             replace: bool = False) -> NormalizationKind:
  """Adds a rule (a combination of the fields above) under a new name."""
  return NORMALIZATIONS.register(kind, replace)
