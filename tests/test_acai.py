"""ACAI (`--generator_type=acai`): an autoencoder for CACTUs' embeddings."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf import generators
from lasium_tf.records import rundir
from lasium_tf.records import common
from lasium_tf.models import omniglot_acai
from lasium_tf.tasks import generated


def strokes(count=64, seed=0):
  """Binary images of a few random bars: something an autoencoder can learn."""
  rng = np.random.default_rng(seed)
  images = np.zeros((count, 28, 28, 1), np.float32)
  for image in images:
    for _ in range(3):
      row, col = rng.integers(2, 22, size=2)
      if rng.random() < 0.5:
        image[row:row + 2, col:col + 6] = 1.0
      else:
        image[row:row + 6, col:col + 2] = 1.0
  return images


def test_the_networks_have_acai_omniglot_shapes():
  acai = generators.build(config_lib.GenerativeConfig(kind="acai"))
  images = tf.constant(strokes(3))
  codes = acai.encode(images)
  assert codes.shape == (3, 256) == (3, omniglot_acai.LATENT_DIM)
  decoded = acai.decode(codes).numpy()
  assert decoded.shape == (3, 28, 28, 1)
  assert decoded.min() >= 0.0 and decoded.max() <= 1.0  # Clipped.
  assert acai.critic(images).shape == (3, 1)
  # Only the generation path is clipped: training sees the raw decoder.
  raw = acai.decoder(codes).numpy()
  np.testing.assert_allclose(decoded, np.clip(raw, 0, 1), atol=1e-6)
  assert acai.latent_dim == 256 and [
      k.name for k in generators.KINDS.loaded() if k.encodes] == [
          "vae", "acai"]


def test_training_lowers_reconstruction_and_the_critic_learns():
  acai = generators.build(config_lib.GenerativeConfig(kind="acai",
                                                      learning_rate=1e-3))
  images = tf.constant(strokes(32))
  rng = np.random.default_rng(0)
  first = acai.train_step(images, rng=rng)
  for _ in range(25):
    last = acai.train_step(images, rng=rng)
  assert set(first) == {"loss", "reconstruction", "critic"}
  assert float(last["reconstruction"]) < 0.7 * float(first["reconstruction"])
  assert float(last["critic"]) < float(first["critic"])
  assert all(np.isfinite(float(v)) for v in last.values())


def test_a_step_mixes_each_code_with_the_next_images():
  acai = generators.build(config_lib.GenerativeConfig(kind="acai"))
  draws = acai.draws(np.random.default_rng(1), 6)
  assert set(draws) == {"alpha"} and draws["alpha"].shape == (6, 1)
  assert 0.0 <= draws["alpha"].min() and draws["alpha"].max() <= 0.5


def test_acai_checkpoints_export_and_encodes_for_cactus(tmp_path):
  """A training folder holds the three networks and two optimizers; its
  export carries `encode`, which is what --cactus_encoder loads."""
  folder = tmp_path / "acai"
  config = config_lib.Config(
      mode="train_generator", experiment_dir=str(folder),
      generative=config_lib.GenerativeConfig(kind="acai", epochs=1,
                                             batch_size=32))
  common.write_json(str(folder / "config.json"), dataclasses.asdict(config))
  model = generators.build(config.generative)
  generators.train(model, strokes(64), config.generative, str(folder),
                   verbose=False)
  with np.load(folder / "checkpoints" / "epoch_0001.npz") as saved:
    groups = {k.split("/")[0] for k in saved.files if k != "epoch"}
  assert groups == {"encoder", "decoder", "critic", "optimizer",
                    "critic_optimizer"}
  assert (folder / "samples" / "epoch_0001.png").exists()  # Reconstructions.
  restored, _, epoch, _ = generators.restore(str(folder))
  assert epoch == 1
  images = tf.constant(strokes(4, seed=5))
  np.testing.assert_allclose(restored.encode(images), model.encode(images),
                             atol=1e-6)
  exported = tmp_path / "exported"
  generators.save_generator_module(restored.generator, exported,
                                   restored.encoder)
  (exported / "card.json").write_text(json.dumps({"kind": "acai"}))
  loaded, info = generators.load_generator(str(exported))
  assert info["kind"] == "acai" and loaded.can_encode
  np.testing.assert_allclose(loaded.encode(images), model.encode(images),
                             atol=1e-5)
  # The published card: no prior to sample, so its example encodes images
  # and its grid is of reconstructions.
  from lasium_tf.run import modes
  card_dir = tmp_path / "published"
  modes.run(dataclasses.replace(config, mode="export_generator",
                                export_dir=str(card_dir)), verbose=False)
  readme = (card_dir / "README.md").read_text()
  assert "no prior to sample" in readme and "Reconstructions" in readme
  assert "tf.random.normal" not in readme and 'signatures["encode"]' in readme


def test_settings_that_cannot_work_with_acai_are_refused(monkeypatch):
  with pytest.raises(config_lib.ConfigError, match="256-d; drop --latent_dim"):
    config_lib.GenerativeConfig(kind="acai", latent_dim=32).validate()
  config_lib.GenerativeConfig(kind="acai").validate()
  assert config_lib.GenerativeConfig(kind="acai").resolved_learning_rate == 1e-4
  monkeypatch.setattr(generators, "load_generator", lambda path: (
      None, {"kind": "acai"}))
  config = config_lib.Config(
      task_source="lasium",
      lasium=config_lib.LasiumConfig(generator="pretrained/omniglot_acai"))
  with pytest.raises(config_lib.ConfigError,
                     match="LASIUM needs a GAN or a VAE"):
    generated.lasium_sampler(config, None)
