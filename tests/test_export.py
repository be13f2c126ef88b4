"""The exported few-shot SavedModel, reloaded in a fresh process."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from lasium_tf.tasks import episodes
from lasium_tf.run import export
from lasium_tf.learners.maml_core import MAML
from lasium_tf.learners.protonets_core import ProtoNets
from lasium_tf.models.backbone import build_backbone, build_classifier
from test_maml import batch_of_tasks, class_images, N_WAY

RELOAD = """
import sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
for task_file, out_file in zip(sys.argv[2::2], sys.argv[3::2]):
  task = np.load(task_file)
  support = dict(support_images=tf.constant(task["support_images"]),
                 support_labels=tf.constant(task["support_labels"]))
  queries = tf.constant(task["query_images"])
  outputs = {}
  for name in model.signatures:
    if name.startswith("few_shot") or name == "serving_default":
      outputs[name] = model.signatures[name](
          **support, query_images=queries)["logits"].numpy()
  # Each query alone, through the default signature.
  outputs["alone"] = np.concatenate([model.signatures["serving_default"](
      **support, query_images=queries[i:i + 1])["logits"].numpy()
      for i in range(len(queries))])
  outputs["embeddings"] = model.signatures["embed"](queries)[
      "embeddings"].numpy()
  np.savez(out_file, **outputs)
