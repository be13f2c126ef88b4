"""The notebooks run top to bottom (smallest settings, headless kernel)."""

import pytest

from conftest import REPO, SHARED_OMNIGLOT

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")


def test_quickstart_runs(tmp_path, monkeypatch):
  if not SHARED_OMNIGLOT.exists():
    pytest.skip("needs the local Omniglot copy")
  monkeypatch.setenv("LASIUM_NB_ITERATIONS", "3")
  monkeypatch.setenv("LASIUM_NB_EVAL_TASKS", "4")
  monkeypatch.setenv("LASIUM_NB_EVAL_STEPS", "2")
  monkeypatch.setenv("LASIUM_NB_WORK_DIR", str(tmp_path))
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  notebook = nbformat.read(REPO / "notebooks" / "quickstart.ipynb",
                           as_version=4)
  client = nbclient.NotebookClient(notebook, timeout=600,
                                   kernel_name="python3",
                                   resources={"metadata": {"path": str(REPO)}})
  client.execute()
  outputs = "".join(o.get("text", "") for cell in notebook.cells
                    if cell.cell_type == "code" for o in cell.get("outputs", []))
  assert "5-way 1-shot:" in outputs
  assert "accuracy on this task:" in outputs
  assert (tmp_path / "exported" / "saved_model.pb").exists()
