"""The published classifiers answer one image alone as they answer it in a
batch, and the README's first example (one Omniglot image, the best
published backbone, the few_shot command line) classifies it correctly."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, omniglot_set

PUBLISHED = sorted(p for p in (REPO / "pretrained").iterdir()
                   if (p / "card.json").exists()
                   and json.loads((p / "card.json").read_text()).get(
                       "learner") in ("maml", "protonets"))
BEST = REPO / "pretrained" / "lasium_ro_gan_maml_alpha04_tasknorm_i_40k_lr1e4"
# Five characters of one test alphabet of the Vinyals split.
ALPHABET = "images_evaluation/Kannada"


def write_task(root: pathlib.Path, characters=5, queries=3):
  """Support folder (drawing 01 of each character) and query files (the
  next drawings), the official PNGs as they are: black strokes on white."""
  archive = omniglot_set("images_evaluation")
  names = sorted(n for n in archive.namelist()
                 if n.startswith(ALPHABET + "/") and n.endswith(".png"))
  classes = sorted({n.split("/")[2] for n in names})[:characters]
  query_files = []
  for c in classes:
    drawings = sorted(n for n in names if n.split("/")[2] == c)
    (root / "support" / c).mkdir(parents=True)
    (root / "support" / c / "0.png").write_bytes(archive.read(drawings[0]))
    for i, name in enumerate(drawings[1:1 + queries]):
      path = root / "queries" / f"{c}_{i}.png"
      path.parent.mkdir(exist_ok=True)
      path.write_bytes(archive.read(name))
      query_files.append((str(path), c))
  return root / "support", query_files


@pytest.mark.integration
def test_published_classifiers_answer_an_image_alone_as_in_a_batch(tmp_path):
  from lasium_tf import few_shot
  support, queries = write_task(tmp_path)
  assert PUBLISHED
  for model in PUBLISHED:
    card = json.loads((model / "card.json").read_text())
    assert card["signatures"]["few_shot"] != "transductive", model
    together = few_shot.classify(str(model), str(support),
                                 [q for q, _ in queries])["predictions"]
    (query, _), in_batch = queries[7], together[7]
    alone, = few_shot.classify(str(model), str(support),
                               [query])["predictions"]
    assert alone["prediction"] == in_batch["prediction"], model
    for name, p in alone["probabilities"].items():
      assert p == pytest.approx(in_batch["probabilities"][name],
                                abs=2e-3), model
    right = np.mean([p["prediction"] == c
                     for p, (_, c) in zip(together, queries)])
    assert right >= 0.6, (model, right)  # Chance is 0.2.


@pytest.mark.integration
def test_the_readme_example_classifies_one_image(tmp_path):
  support, queries = write_task(tmp_path)
  # The README's query: the second drawing of Kannada's fourth character.
  query, character = next((q, c) for q, c in queries
                          if q.endswith("character04_0.png"))
  readme = (REPO / "README.md").read_text()
  assert ("python -m lasium_tf.few_shot "
          "--model=pretrained/lasium_ro_gan_maml_alpha04_tasknorm_i_40k_lr1e4"
          ) in readme
  assert "Kannada/character04/*_02.png" in readme
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.few_shot", f"--model={BEST}",
       f"--support={support}", f"--query={query}", "--format=json"],
      capture_output=True, text=True, cwd=REPO, timeout=180,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-2000:]
  assert "warning" not in result.stderr
  (prediction,) = json.loads(result.stdout)["predictions"]
  assert prediction["prediction"] == character
  assert prediction["probabilities"][character] > 0.5


@pytest.mark.integration
def test_published_classifiers_read_drawings_of_either_polarity(tmp_path):
  """Every published `few_shot` signature gives the same answers to the
  same drawings as the files have them (dark strokes on a light page) and
  as they were trained (light strokes on a dark page): the support images'
  page decides (issue 48; `scripts/reexport_published.py` gave the
  published models this signature)."""
  import tensorflow as tf

  from lasium_tf.classifier import read_images

  support, queries = write_task(tmp_path)
  names = sorted(p.name for p in support.iterdir())
  support_images = read_images(
      [str(next((support / c).iterdir())) for c in names], (28, 28, 1), False)
  query_images = read_images([q for q, _ in queries], (28, 28, 1), False)
  labels = np.arange(len(names), dtype=np.int32)
  for model in PUBLISHED:
    signature = tf.saved_model.load(str(model)).signatures["few_shot"]
    answers = [signature(support_images=tf.constant(s, tf.float32),
                         support_labels=tf.constant(labels),
                         query_images=tf.constant(q, tf.float32))
               for s, q in ((support_images, query_images),
                            (1.0 - support_images, 1.0 - query_images))]
    as_files, as_trained = (np.argmax(a["logits"], -1) for a in answers)
    np.testing.assert_array_equal(as_files, as_trained, err_msg=str(model))


@pytest.mark.parametrize("name", ["lasium_ro_gan_protonets", "..", ""])
def test_reexporting_never_touches_a_folder_it_did_not_make(
    tmp_path, monkeypatch, name):
  """scripts/reexport_published.py refuses, before any export, a sibling
  folder it would write (NAME.reexport) that holds a user's file, and a
  name that is not a published classifier (the folder above pretrained/,
  pretrained/ itself): every file survives."""
  import runpy

  script = runpy.run_path(str(REPO / "scripts" / "reexport_published.py"))
  (tmp_path / "pretrained" / "lasium_ro_gan_protonets").mkdir(parents=True)
  for f in ("card.json", "model.keras"):
    (tmp_path / "pretrained" / "lasium_ro_gan_protonets" / f).write_bytes(
        (REPO / "pretrained" / "lasium_ro_gan_protonets" / f).read_bytes())
  mine = tmp_path / "pretrained" / "lasium_ro_gan_protonets.reexport"
  mine.mkdir()
  (mine / "notes.txt").write_text("mine")
  (tmp_path / "keep.txt").write_text("mine")
  monkeypatch.chdir(tmp_path)
  with pytest.raises(SystemExit, match="nothing done|Nothing done"):
    script["reexport"](name)
  assert (mine / "notes.txt").read_text() == "mine"
  assert (tmp_path / "keep.txt").read_text() == "mine"
  assert sorted(p.name for p in (tmp_path / "pretrained"
                                 / "lasium_ro_gan_protonets").iterdir()) == [
      "card.json", "model.keras"]
