"""One generator trainer, two Keras backends (`--generator_backend`).

Keras fixes its backend per process, so JAX runs in subprocesses of
`python -m lasium_tf.main`; this process runs TensorFlow. The runs train on
drawn shapes (`--dataset=folder`): 50 images, 2 batches of 25 an epoch.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from lasium_tf import config as config_lib
from lasium_tf import generators
from lasium_tf.run import modes
from lasium_tf.data import shapes

pytest.importorskip("jax")

REPO = pathlib.Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def main(*args, backend="tensorflow", cwd=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             PYTHONPATH=os.pathsep.join(
                 [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  env.pop("KERAS_BACKEND", None)  # The flag chooses.
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.main", "--mode=train_generator",
       f"--generator_backend={backend}", *args], env=env, cwd=cwd,
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  return shapes.write_shapes(tmp_path_factory.mktemp("shapes"), per_class=10)


def gan_flags(data, folder, epochs):
  return [f"--experiment_dir={folder}", "--dataset=folder",
          f"--data_dir={data['data_dir']}", "--generator_type=gan",
          "--generator_batch_size=25", f"--generator_epochs={epochs}",
          "--samples_every=1", "--seed=3"]


@pytest.fixture(scope="module")
def jax_epoch(data, tmp_path_factory):
  """One GAN epoch trained with Keras on JAX by the command line."""
  folder = tmp_path_factory.mktemp("jax") / "gan"
  main(*gan_flags(data, folder, 1), backend="jax")
  return folder


def metrics(folder):
  return [json.loads(l) for l in
          (pathlib.Path(folder) / "metrics.jsonl").read_text().splitlines()]


def test_jax_writes_the_same_run_folder_as_tensorflow(jax_epoch):
  names = sorted(p.name for p in jax_epoch.iterdir())
  assert {"config.json", "checkpoints", "metrics.jsonl", "samples",
          "commands.jsonl"} <= set(names)
  assert generators.checkpoint_epochs(str(jax_epoch)) == [1]
  saved = json.loads((jax_epoch / "config.json").read_text())
  assert saved["generative"]["backend"] == "jax"
  assert "--generator_backend=jax" in saved["command"]
  assert metrics(jax_epoch)[0]["backend"] == "jax on cpu"
  assert (jax_epoch / "samples" / "epoch_0001.png").exists()


def test_a_run_moves_between_jax_and_tensorflow_taking_the_same_step(
    jax_epoch, data, tmp_path):
  """Epoch 2 from JAX's checkpoint, on each backend: the same computation;
  then epoch 3 of the TensorFlow continuation on JAX.

  Both continue from identical values with identical random draws (NumPy's,
  from (seed, epoch)), so they differ by float rounding only: the losses to
  1e-4, the weights by less than Adam's step bound (lr per step) allows.
  """
  on_jax, on_tf = tmp_path / "jax", tmp_path / "tf"
  shutil.copytree(jax_epoch, on_jax)
  shutil.copytree(jax_epoch, on_tf)
  main(*gan_flags(data, on_jax, 2), backend="jax")
  modes.run(tf_gan_config(data, on_tf, 2), verbose=False)  # In this process.
  jax_line, tf_line = metrics(on_jax)[1], metrics(on_tf)[1]
  assert (jax_line["backend"], tf_line["backend"]) == ("jax on cpu",
                                                       "tensorflow on cpu")
  for key in ("d_loss", "g_loss", "mode_seeking"):
    assert tf_line[key] == pytest.approx(jax_line[key], rel=1e-4), key
  with np.load(on_jax / "checkpoints" / "epoch_0002.npz") as a, np.load(
      on_tf / "checkpoints" / "epoch_0002.npz") as b:
    assert sorted(a.files) == sorted(b.files)
    assert int(a["g_optimizer/0"]) == int(b["g_optimizer/0"]) == 4
    with np.load(jax_epoch / "checkpoints" / "epoch_0001.npz") as first:
      moved = max(np.abs(a[k] - first[k]).max() for k in a.files
                  if k.startswith("generator/"))
    for k in a.files:
      if k.startswith(("generator/", "discriminator/")):
        np.testing.assert_allclose(a[k], b[k], atol=2 * 2 * 3e-4, err_msg=k)
    assert moved > 1e-4  # Epoch 2 moved the weights.
  assert generators.trained_on(str(on_tf)) == (
      "jax on cpu (epoch 1), tensorflow on cpu (epoch 2)")
  # No import step: the JAX-begun folder is a generator like any other.
  published = tmp_path / "published"
  exported = modes.run(config_lib.Config(
      mode="export_generator", experiment_dir=str(on_tf),
      export_dir=str(published), data=config_lib.DataConfig(
          dataset="folder", data_dir=str(data["data_dir"]))), verbose=False)
  assert exported["trainer"] == ("lasium_tf.generators, Keras on jax on cpu "
                                 "(epoch 1), tensorflow on cpu (epoch 2)")
  assert exported["epochs"] == 2
  generator, info = generators.load_generator(str(on_tf))
  assert info["epochs"] == 2
  assert generator.decode(np.zeros((2, 128), np.float32)).shape == (
      2, 28, 28, 1)
  # And back: the TensorFlow epoch resumes on JAX, Adam going on, through
  # the GPU machine's script, which resumes a run folder carried over under
  # runs/, trains only the variants picked and packs each run.
  work = tmp_path / "gpu"
  (work / "runs").mkdir(parents=True)
  (work / "scripts").symlink_to(REPO / "scripts")
  shutil.copytree(on_tf, work / "runs" / "authors")
  resumed = work / "runs" / "authors"
  env = dict(os.environ, JAX_PLATFORMS="cpu", OUT=str(work / "out"),
             VARIANTS="authors", PYTHONPATH=str(REPO),
             EXTRA=(f"--dataset=folder --data_dir={data['data_dir']} "
                    f"--generator_batch_size=25 --generator_epochs=3 "
                    f"--samples_every=1 --seed=3"))
  result = subprocess.run(["bash", "scripts/gpu_gan_jax.sh"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  log = (resumed / "train.log").read_text()
  assert "gan epoch 3/3" in log, log[-2000:]
  assert sorted(os.listdir(work / "runs")) == ["authors"]  # Picked only.
  assert generators.trained_on(str(resumed)) == (
      "jax on cpu (epoch 1), tensorflow on cpu (epoch 2), jax on cpu "
      "(epoch 3)")
  with np.load(resumed / "checkpoints" / "epoch_0003.npz") as saved:
    assert int(saved["d_optimizer/0"]) == 6  # Adam went on, not afresh.
  pieces = sorted((work / "out").glob("authors.tar.part-*"))
  assert len(pieces) >= 2  # A checkpoint alone is over 15 MiB.
  assert all(p.stat().st_size <= 15 * 2**20 for p in pieces)
  joined = tmp_path / "authors.tar"
  joined.write_bytes(b"".join(p.read_bytes() for p in pieces))
  with tarfile.open(joined) as tar:
    names = tar.getnames()
  assert {"authors/config.json", "authors/checkpoints/epoch_0003.npz",
          "authors/metrics.jsonl"} <= set(names)


def tf_gan_config(data, folder, epochs):
  """`gan_flags` as a Config, for TensorFlow runs in this process."""
  return config_lib.Config(
      mode="train_generator", experiment_dir=str(folder), seed=3,
      data=config_lib.DataConfig(dataset="folder",
                                 data_dir=str(data["data_dir"])),
      generative=config_lib.GenerativeConfig(kind="gan", epochs=epochs,
                                             batch_size=25, seed=3,
                                             samples_every=1))


def test_the_command_line_refuses_jax_for_other_modes():
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.main", "--mode=train",
       "--generator_backend=jax"], capture_output=True, text=True,
      timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)))
  assert result.returncode == 2
  assert "--mode=train_generator only" in result.stderr


def test_latent_spread_reports_each_policy(jax_epoch, real_omniglot,
                                           tmp_path):
  del real_omniglot  # Only its presence: the script reads the shared data.
  # The script wants a GAN of Omniglot's size: the shapes are 28x28 too.
  result = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "latent_spread.py"),
       f"--generator={jax_epoch}", "--samples=8"],
      env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
      text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.strip().splitlines()
  assert lines[0].startswith("real Omniglot: two drawings of a character")
  assert [l.split(":")[0] for l in lines[1:]] == [
      "RO alpha 0.2", "RO alpha 0.4", "N sigma^2 0.5", "N sigma^2 1",
      "N sigma^2 2"]
  fractions = [float(l.split(": ")[1].split()[0]) for l in lines[1:]]
  assert all(0 < f < 2 for f in fractions)
