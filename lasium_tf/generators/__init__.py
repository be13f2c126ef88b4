"""Generative models, behind one registry: `KINDS`, the `--generator_type`
choices.

LASIUM (Khodadadeh et al., ICLR 2021) samples tasks from a generative
model trained on unlabeled images; CACTUs and the embedding baselines use
an encoder. Each kind of model describes itself in one `GeneratorKind`
(`gan.py`, `vae.py`, `acai.py`): its name, default latent size and learning
rate, how to build a fresh trainable model, how LASIUM draws its anchors
(from the prior, from encoded real images, or not at all), whether its
export carries an `encode` signature, and its own checks. Training
(`training.py`), checkpoints (`checkpoints.py`), loading (`loading.py`),
the export and the generator interface (`interface.py`) ask the registry,
never which kind they hold; a user's module registers its own kind the
same way (docs/extending.md).

This package imports no TensorFlow: the descriptions are read by the config
checks, the models are built when a run starts. Its public functions
(`build`, `train`, `restore`, `load_generator`, `KerasGenerator` ...) are
importable from here; each lives in the submodule `API` names.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, Optional

from lasium_tf.registry import Registry, no_checks

# How LASIUM draws a task's anchors from a generator of a kind.
PRIOR_ANCHORS = "prior"  # Latent vectors from N(0, I), far apart (a GAN).
IMAGE_ANCHORS = "images"  # Encoded real train images (a VAE, Figure 2).


def no_record(config) -> Dict:
  """A kind's `record` when its settings add nothing to cards and results."""
  del config
  return {}


@dataclasses.dataclass(frozen=True)
class GeneratorKind:
  """A kind of generative model, as the library sees it.

  Attributes:
    name: its `--generator_type` value and its cards' `kind`.
    display: its name in messages and cards ("GAN").
    latent_dim: the default `--latent_dim`.
    learning_rate: the default `--generator_lr`.
    build: (GenerativeConfig, image_size, channels) -> a fresh trainable
      model (`base.GenerativeModel`: networks, optimizers, a pure `step`).
    anchors: how LASIUM draws its anchors: `PRIOR_ANCHORS`,
      `IMAGE_ANCHORS`, or None where it is no LASIUM generator.
    has_prior: decoded random codes are images (sample grids of the prior);
      an autoencoder without one shows reconstructions.
    encode_output: what its export's `encode` signature returns (for the
      card), or "" where the export has none.
    decoder: (latent_dim, image_size=, channels=) -> its decoding network,
      which bfloat16 decoding rebuilds from a SavedModel; None: cannot.
    record: GenerativeConfig -> the fields it adds to cards and result
      records (a GAN's objective switches).
    check: GenerativeConfig -> None, raising `ConfigError` for settings this
      kind cannot train with.
  """

  name: str
  display: str
  latent_dim: int
  learning_rate: float
  build: Callable[..., Any]
  anchors: Optional[str] = None
  has_prior: bool = True
  encode_output: str = ""
  decoder: Optional[Callable[..., Any]] = None
  record: Callable[[Any], Dict] = no_record
  check: Callable[[Any], None] = no_checks

  @property
  def encodes(self) -> bool:
    return bool(self.encode_output)

  @property
  def anchors_from_images(self) -> bool:
    return self.anchors == IMAGE_ANCHORS


# --generator_type name -> its description; the library's own imported on
# first use.
KINDS: Registry[GeneratorKind] = Registry("generator kind", "generator_type")
KINDS.add_lazy("gan", "lasium_tf.generators.gan:KIND")
KINDS.add_lazy("vae", "lasium_tf.generators.vae:KIND")
KINDS.add_lazy("acai", "lasium_tf.generators.acai:KIND")


def register(kind: GeneratorKind, replace: bool = False) -> GeneratorKind:
  """Adds a generator kind (from the user's own module, say); returns it."""
  return KINDS.register(kind, replace)


# The package's public functions, by the submodule that holds each.
API = {
    "build": "base", "train": "training",
    "batches_per_epoch": "training", "PROGRESS_SECONDS": "training",
    "restore": "checkpoints", "trained_on": "checkpoints",
    "checkpoint_epochs": "checkpoints", "checkpoint_path": "checkpoints",
    "partial_path": "checkpoints", "save_checkpoint": "checkpoints",
    "load_checkpoint": "checkpoints", "load_newest_intact": "checkpoints",
    "DamagedCheckpoint": "checkpoints",
    "load_generator": "loading", "as_generator": "loading",
    "in_bfloat16": "loading", "objective_info": "loading",
    "GAN": "gan", "VAE": "vae", "ACAI": "acai",
    "KerasGenerator": "interface", "SavedModelGenerator": "interface",
    "ModuleSpec": "interface", "PRESETS": "interface",
    "Bfloat16Decoding": "interface", "InkSwapped": "interface",
    "match_strokes": "interface", "save_generator_module": "interface",
}


def __getattr__(name: str):
  if name not in API:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  return getattr(importlib.import_module(f"{__name__}.{API[name]}"), name)
