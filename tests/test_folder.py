"""Your own images (--dataset=folder): reading, tasks, generator, CLI."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf import few_shot
from lasium_tf.run import modes
from lasium_tf.data import DataError, folder, load_parts, shapes

REPO = pathlib.Path(__file__).resolve().parents[1]


def write(path, image, fmt=None):
  """uint8 [H, W, C] to a PNG or JPEG file (by suffix or `fmt`)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fmt = fmt or path.suffix.lower()
  encode = tf.io.encode_png if fmt == ".png" else tf.io.encode_jpeg
  path.write_bytes(encode(image).numpy())


def grey(value, size=8):
  return np.full((size, size, 1), value, np.uint8)


def colour(value, size=8):
  return np.full((size, size, 3), value, np.uint8)


def labelled_folder(root, counts, size=8):
  """Class c's images are all of grey level 20 c + 10: identity-revealing."""
  for c, n in enumerate(counts):
    for i in range(n):
      write(pathlib.Path(root) / f"class_{c}" / "deep" / f"{i}.png",
            grey(20 * c + 10, size))
  return str(root)


@pytest.fixture(autouse=True)
def fresh_scans():
  folder.scan.cache_clear()
  yield
  folder.scan.cache_clear()


def test_channels_are_read_from_png_and_jpeg_headers(tmp_path):
  rgba = np.zeros((4, 4, 4), np.uint8)
  cases = {"g.png": grey(1), "c.png": colour(1), "a.png": rgba,
           "g.jpg": grey(1), "c.jpeg": colour(1)}
  for name, image in cases.items():
    write(tmp_path / name, image)
  (tmp_path / "junk.png").write_bytes(b"not an image at all")
  assert {n: folder.header_channels(str(tmp_path / n)) for n in cases} == {
      "g.png": 1, "c.png": 3, "a.png": 3, "g.jpg": 1, "c.jpeg": 3}
  assert folder.header_channels(str(tmp_path / "junk.png")) is None


def test_scan_finds_images_at_any_depth_and_only_images(tmp_path):
  write(tmp_path / "b.png", grey(1))
  write(tmp_path / "x" / "y" / "a.JPG", grey(1))
  (tmp_path / "notes.txt").write_text("hello")
  found = folder.scan(str(tmp_path))
  assert [pathlib.Path(p).name for p in found.paths] == ["b.png", "a.JPG"]
  assert found.channels == (1, 1) and found.skipped == ()


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("x"), "is a file, not a folder"),
    (lambda p: p.mkdir(), "holds no images"),
])
def test_a_missing_empty_or_wrong_folder_is_named(tmp_path, make, match):
  target = tmp_path / "images"
  make(target)
  with pytest.raises(DataError, match=match):
    folder.scan(str(target))


