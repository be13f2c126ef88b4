"""The settings of the library's own task sources: LASIUM, UMTRA and
CACTUs (a source registered from outside brings its own settings class)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from lasium_tf.errors import ConfigError
from lasium_tf.settings import one_of as _one_of, positive as _positive
from lasium_tf.settings import setting


def _noise(lasium):
  """LASIUM-N's noise: a scale drawn per class, a standard deviation, or
  the paper's variance."""
  if lasium.sigma_max is not None:
    return {"sigma_max": lasium.sigma_max}
  if lasium.sigma is not None:
    return {"sigma": lasium.sigma}
  return {"sigma2": lasium.sigma2}


# Each policy's hyperparameters, read from the settings by the policy's
# name (the functions themselves: `lasium_tf.tasks.lasium.POLICIES`).
POLICY_SETTINGS = {
    "n": _noise,
    "ro": lambda lasium: {"alpha": lasium.alpha},
    "oc": lambda lasium: {"alpha": lasium.alpha,
                          "oc_sigma2": lasium.oc_sigma2},
}
# The --policy choices: the table's names, listed once.
POLICIES = tuple(POLICY_SETTINGS)
# The arithmetic LASIUM decodes its tasks in (`generators.in_bfloat16`).
DECODE_PRECISIONS = ("float32", "bfloat16")
# Which policies redraw anchors that lie too close: the authors' paper-era
# code never did ("none"), their later code did for LASIUM-N only ("n").
ANCHOR_REJECTIONS = ("all", "n", "none")


@dataclasses.dataclass(frozen=True)
class LasiumConfig:
  """Where LASIUM tasks come from (paper Section 3).

  Attributes:
    generator: a generator SavedModel (e.g. pretrained/omniglot_gan, or a
      TF-Hub handle), or a generator training folder with checkpoints.
    policy: "n" (z + e), "ro" (towards a random vector), "oc" (towards
      another class's anchor).
    sigma2: LASIUM-N noise variance (the paper's Table 7 labels).
    sigma: LASIUM-N noise standard deviation; when set it replaces sigma2.
      The authors' code ran "0.5" as a standard deviation
      (docs/reproducing.md).
    sigma_max: if set, LASIUM-N draws each class's noise scale
      sigma ~ U(0, sigma_max) instead (the authors' VAE runs: 2).
    alpha: LASIUM-RO / -OC interpolation coefficient.
    oc_sigma2: noise variance of OC's every N-th sample (authors' code).
    anchor_min_distance: anchors closer than this are redrawn; None uses
      the authors' threshold for a GAN, 0 for a VAE.
    anchor_rejection: which policies redraw close anchors: "all" (our
      default), "n" (the authors' later code) or "none" (their paper-era
      code).
    decode_precision: "float32", or "bfloat16": the generator's network
      computes in bfloat16 (float32 weights), about 0.6x the decoding time
      of the Omniglot GAN on CPUs with AVX-512 BF16 (docs/speed.md), pixels
      within about 1e-3 of float32's on average.
  """

  generator: Optional[str] = setting(
      None, "LASIUM: a generator SavedModel (pretrained/...), TF-Hub handle, "
      "or generator training folder.")
  policy: str = setting("ro", "LASIUM in-class sampling policy.",
                        choices=POLICIES)
  sigma2: float = setting(0.5, "LASIUM-N noise variance.")
  sigma: Optional[float] = setting(
      None, "LASIUM-N noise standard deviation, instead of --sigma2 (the "
      "authors' code ran 0.5 as a standard deviation).")
  sigma_max: Optional[float] = setting(
      None, "If set, LASIUM-N draws each class's noise scale sigma ~ U(0, "
      "sigma_max) instead of --sigma2 (the authors' VAE: 2).")
  alpha: float = setting(0.2, "LASIUM-RO/-OC interpolation.")
  oc_sigma2: float = setting(1.0, "LASIUM-OC: variance of every N-th sample.")
  anchor_min_distance: Optional[float] = setting(
      None, "Redraw anchors closer than this (default: the authors' "
      "threshold for a GAN, 0 for a VAE).")
  max_anchor_tries: int = setting(100, flag=None)
  anchor_rejection: str = setting(
      "all", "Policies that redraw close anchors: all, n (the authors' later "
      "code) or none (their paper-era code).", choices=ANCHOR_REJECTIONS)
  decode_precision: str = setting(
      "float32", "LASIUM: the arithmetic of decoding tasks: float32, or "
      "bfloat16 (faster on CPUs with AVX-512 BF16; docs/speed.md).",
      choices=DECODE_PRECISIONS)

  def policy_hyperparameters(self):
    """The hyperparameters the chosen policy uses, by name."""
    return POLICY_SETTINGS[self.policy](self)

  @property
  def resolved_min_distance(self) -> Optional[float]:
    """The anchor threshold for this policy: 0 where it rejects nothing
    ("all" policies reject, or only the one --anchor_rejection names)."""
    if self.anchor_rejection not in ("all", self.policy):
      return 0.0
    return self.anchor_min_distance

  def validate(self) -> None:
    _one_of("policy", self.policy, POLICIES)
    if not self.generator:
      raise ConfigError(
          "LASIUM tasks need a generator: pass --generator=pretrained/"
          "omniglot_gan (a published SavedModel) or a generator training "
          "folder (--mode=train_generator makes one).")
    _positive("sigma2", self.sigma2)
    _positive("oc_sigma2", self.oc_sigma2)
    _one_of("anchor_rejection", self.anchor_rejection, ANCHOR_REJECTIONS)
    _one_of("decode_precision", self.decode_precision, DECODE_PRECISIONS)
    if self.sigma is not None:
      _positive("sigma", self.sigma)
      if self.sigma_max is not None:
        raise ConfigError("--sigma fixes LASIUM-N's noise scale and "
                          "--sigma_max draws it per class: give one.")
    if self.sigma_max is not None:
      _positive("sigma_max", self.sigma_max)
    _positive("max_anchor_tries", self.max_anchor_tries)
    if not 0 < self.alpha < 1:
      raise ConfigError(f"--alpha must lie in (0, 1) (a point between the "
                        f"anchor and the target), got {self.alpha}.")
    if self.anchor_min_distance is not None and self.anchor_min_distance < 0:
      raise ConfigError(f"--anchor_min_distance must be >= 0, got "
                        f"{self.anchor_min_distance}.")


