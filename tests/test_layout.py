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


def test_every_subpackage_is_installed():
  """A subpackage missing from pyproject's list imports from a checkout
  but not from an installed wheel."""
  text = (REPO / "pyproject.toml").read_text()
  listed = set(re.findall(r'"(lasium_tf[\w.]*)"', text.split(
      "packages =")[1].split("]")[0]))
  found = {".".join(p.parent.relative_to(REPO).parts)
           for p in REPO.glob("lasium_tf/**/__init__.py")}
  assert found | {"lasium_tf.models"} == listed


def test_the_data_root_comes_from_flag_environment_or_working_directory(
    tmp_path, monkeypatch):
  monkeypatch.delenv(common.DATA_DIR_ENV, raising=False)
  monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
  work = tmp_path / "checkout"
  work.mkdir()
  monkeypatch.chdir(work)
  # Nothing given: the library's own folder, then the repository layout.
  assert common.base_dirs(None) == [tmp_path / "xdg" / "lasium_tf",
                                    tmp_path / "shared" / "data"]
  monkeypatch.setenv(common.DATA_DIR_ENV, str(tmp_path / "env"))
  assert common.base_dirs(None) == [tmp_path / "env"]
  assert common.base_dirs(str(tmp_path / "flag")) == [tmp_path / "flag"]


def test_omniglot_is_found_along_the_chain_and_the_error_lists_it(
    tmp_path, monkeypatch):
  from conftest import write_fake_omniglot
  from lasium_tf.data import DataError, omniglot
  monkeypatch.delenv(common.DATA_DIR_ENV, raising=False)
  monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
  (tmp_path / "checkout").mkdir()
  monkeypatch.chdir(tmp_path / "checkout")
  with pytest.raises(DataError) as error:
    omniglot.resolve_omniglot_dir(None)
  message = str(error.value)
  assert f"{tmp_path / 'xdg' / 'lasium_tf'} (missing)" in message
  assert str(tmp_path / "shared" / "data") in message
  assert "python -m lasium_tf.data.download omniglot" in message
  write_fake_omniglot(tmp_path / "shared" / "data" / "omniglot")
  assert omniglot.resolve_omniglot_dir(None) == (
      tmp_path / "shared" / "data" / "omniglot")
  # What the downloader put in the library's folder comes first.
  write_fake_omniglot(tmp_path / "xdg" / "lasium_tf" / "omniglot")
  assert omniglot.resolve_omniglot_dir(None) == (
      tmp_path / "xdg" / "lasium_tf" / "omniglot")


def test_the_ravi_split_files_ship_with_the_package():
  from lasium_tf.data import mini_imagenet
  rows = {part: mini_imagenet.read_split(mini_imagenet.packaged_split(part))
          for part in mini_imagenet.PARTS}
  assert {p: len(r) for p, r in rows.items()} == {
      "train": 38400, "val": 9600, "test": 12000}
  assert {p: len({label for _, label in r}) for p, r in rows.items()} == {
      "train": 64, "val": 16, "test": 20}


@pytest.mark.parametrize("module", ["lasium_tf/data/common.py",
                                    "lasium_tf/report.py",
                                    "lasium_tf/records/tables.py"])
def test_the_library_resolves_no_path_from_its_own_location(module):
  assert "parents[" not in (REPO / module).read_text()
