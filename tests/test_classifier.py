"""Fit once, classify many: `lasium_tf.classifier` and few_shot's
--save_classifier, on tiny networks in seconds."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from lasium_tf.tasks import episodes
from lasium_tf.run import export
from lasium_tf.classifier import FewShotClassifier
from lasium_tf.errors import FewShotError
from conftest import REPO
from test_export import trained
from test_maml import N_WAY, batch_of_tasks


def card_for(learner_name, images=None):
  return {"learner": learner_name, "method": f"tiny {learner_name}",
          "meta_iterations": 3, "train_command": "(a test)",
          "export_command": "(a test)",
          **({"images": images} if images else {})}


def exported_model(folder, learner_name, normalization="transductive",
                   images=None):
  """A tiny meta-trained network exported with its card, as --mode=export
  writes it."""
  learner = trained(learner_name, normalization)
  return export.export(learner, folder / f"{learner_name}_{normalization}",
                       (16, 16, 1), card=card_for(learner_name, images))


def a_task(seed=5):
  return episodes.Episode(*(np.asarray(p[0]) for p in batch_of_tasks(
      1, k_shot=2, k_query=4, seed=seed)))


def signature_logits(path, task, queries=None):
  model = tf.saved_model.load(str(path))
  return model.signatures["few_shot"](
      support_images=tf.constant(task.support_images),
      support_labels=tf.constant(task.support_labels, tf.int32),
      query_images=tf.constant(task.query_images if queries is None
                               else queries))["logits"].numpy()


def tflite_outputs(path, images):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # The interpreter's deprecation notice.
    interpreter = tf.lite.Interpreter(model_path=str(path))
  runner = interpreter.get_signature_runner()
  return runner(images=np.asarray(images, np.float32))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
  folder = tmp_path_factory.mktemp("models")
  return {(name, norm): exported_model(folder, name, norm)
          for name, norm in [("maml", "transductive"),
                             ("protonets", "transductive"),
                             ("maml", "tasknorm_i")]}


@pytest.mark.parametrize("learner_name, normalization", [
    ("maml", "transductive"), ("protonets", "transductive"),
    ("maml", "tasknorm_i")])
def test_a_fitted_classifier_answers_as_the_few_shot_signature(
    models, learner_name, normalization):
  """Same support set and queries: the labels of the export's few_shot
  signature (which adapts again in every call), the probabilities within
  float noise, whether the queries come together or one by one."""
  path = models[learner_name, normalization]
  task = a_task()
  names = ["ring", "cross", "dot"]
  classifier = FewShotClassifier.fit(str(path), task.support_images,
                                     task.support_labels, class_names=names)
  logits = signature_logits(path, task)
  expected = tf.nn.softmax(logits).numpy()
  assert classifier.class_names == names
  np.testing.assert_allclose(classifier.predict_proba(task.query_images),
                             expected, atol=1e-4)
  assert classifier.predict(task.query_images) == [
      names[k] for k in logits.argmax(-1)]
  one_by_one = np.concatenate([classifier.predict_proba(q[None])
                               for q in task.query_images])
  np.testing.assert_allclose(one_by_one, expected, atol=1e-4)
  # Another support set is another classifier.
  other = a_task(seed=9)
  refit = FewShotClassifier.fit(str(path), other.support_images,
                                other.support_labels)
  np.testing.assert_allclose(
      refit.predict_proba(task.query_images),
      tf.nn.softmax(signature_logits(path, other, task.query_images)),
      atol=1e-4)
  assert refit.class_names == ["0", "1", "2"]


def test_a_saved_classifier_reloads_and_its_tflite_file_agrees(models,
                                                               tmp_path):
  task = a_task()
  classifier = FewShotClassifier.fit(str(models["maml", "transductive"]),
                                     task.support_images, task.support_labels,
                                     class_names=["a", "b", "c"])
  out = classifier.save(tmp_path / "clf")
  assert sorted(os.listdir(out)) == ["README.md", "assets", "card.json",
                                     "fingerprint.pb", "model.tflite",
                                     "saved_model.pb", "variables"]
  card = json.loads((out / "card.json").read_text())
  assert card["class_names"] == ["a", "b", "c"]
  assert card["support"]["images_per_class"] == [2, 2, 2]
  assert card["source"]["adaptation"] == {"inner_steps": 5, "inner_lr": 0.4}
  assert "`b`" in (out / "README.md").read_text()
  probabilities = classifier.predict_proba(task.query_images)

  reloaded = FewShotClassifier.load(str(out))
  np.testing.assert_allclose(reloaded.predict_proba(task.query_images),
                             probabilities, atol=1e-6)
  assert reloaded.class_names == ["a", "b", "c"]
  served = tf.saved_model.load(str(out)).signatures["classify"](
      images=tf.constant(task.query_images))
  assert served["labels"].dtype == tf.int32
  np.testing.assert_array_equal(served["labels"].numpy(),
                                probabilities.argmax(-1))
  lite = tflite_outputs(out / "model.tflite", task.query_images)
  np.testing.assert_array_equal(lite["labels"], probabilities.argmax(-1))
  np.testing.assert_allclose(lite["probabilities"], probabilities, atol=1e-4)
  # The reloaded classifier saves a copy of itself.
  copy = reloaded.save(tmp_path / "copy")
  assert FewShotClassifier.load(str(copy)).predict(task.query_images) == (
      classifier.predict(task.query_images))


def test_the_classify_signature_names_what_is_wrong_with_its_images(
    models, tmp_path):
  task = a_task()
  out = FewShotClassifier.fit(str(models["protonets", "transductive"]),
                              task.support_images,
                              task.support_labels).save(tmp_path / "clf")
  classify = tf.saved_model.load(str(out)).signatures["classify"]
  for images, said in [(np.zeros((2, 8, 8, 1)), "must be float32[batch, 16"),
                       (np.full((2, 16, 16, 1), 255.0), "divide 8-bit"),
                       (np.full((1, 16, 16, 1), np.nan), "NaN")]:
    with pytest.raises(tf.errors.InvalidArgumentError, match=said.replace(
        "[", r"\[")):
      classify(images=tf.constant(images, tf.float32))


def drawings(folder, classes, per_class, dark_on_light=True):
  """PNG drawings in class subfolders: a bar whose place is the class."""
  rng = np.random.default_rng(0)
  for k, name in enumerate(classes):
    (folder / name).mkdir(parents=True)
    for i in range(per_class):
      page = np.zeros((28, 28), np.uint8)
      page[4 + 6 * k:8 + 6 * k, 4 + rng.integers(0, 4):20] = 255
      if dark_on_light:
        page = 255 - page
      Image.fromarray(page).save(folder / name / f"{i}.png")
  return folder


def test_a_support_folder_gives_the_class_names_and_the_drawings_polarity(
    tmp_path):
  """Drawn dark on light for a model trained on light strokes: the
  classifier inverts its images as few_shot does, and says in its card
  that it takes drawings as its support set's."""
  path = exported_model(tmp_path, "protonets", images="white strokes")
  support = drawings(tmp_path / "support", ["bar_top", "bar_mid",
                                            "bar_low"], 2)
  classifier = FewShotClassifier.fit(str(path), str(support))
  assert classifier.class_names == ["bar_low", "bar_mid", "bar_top"]
  assert classifier.card["images"] == "black strokes"
  from lasium_tf import few_shot
  queries = sorted(str(p) for p in support.rglob("*.png"))
  expected = few_shot.classify(str(path), str(support), queries)
  from lasium_tf.classifier import read_images
  assert classifier.predict(read_images(queries, [16, 16, 1])) == [
      r["prediction"] for r in expected["predictions"]]


