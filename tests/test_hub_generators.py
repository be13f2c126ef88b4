"""TF-Hub generators through hub.load, on stand-ins with the real signatures.

The stand-ins are tiny SavedModels with BigBiGAN's and ProGAN's signature
names, input sizes, output keys and output ranges; they go through exactly
the loading and decoding path a real module handle would.
"""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import generative, generators, lasium
from lasium_tf.maml import MAML
from models.backbone import build_backbone, build_classifier


class _BigBiGANLike(tf.Module):
  """generate: z [batch, 120] -> {default, upsampled}: 128x128x3 in [-1, 1]."""

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(tf.random.stateless_normal([120, 8 * 8 * 3], [0, 1]))

  @tf.function(input_signature=[tf.TensorSpec([None, 120], tf.float32)])
  def generate(self, z):
    small = tf.reshape(tf.tanh(z @ self.w), [-1, 8, 8, 3])
    images = tf.image.resize(small, [128, 128])
    return {"default": images, "upsampled": tf.image.resize(small, [256, 256])}

  @tf.function(input_signature=[tf.TensorSpec([None, 128, 128, 3])])
  def encode(self, x):
    return {"default": tf.reduce_mean(x, axis=[1, 2, 3])[:, None] * tf.ones(
        [1, 120])}


class _ProGANLike(tf.Module):
  """default: z [batch, 512] -> {default}: 128x128x3 in [0, 1].

  The output is the input's norm, so a test sees what the module received.
  """

  @tf.function(input_signature=[tf.TensorSpec([None, 512], tf.float32)])
  def default(self, z):
    norm = tf.norm(z, axis=-1)[:, None, None, None]
    return {"default": tf.clip_by_value(norm * tf.ones([1, 128, 128, 3]) / 4,
                                        0.0, 1.0)}


def save(module, path, signatures):
  tf.saved_model.save(module, str(path), signatures=signatures)
  return str(path)


@pytest.fixture
def bigbigan(tmp_path):
  module = _BigBiGANLike()
  path = save(module, tmp_path / "bigbigan", {"generate": module.generate,
                                              "encode": module.encode})
  return generators.SavedModelGenerator(
      dataclasses.replace(generators.PRESETS["bigbigan"], handle=path))


def test_bigbigan_latent_size_range_and_resize(bigbigan):
  assert bigbigan.latent_dim == 120  # Read from the signature.
  images = bigbigan.decode(tf.random.stateless_normal([4, 120], [0, 0]))
  assert images.shape == (4, 84, 84, 3)
  assert float(tf.reduce_min(images)) >= 0.0
  assert float(tf.reduce_max(images)) <= 1.0
  assert float(tf.math.reduce_std(images)) > 0.05  # Rescaled, not clipped flat.
  assert not bigbigan.can_encode  # Its encode is not a VAE posterior.


def test_progan_gets_unit_length_latents(tmp_path):
  module = _ProGANLike()
  path = save(module, tmp_path / "progan", {"default": module.default})
  progan = generators.SavedModelGenerator(
      dataclasses.replace(generators.PRESETS["progan"], handle=path))
  assert progan.latent_dim == 512
  images = progan.decode(10.0 * tf.ones([2, 512]))
  assert images.shape == (2, 84, 84, 3)
  np.testing.assert_allclose(images.numpy(), 0.25, atol=1e-5)  # |z| was 1.


def test_wrong_signature_or_output_is_named(tmp_path):
  module = _ProGANLike()
  path = save(module, tmp_path / "progan", {"default": module.default})
  with pytest.raises(ValueError, match="no 'generate' signature"):
    generators.SavedModelGenerator(generators.ModuleSpec(path))
  with pytest.raises(ValueError, match="no output 'images'"):
    generators.SavedModelGenerator(generators.ModuleSpec(
        path, signature="default", output_key="images"))


def test_presets_resolve_through_load_generator(monkeypatch):
  seen = {}

  class Fake:
    def __init__(self, spec):
      seen["spec"] = spec

  monkeypatch.setattr(generative, "SavedModelGenerator", Fake)
  _, info = generative.load_generator("progan")
  assert seen["spec"].handle.endswith("google/progan-128/1")
  assert seen["spec"].unit_latents and info["kind"] == "gan"


def test_lasium_tasks_and_a_meta_step_on_the_bigbigan_stand_in(bigbigan):
  sampler = lasium.LasiumSampler(bigbigan, "gan", "ro",
                                 lasium.TaskShape(5, 1, 1), {"alpha": 0.2})
  batch = next(iter(sampler.meta_batches(seed=0, meta_batch_size=2)))
  assert batch.support_images.shape == (2, 5, 84, 84, 3)
  model = build_classifier(build_backbone("code", (84, 84, 3), filters=4), 5)
  maml = MAML(model, inner_lr=0.05, inner_steps=1, first_order=True)
  metrics = maml.meta_step(batch)
  assert np.isfinite(float(metrics["loss"]))