"""


def trained(learner_name, normalization="transductive"):
  backbone = build_backbone("code", (16, 16, 1), filters=8,
                            normalization=normalization)
  if learner_name == "maml":
    learner = MAML(build_classifier(backbone, N_WAY), inner_steps=1,
                   first_order=True, eval_inner_steps=5,
                   normalization=normalization)
  else:
    learner = ProtoNets(backbone, normalization=normalization)
  stream = iter(episodes.labelled_episodes(class_images(), N_WAY, 1, 3,
                                           seed=1).batch(2))
  for _ in range(3):
    learner.meta_step(next(stream))
  return learner


def reload_in_fresh_process(path, tasks, folder, check_bad_inputs=False):
  """Each of `tasks` ({name: Episode}) through the SavedModel at `path` in
  one fresh process (only TensorFlow, no lasium_tf): {name: outputs}, and
  with `check_bad_inputs` what the signature said to each bad input."""
  args = []
  for name, task in tasks.items():
    task_file, out_file = folder / f"{name}_task.npz", folder / f"{name}.npz"
    np.savez(task_file,
             **{k: np.asarray(v) for k, v in task._asdict().items()})
    args += [str(task_file), str(out_file)]
  script = RELOAD + (BAD_INPUTS if check_bad_inputs else "")
  result = subprocess.run(
      [sys.executable, "-c", script, str(path), *args],
      capture_output=True, text=True, cwd=folder, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-2000:]
  outputs = {name: np.load(folder / f"{name}.npz") for name in tasks}
  said = dict(line.split(" ", 1) for line in result.stdout.splitlines())
  return outputs, said


def _fewer_ways(task, ways):
  keep_s, keep_q = task.support_labels < ways, task.query_labels < ways
  return episodes.Episode(task.support_images[keep_s],
                          task.support_labels[keep_s],
                          task.query_images[keep_q], task.query_labels[keep_q])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """For each learner, one trained network, one export, and one fresh
  process that answers a task, (MAML) a 2-way task, and the bad inputs."""
  runs = {}
  for learner_name in ("maml", "protonets"):
    folder = tmp_path_factory.mktemp(learner_name)
    learner = trained(learner_name)
    path = export.export(learner, folder / "exported", (16, 16, 1))
    task = episodes.Episode(*(p[0] for p in batch_of_tasks(1, k_query=4,
                                                           seed=5)))
    tasks = {"task": task}
    if learner_name == "maml":
      tasks["two_way"] = _fewer_ways(task, 2)
    outputs, said = reload_in_fresh_process(path, tasks, folder,
                                            check_bad_inputs=True)
    runs[learner_name] = dict(learner=learner, path=path, task=task,
                              outputs=outputs, said=said)
  return runs


@pytest.mark.integration
@pytest.mark.parametrize("learner_name", ["maml", "protonets"])
def test_few_shot_signature_matches_library_evaluation(learner_name,
                                                       exported):
  run = exported[learner_name]
  learner, path, task = run["learner"], run["path"], run["task"]
  assert (path / "saved_model.pb").exists() and (path / "model.keras").exists()
  out = run["outputs"]["task"]
  support_normalised = learner.with_normalization("support")
  ours = support_normalised.few_shot_logits(
      task.support_images, task.support_labels, task.query_images).numpy()
  assert out["few_shot"].shape == (N_WAY * 4, N_WAY)
  np.testing.assert_array_equal(out["few_shot"].argmax(1), ours.argmax(1))
  np.testing.assert_allclose(out["few_shot"], ours, rtol=1e-3, atol=1e-3)
  np.testing.assert_allclose(out["serving_default"], out["few_shot"])
  # An image sent alone gets the logits it gets inside the batch.
  np.testing.assert_allclose(out["alone"], out["few_shot"], atol=1e-4)
  # The paper's procedure under its own name, as the library evaluates it.
  transductive = learner.few_shot_logits(
      task.support_images, task.support_labels, task.query_images).numpy()
  np.testing.assert_allclose(out["few_shot_transductive"], transductive,
                             rtol=1e-3, atol=1e-3)
  assert np.abs(out["few_shot_transductive"] - out["few_shot"]).max() > 1e-3
  accuracy = float(learner.evaluate(
      episodes.Episode(*(p[None] for p in task)))[0])
  assert accuracy == pytest.approx(float(
      (out["few_shot_transductive"].argmax(1)
       == task.query_labels.numpy()).mean()))
  assert out["embeddings"].shape == (N_WAY * 4, 8)
  reloaded = keras.saving.load_model(path / "model.keras")
  assert reloaded.count_params() == learner.model.count_params()


def served_as_the_library_answers(learner, tmp_path, seed):
  """Exports a MAML `learner` with a card, answers one task in a fresh
  process and checks that `few_shot` gives the library's logits, alone as
  in the batch: (path, task, outputs)."""
  path = export.export(learner, tmp_path / "exported", (16, 16, 1),
                       card={"method": "m", "learner": "maml",
                             "meta_iterations": 3, "train_command": "t",
                             "export_command": "e", "results": []})
  task = episodes.Episode(*(p[0] for p in batch_of_tasks(1, k_query=4,
                                                         seed=seed)))
  out = reload_in_fresh_process(path, {"task": task}, tmp_path)[0]["task"]
  ours = learner.few_shot_logits(task.support_images, task.support_labels,
                                 task.query_images).numpy()
  np.testing.assert_allclose(out["few_shot"], ours, rtol=1e-3, atol=1e-3)
  np.testing.assert_allclose(out["alone"], out["few_shot"], atol=1e-4)
  return path, task, out


@pytest.mark.integration
def test_a_tasknorm_network_exports_both_of_its_rules(tmp_path):
  # MAML only: ProtoNets' alone-vs-batch is the test above.
  learner = trained("maml", normalization="tasknorm_i")
  path, task, out = served_as_the_library_answers(learner, tmp_path, seed=6)
  # Beside it, the same network with the query batch as TaskNorm's context.
  batch = learner.with_normalization("tasknorm_i_transductive")
  np.testing.assert_allclose(
      out["few_shot_transductive"],
      batch.few_shot_logits(task.support_images, task.support_labels,
                            task.query_images).numpy(), rtol=1e-3, atol=1e-3)
  assert np.abs(out["few_shot_transductive"] - out["few_shot"]).max() > 1e-3
  card = (path / "card.json").read_text()
  assert '"few_shot": "tasknorm_i"' in card
  assert '"few_shot_transductive": "tasknorm_i_transductive"' in card
  assert "`few_shot` (tasknorm_i)" in (path / "README.md").read_text()
  reloaded = keras.saving.load_model(path / "model.keras")
  assert reloaded.count_params() == learner.model.count_params()


@pytest.mark.integration
def test_maml_export_serves_fewer_ways_than_its_head(exported):
  assert exported["maml"]["outputs"]["two_way"]["few_shot"].shape == (8, 2)


BAD_INPUTS = """
few_shot = model.signatures["few_shot"]
good = dict(support_images=tf.zeros([4, 16, 16, 1]),
            support_labels=tf.constant([0, 1, 2, 2]),
            query_images=tf.zeros([3, 16, 16, 1]))
