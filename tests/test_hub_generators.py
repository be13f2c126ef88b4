"""TF-Hub generators through hub.load, on stand-ins with the real signatures.

The stand-ins are tiny SavedModels with BigBiGAN's and ProGAN's signature
names, input sizes, output keys and output ranges; they go through exactly
the loading and decoding path a real module handle would.
"""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import generators
from lasium_tf.tasks import lasium
from lasium_tf.generators import interface  # noqa: F401 (generators.interface)
from lasium_tf.learners.maml_core import MAML
from lasium_tf.models.backbone import build_backbone, build_classifier
from stand_ins import BigBiGANLike, ProGANLike, save


@pytest.fixture
def bigbigan(tmp_path):
  module = BigBiGANLike()
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


def test_bfloat16_decoding_refuses_a_network_it_cannot_rebuild(bigbigan):
  with pytest.raises(ValueError, match="decode_precision=float32"):
    generators.in_bfloat16(bigbigan, {"kind": "gan", "source": "bigbigan"})


def test_progan_gets_unit_length_latents(tmp_path):
  module = ProGANLike()
  path = save(module, tmp_path / "progan", {"default": module.default})
  progan = generators.SavedModelGenerator(
      dataclasses.replace(generators.PRESETS["progan"], handle=path))
  assert progan.latent_dim == 512
  images = progan.decode(10.0 * tf.ones([2, 512]))
  assert images.shape == (2, 84, 84, 3)
  np.testing.assert_allclose(images.numpy(), 0.25, atol=1e-5)  # |z| was 1.


def test_wrong_signature_or_output_is_named(tmp_path):
  module = ProGANLike()
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

  monkeypatch.setattr(generators.interface, "SavedModelGenerator", Fake)
  _, info = generators.load_generator("progan")
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


def test_preset_handle_is_read_from_the_tfhub_cache(tmp_path, monkeypatch):
  """With TFHUB_CACHE_DIR holding the module, the real handle loads offline."""
  import hashlib
  import shutil

  handle = generators.PRESETS["bigbigan"].handle
  module = BigBiGANLike()
  source = save(module, tmp_path / "module", {"generate": module.generate})
  cache = tmp_path / "cache"
  shutil.copytree(source, cache / hashlib.sha1(handle.encode()).hexdigest())
  monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
  generator, info = generators.load_generator("bigbigan")
  assert info["source"] == handle
  assert generator.decode(tf.zeros([1, 120])).shape == (1, 84, 84, 3)