def test_an_undecodable_file_is_named_or_skipped_and_counted(tmp_path, capsys):
  write(tmp_path / "good.png", grey(1))
  (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
  with pytest.raises(DataError, match=r"broken\.jpg .*--skip_bad_images"):
    folder.scan(str(tmp_path))
  folder.scan.cache_clear()
  found = folder.scan(str(tmp_path), skip_bad=True)
  assert len(found.paths) == 1 and len(found.skipped) == 1
  assert "Skipped 1 unreadable" in capsys.readouterr().err


def test_mixed_channel_counts_are_an_error_naming_one_of_each(tmp_path):
  write(tmp_path / "grey.png", grey(1))
  write(tmp_path / "rgb.png", colour(1))
  with pytest.raises(DataError, match=r"1 grey \(e\.g\. .*grey\.png\) and 1 "
                     r"colour \(e\.g\. .*rgb\.png\).*--channels=1"):
    folder.folder_channels(str(tmp_path), None)


def test_class_folders_refuse_loose_images_and_a_single_class(tmp_path):
  write(tmp_path / "a" / "1.png", grey(1))
  with pytest.raises(DataError, match="at least 2"):
    folder.class_folders(str(tmp_path))
  write(tmp_path / "loose.png", grey(1))
  with pytest.raises(DataError, match="belong to no class"):
    folder.class_folders(str(tmp_path))


def test_labelled_tasks_keep_each_class_together(tmp_path, capsys):
  root = labelled_folder(tmp_path / "eval", [4, 4, 4, 4, 2])
  data = folder.load_labelled(root, 8, 1)
  assert data.class_names == tuple(f"class_{c}" for c in range(5))
  episodes = list(data.episodes(3, 1, 2, seed=5, count=6))
  # class_4 has 2 images, fewer than K_tr + K_val = 3: never drawn, said so.
  assert "never drawn: class_4" in capsys.readouterr().err
  drawn = set()
  for e in episodes:
    support = np.round(e.support_images.numpy().mean(axis=(1, 2, 3)) * 255)
    query = np.round(e.query_images.numpy().mean(axis=(1, 2, 3)) * 255)
    assert len(set(support)) == 3  # Three different classes.
    for label, level in enumerate(support):
      assert set(query[e.query_labels.numpy() == label]) == {level}
    drawn.update(support)
  assert 90.0 not in drawn  # class_4's level.
  assert episodes[0].support_images.shape == (3, 8, 8, 1)
  again = next(iter(data.episodes(3, 1, 2, seed=5, count=1)))
  np.testing.assert_array_equal(again.support_images,
                                episodes[0].support_images)


def test_too_many_ways_for_the_classes_is_a_clear_error(tmp_path):
  data = folder.load_labelled(labelled_folder(tmp_path, [3, 3]), 8, 1)
  with pytest.raises(ValueError, match="has only 2; lower --n_way"):
    data.check(5, 1, 1, "the folder")


def test_colour_files_read_grey_and_resized(tmp_path):
  write(tmp_path / "a.png", colour(200, size=12))
  write(tmp_path / "b.jpg", colour(100, size=20))
  images = folder.load_unlabeled(str(tmp_path), 8, 1)
  batch = images.fetch(tf.constant([0, 1])).numpy()
  assert batch.shape == (2, 8, 8, 1)
  np.testing.assert_allclose(batch.mean(axis=(1, 2, 3)), [200 / 255,
                                                          100 / 255],
                             atol=0.02)
  assert images.unlabeled().shape == (2, 8, 8, 1)
  assert images.unlabeled(limit=1).shape == (1, 8, 8, 1)


def folder_config(tmp_path, dirs, **overrides):
  return dataclasses.replace(config_lib.Config(
      experiment_dir=str(tmp_path / "run"), task_source="lasium",
      data=config_lib.DataConfig(dataset="folder",
                                 data_dir=str(dirs["data_dir"]),
                                 eval_data_dir=str(dirs["eval_data_dir"])),
      task=config_lib.TaskConfig(n_way=5, k_shot=1, k_query=2),
      maml=config_lib.MAMLConfig(inner_steps=1, first_order=True,
                                 meta_batch_size=2),
      eval=config_lib.EvalConfig(k_shots=(1,), k_query=3, num_tasks=4,
                                 inner_steps=2, tasks_per_call=2),
      generative=config_lib.GenerativeConfig(epochs=1, batch_size=25,
                                             samples_every=1),
      iterations=2, checkpoint_every=2, log_every=1), **overrides)


@pytest.mark.parametrize("change, match", [
    (dict(task_source="labelled"), "carry no labels"),
    (dict(mode="evaluate", data=config_lib.DataConfig(
        dataset="folder", data_dir="x")), "needs --eval_data_dir"),
    (dict(mode="train_generator", data=config_lib.DataConfig(
        dataset="folder")), "needs --data_dir"),
    (dict(data=config_lib.DataConfig(dataset="folder", channels=2,
                                     eval_data_dir="x")), "--channels"),
    (dict(data=config_lib.DataConfig(eval_data_dir="x")), "--eval_data_dir"),
])
def test_folder_configs_that_cannot_work_are_refused(tmp_path, change, match):
  config = folder_config(tmp_path, {"data_dir": "a", "eval_data_dir": "b"},
                         lasium=config_lib.LasiumConfig(generator="g"))
  with pytest.raises(config_lib.ConfigError, match=match):
    dataclasses.replace(config, **change).validate()


def test_channels_come_from_the_images_when_not_given(tmp_path):
  dirs = shapes.write_shapes(tmp_path / "shapes", per_class=2, channels=3)
  config = folder_config(tmp_path, dirs, mode="train_generator")
  assert modes.with_folder_channels(config).data.channels == 3
  given = dataclasses.replace(config, data=dataclasses.replace(
      config.data, channels=1))
  assert modes.with_folder_channels(given).data.channels == 1


def test_shapes_are_distinct_classes_in_the_folder_layout(tmp_path):
  dirs = shapes.write_shapes(tmp_path, per_class=3)
  assert len(folder.scan(str(dirs["data_dir"])).paths) == 15
  classes = folder.class_folders(str(dirs["eval_data_dir"]))
  assert tuple(classes) == tuple(sorted(shapes.TEST_SHAPES))
  names = [pathlib.Path(p).name for p in folder.scan(
      str(dirs["data_dir"])).paths]
  assert not any(s in n for n in names for s in shapes.SHAPES)
  masks = [shapes.shape_mask(s, [0, 1], 28) for s in shapes.SHAPES]
  for i in range(len(masks)):
    for j in range(i + 1, len(masks)):
      assert (masks[i] != masks[j]).any()


@pytest.mark.integration
def test_own_images_end_to_end_generator_lasium_maml_export_and_cli(tmp_path):
  """Shapes -> GAN -> LASIUM tasks -> MAML -> result -> export -> few_shot."""
  dirs = shapes.write_shapes(tmp_path / "shapes", per_class=10)
  gan_dir = str(tmp_path / "gan")
  base = folder_config(tmp_path, dirs)
  out = modes.run(dataclasses.replace(base, mode="train_generator",
                                      experiment_dir=gan_dir), verbose=False)
  assert out["epochs"] == 1
  saved = json.loads((pathlib.Path(gan_dir) / "config.json").read_text())
  assert saved["data"]["channels"] == 1 and saved["data"]["dataset"] == "folder"
  published = tmp_path / "published_gan"
  modes.run(dataclasses.replace(base, mode="export_generator",
                                experiment_dir=gan_dir,
                                export_dir=str(published)), verbose=False)
  readme = (published / "README.md").read_text()
  assert "Your images' GAN" in readme and "float32[batch,\n  28, 28, 1]" in readme
  results = str(tmp_path / "results_{k_shot}shot.json")
  val_dir = labelled_folder(tmp_path / "val", [4] * 5, size=28)
  run = dataclasses.replace(base, lasium=config_lib.LasiumConfig(
      generator=gan_dir, policy="ro"), results_file=results,
      method="LASIUM-RO-GAN-MAML (shapes)",
      data=dataclasses.replace(base.data, val_data_dir=val_dir),
      eval=dataclasses.replace(base.eval, val_tasks=2))
  out = modes.run(run, verbose=False)
  record = out["results"][1]
  assert record["num_tasks"] == 4 and 0 <= record["accuracy"] <= 100
  # The validation folder scored the one checkpoint, which was evaluated.
  assert record["selection"]["meta_iteration"] == 2
  scored = json.loads((tmp_path / "run" / "selection.json").read_text())
  assert [s["meta_iteration"] for s in scored["scores"]] == [2]
  assert scored["split"] == "val" and scored["num_tasks"] == 2
  written = json.loads(pathlib.Path(results.format(k_shot=1)).read_text())
  assert written["hyperparameters"]["split"] == "folders"
  export_dir = str(tmp_path / "exported")
  # Exported without the validation flags: still the selected checkpoint.
  modes.run(dataclasses.replace(run, mode="export", export_dir=export_dir,
                                data=base.data, eval=base.eval),
            verbose=False)
  card = json.loads((pathlib.Path(export_dir) / "card.json").read_text())
  assert card["images"] == "grey" and card["dataset"] == "folder"
  assert card["selection"]["meta_iteration"] == 2

  support = tmp_path / "support"
  for shape in ("hbar", "vbar", "ring"):
    for i in range(2):
      write(support / shape / f"{i}.png",
            shapes.shape_image(shape, [9, i], 28))
  query = tmp_path / "query.png"
  write(query, shapes.shape_image("vbar", [9, 7], 28))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  cli = [sys.executable, "-m", "lasium_tf.few_shot", f"--model={export_dir}",
         f"--support={support}", f"--query={query}"]
  table = subprocess.run(cli, capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120)
  assert table.returncode == 0, table.stderr
  header, row = table.stdout.strip().splitlines()
  assert header.split() == ["query", "prediction", "p(hbar)", "p(ring)",
                            "p(vbar)"]
  # The same call in this process (the command line's error lines have
  # their own tests in test_reliability): JSON, and a one-class support set.
  result = json.loads(few_shot.render(
      few_shot.classify(export_dir, str(support), [str(query)]), "json"))
  (prediction,) = result["predictions"]
  assert prediction["prediction"] == row.split()[1]
  assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-3)
  write(tmp_path / "one" / "ring" / "0.png", shapes.shape_image("ring", 1))
  with pytest.raises(DataError, match="at least 2"):
    few_shot.classify(export_dir, str(tmp_path / "one"), [str(query)])


