"""Generators for LASIUM, CACTUs and the baselines, from wherever they are.

`load_generator` takes a preset (BigBiGAN, ProGAN), a SavedModel or TF-Hub
handle, a training folder or one of its checkpoints; `in_bfloat16` rebuilds
a decoder to decode in bfloat16 (`--decode_precision`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict

import numpy as np

from lasium_tf.config import ConfigError, GenerativeConfig
from lasium_tf.generators import KINDS
from lasium_tf.generators.checkpoints import CHECKPOINT_NAME, restore
from lasium_tf.records.rundir import RunDir

def objective_info(config: GenerativeConfig) -> Dict:
  """What a generator's settings add to cards and result records (a GAN's
  objective switches: `GeneratorKind.record`)."""
  return KINDS.get(config.kind).record(config)


def as_generator(model):
  """The LASIUM generator interface (`interface.KerasGenerator`) over a
  trained model."""
  return model.as_generator()


def in_bfloat16(generator, info: Dict):
  """`generator` decoding in bfloat16 (`generators.Bfloat16Decoding`).

  A Keras generator (a training folder or checkpoint) keeps its network. A
  SavedModel has only a float32 graph, so this rebuilds the decoder of its
  card's kind (`GeneratorKind.decoder`, the image shape read off one decoded
  image) and copies in the variables its `generate` signature uses; that works
  for the generators this project exported, and a decoded probe must match the
  SavedModel's own images, or this refuses it (ValueError naming the fix).
  """
  from lasium_tf.generators import interface

  if isinstance(generator, interface.KerasGenerator):
    return interface.Bfloat16Decoding(generator.decoder, generator)
  refusal = (f"bfloat16 decoding rebuilds the generator's network, which "
             f"it can for the GANs and VAEs this project trains, and "
             f"{info.get('source')} ({info.get('kind')}) is not one of them")
  kind = (KINDS.get(info["kind"]) if info.get("kind") in KINDS else None)
  if not isinstance(generator, interface.SavedModelGenerator) or (
      kind is None or kind.decoder is None):
    raise ValueError(f"{refusal}; use --decode_precision=float32.")
  probe = np.random.default_rng(3).standard_normal(
      [4, generator.latent_dim]).astype(np.float32)
  wanted = np.asarray(generator.decode(probe))
  decoder = kind.decoder(
      generator.latent_dim, image_size=int(wanted.shape[1]),
      channels=int(wanted.shape[-1]))
  if not _copy_layer_by_layer(generator.decode_variables, decoder):
    raise ValueError(f"{refusal} (its weights are not those of "
                     f"models/omniglot_{info['kind']}.py); use "
                     f"--decode_precision=float32.")
  difference = np.abs(np.asarray(decoder(probe, training=False)) - wanted)
  if not difference.max() <= 1e-4:  # NaN fails too.
    raise ValueError(f"{refusal} (the rebuilt network draws other images); "
                     f"use --decode_precision=float32.")
  return interface.Bfloat16Decoding(decoder, generator)


def _copy_layer_by_layer(saved, model) -> bool:
  """Assigns a SavedModel's variables (named `layer/variable:0`, layers in
  call order, a layer's variables in any order) to `model`'s layers in
  order; False, assigning nothing, where names or shapes do not match."""
  groups: Dict[str, Dict] = {}
  for variable in saved:
    layer, _, name = variable.name.rpartition("/")
    groups.setdefault(layer, {})[name.split(":")[0]] = variable
  layers = [l for l in model.layers if l.weights]
  pairs = []
  if len(layers) != len(groups):
    return False
  for layer, group in zip(layers, groups.values()):
    for weight in layer.weights:
      theirs = group.get(weight.name)
      if theirs is None or tuple(theirs.shape) != tuple(weight.shape):
        return False
      pairs.append((weight, theirs))
  for weight, theirs in pairs:
    weight.assign(theirs)
  return True


def load_generator(path: str):
  """A generator from a preset name, a SavedModel or hub handle, or a folder.

  `path` is a preset of `generators.PRESETS` ("bigbigan", "progan"), a
  preset pointed at another copy of its module ("bigbigan:/local/module",
  "progan:https://..."), a SavedModel folder (a published generator, with
  its card.json), a TF-Hub handle, a generator training folder (its newest
  checkpoint) or one checkpoint of one (`<folder>/checkpoints/epoch_0100.npz`).
  Returns (generator, info); info has at least `kind` (a `KINDS` name).
  """
  from lasium_tf.generators import interface  # The preset table lives there.
  from lasium_tf.generators.interface import SavedModelGenerator

  preset, _, handle = path.partition(":")
  if preset in interface.PRESETS:
    spec = interface.PRESETS[preset]
    if handle:
      spec = dataclasses.replace(spec, handle=handle)
    return SavedModelGenerator(spec), {"kind": "gan", "preset": preset,
                                       "source": spec.handle}
  if CHECKPOINT_NAME.fullmatch(os.path.basename(path)) or (
      os.path.isdir(path) and not os.path.exists(
          os.path.join(path, "saved_model.pb"))):
    model, config, epoch, command = restore(path)
    info = {"kind": config.kind, "epochs": epoch, "source": path,
            "train_command": command, **objective_info(config)}
    folder = (os.path.dirname(os.path.dirname(path)) if os.path.isfile(path)
              else path)
    strokes = (RunDir(folder).saved_config().get("data") or {}).get(
        "strokes", "white")
    if strokes != "white":
      info["strokes"] = strokes
    return as_generator(model), info
  info = {"kind": "gan", "source": path}
  card = os.path.join(path, "card.json")
  if os.path.exists(card):
    loaded = RunDir(path).read_json_file("card.json")
    if not isinstance(loaded, dict):
      raise ConfigError(f"{card} is not a generator card (a JSON object); "
                        f"export the generator again.")
    info.update(loaded)
  if info["kind"] not in KINDS:
    raise ConfigError(
        f"{card} names the generator kind {info['kind']!r}, none of "
        f"{', '.join(KINDS.names())}: the card is damaged, or its kind is "
        f"registered by a module of yours (pass it with --plugins); "
        f"otherwise export the generator again (--mode=export_generator).")
  spec = interface.ModuleSpec(
      path, encode_signature="encode" if KINDS.get(info["kind"]).encodes
      else None)
  return SavedModelGenerator(spec), info
