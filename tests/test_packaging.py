"""The package looks like one: a console script and `python -m lasium_tf`
for every program, --version, a licence, filled metadata, py.typed."""

import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from conftest import REPO
import lasium_tf
from lasium_tf import __main__ as entry


def run(*args, program=(sys.executable, "-m", "lasium_tf")):
  return subprocess.run([*program, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=120)


def test_version_is_one_number_everywhere():
  import re
  declared = re.search(r'^version = "(.+)"$',
                       (REPO / "pyproject.toml").read_text(), re.M)[1]
  assert declared == lasium_tf.__version__
  assert metadata.version("lasium_tf") == lasium_tf.__version__
  for args in (["--version"], ["train", "--version"],
               ["few-shot", "--version"]):
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"lasium_tf {lasium_tf.__version__} "
                                    f"(TensorFlow ")


def test_every_program_is_a_command(capsys):
  assert entry.main(["report", "--help"]) == 0
  assert capsys.readouterr().out.startswith("usage: python -m lasium_tf.report")
  assert entry.main(["select"]) == 2
  assert entry.main(["nope"]) == 2
  assert "unknown command 'nope'" in capsys.readouterr().err
  assert entry.main([]) == 2
  result = run("train", "--iterations=-1")
  assert result.returncode == 2
  assert result.stderr == "error: --iterations must be >= 0, got -1.\n"


def test_the_console_script_is_installed():
  script = shutil.which("lasium-tf")
  if script is None:
    pytest.skip("lasium_tf is not installed with its scripts (pip install -e .)")
  result = run("--version", program=(script,))
  assert result.returncode == 0 and result.stdout.startswith("lasium_tf ")


def test_licence_metadata_and_typing_marker():
  assert (REPO / "LICENSE").read_text().startswith("MIT License")
  meta = metadata.metadata("lasium_tf")
  assert meta["License"] == "MIT" and meta["Author"]
  assert "License :: OSI Approved :: MIT License" in meta.get_all(
      "Classifier")
  assert (REPO / "lasium_tf" / "py.typed").exists()


@pytest.mark.parametrize("code", [
    "from lasium_tf import modes; import tensorflow as tf; tf.constant(1)",
    "import lasium_tf.run.experiment",
])
def test_the_library_imports_quietly(code):
  """No TensorFlow start-up lines ("failed call to cuInit", oneDNN notes)
  from the library used in Python, as from its programs."""
  import os
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr == ""
