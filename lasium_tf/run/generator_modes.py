"""The generator programs: train a GAN or VAE, publish it, draw its tasks.

`--mode=train_generator`, `--mode=export_generator` and `--mode=draw_tasks`
(`lasium_tf.run.modes` maps each mode to its function). The networks and their
training steps live in `lasium_tf.generators`; this module is what the
command line runs around them: data, run folder, cards and pictures.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
from typing import Dict

import tensorflow as tf

from lasium_tf.config import Config, white_strokes
from lasium_tf.data import load_parts
from lasium_tf.datasets import DATASETS
from lasium_tf.tasks.generated import lasium_sampler, needs_train_part
from lasium_tf.records.rundir import RunDir
from lasium_tf.records.common import now, write_json


def ink_of(saved_data: Dict) -> str:
  """`DataConfig.ink` of a run folder's saved data settings (any age)."""
  if "background" in DATASETS.get(saved_data.get("dataset",
                                                 "omniglot")).options:
    return "black" if saved_data.get("background") == "light" else "white"
  return saved_data.get("strokes", "white")


def export_generator(config: Config, verbose: bool = True) -> Dict:
  """Publishes the generator of a training folder as a hub.load SavedModel.

  Writes `export_dir` with the `generate` (and, for a VAE, `encode`)
  signatures, `samples.png` (8x8 prior samples), `card.json` and a README
  card saying how it was trained.
  """
  from lasium_tf import generators
  from lasium_tf.records import pictures

  model, gen_config, epoch, train_command = generators.restore(
      config.experiment_dir, config.export_epoch)
  generator = model.as_generator()
  z = tf.random.stateless_normal([64, generator.latent_dim], [config.seed, 7])
  trained = RunDir(config.experiment_dir).saved_config()
  white = white_strokes(generator.decode(z).numpy(), ink_of(trained["data"]))
  side, _, channels = white.shape[1:]
  dataset = trained["data"].get("dataset", "omniglot")
  kind = DATASETS.get(dataset)  # The data set it was trained on.
  # Without a prior (ACAI) the card shows the run's reconstruction grid.
  generator_kind = gen_config.generator_kind
  has_prior = generator_kind.has_prior
  grid = (pathlib.Path(config.experiment_dir) / "samples"
          / f"epoch_{epoch:04d}.png")
  card = _card(config, gen_config, generator, epoch, trained, white, kind,
               train_command)
  name = pathlib.Path(config.export_dir).name
  size = 0.0

  def finish(folder: pathlib.Path):
    """Samples, card and README, written into the export before it is
    renamed into place: the folder appears whole or not at all."""
    nonlocal size
    if has_prior or not grid.exists():
      pictures.save_png(folder / "samples.png",
                        pictures.grid(white.reshape((8, 8) + white.shape[1:])))
    else:
      shutil.copyfile(grid, folder / "samples.png")
    write_json(folder / "card.json", card)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    (folder / "README.md").write_text(_GENERATOR_CARD.format(
        title=kind.title,
        shape=f"{side}, {side}, {channels}", images=card["train_images"],
        kind=generator_kind.display, epochs=epoch,
        planned=gen_config.epochs, split=card["split"],
        latent=generator.latent_dim, train_command=train_command,
        export_command=config.command, size=size / 2**20,
        trainer=card["trainer"],
        ink=("as the training files are"
             if "strokes" not in kind.options else
             "strokes 0 on a 1 background" if card["strokes"] == "black"
             else "strokes 1 on a 0 background"),
        encode=(f"\n- `encode(images: float32[batch, {side}, {side}, "
                f"{channels}])` -> "
                + generator_kind.encode_output
                if generator.encoder is not None else ""),
        name=name,
        example=(_PRIOR_EXAMPLE if has_prior else _CODE_EXAMPLE).format(
            name=name, latent=generator.latent_dim, side=side,
            channels=channels)))

  path = generators.save_generator_module(generator.decoder, config.export_dir,
                                          generator.encoder, finish)
  if verbose:
    print(f"Exported the {generator_kind.display} at epoch {epoch} to "
          f"{path} ({size / 2**20:.1f} MiB).", flush=True)
  return {"path": str(path), **card}


def _card(config: Config, gen_config, generator, epoch: int, trained: Dict,
          white, kind, train_command: str) -> Dict:
  """card.json of an exported generator: what it is, what trained it on
  which images, and the commands that made it."""
  from lasium_tf import generators
  from lasium_tf.generators import gan_objective

  generator_kind = gen_config.generator_kind
  return {"kind": gen_config.kind, "latent_dim": generator.latent_dim,
          "epochs": epoch, "planned_epochs": gen_config.epochs,
          "split": trained["data"]["split"] or "vinyals",
          "strokes": trained["data"].get("strokes", "white"),
          **({"stripe_score": round(gan_objective.stripe_score(white), 3)}
             if generator_kind.has_prior else {}),
          **generator_kind.record(gen_config),
          "dataset": kind.name,
          "train_images": (f"unlabeled images of {trained['data']['data_dir']}"
                           if kind.train_folder else
                           "unlabeled images of the train split"),
          "trainer": trained.get("trainer") or (
              "lasium_tf.generators, Keras on "
              + generators.trained_on(config.experiment_dir, epoch)),
          "train_command": train_command, "export_command": config.command,
          "date": now()}