@pytest.mark.parametrize("support, labels, names, said", [
    (np.zeros((4, 16, 16, 1)), [0, 0, 0, 0], None, "has one class"),
    (np.zeros((4, 20, 20, 1)), [0, 1, 0, 1], None, "resize them"),
    (np.zeros((4, 16, 16, 1)), None, None, "need labels"),
    (np.zeros((4, 16, 16, 1)), [0, 2, 0, 2], None, "every class 0 .. N-1"),
    (np.full((4, 16, 16, 1), 255.0), [0, 1, 0, 1], None, "divide 8-bit"),
    (np.zeros((4, 16, 16, 1)), [0, 1, 0, 1], ["x"], "one name per class"),
    (np.zeros((8, 16, 16, 1)), [0, 1, 2, 3] * 2, None, "head has 3 outputs"),
])
def test_fit_refuses_a_support_set_it_cannot_learn(models, support, labels,
                                                   names, said):
  with pytest.raises(FewShotError, match=said):
    FewShotClassifier.fit(str(models["maml", "transductive"]), support,
                          labels, class_names=names)


def test_fit_refuses_what_is_not_a_few_shot_model(models, tmp_path):
  task = a_task()
  fit = lambda path: FewShotClassifier.fit(str(path), task.support_images,
                                           task.support_labels)
  with pytest.raises(FewShotError, match="not a few-shot model"):
    fit(tmp_path)
  maml = models["maml", "transductive"]
  clf = fit(maml).save(tmp_path / "clf")
  with pytest.raises(FewShotError, match="already fitted"):
    fit(clf)
  for edit, said in [(lambda c: c.pop("adaptation"), "how MAML adapts"),
                     (lambda c: c.update(signatures={"few_shot":
                                                     "transductive"}),
                      "export it again"),
                     (lambda c: c.update(learner="reptile"), "reptile")]:
    copy = tmp_path / f"edited_{len(said)}"
    subprocess.run(["cp", "-r", str(maml), str(copy)], check=True)
    card = json.loads((copy / "card.json").read_text())
    edit(card)
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(FewShotError, match=said):
      fit(copy)


