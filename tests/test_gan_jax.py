"""The GAN trained with Keras on JAX (scripts/gan_jax.py) and imported here.

JAX runs in a subprocess: a Keras backend is fixed per process, and this one
runs TensorFlow.
"""

import json
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import gan_objective, generative
from lasium_tf.models import omniglot_gan

pytest.importorskip("jax")

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = str(REPO / "scripts" / "gan_jax.py")


def run_script(*args, backend="tensorflow"):
  env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu",
             PYTHONPATH=os.pathsep.join(
                 [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  result = subprocess.run([sys.executable, SCRIPT, *args], env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
  """Two epochs of 2 batches of 4 on stroke-like images, epoch 1 kept."""
  root = tmp_path_factory.mktemp("gan_jax")
  rng = np.random.default_rng(0)
  images = np.zeros((8, 28, 28, 1), np.float32)
  for i in range(8):
    images[i, rng.integers(4, 24), 4:24] = 1.0
    images[i, 4:24, rng.integers(4, 24)] = 1.0
  np.savez_compressed(root / "images.npz", images=images, split="vinyals")
  run_script("--action=train", f"--images={root / 'images.npz'}",
             f"--out={root / 'run'}", "--generator_epochs=2",
             "--generator_batch_size=4", "--snapshot_epochs=1",
             "--generator_beta1=0.5")
  return root / "run"


@pytest.mark.integration
def test_jax_training_writes_snapshots_log_and_config(jax_run):
  names = sorted(os.listdir(jax_run))
  assert names == ["config.json", "discriminator_epoch_0002.weights.h5",
                   "generator_epoch_0001.weights.h5",
                   "generator_epoch_0002.weights.h5", "log.jsonl",
                   "optimizer_epoch_0002.npz"]
  log = [json.loads(line) for line in (jax_run / "log.jsonl").open()]
  assert [m["epoch"] for m in log] == [1, 2]
  for m in log:
    assert all(np.isfinite(m[k]) for k in ("d_loss", "g_loss", "mode_seeking",
                                           "stripes"))
    assert m["mode_seeking"] > 0
  config = json.loads((jax_run / "config.json").read_text())
  assert config["generative"]["adam_beta1"] == 0.5
  assert config["data"] == {"dataset": "omniglot", "split": "vinyals",
                            "strokes": "white", "image_size": 28}
  assert "--generator_epochs=2" in config["command"]
  assert config["trainer"].startswith("lasium_tf.gan_jax on ")


@pytest.mark.integration
def test_stopped_training_resumes_exactly(jax_run, tmp_path):
  images = jax_run.parent / "images.npz"
  common = [f"--images={images}", f"--out={tmp_path / 'run'}",
            "--generator_batch_size=4", "--generator_beta1=0.5"]
  run_script("--action=train", "--generator_epochs=1", *common)
  result = run_script("--action=train", "--generator_epochs=2", *common)
  assert "Resuming at epoch 1" in result.stdout
  began, then = json.loads(
      (tmp_path / "run" / "config.json").read_text())["command"].split("; then ")
  assert "--generator_epochs=1" in began and "--generator_epochs=2" in then
  log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
  assert [m["epoch"] for m in log] == [1, 2]
  resumed = omniglot_gan.build_generator(128)
  resumed.load_weights(str(tmp_path / "run" / "generator_epoch_0002.weights.h5"))
  straight = omniglot_gan.build_generator(128)
  straight.load_weights(str(jax_run / "generator_epoch_0002.weights.h5"))
  first = omniglot_gan.build_generator(128)
  first.load_weights(str(jax_run / "generator_epoch_0001.weights.h5"))
  for a, b, c in zip(resumed.weights, straight.weights, first.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
  assert any(not np.allclose(b.numpy(), c.numpy())
             for b, c in zip(straight.weights, first.weights))
  done = run_script("--action=train", "--generator_epochs=2", *common)
  assert "already holds epoch 2" in done.stdout


@pytest.mark.integration
def test_sigterm_saves_the_epoch_and_the_rerun_resumes_exactly(jax_run,
                                                               tmp_path):
  """A scheduler's SIGTERM ends the epoch in flight, saved whole."""
  import signal
  import time
  images = jax_run.parent / "images.npz"
  common = [f"--images={images}", "--generator_batch_size=4",
            "--generator_beta1=0.5"]
  env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
             PYTHONPATH=str(REPO))
  run = tmp_path / "stopped"
  child = subprocess.Popen(
      [sys.executable, SCRIPT, "--action=train", f"--out={run}",
       "--generator_epochs=100000", *common], env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while time.time() < deadline and not (
      (run / "log.jsonl").exists() and (run / "log.jsonl").read_text()):
    time.sleep(0.2)
  child.send_signal(signal.SIGTERM)
  _, err = child.communicate(timeout=300)
  assert child.returncode == 128 + signal.SIGTERM, err[-2000:]
  assert "stopped by SIGTERM after epoch" in err
  epoch = max(json.loads(line)["epoch"] for line in (run / "log.jsonl").open())
  for name in ("generator", "discriminator"):
    assert (run / f"{name}_epoch_{epoch:04d}.weights.h5").exists()
  assert (run / f"optimizer_epoch_{epoch:04d}.npz").exists()
  run_script("--action=train", f"--out={run}",
             f"--generator_epochs={epoch + 1}", *common, backend="jax")
  run_script("--action=train", f"--out={tmp_path / 'straight'}",
             f"--generator_epochs={epoch + 1}", *common, backend="jax")
  resumed, straight = (omniglot_gan.build_generator(128) for _ in range(2))
  resumed.load_weights(str(run / f"generator_epoch_{epoch + 1:04d}.weights.h5"))
  straight.load_weights(str(tmp_path / "straight" /
                            f"generator_epoch_{epoch + 1:04d}.weights.h5"))
  for a, b in zip(resumed.weights, straight.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.integration
def test_jax_weights_load_into_the_tensorflow_generator_and_train(jax_run):
  z = tf.random.stateless_normal([4, omniglot_gan.LATENT_DIM], [0, 1])
  outputs = []
  for epoch in (1, 2):
    g = omniglot_gan.build_generator()
    g.load_weights(str(jax_run / f"generator_epoch_{epoch:04d}.weights.h5"))
    outputs.append(g(z).numpy())
  fresh = omniglot_gan.build_generator(seed=0)(z).numpy()
  # Epoch 1 starts from the same seeded weights the TF trainer builds, and
  # each epoch moves them.
  assert np.abs(outputs[0] - fresh).max() > 1e-4
  assert np.abs(outputs[1] - outputs[0]).max() > 1e-4


@pytest.mark.integration
def test_imported_weights_are_a_generator_training_folder(jax_run, tmp_path):
  weights = jax_run / "generator_epoch_0002.weights.h5"
  out = generative.import_gan_weights(str(weights), str(tmp_path / "gan"),
                                      "import command")
  assert out == {"epoch": 2, "directory": str(tmp_path / "gan"),
                 "discriminator": True}
  model, config, epoch, command = generative.restore(str(tmp_path / "gan"))
  assert (epoch, config.adam_beta1) == (2, 0.5)
  assert command.endswith("; then import command")
  assert "--action=train" in command
  direct = omniglot_gan.build_generator()
  direct.load_weights(str(weights))
  z = tf.random.stateless_normal([3, 128], [2, 3])
  np.testing.assert_allclose(model.generator(z).numpy(), direct(z).numpy(),
                             atol=1e-6)
  reference = omniglot_gan.build_discriminator()
  reference.load_weights(str(jax_run / "discriminator_epoch_0002.weights.h5"))
  x = tf.random.stateless_uniform([2, 28, 28, 1], [4, 5])
  np.testing.assert_allclose(model.discriminator(x).numpy(),
                             reference(x).numpy(), atol=1e-6)
  generator, info = generative.load_generator(str(tmp_path / "gan"))
  images = generator.decode(z).numpy()
  assert images.shape == (3, 28, 28, 1) and info["epochs"] == 2
  assert 0.0 <= images.min() and images.max() <= 1.0


@pytest.mark.integration
def test_import_refuses_files_it_did_not_write(jax_run, tmp_path):
  stray = tmp_path / "gen.weights.h5"
  stray.write_bytes(b"")
  with pytest.raises(ValueError, match="generator_epoch_XXXX"):
    generative.import_gan_weights(str(stray), str(tmp_path / "out"))
  lonely = tmp_path / "generator_epoch_0001.weights.h5"
  lonely.write_bytes((jax_run / "generator_epoch_0001.weights.h5").read_bytes())
  with pytest.raises(FileNotFoundError, match="config.json"):
    generative.import_gan_weights(str(lonely), str(tmp_path / "out"))


@pytest.mark.integration
def test_train_refuses_the_tensorflow_backend(tmp_path):
  np.savez_compressed(tmp_path / "x.npz", images=np.zeros((4, 28, 28, 1)),
                      split="vinyals")
  env = dict(os.environ, PYTHONPATH=str(REPO))
  result = subprocess.run(
      [sys.executable, "-c",
       "import keras, numpy as np\n"
       "from lasium_tf import gan_jax\n"
       "from lasium_tf.config import GenerativeConfig\n"
       "gan_jax.train(np.zeros((4, 28, 28, 1)), 'x', GenerativeConfig())"],
      env=dict(env, KERAS_BACKEND="tensorflow"), capture_output=True,
      text=True, timeout=300)
  assert result.returncode != 0
  assert "KERAS_BACKEND=jax" in result.stderr


def test_generator_loss_sums_both_batches_and_adds_the_mode_seeking_term():
  logits = tf.zeros([4, 1])
  total, adversarial = gan_objective.generator_loss(logits, logits, 0.5, 2.0)
  assert float(adversarial) == pytest.approx(2 * np.log(2), rel=1e-5)
  assert float(total) == pytest.approx(2 * np.log(2) + 2.0 / (0.5 + 1e-5),
                                       rel=1e-5)
  d = gan_objective.discriminator_loss(tf.fill([4, 1], 10.0),
                                       tf.fill([4, 1], -10.0),
                                       tf.ones([4, 1]), tf.zeros([4, 1]))
  assert float(d) < 1e-3


def test_authors_generator_loss_is_one_cross_entropy_of_summed_logits():
  l1, l2 = tf.fill([4, 1], 1.0), tf.fill([4, 1], -1.0)
  _, per_batch = gan_objective.generator_loss(l1, l2, 1.0, 0.0)
  _, summed = gan_objective.generator_loss(l1, l2, 1.0, 0.0, "summed_logits")
  softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
  assert float(per_batch) == pytest.approx(softplus(-1) + softplus(1),
                                           rel=1e-5)
  assert float(summed) == pytest.approx(np.log(2), rel=1e-5)  # logit 0.


@pytest.mark.parametrize("kind, low, high", [("smoothed", 0.0, 0.05),
                                             ("overshoot", -0.05, 0.0)])
def test_fake_targets_smoothed_towards_real_or_beyond_the_fake_label(
    kind, low, high):
  u = tf.random.stateless_uniform([1000, 1], [0, 1])
  real, fake = gan_objective.discriminator_targets(u, u, 0.05, kind)
  assert 0.95 <= float(tf.reduce_min(real)) and float(
      tf.reduce_max(real)) <= 1.0
  assert low <= float(tf.reduce_min(fake)) and float(
      tf.reduce_max(fake)) <= high
  assert float(tf.reduce_max(fake) - tf.reduce_min(fake)) > 0.04
  # The discriminator's loss is finite and its gradient pushes fakes down.
  logits = tf.Variable(tf.zeros([1000, 1]))
  with tf.GradientTape() as tape:
    loss = gan_objective.discriminator_loss(tf.zeros([1000, 1]), logits,
                                            real, fake)
  assert np.isfinite(float(loss))
  assert float(tf.reduce_min(tape.gradient(loss, logits))) > 0


@pytest.mark.integration
def test_authors_recipe_trains_with_jax_on_partial_batches(tmp_path):
  images = np.random.default_rng(1).uniform(size=(10, 28, 28, 1))
  np.savez_compressed(tmp_path / "images.npz",
                      images=images.astype(np.float32), split="authors",
                      strokes="black")
  run_script("--action=train", f"--images={tmp_path / 'images.npz'}",
             f"--out={tmp_path / 'run'}", "--generator_epochs=1",
             "--generator_batch_size=4", "--keep_last_batch",
             "--gan_generator_loss=summed_logits",
             "--gan_fake_targets=overshoot", backend="jax")
  record = json.loads((tmp_path / "run" / "config.json").read_text())
  assert record["generative"]["keep_last_batch"] is True
  assert record["generative"]["generator_loss"] == "summed_logits"
  assert record["generative"]["fake_targets"] == "overshoot"
  assert record["data"]["split"] == "authors"
  log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").open()]
  assert np.isfinite(log[0]["d_loss"]) and np.isfinite(log[0]["g_loss"])


@pytest.mark.integration
def test_prepare_writes_the_unlabeled_train_split(real_omniglot, tmp_path):
  config, _ = real_omniglot
  out = tmp_path / "images.npz"
  run_script("--action=prepare", f"--images={out}",
             f"--data_dir={config.data_dir}")
  with np.load(out) as f:
    assert f["images"].shape == (1028 * 20, 28, 28, 1)
    assert str(f["split"]) == "vinyals" and str(f["strokes"]) == "white"
    assert sorted(f.files) == ["images", "split", "strokes"]
    white = f["images"]
  run_script("--action=prepare", f"--images={out}", "--strokes=black",
             f"--data_dir={config.data_dir}")
  with np.load(out) as f:
    assert str(f["strokes"]) == "black"
    np.testing.assert_allclose(f["images"], 1.0 - white)


@pytest.mark.integration
def test_latent_spread_reports_each_policy(jax_run, real_omniglot, tmp_path):
  del real_omniglot  # Only its presence: the script reads the shared data.
  generative.import_gan_weights(
      str(jax_run / "generator_epoch_0002.weights.h5"), str(tmp_path / "gan"))
  env = dict(os.environ, PYTHONPATH=str(REPO))
  result = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "latent_spread.py"),
       f"--generator={tmp_path / 'gan'}", "--samples=8"],
      env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.strip().splitlines()
  assert lines[0].startswith("real Omniglot: two drawings of a character")
  assert [l.split(":")[0] for l in lines[1:]] == [
      "RO alpha 0.2", "RO alpha 0.4", "N sigma^2 0.5", "N sigma^2 1",
      "N sigma^2 2"]
  fractions = [float(l.split(": ")[1].split()[0]) for l in lines[1:]]
  assert all(0 < f < 2 for f in fractions)
  assert fractions[0] < fractions[1]  # RO moves further at a larger alpha.


@pytest.mark.integration
def test_gpu_script_trains_picked_variants_resumes_and_packs(jax_run,
                                                             tmp_path):
  (tmp_path / "scripts").symlink_to(REPO / "scripts")
  images = jax_run.parent / "images.npz"

  def gpu_script(out, epochs):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               OUT=str(out), IMAGES=str(images), VARIANTS="authors",
               EXTRA=f"--generator_batch_size=4 --generator_epochs={epochs}",
               PYTHONPATH=str(REPO))
    result = subprocess.run(["bash", "scripts/gpu_gan_jax.sh"], cwd=tmp_path,
                            env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result

  gpu_script(tmp_path / "out1", 1)
  assert sorted(os.listdir(tmp_path / "runs")) == ["authors"]  # Picked only.
  gpu_script(tmp_path / "out2", 2)
  assert "Resuming at epoch 1" in (
      tmp_path / "runs" / "authors" / "train.log").read_text()
  names = []
  for path in sorted((tmp_path / "out2").glob("authors_*.tar")):
    assert path.stat().st_size <= 16 * 2**20  # What a device run returns.
    with tarfile.open(path) as tar:
      names += tar.getnames()
  assert {"authors/generator_epoch_0002.weights.h5",
          "authors/discriminator_epoch_0002.weights.h5",
          "authors/optimizer_epoch_0002.npz", "authors/train.log"} <= set(names)