_GENERATOR_CARD = """# {title} {kind} for LASIUM ({name})

- Trained {epochs} epochs (of {planned} planned) on the {images} ({split}):
  no labels were used.
- Trained by {trainer}.
- Train command: `{train_command}`
- Export command: `{export_command}`
- Size on disk: {size:.1f} MiB.

## Signatures (load with `hub.load`, no lasium_tf code needed)
- `generate(z: float32[batch, {latent}])` -> `{{"default": float32[batch,
  {shape}]}}`: images in [0, 1], {ink}.{encode}

{example}
"""

_PRIOR_EXAMPLE = """```python
import tensorflow as tf, tensorflow_hub as hub
module = hub.load("pretrained/{name}")
images = module.signatures["generate"](z=tf.random.normal([16, {latent}]))["default"]
```

Prior samples (strokes drawn black):

![samples](samples.png)"""

# An autoencoder without a prior (ACAI): codes come from images, so the
# example and the grid are of reconstructions, not of random codes.
_CODE_EXAMPLE = """It has no prior to sample: codes come from `encode`.

```python
import tensorflow as tf, tensorflow_hub as hub
module = hub.load("pretrained/{name}")
images = tf.zeros([16, {side}, {side}, {channels}])  # Your images, in [0, 1].
codes = module.signatures["encode"](images=images)["mean"]  # [16, {latent}]
reconstructions = module.signatures["generate"](z=codes)["default"]
```

Reconstructions of fixed training images (strokes drawn black):

![samples](samples.png)"""


def draw_tasks(config: Config, verbose: bool = True) -> Dict:
  """One task per LASIUM policy side by side (the paper's Figures 1 and 2),
  and interpolation strips showing what alpha means for RO and OC."""
  from lasium_tf.records import pictures

  # Pictures draw strokes dark from white-stroke arrays, whatever --strokes;
  # a light-paper folder's black strokes are turned by `ink` below.
  config = dataclasses.replace(
      config, data=dataclasses.replace(config.data, strokes="white"))
  train_images = (load_parts(config.data, ["train"], verbose)["train"]
                  if needs_train_part(config) else None)
  paths = {}
  sampler, info = lasium_sampler(config, train_images)
  hyperparameters = {
      p: dataclasses.replace(config.lasium, policy=p).policy_hyperparameters()
      for p in ("n", "ro", "oc")}
  figure = os.path.join(config.experiment_dir,
                        f"lasium_tasks_{info['kind']}.png")
  pictures.save_png(figure, pictures.policy_tasks_picture(
      sampler, hyperparameters, config.seed, ink=config.data.ink))
  paths["figure"] = figure
  strips = os.path.join(config.experiment_dir,
                        f"interpolation_{info['kind']}.png")
  pictures.save_png(strips, pictures.anchor_interpolations(
      sampler.generator, config.seed,
      train_images.unlabeled() if sampler.anchors.needs_images else None,
      ink=config.data.ink))
  paths["interpolation"] = strips
  if verbose:
    print(f"Wrote {figure}: LASIUM-N, -RO and -OC tasks from left to right, "
          f"a column per class, {config.task.k_shot} support row(s) above "
          f"{config.task.k_query} query rows.", flush=True)
    print(f"Wrote {strips}: z + alpha (v - z) for alpha 0, 1/8, ..., 1; the "
          f"top two rows towards random vectors (RO), the bottom two towards "
          f"another anchor (OC).", flush=True)
  return paths


def train_generator(config: Config, verbose: bool = True,
                    strategy=None) -> Dict:
  """Trains the configured GAN or VAE on the train split's images, unlabeled.

  Holds the run folder locked meanwhile (`RunDir.lock`), as meta-training.
  Under a tf.distribute `strategy` each batch is split over its replicas.
  """
  with RunDir(config.experiment_dir).lock():
    return _train_generator(config, verbose, strategy)


def _train_generator(config: Config, verbose: bool, strategy=None) -> Dict:
  from lasium_tf import generators  # Only this mode needs it.

  train = load_parts(config.data, ["train"], verbose)["train"]
  # A folder streams its files batch by batch; Omniglot is one array.
  images = train if config.data.kind.train_folder else train.unlabeled()
  RunDir(config.experiment_dir).record_config(config)
  if verbose:
    where = (config.data.data_dir if config.data.kind.train_folder else
             f"the {config.data.resolved_split} train split")
    print(f"Training the {config.generative.generator_kind.display} on "
          f"{len(images)} "
          f"unlabeled images of {where} for {config.generative.epochs} "
          f"epochs.", flush=True)
  model = generators.build(config.generative, config.data.resolved_image_size,
                           config.data.resolved_channels, strategy)
  return generators.train(model, images, config.generative,
                          config.experiment_dir, verbose, config.data.ink)