@dataclasses.dataclass(frozen=True)
class UmtraConfig:
  """UMTRA's task augmentation (Khodadadeh, Bölöni and Shah, NeurIPS 2019).

  A UMTRA task is N random unlabeled train images, each its class's one
  support image; the class's queries are augmented copies of it. The
  defaults are their Omniglot release's: half the pixels erased, then a
  translation of up to 6 pixels per axis. Setting both to 0 leaves the
  run's `--query_shift` as the only augmentation (the LASIUM-era variant).

  Attributes:
    dropout: the probability that a query pixel is set to the page colour.
    translation: T; each query moves by offsets uniform on [-T, T) pixels
      per axis, rounded (nearest-neighbour sampling).
  """

  dropout: float = setting(
      0.5, "UMTRA: probability that a query pixel is erased (set to the page "
      "colour); their Omniglot release: 0.5; 0: none.", flag="umtra_dropout")
  translation: float = setting(
      6.0, "UMTRA: queries move by up to this many pixels per axis (uniform "
      "on [-T, T), rounded); their Omniglot release: 6; 0: none.",
      flag="umtra_translation")

  def validate(self, image_size: int) -> None:
    if not 0 <= self.dropout < 1:
      raise ConfigError(f"--umtra_dropout is a probability in [0, 1) (1 "
                        f"would erase every query), got {self.dropout}.")
    if self.translation < 0 or 2 * self.translation >= image_size:
      raise ConfigError(
          f"--umtra_translation must be >= 0 and move a query by less than "
          f"half its {image_size}-pixel image, got {self.translation}; their "
          f"release moved 28x28 Omniglot by up to 6.")


@dataclasses.dataclass(frozen=True)
class CactusConfig:
  """CACTUs' clusters (Hsu, Levine and Finn, ICLR 2019).

  Attributes:
    encoder: a generator with an `encode` signature whose embedding of the
      unlabeled train images is clustered (e.g. pretrained/omniglot_vae).
    clusters: k, the clusters of each partition (CACTUs: 500).
    partitions: P, the k-means partitions tasks are drawn from (CACTUs: 1
      for MAML, 100 for ProtoNets); partition p >= 1 clusters the
      embeddings scaled by a random vector.
  """

  encoder: Optional[str] = setting(
      None, "CACTUs: a generator with an encode signature (e.g. "
      "pretrained/omniglot_vae) whose embedding of the train images is "
      "clustered.", flag="cactus_encoder")
  clusters: int = setting(500, "CACTUs: k-means clusters per partition.",
                          flag="cactus_clusters")
  partitions: int = setting(
      1, "CACTUs: k-means partitions tasks are drawn from (theirs: 1 for "
      "MAML, 100 for ProtoNets).", flag="cactus_partitions")

  def validate(self) -> None:
    if not self.encoder:
      raise ConfigError(
          "CACTUs clusters an embedding: pass --cactus_encoder, a generator "
          "with an encode signature (e.g. pretrained/omniglot_vae).")
    _positive("cactus_clusters", self.clusters)
    _positive("cactus_partitions", self.partitions)

