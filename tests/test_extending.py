"""docs/extending.md runs as printed: each plug-in module the page shows is
written to a folder outside the repository, and each command and Python
block is run there, as a user would, with Omniglot found by the library's
own data-location chain."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, need_omniglot

pytestmark = pytest.mark.integration  # Subprocesses on the real data.

PAGE = REPO / "docs" / "extending.md"


def blocks():
  """(language, text) of every fenced code block of the page, in order."""
  return re.findall(r"```(\w+)\n(.*?)```", PAGE.read_text(), re.S)


def run_in(folder, language, text):
  env = dict(os.environ, LASIUM_DATA_DIR=str(need_omniglot().parent),
             TF_CPP_MIN_LOG_LEVEL="3")
  command = (["bash", "-c", text] if language == "bash"
             else [sys.executable, "-c", text])
  result = subprocess.run(command, cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Traceback" not in result.stderr
  return result.stdout


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
  """The page's modules, written where a user keeps their own code."""
  folder = tmp_path_factory.mktemp("my_project")
  for language, text in blocks():
    first = text.splitlines()[0]
    if language == "python" and re.fullmatch(r"# \w+\.py", first):
      (folder / first[2:]).write_text(text)
  return folder


def example(name):
  """The blocks that follow the module `name` on the page: its commands."""
  found, out = False, []
  for language, text in blocks():
    first = text.splitlines()[0]
    if language == "python" and re.fullmatch(r"# \w+\.py", first):
      found = first == f"# {name}"
      continue
    if found:
      out.append((language, text))
  return out


def test_the_page_shows_every_registry_in_use():
  modules = [text.splitlines()[0] for language, text in blocks()
             if language == "python" and text.startswith("# ")]
  assert modules == ["# noisy_copies.py", "# nearest_mean.py",
                     "# cosine_prototypes.py", "# npz_images.py",
                     "# small_autoencoder.py"]


def test_a_task_source_of_ones_own_runs_from_the_command_line_and_python(
    user_folder):
  (shell, command), (python, code) = example("noisy_copies.py")
  assert shell == "bash" and python == "python"
  out = run_in(user_folder, shell, command)
  assert "NoisyCopies-MAML" in out
  record = json.loads((user_folder / "experiments" / "noisy_copies"
                       / "results_1shot.json").read_text())
  assert record["hyperparameters"]["task_source"] == "noisy_copies"
  assert record["hyperparameters"]["noisy_copies"] == {"noise": 0.3}
  assert run_in(user_folder, python, code).strip() == "NoisyCopies-MAML"
  saved = json.loads((user_folder / "experiments" / "noisy_copies_python"
                      / "config.json").read_text())
  assert saved["plugin_settings"] == [["noisy_copies", {"noise": 0.3}]]


def test_a_baseline_of_ones_own_is_scored_beside_the_library_s(user_folder):
  (shell, command), = example("nearest_mean.py")
  out = run_in(user_folder, shell, command)
  assert "nearest class mean in pixels" in out
  record = json.loads((user_folder / "experiments" / "nearest_mean"
                       / "results_1shot.json").read_text())
  assert set(record["baselines"]) == {"pixel_nn", "nearest_mean"}
  assert 20 < record["baselines"]["nearest_mean"]["accuracy"] <= 100


def test_a_learner_of_ones_own_meta_trains_and_is_recorded(user_folder):
  (shell, command), = example("cosine_prototypes.py")
  out = run_in(user_folder, shell, command)
  assert "Supervised CosinePrototypes: 1-shot accuracy" in out
  record = json.loads((user_folder / "experiments" / "cosine"
                       / "results_1shot.json").read_text())
  assert record["hyperparameters"]["learner"] == "cosine_prototypes"
  assert 20 < record["accuracy"] <= 100


def test_a_data_set_of_ones_own_is_read_by_its_loader(user_folder):
  (python, arrays), (shell, command) = example("npz_images.py")
  assert python == "python" and shell == "bash"
  run_in(user_folder, python, arrays)
  assert {p.name for p in (user_folder / "my_arrays").iterdir()} == {
      "train.npz", "test.npz"}
  out = run_in(user_folder, shell, command)
  assert "Supervised MAML: 1-shot accuracy" in out
  record = json.loads((user_folder / "experiments" / "npz_images"
                       / "results_1shot.json").read_text())
  assert record["config"]["data"]["dataset"] == "npz_images"
  assert record["n_way"] == 3 and 100 / 3 < record["accuracy"] <= 100


def test_a_generator_kind_of_ones_own_trains_and_makes_lasium_tasks(
    user_folder):
  (shell, commands), = example("small_autoencoder.py")
  out = run_in(user_folder, shell, commands)
  assert "LASIUM-N-MAML" in out
  trained = user_folder / "experiments" / "small_autoencoder"
  assert (trained / "checkpoints" / "epoch_0001.npz").exists()
  assert (trained / "samples" / "epoch_0001.png").exists()
  record = json.loads((user_folder / "experiments" / "small_autoencoder_maml"
                       / "results_1shot.json").read_text())
  info = record["hyperparameters"]["generator_info"]
  assert info["kind"] == "small_autoencoder"
  assert 20 < record["accuracy"] <= 100


def test_a_plugin_that_cannot_be_imported_is_one_error_line(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.main", "--plugins=missing_module"],
      cwd=tmp_path, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.startswith("error: --plugins: cannot import "
                                  "missing_module")
  assert "Traceback" not in result.stderr
