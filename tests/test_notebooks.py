"""The notebooks run top to bottom (smallest settings, headless kernel)."""

import pytest

from conftest import REPO, need_omniglot
from stand_ins import write_hub_modules

pytestmark = pytest.mark.integration  # Subprocesses and kernels.

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")


def execute(notebook) -> str:
  """Runs a notebook headless in the repository root; returns its text output."""
  client = nbclient.NotebookClient(notebook, timeout=600,
                                   kernel_name="python3",
                                   resources={"metadata": {"path": str(REPO)}})
  client.execute()
  return "".join(o.get("text", "") for cell in notebook.cells
                 if cell.cell_type == "code" for o in cell.get("outputs", []))


def test_quickstart_runs(tmp_path, monkeypatch):
  need_omniglot()
  monkeypatch.setenv("LASIUM_NB_ITERATIONS", "3")
  monkeypatch.setenv("LASIUM_NB_EVAL_TASKS", "4")
  monkeypatch.setenv("LASIUM_NB_EVAL_STEPS", "2")
  monkeypatch.setenv("LASIUM_NB_WORK_DIR", str(tmp_path))
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb",
                           as_version=4)
  outputs = execute(notebook)
  assert "5-way 1-shot:" in outputs
  assert "accuracy on this task:" in outputs
  assert (tmp_path / "exported" / "saved_model.pb").exists()
  # Fit once, classify many: saved, reloaded, and as a TFLite file.
  assert "fitted classifier, one image at a time:" in outputs
  assert "reloaded, same answers: True" in outputs
  assert "TFLite, same answers:" in outputs
  assert (tmp_path / "classifier" / "model.tflite").is_file()


def test_hub_generators_runs_on_stand_in_modules(tmp_path, monkeypatch):
  handles = write_hub_modules(tmp_path)
  monkeypatch.setenv("LASIUM_NB_BIGBIGAN", handles["bigbigan"])
  monkeypatch.setenv("LASIUM_NB_PROGAN", handles["progan"])
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  notebook = nbformat.read(REPO / "notebooks" / "hub_generators.ipynb",
                           as_version=4)
  outputs = execute(notebook)
  assert "BigBiGAN: " in outputs and "latent size 120" in outputs
  assert "ProGAN: " in outputs and "latent size 512" in outputs
  images = [o for cell in notebook.cells if cell.cell_type == "code"
            for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
  assert len(images) == 4  # Two strips and two task figures.


def test_your_images_runs_on_drawn_shapes(tmp_path, monkeypatch):
  """The own-images notebook: demo shapes, GAN, tasks, MAML, export, predict."""
  for name, value in {"GENERATOR_EPOCHS": "1", "ITERATIONS": "3",
                      "EVAL_TASKS": "4", "EVAL_STEPS": "2",
                      "WORK_DIR": str(tmp_path)}.items():
    monkeypatch.setenv(f"LASIUM_NB_{name}", value)
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  notebook = nbformat.read(REPO / "notebooks" / "your_images.ipynb",
                           as_version=4)
  outputs = execute(notebook)
  assert "1000 unlabeled images;" in outputs
  assert "5-way 1-shot:" in outputs and "5-way 5-shot:" in outputs
  assert "query" in outputs and "prediction" in outputs
  assert (tmp_path / "exported" / "saved_model.pb").exists()
  assert (tmp_path / "results_5shot.json").exists()