def test_save_never_replaces_a_folder_of_the_users(models, tmp_path):
  task = a_task()
  classifier = FewShotClassifier.fit(str(models["protonets", "transductive"]),
                                     task.support_images, task.support_labels)
  mine = tmp_path / "mine"
  mine.mkdir()
  (mine / "notes.txt").write_text("keep me")
  with pytest.raises(FewShotError, match="holds files no export"):
    classifier.save(mine)
  assert (mine / "notes.txt").read_text() == "keep me"
  first = classifier.save(tmp_path / "clf")
  assert classifier.save(first) == first  # An earlier export is replaced.



def test_save_never_replaces_the_model_it_was_fitted_from(tmp_path):
  """Neither the exported model the classifier came from, nor the folder
  above it, nor another meta-learned model's export is overwritten; the
  command line refuses the same before it fits."""
  from types import SimpleNamespace

  from lasium_tf import few_shot

  source = exported_model(tmp_path, "protonets")
  other = exported_model(tmp_path / "other", "protonets")
  before = {p: p.read_bytes() for p in sorted(source.rglob("*"))
            if p.is_file()}
  task = a_task()
  classifier = FewShotClassifier.fit(str(source), task.support_images,
                                     task.support_labels)
  for target, said in [(source, "the folder being exported"),
                       (tmp_path, "the folder being exported"),
                       (other, "holds an exported model")]:
    with pytest.raises(FewShotError, match=said):
      classifier.save(target)
  support = drawings(tmp_path / "support", ["a", "b"], 1)
  with pytest.raises(FewShotError, match="the folder being exported"):
    few_shot._run(SimpleNamespace(
        model=str(source), support=str(support), query=[],
        save_classifier=str(source), skip_bad_images=False))
  assert {p: p.read_bytes() for p in sorted(source.rglob("*"))
          if p.is_file()} == before
  assert (other / "saved_model.pb").is_file()
  # A new folder: saved, and the queries answered by the fitted classifier.
  result = few_shot._run(SimpleNamespace(
      model=str(source), support=str(support), query=[str(support)],
      save_classifier=str(tmp_path / "new"), skip_bad_images=False))
  assert result["classes"] == ["a", "b"] and len(result["predictions"]) == 2
  assert (tmp_path / "new" / "model.tflite").is_file()


