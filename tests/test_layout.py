"""The installed library's layout: no generic packages, no repository paths."""

import pathlib
import re

import pytest

from lasium_tf.data import common

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_the_networks_install_under_the_package_namespace():
  import lasium_tf.models.backbone as backbone
  assert pathlib.Path(backbone.__file__).parent.name == "models"
  text = (REPO / "pyproject.toml").read_text()
  assert '"lasium_tf.models" = "models"' in text
  sources = [*REPO.glob("lasium_tf/**/*.py"), *REPO.glob("models/*.py"),
             *REPO.glob("benchmarks/*.py"), *REPO.glob("scripts/*.py"),
             *REPO.glob("tests/*.py")]
  generic = [str(p.relative_to(REPO)) for p in sources
             if re.search(r"^\s*(from|import) models\b", p.read_text(), re.M)]
  assert not generic


def test_the_data_root_comes_from_flag_environment_or_working_directory(
    tmp_path, monkeypatch):
  monkeypatch.delenv(common.DATA_DIR_ENV, raising=False)
  work = tmp_path / "checkout"
  work.mkdir()
  monkeypatch.chdir(work)
  assert common.base_dir(None) == tmp_path / "shared" / "data"
  monkeypatch.setenv(common.DATA_DIR_ENV, str(tmp_path / "env"))
  assert common.base_dir(None) == tmp_path / "env"
  assert common.base_dir(str(tmp_path / "flag")) == tmp_path / "flag"


@pytest.mark.parametrize("module", ["lasium_tf/data/common.py",
                                    "lasium_tf/report.py"])
def test_the_library_resolves_no_path_from_its_own_location(module):
  assert "parents[" not in (REPO / module).read_text()
