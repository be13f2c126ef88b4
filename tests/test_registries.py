"""What every registered plug-in must do, checked for each member of each
registry: a new task source or baseline is tested by registering it.

Task sources: tasks of the configured shape, task i a pure function of
(seed, i) (the same alone, in a batch or mid-stream: what resume relies
on), another seed other tasks, a row name, and a JSON-able record slice.
Baselines: a score between 0 and 100 on the test part's tasks, the number
of tasks asked for. Learners, data sets, generator kinds and normalisations:
see each test's docstring.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from lasium_tf import baselines, datasets, generators, learners, tasks
from lasium_tf import config as config_lib
from lasium_tf.data.image_sets import ImageArray, LabelledImages
from lasium_tf.learners.normalizations import NORMALIZATIONS

SIZE = 28
N_WAY, K_SHOT, K_QUERY = 3, 1, 2


def identity_images(classes=8, per_class=6) -> LabelledImages:
  """A labelled part whose image (c, i) is a square of its own place and
  size: every image of every class differs."""
  images = np.zeros((classes * per_class, SIZE, SIZE, 1), np.uint8)
  for c in range(classes):
    for i in range(per_class):
      row, col = 2 + 3 * (c % 7), 2 + 3 * (c // 7) + i
      images[c * per_class + i, row:row + 4 + i % 3, col:col + 4] = 255
  labels = np.repeat(np.arange(classes), per_class)
  return LabelledImages(ImageArray(images), labels,
                        tuple(f"class{c}" for c in range(classes)))


def tiny_config(tmp_path, **overrides):
  """Settings every library source can run with, on 28x28 grey images."""
  overrides = {"mode": "train", **overrides}
  return config_lib.Config(
      experiment_dir=str(tmp_path / "run"), iterations=1,
      task=config_lib.TaskConfig(n_way=N_WAY, k_shot=K_SHOT, k_query=K_QUERY),
      lasium=config_lib.LasiumConfig(
          generator=str(REPO / "pretrained" / "omniglot_gan")),
      cactus=config_lib.CactusConfig(
          encoder=str(REPO / "pretrained" / "omniglot_vae"), clusters=4),
      eval=config_lib.EvalConfig(
          n_way=N_WAY, k_query=K_QUERY, num_tasks=4, inner_steps=2,
          tasks_per_call=2, encoder=str(REPO / "pretrained" / "omniglot_vae")),
      **overrides)


def task_sources():
  return [name for name in tasks.SOURCES.names()
          if tasks.SOURCES.get(name).meta_trains]


@pytest.mark.parametrize("name", task_sources())
def test_every_task_source_keeps_the_contract(name, tmp_path):
  kind = tasks.SOURCES.get(name)
  config = tiny_config(tmp_path, task_source=name)
  kind.check(config)
  assert kind.method_name(config, "MAML")
  json.dumps(kind.record(config, None))
  source = kind.build(config, {"train": identity_images()})

  batch = source.episodes(7, 5, 2)
  assert batch.support_images.shape == (2, N_WAY * K_SHOT, SIZE, SIZE, 1)
  assert batch.query_images.shape == (2, N_WAY * K_QUERY, SIZE, SIZE, 1)
  np.testing.assert_array_equal(
      batch.support_labels[0], np.repeat(np.arange(N_WAY), K_SHOT))
  np.testing.assert_array_equal(
      batch.query_labels[0], np.repeat(np.arange(N_WAY), K_QUERY))
  # Task 6 is task 6 alone, second in a batch and mid-stream.
  alone = source.episodes(7, 6, 1)
  streamed = next(iter(source.stream(7, 6)))
  for part in range(4):
    np.testing.assert_allclose(alone[part][0], batch[part][1], atol=1e-6)
    np.testing.assert_allclose(streamed[part], batch[part][1], atol=1e-6)
  np.testing.assert_allclose(source.episodes(7, 5, 2).support_images,
                             batch.support_images, atol=1e-6)
  other = source.episodes(8, 5, 2)
  assert not np.allclose(other.support_images, batch.support_images)


@pytest.mark.parametrize("name", baselines.BASELINES.names())
def test_every_baseline_keeps_the_contract(name, tmp_path, monkeypatch):
  kind = baselines.BASELINES.get(name)
  part = identity_images()
  # Baselines that need the train part (cluster matching) get this one.
  from lasium_tf import data
  monkeypatch.setattr(data, "load_parts", lambda *a, **k: {"train": part})
  config = tiny_config(tmp_path, mode="evaluate", task_source="none")
  config.validate()
  outcome = kind.score(config, part, 1, False)
  assert 0 <= outcome["accuracy"] <= 100
  assert outcome["num_tasks"] == 4
  assert kind.title


def test_a_registry_refuses_a_taken_name_and_names_the_choices():
  with pytest.raises(config_lib.ConfigError, match="'umtra' is already "
                     "registered"):
    tasks.register(tasks.TaskSourceKind(name="umtra", build=None))
  with pytest.raises(config_lib.ConfigError, match="needs a name that is a "
                     "Python identifier"):
    baselines.register(baselines.BaselineKind("my baseline", None))
  with pytest.raises(config_lib.ConfigError, match="--eval_baselines='x' is "
                     "not one of pixel_nn, scratch"):
    baselines.BASELINES.get("x")


def test_a_source_registered_from_outside_gets_flags_checks_and_records(
    tmp_path):
  """The same machinery the library's own sources use, for a stand-in
  registered here: its settings are flags under its own --help heading,
  its check runs, the record carries its slice, resume compares it."""
  import dataclasses

  from absl import flags

  from lasium_tf.config import cli
  from lasium_tf.records import rundir
  from lasium_tf.records import schema
  from lasium_tf.settings import setting

  @dataclasses.dataclass(frozen=True)
  class Settings:
    width: int = setting(3, "stand_in: a width.", flag="stand_in_width")

  def check(config):
    if config.settings_of("stand_in").width < 1:
      raise config_lib.ConfigError("--stand_in_width must be >= 1.")

  kind = tasks.register(tasks.TaskSourceKind(
      name="stand_in", build=lambda config, parts: None,
      method="StandIn-{learner}", settings=Settings, check=check,
      record=lambda config, info: {"stand_in": dataclasses.asdict(
          config.settings_of("stand_in"))}))
  try:
    values = flags.FlagValues()
    cli.define_flags(config_lib.Config, values)
    values(["prog", "--task_source=stand_in", "--stand_in_width=5",
            f"--experiment_dir={tmp_path}"])
    config = cli.build(config_lib.Config, values)
    assert config.settings_of("stand_in") == Settings(width=5)
    assert config.resolved_method == "StandIn-MAML"
    assert "stand_in_width" in cli.flag_groups(config_lib.Config)[
        "tasks (stand_in)"]
    with pytest.raises(config_lib.ConfigError, match="stand_in_width"):
      config.with_plugin_settings("stand_in", Settings(width=0)).validate()
    record = schema.result_record(
        config, 1, {"num_tasks": 1, "accuracy": 50.0, "ci95": 1.0,
                    "seconds": 1.0}, 1, 1.0)
    assert record["hyperparameters"]["stand_in"] == {"width": 5}
    run = rundir.RunDir(tmp_path)
    run.record_config(config)
    with pytest.raises(config_lib.ConfigError, match="plugin_settings"):
      run.check_resume(config.with_plugin_settings("stand_in",
                                                   Settings(width=6)))
  finally:
    tasks.SOURCES._entries.pop(kind.name)


@pytest.mark.parametrize("name", learners.LEARNERS.names())
def test_every_learner_builds_fits_once_and_rebuilds_from_its_export(
    name, tmp_path):
  """Built from a config: its name and row name; a support set learned once
  (`fit_task`) answers queries as the whole procedure does; and the network
  and the learner's card rebuild the same learner (`from_model`), which is
  what a fitted classifier starts from."""
  kind = learners.LEARNERS.get(name)
  assert kind.name == name and kind.display
  config = tiny_config(tmp_path, learner=name,
                       normalization="support")
  kind.check(config)
  learner = learners.build_learner(config)
  episode = next(iter(identity_images().episodes(N_WAY, K_SHOT, K_QUERY,
                                                 seed=0, count=1)))
  support = tf.cast(episode.support_images, tf.float32)
  query = tf.cast(episode.query_images, tf.float32)
  expected = learner.few_shot_logits(support, episode.support_labels, query,
                                     N_WAY)
  fitted = learner.fit_task(support, episode.support_labels, N_WAY)
  np.testing.assert_allclose(learner.fitted_logits(fitted, query), expected,
                             atol=1e-4)
  card = json.loads(json.dumps(learner.card()))  # As card.json holds it.
  again = kind.from_model(learner.model, "support", card)
  np.testing.assert_allclose(
      again.few_shot_logits(support, episode.support_labels, query, N_WAY),
      expected, atol=1e-4)


@pytest.mark.parametrize("name", datasets.DATASETS.names())
def test_every_data_set_describes_itself_and_takes_its_own_defaults(name):
  """Its name, splits, image shape and loader; a config of it with its
  defaults passes its checks; and a setting it does not take is refused."""
  kind = datasets.DATASETS.get(name)
  assert kind.name == name and kind.title and kind.splits
  assert kind.image_size > 0 and kind.channels in (1, 3)
  assert callable(kind.load) and kind.sources
  data = config_lib.DataConfig(dataset=name, source=kind.sources[0])
  data.validate()
  assert data.resolved_split == kind.splits[0]
  assert data.image_shape == (kind.image_size, kind.image_size,
                              kind.channels)
  assert set(kind.baselines) <= set(baselines.BASELINES.names())
  if "strokes" not in kind.options:
    with pytest.raises(config_lib.ConfigError, match="--strokes"):
      config_lib.DataConfig(dataset=name, source=kind.sources[0],
                            strokes="black").validate()
  if "eval_data_dir" not in kind.options:
    with pytest.raises(config_lib.ConfigError, match="--eval_data_dir"):
      config_lib.DataConfig(dataset=name, source=kind.sources[0],
                            eval_data_dir="somewhere").validate()


@pytest.mark.parametrize("name", generators.KINDS.names())
def test_every_generator_kind_trains_checkpoints_and_decodes(name, tmp_path):
  """Built from its settings: a model and its first training step from
  fixed draws are a function of the seed (the same twice), a checkpoint brings back exactly the
  stepped variables, its generator decodes latent codes of its size into
  images in [0, 1], it encodes where its export says it does, and a kind
  that gives LASIUM anchors makes tasks of the configured shape."""
  from lasium_tf.core import backends
  from lasium_tf.tasks import lasium

  kind = generators.KINDS.get(name)
  assert kind.name == name and kind.display and kind.latent_dim > 0
  config = config_lib.GenerativeConfig(kind=name, batch_size=8)
  config.validate()
  images = np.asarray(identity_images().store.fetch(np.arange(8)))
  model = generators.build(config, SIZE, 1)
  assert model.latent_dim == config.resolved_latent_dim
  draws = model.draws(np.random.default_rng(0), 8)
  start = model.state()
  first, metrics = backends.compile_step(model.step)(start, images, draws)
  twin = generators.build(config, SIZE, 1)
  second, _ = backends.compile_step(twin.step)(twin.state(), images, draws)
  assert metrics and all(np.isfinite(float(v)) for v in metrics.values())
  for group in first:
    for a, b in zip(first[group], second[group]):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  model.assign(first)
  generators.save_checkpoint(model, str(tmp_path), 1)
  again = generators.build(config, SIZE, 1)
  assert generators.load_checkpoint(
      again, generators.checkpoint_path(str(tmp_path), 1)) == 1
  for a, b in zip(model.state()["decoder" if "decoder" in model.networks
                                else "generator"],
                  again.state()["decoder" if "decoder" in again.networks
                                else "generator"]):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  generator = again.as_generator()
  decoded = np.asarray(generator.decode(
      tf.random.normal([2, generator.latent_dim])))
  assert decoded.shape == (2, SIZE, SIZE, 1)
  assert decoded.min() >= 0 and decoded.max() <= 1
  assert generator.can_encode == kind.encodes
  if kind.anchors is not None:
    sampler = lasium.LasiumSampler(
        generator, name, "ro", lasium.TaskShape(N_WAY, K_SHOT, K_QUERY),
        {"alpha": 0.4}, real_images=images)
    episode = sampler.episode(0, 3)
    assert episode.support_images.shape[:1] == (N_WAY * K_SHOT,)
    np.testing.assert_array_equal(episode.query_images,
                                  sampler.episode(0, 3).query_images)


@pytest.mark.parametrize("name", NORMALIZATIONS.names())
def test_every_normalization_keeps_its_word_on_query_independence(
    name, tmp_path):
  """A rule that says it is not transductive answers a query alone as it
  answers it among the others; every rule gives finite logits of the task's
  shape, and a TaskNorm-I network carries its blend weights."""
  kind = NORMALIZATIONS.get(name)
  assert kind.name == name and kind.described
  config = tiny_config(tmp_path, learner="maml", normalization=name)
  learner = learners.build_learner(config)
  episode = next(iter(identity_images().episodes(N_WAY, K_SHOT, K_QUERY,
                                                 seed=0, count=1)))
  support = tf.cast(episode.support_images, tf.float32)
  query = tf.cast(episode.query_images, tf.float32)
  together = np.asarray(learner.few_shot_logits(
      support, episode.support_labels, query, N_WAY))
  assert together.shape == (len(query), N_WAY)
  assert np.isfinite(together).all()
  alone = np.asarray(learner.few_shot_logits(
      support, episode.support_labels, query[:1], N_WAY))
  if not kind.transductive:
    np.testing.assert_allclose(alone[0], together[0], atol=1e-4)
  blends = any("blend_scale" in w.path for w in learner.model.weights)
  assert blends == kind.blends_instances
  # Its counterpart, the export's other signature, runs on the same network
  # and is of the other kind.
  other = NORMALIZATIONS.get(kind.counterpart)
  assert other.transductive != kind.transductive
  assert other.blends_instances == kind.blends_instances
  assert np.isfinite(np.asarray(learner.with_normalization(
      other.name).few_shot_logits(support, episode.support_labels, query,
                                  N_WAY))).all()