def few_shot_cli(*args):
  return subprocess.run(
      [sys.executable, "-m", "lasium_tf.few_shot", *args],
      capture_output=True, text=True, cwd=REPO, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


@pytest.mark.integration
def test_the_command_line_saves_a_classifier_then_classifies_with_it(
    tmp_path):
  """--save_classifier, then --model=OUT without --support: the same
  predictions as the few_shot signature with the support folder, in a
  process with no TensorFlow INFO lines; refusals are one error line."""
  path = exported_model(tmp_path, "maml", images="white strokes")
  support = drawings(tmp_path / "support", ["one", "two", "three"], 2)
  queries = drawings(tmp_path / "queries", ["q1", "q2", "q3"], 1)
  out = tmp_path / "classifier"
  saved = few_shot_cli(f"--model={path}", f"--support={support}",
                       f"--save_classifier={out}")
  assert saved.returncode == 0, saved.stderr
  assert saved.stderr.strip().splitlines() == [
      f"Saved the classifier (3 classes) to {out}; classify with: python -m "
      f"lasium_tf.few_shot --model={out} --query=IMAGE"]
  served = few_shot_cli(f"--model={out}", f"--query={queries}",
                        "--format=json")
  direct = few_shot_cli(f"--model={path}", f"--support={support}",
                        f"--query={queries}", "--format=json")
  assert served.returncode == direct.returncode == 0, served.stderr
  assert [r["prediction"] for r in json.loads(served.stdout)["predictions"]
          ] == [r["prediction"]
                for r in json.loads(direct.stdout)["predictions"]]
  refused = few_shot_cli(f"--model={path}", f"--support={support}",
                         f"--save_classifier={support}")
  assert refused.returncode == 2, refused.stderr
  lines = refused.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and (
      "holds files no export" in lines[0]), lines
  assert sorted(p.name for p in support.iterdir()) == ["one", "three", "two"]


def test_the_command_line_refuses_what_it_cannot_do_by_name(models,
                                                            tmp_path):
  """What few_shot's flags ask, checked before any image is read (its
  main prints each as one `error:` line, as the test above shows)."""
  from types import SimpleNamespace

  from lasium_tf import few_shot

  path = str(models["protonets", "transductive"])
  task = a_task()
  saved = str(FewShotClassifier.fit(path, task.support_images,
                                    task.support_labels).save(
                                        tmp_path / "clf"))
  support = drawings(tmp_path / "support", ["one", "two"], 1)

  def flags(**given):
    return SimpleNamespace(**{"model": path, "support": None, "query": [],
                              "save_classifier": None,
                              "skip_bad_images": False, **given})

  for given, said in [
      ({"query": [str(support)]}, "give --support=FOLDER"),
      ({"model": saved, "support": str(support), "query": [str(support)]},
       "drop --support"),
      ({"save_classifier": str(tmp_path / "x")}, "give --support=FOLDER too"),
      ({"model": str(tmp_path)}, "not a SavedModel folder")]:
    with pytest.raises(FewShotError, match=said):
      few_shot._run(flags(**given))


def test_image_files_are_resized_as_the_models_data_set_was():
  """Omniglot's loader resizes without an antialiasing filter, folders
  with one: a model's files are read as its training images were, whatever
  its card says or, for older cards, its data set."""
  from lasium_tf.classifier import resizes_with_antialias
  assert resizes_with_antialias({"dataset": "omniglot"}) is False
  assert resizes_with_antialias({"dataset": "folder"}) is True
  assert resizes_with_antialias({"dataset": "omniglot",
                                 "antialias": True}) is True
  assert resizes_with_antialias({}) is True


def test_the_exported_signature_reads_either_polarity_of_drawings(tmp_path):
  """A model trained on light strokes (card: "white strokes") given the
  same drawings dark on light paper answers as it does to them light on
  dark: its few_shot signature inverts both sets when the support images'
  page is light."""
  from lasium_tf.classifier import read_images

  path = exported_model(tmp_path, "maml", images="white strokes")
  folder = drawings(tmp_path / "support", ["a", "b", "c"], 2,
                    dark_on_light=False)
  files = sorted(str(p) for p in folder.rglob("*.png"))
  light_on_dark = read_images(files, [16, 16, 1])
  labels = np.repeat(np.arange(3), 2).astype(np.int32)
  support = episodes.Episode(light_on_dark, labels, light_on_dark, labels)
  as_trained = signature_logits(path, support)
  dark = episodes.Episode(1 - light_on_dark, labels, 1 - light_on_dark,
                          labels)
  np.testing.assert_allclose(signature_logits(path, dark), as_trained,
                             atol=1e-5)
