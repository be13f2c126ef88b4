"""mini-ImageNet and CelebA loaders and task protocols, on stand-in files."""

import numpy as np
import pytest

from lasium_tf.run import modes
from lasium_tf.config import (Config, ConfigError, DataConfig, EvalConfig,
                              LasiumConfig, MAMLConfig)
from lasium_tf.data import DataError, load_parts
from lasium_tf.data.celeba import (load_celeba_attributes,
                                   load_celeba_identities)
from lasium_tf.data.image_sets import ImageArray, LabelledImages
from lasium_tf.data.mini_imagenet import load_mini_imagenet
from stand_ins import write_celeba, write_hub_modules, write_mini_imagenet

SIZE = 16


def colours(images):
  """Mean colour of each image: the stand-ins' class signature."""
  return np.round(np.asarray(images).mean(axis=(1, 2)), 1)


def check_episode(episode, n_way, k_shot, k_query, channels=3):
  assert episode.support_images.shape == (n_way * k_shot, SIZE, SIZE,
                                          channels)
  assert episode.query_images.shape == (n_way * k_query, SIZE, SIZE, channels)
  np.testing.assert_array_equal(episode.support_labels,
                                np.repeat(np.arange(n_way), k_shot))
  np.testing.assert_array_equal(episode.query_labels,
                                np.repeat(np.arange(n_way), k_query))
  images = np.concatenate([episode.support_images, episode.query_images])
  assert images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.parametrize("layout", ["flat", "per_class"])
def test_mini_imagenet_parts_and_tasks(tmp_path, layout):
  write_mini_imagenet(tmp_path, classes=(3, 2, 6), per_class=8, layout=layout)
  test = load_mini_imagenet(str(tmp_path), "test", SIZE)
  assert test.num_classes == 6 and len(test.store) == 48
  assert load_mini_imagenet(str(tmp_path), "train", SIZE).num_classes == 3
  tasks = list(test.episodes(5, 1, 3, seed=3, count=4))
  for episode in tasks:
    check_episode(episode, 5, 1, 3)
    # A class's images share one colour; different classes differ.
    support = colours(episode.support_images)
    query = colours(episode.query_images).reshape(5, 3, 3)
    assert len({tuple(c) for c in support}) == 5
    np.testing.assert_allclose(query, support[:, None, :].repeat(3, 1),
                               atol=0.1)
  again = list(test.episodes(5, 1, 3, seed=3, start=2, count=2))
  np.testing.assert_array_equal(again[1].query_images, tasks[3].query_images)


def test_mini_imagenet_errors_name_the_fix(tmp_path):
  with pytest.raises(DataError, match="--data_dir"):
    load_mini_imagenet(str(tmp_path / "nowhere"), "test", SIZE)
  root = write_mini_imagenet(tmp_path)
  next(iter((root / "images").glob("n00000005*.jpg"))).unlink()
  with pytest.raises(DataError, match="1 of the 48 images of test.csv are "
                                      "missing"):
    load_mini_imagenet(str(tmp_path), "test", SIZE)
  (root / "val.csv").write_text("file,class\nx.jpg,n1\n")
  with pytest.raises(DataError, match="header 'filename,label'"):
    load_mini_imagenet(str(tmp_path), "val", SIZE)
  first = sorted((root / "images").glob("n00000000*.jpg"))[0]
  first.write_bytes(b"not a jpeg")
  with pytest.raises(DataError, match="corrupt"):
    load_mini_imagenet(str(tmp_path), "train", SIZE)


def test_too_small_classes_are_never_drawn():
  images = np.stack([np.full((SIZE, SIZE, 3), 40 * c, np.uint8)
                     for c in range(4) for _ in range((3, 9, 9, 9)[c])])
  labels = np.repeat(np.arange(4), (3, 9, 9, 9))
  source = LabelledImages(ImageArray(images), labels, ("a", "b", "c", "d"))
  seen = set()
  for episode in source.episodes(3, 2, 3, seed=0, count=20):
    seen |= set(np.round(colours(episode.query_images)[:, 0] * 255 / 40))
    picks = episode.support_images.numpy().reshape(3, 2, -1)
    assert len({float(p[0, 0]) for p in picks}) == 3  # Distinct classes.
  assert seen == {1.0, 2.0, 3.0}  # Class "a" (3 images < 5) never.
  with pytest.raises(ValueError, match="classes with at least 5"):
    source.check(4, 2, 3, "this set")