cases = {
    "size": dict(good, support_images=tf.zeros([4, 32, 32, 1])),
    "query_size": dict(good, query_images=tf.zeros([3, 20, 20, 1])),
    "empty": dict(good, support_images=tf.zeros([0, 16, 16, 1]),
                  support_labels=tf.zeros([0], tf.int32)),
    "negative": dict(good, support_labels=tf.constant([0, 1, -1, 2])),
    "gap": dict(good, support_labels=tf.constant([0, 2, 2, 0])),
    "count": dict(good, support_labels=tf.constant([0, 1, 2])),
    "head": dict(good, support_labels=tf.constant([0, 1, 2, 3])),
    "rank": dict(good, query_images=tf.zeros([3, 16, 16])),
    "nan": dict(good, query_images=tf.fill([3, 16, 16, 1], float("nan"))),
    "bytes": dict(good, support_images=tf.fill([4, 16, 16, 1], 255.0)),
    "negative_pixels": dict(good, query_images=tf.fill([3, 16, 16, 1], -1.0)),
    "float_labels": dict(good, support_labels=tf.constant([0.0, 1.5, 2.0,
                                                           2.0])),
}
for name, inputs in cases.items():
  try:
    few_shot(**inputs)
    print(name, "ACCEPTED")
  except Exception as e:
    message = str(e).splitlines()
    print(name, next((l for l in message if "must" in l or "empty" in l
                      or "outputs" in l or "needs" in l or "NaN" in l),
                     message[0]))
print("good", few_shot(**good)["logits"].shape)
"""


@pytest.mark.integration
@pytest.mark.parametrize("learner_name", ["maml", "protonets"])
def test_few_shot_signature_names_what_is_wrong_with_its_inputs(
    learner_name, exported):
  said = exported[learner_name]["said"]
  assert "float32[batch, 16, 16, 1]" in said["size"]
  assert "query_images must be float32[batch, 16, 16, 1]" in said[
      "query_size"]
  assert "support_images is empty" in said["empty"]
  assert "0 .. N-1" in said["negative"]
  assert "every class" in said["gap"]
  assert "one label per support image" in said["count"]
  assert "query_images must be float32[batch, 16, 16, 1]" in said["rank"]
  assert "query_images holds NaN or infinite values" in said["nan"]
  assert "support_images must lie in [0, 1]: divide 8-bit" in said["bytes"]
  assert "query_images must lie in [0, 1]" in said["negative_pixels"]
  assert said["float_labels"] != "ACCEPTED"  # Refused, never truncated.
  assert "int32" in said["float_labels"]
  if learner_name == "maml":  # Its head has N_WAY = 3 outputs.
    assert "at most 3 classes" in said["head"]
  else:
    assert said["head"] == "ACCEPTED"  # Prototypes take any N.
  assert said["good"] == "(3, 3)"


def test_few_shot_loads_a_model_once_until_its_files_change(tmp_path,
                                                            monkeypatch):
  import tensorflow as tf

  from lasium_tf import few_shot
  (tmp_path / "saved_model.pb").write_bytes(b"x")
  loads = []
  monkeypatch.setattr(tf.saved_model, "load",
                      lambda path: loads.append(path) or object())
  monkeypatch.setattr(few_shot, "_LOADED", {})
  first = few_shot._load(str(tmp_path))
  assert few_shot._load(str(tmp_path)) is first and len(loads) == 1
  os.utime(tmp_path / "saved_model.pb", ns=(1, 1))  # A re-export.
  assert few_shot._load(str(tmp_path)) is not first and len(loads) == 2


@pytest.mark.integration
def test_an_export_adapts_on_the_support_copies_it_was_scored_with(tmp_path):
  """With --eval_support_copies, the SavedModel's few_shot enlarges the
  support set as the library's evaluation does, and its card says so."""
  learner = trained("maml", normalization="support")
  learner.support_copies, learner.support_shift = 2, 2
  path, _, _ = served_as_the_library_answers(learner, tmp_path, seed=7)
  card = json.loads((path / "card.json").read_text())
  assert card["adaptation"]["support_copies"] == 2
  assert "2 copies of each support image" in (path / "README.md").read_text()
