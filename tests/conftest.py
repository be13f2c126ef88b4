"""Shared fixtures: tiny Omniglot stand-ins in the official layout, real data.

Tests come in two tiers. Unit tests run in-process on tiny inputs in
seconds. Integration tests (marker `integration`) start subprocesses or
notebook kernels, or read the real Omniglot files: those marked by hand, and
every test that uses the `real_omniglot` fixture, marked here.

  python -m pytest -q -m "not integration" tests   # the unit tier
  python -m pytest -q -n 3 --dist loadscope tests   # everything (CI)
"""

import os
import pathlib
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests compile hundreds of small graphs and run each a few times: skip
# Grappler's rewriting (in this process and the command lines it starts;
# `lasium_tf.core.backends.apply_graph_optimizer_setting`).
os.environ.setdefault("LASIUM_GRAPH_OPTIMIZER", "off")
if os.environ.get("PYTEST_XDIST_WORKER"):
  # Under pytest -n (about one worker per core), one TensorFlow op thread
  # per worker: workers each spreading ops over every core contend for them.
  os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import lasium_tf  # noqa: E402,F401 (before TensorFlow: its oneDNN setting)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from lasium_tf.config import DataConfig  # noqa: E402
from lasium_tf.data import DataError, omniglot  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def locate_omniglot():
  """(folder, None) where a user's run finds Omniglot, else (None, why).

  The library's own data-location chain (`lasium_tf.data.common.base_dirs`):
  $LASIUM_DATA_DIR, the user data folder the downloader fills, then
  ../shared/data of the repository root (CI's read-only copy). Tests look
  exactly where a command without --data_dir looks, so data placed where
  the README says is found.
  """
  cwd = os.getcwd()
  try:
    os.chdir(REPO)  # ../shared/data is relative to where runs start.
    return omniglot.resolve_omniglot_dir(None), None
  except DataError as e:
    return None, str(e)
  finally:
    os.chdir(cwd)


OMNIGLOT, OMNIGLOT_MISSING = locate_omniglot()


def need_omniglot() -> pathlib.Path:
  """The real Omniglot folder, or a skip that says where it was looked for
  and how to get it."""
  if OMNIGLOT is None:
    pytest.skip(f"real Omniglot needed: {OMNIGLOT_MISSING}")
  return OMNIGLOT

FAKE_ALPHABETS = {"images_background": ("Alpha", "Beta"),
                  "images_evaluation": ("Gamma",)}


def character_image(index: int, drawer: int) -> np.ndarray:
  """A 105x105 official-style PNG array: white background, a black square.

  The square's place encodes the character, its size the drawer, so every
  class and every drawing differs.
  """
  image = np.full((105, 105, 1), 255, np.uint8)
  row, col = 10 + 12 * (index % 6), 10 + 12 * (index // 6 % 6)
  size = 8 + drawer % 5
  image[row:row + size, col:col + size] = 0
  return image


def write_fake_omniglot(root: pathlib.Path, as_zip: bool = True,
                        characters: int = 3, drawings: int = 20,
                        alphabets=None) -> pathlib.Path:
  """Writes images_background / images_evaluation in the official layout."""
  root.mkdir(parents=True, exist_ok=True)
  alphabets = alphabets or FAKE_ALPHABETS
  index = 0
  for set_name, names in alphabets.items():
    files = {}
    for alphabet in names:
      for c in range(1, characters + 1):
        index += 1
        for d in range(1, drawings + 1):
          path = f"{set_name}/{alphabet}/character{c:02d}/{index:04d}_{d:02d}.png"
          files[path] = tf.io.encode_png(character_image(index, d)).numpy()
    if as_zip:
      with zipfile.ZipFile(root / f"{set_name}.zip", "w") as archive:
        for path, data in files.items():
          archive.writestr(path, data)
    else:
      for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
  return root


class _Folder:
  """A set unzipped: the zip's `namelist` and `read`, over files."""

  def __init__(self, folder: pathlib.Path):
    self.base = folder.parent

  def namelist(self):
    return sorted(str(p.relative_to(self.base)) for p in
                  (self.base).rglob("*") if p.is_file())

  def read(self, name):
    return (self.base / name).read_bytes()


def omniglot_set(name: str):
  """One official set of the real Omniglot ("images_background" or
  "images_evaluation"), zipped or unzipped, as `namelist()` and `read()`."""
  path = omniglot._set_path(need_omniglot(), name)
  return zipfile.ZipFile(path) if path.suffix == ".zip" else _Folder(path)


@pytest.fixture
def fake_omniglot(tmp_path):
  return write_fake_omniglot(tmp_path / "omniglot")


@pytest.fixture(scope="session")
def real_omniglot(tmp_path_factory):
  """All 1623 real characters at 28x28 (skipped where no Omniglot is found)."""
  root = need_omniglot()
  # The decoded arrays are cached where the command lines under test cache
  # them (LASIUM_CACHE_DIR, as .ci/run sets it), so that each test process
  # and subprocess does not decode the 32,460 drawings again; the cache is
  # written atomically and checked by its digest when read.
  cache = (os.environ.get(omniglot.CACHE_DIR_ENV)
           or str(tmp_path_factory.mktemp("cache")))
  config = DataConfig(data_dir=str(root), cache_dir=cache)
  return config, omniglot.load_omniglot(config, verbose=False)


def pytest_collection_modifyitems(config, items):
  """Tests on the real Omniglot files belong to the integration tier."""
  del config
  for item in items:
    if "real_omniglot" in getattr(item, "fixturenames", ()):
      item.add_marker(pytest.mark.integration)
