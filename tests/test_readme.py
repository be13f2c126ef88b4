"""The README's examples run as printed: its Python snippet is the
quickstart's experiment, and its few_shot block runs through bash and
answers character04."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, need_omniglot

README = (REPO / "README.md").read_text()


def block(language, containing):
  (found,) = [text for lang, text in
              re.findall(r"```(\w+)\n(.*?)```", README, re.S)
              if lang == language and containing in text]
  return found


def test_the_python_snippet_is_the_quickstart_experiment(monkeypatch):
  from lasium_tf.config import cli
  snippet = block("python", "flags/quickstart.cfg")
  args = re.search(r"config_from_args\((\[.*?\])\)", snippet, re.S).group(1)
  monkeypatch.chdir(REPO)
  from_python = cli.config_from_args(eval(args))  # The snippet's own list.
  command_line = cli.config_from_args(
      ["--flagfile=flags/quickstart.cfg",
       "--experiment_dir=experiments/python_api"])
  assert from_python == command_line
  assert from_python.recipe == "ours" and from_python.task.query_shift == 5
  from_python.validate()


def test_a_recipe_in_python_is_the_command_line_s_or_refused():
  from lasium_tf.config import cli
  from lasium_tf import config as config_lib
  built = config_lib.Config(task_source="lasium", iterations=7).with_recipe(
      "ours")
  parsed = cli.config_from_args(["--task_source=lasium", "--iterations=7",
                                 "--recipe=ours"])
  assert built == parsed.__class__(**{**parsed.__dict__, "command": ""})
  # An explicit value wins over the recipe, as a flag does.
  assert config_lib.Config(task=config_lib.TaskConfig(
      shift_fill="ink")).with_recipe("ours").task.shift_fill == "ink"
  with pytest.raises(config_lib.ConfigError, match=r"with_recipe\('ours'\)"):
    config_lib.Config(recipe="ours").validate()


@pytest.mark.integration
def test_the_python_snippet_runs_with_a_tiny_budget(tmp_path):
  need_omniglot()
  snippet = block("python", "flags/quickstart.cfg").replace(
      '"--experiment_dir=experiments/python_api"',
      f'"--experiment_dir={tmp_path / "run"}", "--iterations=3", '
      f'"--eval_tasks=4", "--eval_inner_steps=2", "--eval_baselines=none"')
  result = subprocess.run([sys.executable, "-c", snippet], cwd=REPO,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-2000:]
  assert 0 <= float(result.stdout.strip().splitlines()[-1]) <= 100


@pytest.mark.integration
def test_the_few_shot_block_runs_in_bash_and_answers_character04(tmp_path):
  """In a fresh folder (no experiments/ yet), the data found where the
  library finds it, the block exactly as printed."""
  omniglot = need_omniglot()
  if not (omniglot / "images_evaluation.zip").exists():
    pytest.skip("the README's block unzips the official zip; this copy of "
                "Omniglot is unzipped")
  (tmp_path / "pretrained").symlink_to(REPO / "pretrained")
  result = subprocess.run(
      ["bash", "-c", "set -e\n" + block("bash", "unzip -q")],
      cwd=tmp_path, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               LASIUM_DATA_DIR=str(omniglot.parent)))
  assert result.returncode == 0, result.stderr[-2000:]
  header, row = result.stdout.strip().splitlines()
  assert header.split()[:2] == ["query", "prediction"]
  assert re.search(r"Kannada/character04/\d{4}_02.png$", row.split()[0])
  assert row.split()[1] == "character04"
  # Then the next block: the same support set fitted once, saved, and the
  # same drawing classified by the saved classifier.
  saved = subprocess.run(
      ["bash", "-c", "set -e\n" + block("bash", "--save_classifier")],
      cwd=tmp_path, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert saved.returncode == 0, saved.stderr[-2000:]
  assert (tmp_path / "experiments" / "example" / "classifier"
          / "model.tflite").is_file()
  header, row = saved.stdout.strip().splitlines()
  assert row.split()[1] == "character04"


def test_few_shot_expands_a_query_pattern_the_shell_left_alone(tmp_path):
  from lasium_tf.data import DataError, folder
  for name in ("a_01.png", "a_02.png", "b_02.png"):
    (tmp_path / name).write_bytes(b"")
  assert folder.image_paths([str(tmp_path / "*_02.png")]) == [
      str(tmp_path / "a_02.png"), str(tmp_path / "b_02.png")]
  with pytest.raises(DataError, match=r"--query .*\*_03.png matches no file"):
    folder.image_paths([str(tmp_path / "*_03.png")])


def test_few_shot_reads_either_polarity_of_drawings():
  """The support images decide: dark drawings on light paper (Omniglot's
  files) are inverted for a model trained on light strokes, light on dark
  ones are not, and colour images are left alone."""
  import numpy as np

  from lasium_tf import classifier

  paper = np.ones((3, 28, 28, 1), np.float32)
  paper[:, 10:18, 12:14] = 0.0  # Dark strokes on light paper.
  assert classifier.matches_polarity(paper, "white strokes") is False
  assert classifier.matches_polarity(1.0 - paper, "white strokes") is True
  assert classifier.matches_polarity(paper, "black strokes") is True
  assert classifier.matches_polarity(np.ones((3, 28, 28, 3)),
                                     "white strokes") is None
  assert classifier.matches_polarity(paper, None) is None
