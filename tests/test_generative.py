"""GAN / VAE training, restore, SavedModel export and the CLI modes on them."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf.generators import gan_objective
from lasium_tf.tasks import generated
from lasium_tf import generators
from lasium_tf.run import modes
from lasium_tf.records import common, pictures, rundir


def random_images(n=192, seed=0):
  return np.random.default_rng(seed).uniform(size=(n, 28, 28, 1)).astype(
      np.float32)


def test_mode_seeking_ratio_is_image_distance_over_latent_distance():
  a = tf.zeros([2, 4, 4, 1])
  b = tf.concat([tf.fill([1, 4, 4, 1], 0.5), tf.fill([1, 4, 4, 1], 1.0)], 0)
  z1 = tf.zeros([2, 3])
  z2 = tf.ones([2, 3]) * 2.0
  # (0.5 / 2 + 1.0 / 2) / 2 = 0.375
  assert float(gan_objective.mode_seeking_ratio(a, b, z1, z2)) == pytest.approx(
      0.375)


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_training_runs_checkpoints_draws_and_resumes(kind, tmp_path):
  config = config_lib.GenerativeConfig(kind=kind, epochs=1, batch_size=64,
                                       samples_every=1)
  model = generators.build(config)
  out = generators.train(model, random_images(), config, str(tmp_path),
                         verbose=False)
  assert out["epochs"] == 1
  assert all(np.isfinite(v) for k, v in out.items() if k != "seconds")
  assert (tmp_path / "samples" / "epoch_0001.png").exists()
  # A new process would rebuild the model; resuming continues at epoch 1.
  again = generators.train(generators.build(config), random_images(),
                           dataclasses.replace(config, epochs=2),
                           str(tmp_path), verbose=False)
  assert again["epochs"] == 2
  assert sorted(os.listdir(tmp_path / "samples")) == ["epoch_0001.png",
                                                       "epoch_0002.png"]


def test_black_stroke_training_draws_samples_white_on_black(tmp_path):
  config = config_lib.GenerativeConfig(kind="vae", epochs=1, batch_size=64,
                                       samples_every=1)
  model = generators.build(config)
  generators.train(model, 1.0 - random_images(), config, str(tmp_path),
                   verbose=False, strokes="black")
  z = np.random.default_rng([config.seed, 7]).standard_normal(
      (64, model.latent_dim), np.float32)
  samples = model.decode(z).numpy()
  drawn = tf.io.decode_png(tf.io.read_file(
      str(tmp_path / "samples" / "epoch_0001.png"))).numpy()
  np.testing.assert_array_equal(drawn, pictures.grid(
      (1.0 - samples).reshape((8, 8) + samples.shape[1:])))


def test_gan_step_changes_both_networks():
  gan = generators.build(config_lib.GenerativeConfig(kind="gan"))
  before_g = [w.numpy().copy() for w in gan.generator.trainable_weights]
  before_d = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
  metrics = gan.train_step(tf.constant(random_images(16)))
  assert set(metrics) == {"d_loss", "g_loss", "mode_seeking"}
  assert float(metrics["mode_seeking"]) > 0
  for before, model in ((before_g, gan.generator),
                        (before_d, gan.discriminator)):
    assert any(not np.allclose(b, w.numpy())
               for b, w in zip(before, model.trainable_weights))


@pytest.mark.parametrize("keep, steps", [(False, 1), (True, 2)])
def test_last_partial_batch_is_kept_only_when_asked(keep, steps, tmp_path):
  config = config_lib.GenerativeConfig(
      kind="gan", epochs=1, batch_size=64, keep_last_batch=keep,
      generator_loss="summed_logits", fake_targets="overshoot")
  assert generators.batches_per_epoch(70, config) == steps
  assert generators.batches_per_epoch(128, config) == 2
  gan = generators.build(config)
  out = generators.train(gan, random_images(70), config, str(tmp_path),
                         verbose=False)
  # Adam counts the steps each network took.
  assert [int(o.iterations.numpy()) for o in (gan.g_optimizer,
                                              gan.d_optimizer)] == [steps] * 2
  assert np.isfinite(out["d_loss"]) and np.isfinite(out["g_loss"])


def test_diverging_generator_training_stops_and_saves_nothing(tmp_path):
  config = config_lib.GenerativeConfig(kind="vae", epochs=2, batch_size=64,
                                       learning_rate=1e30)
  with pytest.raises(config_lib.DivergedError,
                     match="epoch 1: .*not finite.*--generator_lr"):
    generators.train(generators.build(config), random_images(), config,
                     str(tmp_path), verbose=False)
  assert generators.checkpoint_epochs(str(tmp_path)) == []


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_a_signal_mid_epoch_stops_and_the_rerun_equals_a_straight_run(
    kind, tmp_path):
  import signal
  from lasium_tf.core import stopping
  config = config_lib.GenerativeConfig(kind=kind, epochs=2, batch_size=64,
                                       samples_every=10)
  images = random_images()  # 3 steps an epoch.
  straight = generators.build(config)
  generators.train(straight, images, config, str(tmp_path / "straight"),
                   verbose=False)
  stopped = generators.build(config)
  calls = []

  class Signalling:
    """The images, as a store that raises SIGTERM on its fifth batch."""

    def __len__(self):
      return len(images)

    def fetch(self, order):
      calls.append(1)
      if len(calls) == 5:  # Epoch 2, second step.
        signal.raise_signal(signal.SIGTERM)
      return images[order]

  with pytest.raises(stopping.Stopped,
                     match="SIGTERM in epoch 2; it restarts from the "
                           "checkpoint of epoch 1"):
    generators.train(stopped, Signalling(), config,
                     str(tmp_path / "stopped"), verbose=False)
  assert len(calls) == 5  # Stopped right after the step in flight.
  assert generators.checkpoint_epochs(str(tmp_path / "stopped")) == [1]
  resumed = generators.build(config)
  generators.train(resumed, images, config, str(tmp_path / "stopped"),
                   verbose=False)
  weights = generative_weights(straight)
  assert len(weights) >= 4
  for a, b in zip(generative_weights(resumed), weights):
    np.testing.assert_allclose(a, b, atol=1e-6)


def generative_weights(model):
  """Every variable a checkpoint holds: networks, statistics, Adam."""
  return [v.numpy() for _, variables in sorted(model.groups().items())
          for v in variables]


def test_vae_lowers_its_loss_on_fixed_images():
  vae = generators.build(config_lib.GenerativeConfig(kind="vae"))
  images = tf.constant(np.round(random_images(32)))
  first = float(vae.train_step(images)["loss"])
  for _ in range(15):
    last = float(vae.train_step(images)["loss"])
  assert last < first


@pytest.fixture(scope="module")
def vae_folder(tmp_path_factory):
  """A generator training folder as --mode=train_generator leaves it."""
  folder = tmp_path_factory.mktemp("vae_run")
  config = config_lib.Config(
      mode="train_generator", experiment_dir=str(folder),
      command="python -m lasium_tf.main --flagfile=flags/train_vae.cfg",
      generative=config_lib.GenerativeConfig(kind="vae", epochs=1,
                                             batch_size=64))
  common.write_json(str(folder / "config.json"), dataclasses.asdict(config))
  generators.train(generators.build(config.generative), random_images(),
                   config.generative, str(folder), verbose=False)
  return folder


def test_export_loads_through_hub_and_matches_keras(vae_folder, tmp_path):
  model, config, epoch, _ = generators.restore(str(vae_folder))
  assert config.kind == "vae" and epoch == 1
  keras_generator = generators.as_generator(model)
  path = generators.save_generator_module(keras_generator.decoder,
                                     tmp_path / "omniglot_vae",
                                     keras_generator.encoder)
  loaded = generators.SavedModelGenerator(generators.ModuleSpec(
      str(path), encode_signature="encode"))
  assert loaded.latent_dim == 20 and loaded.can_encode
  z = tf.random.stateless_normal([3, 20], [0, 0])
  np.testing.assert_allclose(loaded.decode(z), keras_generator.decode(z),
                             atol=1e-5)
  images = tf.constant(random_images(3))
  np.testing.assert_allclose(loaded.encode(images),
                             keras_generator.encode(images), atol=1e-5)


def test_bfloat16_decoding_of_a_folder_and_of_its_export(vae_folder,
                                                         tmp_path):
  """--decode_precision=bfloat16: the folder's network and the same network
  rebuilt from its SavedModel (BatchNorm's variables come out of the
  signature in another order) decode alike, near float32 but not equal;
  encoding stays float32."""
  generator, info = generators.load_generator(str(vae_folder))
  fast = generators.in_bfloat16(generator, info)
  z = tf.random.stateless_normal([16, 20], [0, 4])
  exact, quick = generator.decode(z).numpy(), fast.decode(z).numpy()
  assert quick.dtype == np.float32 and quick.shape == exact.shape
  difference = np.abs(quick - exact)
  assert 0 < difference.mean() < 5e-3 and difference.max() < 0.2
  images = tf.constant(random_images(3))
  np.testing.assert_array_equal(fast.encode(images), generator.encode(images))

  path = generators.save_generator_module(generator.decoder, tmp_path / "vae",
                                          generator.encoder)
  saved = generators.SavedModelGenerator(generators.ModuleSpec(
      str(path), encode_signature="encode"))
  rebuilt = generators.in_bfloat16(saved, {"kind": "vae",
                                           "source": str(path)})
  np.testing.assert_allclose(rebuilt.decode(z), quick, atol=1e-6)

  config = config_lib.Config(
      task_source="lasium", lasium=config_lib.LasiumConfig(
          generator=str(vae_folder), decode_precision="bfloat16"))
  sampler, sampler_info = generated.lasium_sampler(
      config, _train_part())
  assert isinstance(sampler.generator, generators.Bfloat16Decoding)
  assert sampler_info["decode_precision"] == "bfloat16"


def test_a_run_keeps_the_decode_precision_it_started_with(tmp_path):
  """A folder meta-trained before the setting existed reads as float32; a
  resume under bfloat16 decoding is refused, naming the setting."""
  folder = tmp_path / "run"
  started = config_lib.Config(mode="train", experiment_dir=str(folder),
                              task_source="lasium")
  saved = dataclasses.asdict(started)
  del saved["lasium"]["decode_precision"]  # As written before it existed.
  common.write_json(str(folder / "config.json"), saved)
  run = rundir.RunDir(folder)
  run.check_resume(started)
  with pytest.raises(config_lib.ConfigError, match="lasium.decode_precision differ"):
    run.check_resume(dataclasses.replace(
        started, lasium=config_lib.LasiumConfig(decode_precision="bfloat16")))


def _train_part():
  class Part:
    def unlabeled(self):
      return random_images(8)
  return Part()


def test_a_generator_meets_data_of_the_other_ink_through_a_swap(vae_folder,
                                                               tmp_path):
  generator, info = generators.load_generator(str(vae_folder))
  same, same_info = generators.match_strokes(generator, info,
                                         config_lib.DataConfig())
  assert same is generator and same_info == info
  swapped, swapped_info = generators.match_strokes(
      generator, info, config_lib.DataConfig(strokes="black"))
  assert swapped_info["ink_swapped"] == ("trained on white strokes, used "
                                         "with black")
  z = tf.random.stateless_normal([3, 20], [0, 1])
  np.testing.assert_allclose(swapped.decode(z), 1.0 - generator.decode(z),
                             atol=1e-6)
  images = random_images(3)
  np.testing.assert_allclose(swapped.encode(1.0 - images),
                             generator.encode(images), atol=1e-5)
  # A generator trained on black strokes says so, and is swapped for white.
  black_folder = tmp_path / "black_vae"
  shutil.copytree(vae_folder, black_folder)
  saved = json.loads((black_folder / "config.json").read_text())
  saved["data"]["strokes"] = "black"
  (black_folder / "config.json").write_text(json.dumps(saved))
  generator, info = generators.load_generator(str(black_folder))
  assert info["strokes"] == "black"
  assert generators.match_strokes(generator, info, config_lib.DataConfig(
      strokes="black"))[0] is generator
  assert isinstance(generators.match_strokes(generator, info,
                                         config_lib.DataConfig())[0],
                    generators.InkSwapped)


def test_missing_generator_names_the_fix(tmp_path):
  with pytest.raises(FileNotFoundError, match="--mode=train_generator"):
    generators.SavedModelGenerator(str(tmp_path / "nothing"))
  with pytest.raises(FileNotFoundError, match="not a generator training"):
    generators.restore(str(tmp_path))


@pytest.mark.integration
def test_cli_modes_export_draw_and_lasium_meta_training(vae_folder, tmp_path,
                                                        real_omniglot):
  data_config, _ = real_omniglot
  export_dir = tmp_path / "pretrained" / "omniglot_vae"
  exported = modes.run(config_lib.Config(
      mode="export_generator", experiment_dir=str(vae_folder),
      export_dir=str(export_dir), data=data_config,
      command="python -m lasium_tf.main --mode=export_generator"),
      verbose=False)
  assert exported["kind"] == "vae" and exported["epochs"] == 1
  for name in ("saved_model.pb", "card.json", "README.md", "samples.png"):
    assert (export_dir / name).exists(), name
  card = json.loads((export_dir / "card.json").read_text())
  assert card["train_command"].endswith("flags/train_vae.cfg")
  assert card["strokes"] == "white"

  # Plain TensorFlow in a fresh process loads it: no lasium_tf code needed.
  script = ("import tensorflow as tf; m = tf.saved_model.load(%r); "
            "out = m.signatures['generate'](z=tf.zeros([2, 20]))['default']; "
            "print(out.shape)" % str(export_dir))
  result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert "(2, 28, 28, 1)" in result.stdout, result.stderr[-1000:]

  lasium_config = config_lib.LasiumConfig(generator=str(export_dir),
                                          policy="n", sigma2=1.0)
  drawn = modes.run(config_lib.Config(
      mode="draw_tasks", experiment_dir=str(tmp_path / "draw"),
      data=data_config, lasium=lasium_config,
      task=config_lib.TaskConfig(n_way=3, k_shot=1, k_query=2)),
      verbose=False)
  picture = tf.io.decode_png(tf.io.read_file(drawn["figure"]))
  assert picture.shape[-1] == 3 and picture.shape[1] > picture.shape[0]
  strips = tf.io.decode_png(tf.io.read_file(drawn["interpolation"]))
  assert strips.shape[0] < strips.shape[1]  # 4 rows of 9 alphas.

  lasium_run = config_lib.Config(
      mode="train_and_evaluate", task_source="lasium",
      method="LASIUM-N-VAE-MAML (test)", experiment_dir=str(tmp_path / "m"),
      data=data_config, lasium=lasium_config, table=7,
      maml=config_lib.MAMLConfig(inner_steps=1, first_order=True,
                                 meta_batch_size=2),
      eval=config_lib.EvalConfig(k_shots=(1,), k_query=2, num_tasks=2,
                                 inner_steps=1, tasks_per_call=2),
      iterations=2, log_every=1)
  out = modes.run(lasium_run, verbose=False)
  record = out["results"][1]
  assert record["table"] == 7
  assert record["hyperparameters"]["sigma2"] == 1.0
  assert record["hyperparameters"]["policy"] == "n"
  assert record["hyperparameters"]["generator_info"]["epochs"] == 1
  # Evaluating the finished run alone still names the generator it used.
  lasium_run = dataclasses.replace(lasium_run, mode="evaluate")
  evaluated = modes.run(lasium_run, verbose=False)
  assert evaluated["results"][1]["hyperparameters"]["generator_info"] == (
      record["hyperparameters"]["generator_info"])
  # A generator republished at the same path is not silently resumed on.
  card["epochs"] = 7
  (export_dir / "card.json").write_text(json.dumps(card))
  with pytest.raises(config_lib.ConfigError, match="another generator"):
    modes.run(dataclasses.replace(lasium_run, mode="train_and_evaluate",
                                  iterations=3), verbose=False)
  # Nor another ink.
  with pytest.raises(config_lib.ConfigError, match="data.strokes differ"):
    modes.run(dataclasses.replace(lasium_run, data=dataclasses.replace(
        data_config, strokes="black")), verbose=False)
  # Nor are other task settings.
  with pytest.raises(config_lib.ConfigError, match="lasium.sigma2 differ"):
    modes.run(dataclasses.replace(lasium_run, lasium=dataclasses.replace(
        lasium_config, sigma2=0.5)), verbose=False)


def test_lasium_without_generator_is_refused():
  with pytest.raises(config_lib.ConfigError, match="need a generator"):
    config_lib.Config(task_source="lasium").validate()
  with pytest.raises(config_lib.ConfigError, match="--alpha"):
    config_lib.Config(task_source="lasium", lasium=config_lib.LasiumConfig(
        generator="x", alpha=1.5)).validate()


def test_stripe_score_sees_alternate_rows_and_columns():
  rng = np.random.default_rng(0)
  clean = rng.uniform(size=(8, 28, 28, 1))
  rows = clean.copy()
  rows[:, 0::2] *= 0.1
  cols = clean.copy()
  cols[:, :, 1::2] *= 0.1
  assert gan_objective.stripe_score(clean) < 0.05
  assert gan_objective.stripe_score(rows) > 1.5
  assert gan_objective.stripe_score(cols) > 1.5


def test_a_checkpoint_holds_every_variable_and_old_ones_are_pruned(tmp_path):
  config = config_lib.GenerativeConfig(kind="gan", epochs=4, batch_size=64,
                                       samples_every=10, snapshot_epochs=(1,))
  gan = generators.build(config)
  generators.train(gan, random_images(128), config, str(tmp_path),
                   verbose=False)
  # The newest two, and the snapshot asked for.
  assert generators.checkpoint_epochs(str(tmp_path)) == [1, 3, 4]
  with np.load(tmp_path / "checkpoints" / "epoch_0004.npz") as saved:
    groups = {k.split("/")[0] for k in saved.files if k != "epoch"}
    assert groups == {"generator", "discriminator", "g_optimizer",
                      "d_optimizer"}
    assert int(saved["epoch"]) == 4
    assert int(saved["g_optimizer/0"]) == 8  # Adam's step count: 4 x 2.
  lines = [json.loads(l) for l in
           (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [l["epoch"] for l in lines] == [1, 2, 3, 4]
  assert lines[0]["backend"] == "tensorflow on cpu"
  assert generators.trained_on(str(tmp_path)) == (
      "tensorflow on cpu (epochs 1-4)")
  # A snapshot loads as a generator of its own epoch.
  snapshot = str(tmp_path / "checkpoints" / "epoch_0001.npz")
  common.write_json(str(tmp_path / "config.json"), dataclasses.asdict(
      config_lib.Config(generative=config)))
  model, _, epoch, _ = generators.restore(snapshot)
  assert epoch == 1
  assert not np.allclose(model.generator.weights[0].numpy(),
                         gan.generator.weights[0].numpy())
  _, info = generators.load_generator(snapshot)
  assert info["epochs"] == 1
  assert info["objective"]["generator_loss"] == "per_batch"
  # --export_epoch publishes that snapshot, not the newest epoch.
  published = modes.run(config_lib.Config(
      mode="export_generator", experiment_dir=str(tmp_path), export_epoch=1,
      export_dir=str(tmp_path / "published")), verbose=False)
  assert published["epochs"] == 1
  assert published["trainer"] == ("lasium_tf.generators, Keras on "
                                  "tensorflow on cpu (epoch 1)")
  assert published["objective"] == {"generator_loss": "per_batch",
                                    "fake_targets": "smoothed",
                                    "keep_last_batch": False}
  module = tf.saved_model.load(str(tmp_path / "published"))
  z = tf.random.stateless_normal([2, model.generator.input_shape[-1]], [0, 1])
  np.testing.assert_allclose(
      module.signatures["generate"](z=z)["default"].numpy(),
      model.generator(z, training=False).numpy(), atol=1e-5)
  with pytest.raises(config_lib.ConfigError, match=r"keeps epochs \[1, 3, 4\]"):
    modes.run(config_lib.Config(
        mode="export_generator", experiment_dir=str(tmp_path),
        export_epoch=2, export_dir=str(tmp_path / "pruned")), verbose=False)
  assert not (tmp_path / "pruned").exists()
  with pytest.raises(config_lib.ConfigError, match="drop the flag"):
    config_lib.Config(mode="train", export_epoch=1).validate()


def test_a_checkpoint_of_other_networks_is_refused_by_name(tmp_path):
  config = config_lib.GenerativeConfig(kind="vae", epochs=1, batch_size=64)
  generators.train(generators.build(config), random_images(64), config,
                   str(tmp_path), verbose=False)
  other = dataclasses.replace(config, latent_dim=8, epochs=2)
  with pytest.raises(config_lib.ConfigError,
                     match="other networks.*--latent_dim.*fresh"):
    generators.train(generators.build(other), random_images(64), other,
                     str(tmp_path), verbose=False)


def test_folders_of_the_old_checkpoint_formats_name_the_fix(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "checkpoints" / "checkpoint").write_text("")
  config = config_lib.GenerativeConfig(kind="vae", epochs=1, batch_size=64)
  with pytest.raises(config_lib.ConfigError, match="no longer reads.*again"):
    generators.train(generators.build(config), random_images(64), config,
                     str(tmp_path), verbose=False)


def test_max_seconds_ends_training_after_a_saved_epoch(tmp_path, capsys):
  config = config_lib.GenerativeConfig(kind="vae", epochs=5, batch_size=64,
                                       max_seconds=1e-9)
  out = generators.train(generators.build(config), random_images(64), config,
                         str(tmp_path))
  assert out["epochs"] == 1
  assert generators.checkpoint_epochs(str(tmp_path)) == [1]
  assert "--generator_max_seconds" in capsys.readouterr().out


def test_a_time_budget_stops_mid_epoch_saved_and_reruns_end_as_one_run(
    tmp_path, capsys):
  """2 steps an epoch and a budget that passes at every step: each run
  does one step, saves it and says so; the reruns go on step by step and
  end with the weights and losses of an uninterrupted run."""
  images = random_images(128)
  config = config_lib.GenerativeConfig(kind="vae", epochs=2, batch_size=64)
  straight = generators.build(config)
  expected = generators.train(straight, images, config,
                              str(tmp_path / "straight"), verbose=False)
  budget = dataclasses.replace(config, max_seconds=1e-9)
  runs = []
  while not runs or runs[-1]["epochs"] < 2:
    model = generators.build(budget)
    runs.append(generators.train(model, images, budget,
                                 str(tmp_path / "budget")))
    assert len(runs) <= 4
  said = capsys.readouterr().out
  assert [r.get("steps") for r in runs] == [1, None, 1, None]
  assert "Stopped in epoch 1 after step 1/2" in said
  assert "Resumed vae training at epoch 1, step 1 of epoch 2." in said
  assert not generators.partial_path(str(tmp_path / "budget")).exists()
  assert "rerun to go on" not in said.strip().splitlines()[-1]
  for a, b in zip(straight.networks["decoder"].weights,
                  model.networks["decoder"].weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert runs[-1]["loss"] == pytest.approx(expected["loss"], rel=1e-12)


def test_training_on_a_backend_keras_does_not_run_names_the_fix(tmp_path):
  config = config_lib.GenerativeConfig(kind="vae", epochs=1, batch_size=64,
                                       backend="jax")
  with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
    generators.train(generators.build(config), random_images(64), config,
                     str(tmp_path), verbose=False)
  with pytest.raises(config_lib.ConfigError,
                     match="--mode=train_generator only"):
    config_lib.Config(mode="train", generative=config).validate()