def test_few_shot_refuses_a_folder_that_is_not_a_model(tmp_path):
  from lasium_tf import few_shot
  with pytest.raises(few_shot.FewShotError, match="not a SavedModel"):
    few_shot.classify(str(tmp_path), str(tmp_path), [str(tmp_path)])


def test_few_shot_renders_table_csv_and_json():
  from lasium_tf import few_shot
  result = {"classes": ["a", "b"], "predictions": [
      {"query": "q.png", "prediction": "b",
       "probabilities": {"a": 0.25, "b": 0.75}}]}
  assert few_shot.render(result, "csv") == (
      "query,prediction,p(a),p(b)\nq.png,b,0.2500,0.7500")
  assert few_shot.render(result, "table").splitlines()[1].split() == [
      "q.png", "b", "0.2500", "0.7500"]
  assert json.loads(few_shot.render(result, "json")) == result


def test_small_colour_images_get_the_stride_2_backbone():
  """The mini-ImageNet network needs 46+ pixels; a 32-pixel folder works."""
  from lasium_tf.models.backbone import build_backbone
  small = build_backbone("code", (32, 32, 3))
  assert small.output_shape == (None, 64)
  assert any(getattr(l, "strides", None) == (2, 2) for l in small.layers)
  large = build_backbone("code", (84, 84, 3))
  assert large.output_shape == (None, 32 * 3 * 3)  # 84 -> 41 -> 19 -> 8 -> 3.


