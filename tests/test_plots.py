"""Accuracy-against-budget figures from result JSONs."""

import json

import pytest

from lasium_tf import plots, rundir
from lasium_tf.records import schema

pytest.importorskip("matplotlib")


def record(method, accuracy, iterations, epochs=None, sigma2=0.5, k_shot=1,
           study=None):
  hyper = {"policy": "n", "sigma2": sigma2}
  if epochs is not None:
    hyper["generator_info"] = {"kind": "gan", "epochs": epochs}
  out = {"method": method, "k_shot": k_shot, "accuracy": accuracy,
         "ci95": 0.5, "budget": {"meta_iterations": iterations},
         "hyperparameters": hyper}
  if study:
    out["study"] = study
  return out


def test_curves_group_by_method_policy_and_budget(tmp_path):
  records = [
      record("LASIUM-N-GAN-MAML", 60.0, 1000, epochs=5, study="gan_epochs"),
      record("LASIUM-N-GAN-MAML", 70.0, 1000, epochs=20),
      record("LASIUM-N-GAN-MAML", 65.0, 1000, epochs=20, sigma2=1.0),
      record("LASIUM-N-GAN-MAML", 75.0, 10000, epochs=20),
      record("Supervised MAML", 91.0, 10000),
  ]
  # A check's run (read first: r0) is never a point of a budget curve.
  records.insert(0, record("LASIUM-N-GAN-MAML", 10.0, 1000, epochs=5,
                           study="decode_precision"))
  for i, r in enumerate(records):
    (tmp_path / f"r{i}.json").write_text(json.dumps(r))
  paths, curves = plots.draw(tmp_path, tmp_path / "figures")
  epochs = curves["generator_epochs"]
  assert list(epochs) == ["LASIUM-N-GAN-MAML sigma^2=0.5, 1-shot"]
  assert [p[:2] for p in epochs["LASIUM-N-GAN-MAML sigma^2=0.5, 1-shot"]] == [
      (5, 60.0), (20, 70.0)]
  iterations = curves["meta_iterations"]
  assert list(iterations) == [
      "LASIUM-N-GAN-MAML sigma^2=0.5, generator 20 ep, 1-shot"]
  for path in paths:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert not list((tmp_path / "figures").glob("*.tmp.png"))


def test_gpu_trained_generators_get_their_own_curves(tmp_path):
  def run(accuracy, epochs, command):
    r = record("LASIUM-N-GAN-MAML", accuracy, 1000, epochs=epochs)
    r["hyperparameters"]["generator_info"]["train_command"] = command
    return r

  jax = "python scripts/gan_jax.py --action=train --out=runs/a"
  records = [
      record("LASIUM-N-GAN-MAML", 53.0, 1000, epochs=5),
      record("LASIUM-N-GAN-MAML", 50.0, 1000, epochs=19),
      run(60.0, 30, jax),
      dict(run(67.0, 140, jax), config={"data": {"strokes": "black"}}),
      run(65.0, 140, jax),
      run(61.0, 140, jax + " --generator_beta1=0.5"),
      dict(run(66.0, 151, jax), config={"data": {"split": "authors"}}),
  ]
  curves = plots.generator_epoch_curves(
      [schema.summarize(r) for r in records])
  assert sorted(curves) == [
      "LASIUM-N-GAN-MAML (JAX-trained) sigma^2=0.5, 1-shot",
      "LASIUM-N-GAN-MAML sigma^2=0.5, 1-shot"]
  assert [p[:2] for p in curves[
      "LASIUM-N-GAN-MAML (JAX-trained) sigma^2=0.5, 1-shot"]] == [
          (30, 60.0), (140, 65.0)]


def test_one_summary_serves_report_and_plots_for_records_of_any_age():
  """Older records kept split and ink under "config" only; new ones under
  "hyperparameters" too. `summarize` reads both the same way."""
  old = record("LASIUM-N-GAN-MAML", 60.0, 1000, epochs=30)
  old["config"] = {"data": {"split": "authors", "strokes": "black"}}
  new = record("LASIUM-N-GAN-MAML", 60.0, 1000, epochs=30)
  new["hyperparameters"].update(split="authors", strokes="black",
                                recipe="ours", train_rotations=True,
                                train_task={"k_shot": 5, "query_shift": 3,
                                            "shift_fill": "background"})
  new["hyperparameters"]["generator_info"]["train_command"] = (
      "python -m lasium_tf.main --mode=train_generator "
      "--generator_backend=jax --generator_beta1=0.5")
  a, b = schema.summarize(old), schema.summarize(new)
  assert (a.split, a.strokes, a.recipe, a.generator_run) == (
      "authors", "black", "none", "")
  assert (b.split, b.strokes, b.recipe, b.trained_shot) == (
      "authors", "black", "ours", 5)
  assert b.generator_run == " (JAX-trained, Adam beta1 0.5)"
  new["hyperparameters"]["generator_info"]["objective"] = {
      "generator_loss": "summed_logits", "fake_targets": "overshoot"}
  assert schema.summarize(new).generator_run == (
      " (JAX-trained, Adam beta1 0.5, authors' GAN recipe)")
  assert b.settings == "sigma2 0.5, shift 3 (background), rotation classes"
  assert plots._data(a) == ", authors split, black strokes"