def test_celeba_identity_tasks_from_the_official_files(tmp_path):
  write_celeba(tmp_path, identities=(4, 3, 7), per_identity=6)
  test = load_celeba_identities(str(tmp_path), "test", SIZE)
  assert test.num_classes == 7 and len(test.store) == 42
  train_part = load_celeba_identities(str(tmp_path), "train", SIZE)
  assert not set(train_part.class_names) & set(test.class_names)
  for episode in test.episodes(5, 1, 5, seed=1, count=3):
    check_episode(episode, 5, 1, 5)
    assert len({tuple(c) for c in colours(episode.support_images)}) == 5


def test_celeba_attribute_tasks_are_a_conjunction_and_its_negation(tmp_path):
  write_celeba(tmp_path, identities=(2, 2, 30), per_identity=5)
  test = load_celeba_attributes(str(tmp_path), "test", SIZE)
  assert test.attributes.shape == (150, 40)
  for index in range(5):
    picks = test.task_indices(seed=2, index=index, per_class=10)
    a, b = test.attributes[picks[:10]], test.attributes[picks[10:]]
    assert len(set(picks)) == 20
    # Some 3 attributes are constant in class A and negated in class B.
    agree = np.all(a == a[0], axis=0) & np.all(b == ~a[0], axis=0)
    assert agree.sum() >= 3
  for episode in test.episodes(2, 5, 5, seed=2, count=2):
    check_episode(episode, 2, 5, 5)
  with pytest.raises(ValueError, match="2-way"):
    test.check(5, 1, 5, "test")
  with pytest.raises(ValueError, match="lower the shots"):
    test.check(2, 100, 15, "test")


def test_celeba_errors_name_the_fix(tmp_path):
  root = write_celeba(tmp_path)
  (root / "identity_CelebA.txt").write_text("000001.jpg\n")
  with pytest.raises(DataError, match="line 1: expected 'filename value'"):
    load_celeba_identities(str(tmp_path), "test", SIZE)
  (root / "list_attr_celeba.txt").unlink()
  with pytest.raises(DataError, match="list_attr_celeba.txt"):
    load_celeba_attributes(str(tmp_path), "test", SIZE)


def test_celeba_through_tfds(tmp_path):
  import tensorflow_datasets as tfds

  with tfds.testing.mock_data(num_examples=40):
    attributes = load_celeba_attributes(None, "test", SIZE, source="tfds")
    identities = load_celeba_identities(None, "test", SIZE, source="tfds")
  assert attributes.attributes.shape == (40, 40)
  assert attributes.attribute_names[0] == "5_o_Clock_Shadow"
  episode = next(iter(attributes.episodes(2, 1, 2, seed=0, count=1)))
  check_episode(episode, 2, 1, 2)
  assert len(identities.store) == 40


def test_config_checks_dataset_combinations():
  with pytest.raises(ConfigError, match="--eval_n_way=2"):
    Config(data=DataConfig(dataset="celeba_attributes")).validate()
  with pytest.raises(ConfigError, match="no mini-ImageNet"):
    Config(data=DataConfig(dataset="mini_imagenet", source="tfds")).validate()
  with pytest.raises(ConfigError, match="--split='vinyals' is not one of ravi"):
    Config(data=DataConfig(dataset="mini_imagenet", split="vinyals")).validate()
  config = Config(data=DataConfig(dataset="mini_imagenet"))
  assert config.data.image_shape == (84, 84, 3)
  assert config.data.resolved_split == "ravi"


def test_lasium_on_a_hub_generator_then_mini_imagenet_evaluation(tmp_path):
  """End to end: BigBiGAN stand-in tasks, MAML, real-format test tasks."""
  write_mini_imagenet(tmp_path, classes=(2, 2, 6), per_class=8)
  handles = write_hub_modules(tmp_path / "modules")
  config = Config(
      experiment_dir=str(tmp_path / "run"), task_source="lasium",
      data=DataConfig(dataset="mini_imagenet", data_dir=str(tmp_path)),
      lasium=LasiumConfig(generator=handles["bigbigan"], policy="n"),
      maml=MAMLConfig(inner_lr=0.05, inner_steps=1, first_order=True,
                      meta_batch_size=2),
      iterations=2, log_every=1,
      eval=EvalConfig(k_shots=(1,), k_query=2, num_tasks=4, inner_steps=1,
                      tasks_per_call=2))
  outcome = modes.run(config, verbose=False)
  record = outcome["results"][1]
  assert record["dataset"] == "mini_imagenet"
  assert record["hyperparameters"]["split"] == "ravi"
  assert record["hyperparameters"]["generator_info"]["preset"] == "bigbigan"
  assert record["num_tasks"] == 4 and 0 <= record["accuracy"] <= 100
  assert set(load_parts(config.data, ["test"])) == {"test"}