def write_polarity_pair(root):
  """The same drawings twice: as drawn (black on white) and inverted."""
  from conftest import character_image
  for name, invert in (("light", False), ("dark", True)):
    for c in range(3):
      for d in range(4):
        image = character_image(c, d + 1)
        if invert:
          image = 255 - image
        write(root / name / f"c{c}" / f"{d}.png", image)
  return root / "light", root / "dark"


def test_polarity_is_detected_both_ways_and_sets_the_shift_fill(tmp_path):
  light, dark = write_polarity_pair(tmp_path)
  assert folder.detect_background(str(light), None, 28) == "light"
  assert folder.detect_background(None, str(dark), 28) == "dark"
  for path, background, fill in ((light, "light", 1.0), (dark, "dark", 0.0)):
    config = modes.with_folder_background(modes.with_folder_channels(
        config_lib.Config(mode="train_generator", data=config_lib.DataConfig(
            dataset="folder", data_dir=str(path)))))
    assert config.data.background == background
    assert config.resolved_shift_fill == fill
    assert config.data.ink == ("black" if background == "light" else "white")
  # Given, it is not detected; and it is refused where it means nothing.
  given = config_lib.Config(mode="train_generator", data=config_lib.DataConfig(
      dataset="folder", data_dir=str(light), background="dark", channels=1))
  assert modes.with_folder_background(given).data.background == "dark"
  with pytest.raises(config_lib.ConfigError, match="--background is"):
    config_lib.Config(data=config_lib.DataConfig(background="light")).validate()


def test_pictures_of_a_light_folder_show_its_strokes_dark(tmp_path):
  """The training-task picture of a dark-on-light folder looks like its
  files: a light page with dark strokes (not inverted)."""
  from lasium_tf.run import experiment
  from lasium_tf.records import pictures
  light, _ = write_polarity_pair(tmp_path)
  config = modes.with_folder_background(modes.with_folder_channels(
      config_lib.Config(mode="train_generator", experiment_dir=str(
          tmp_path / "run"), data=config_lib.DataConfig(
              dataset="folder", data_dir=str(light)))))
  files = folder.load_unlabeled(str(light), 28, 1).fetch(
      tf.range(10)).numpy()

  class Sampler:
    def episodes(self, seed, first, count):
      del seed, first
      from lasium_tf.tasks.episodes import Episode
      images = tf.constant(np.stack([files[:5]] * count))
      labels = tf.tile(tf.range(5)[None], [count, 1])
      return Episode(images, labels, images, labels)

  path = experiment.save_training_tasks(config, Sampler())
  picture = tf.io.decode_png(tf.io.read_file(path)).numpy()
  drawn = pictures.task_picture(1.0 - files[:5], 1.0 - files[:5], 5)
  np.testing.assert_array_equal(picture[:, :drawn.shape[1]], drawn)
  assert pictures.to_rgb_uint8(1.0 - files[:1])[0, 0, 0, 0] > 200  # Paper.


def test_draw_tasks_strips_show_a_light_folder_as_its_files_look(tmp_path):
  """--mode=draw_tasks' pictures follow the polarity too: decoded
  light-paper images stay light paper with dark strokes."""
  from lasium_tf.records import pictures
  light, _ = write_polarity_pair(tmp_path)
  files = folder.load_unlabeled(str(light), 28, 1).fetch(tf.range(4)).numpy()

  class Generator:
    def decode(self, z):
      return tf.constant(np.resize(files, (int(z.shape[0]),) + files.shape[1:]))

  starts, ends = tf.zeros([2, 3]), tf.ones([2, 3])
  as_files = pictures.interpolation_strips(Generator(), starts, ends,
                                           scale=1, ink="black")
  inverted = pictures.interpolation_strips(Generator(), starts, ends, scale=1)
  corner = (slice(22, 28), slice(22, 28))  # Paper of the first image.
  assert as_files[corner].min() > 200 and inverted[corner].max() < 60
