"""The downloader, against a server on the loopback interface serving
stand-in files (never the internet)."""

import contextlib
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading

import pytest

from conftest import REPO, write_fake_omniglot
from lasium_tf.data import DataError, download, omniglot


class RangeHandler(http.server.BaseHTTPRequestHandler):
  """Serves the files of `FILES` whole or from a `Range: bytes=N-`."""

  files = {}
  ranges = []
  honour_range = True

  def do_GET(self):  # noqa: N802 (the handler API's name)
    data = self.files.get(self.path.lstrip("/"))
    if data is None:
      self.send_error(404)
      return
    wanted = self.headers.get("Range")
    self.ranges.append(wanted)
    start = 0
    if wanted and self.honour_range:
      start = int(wanted.split("=")[1].rstrip("-"))
      self.send_response(206)
    else:
      self.send_response(200)
    self.send_header("Content-Length", str(len(data) - start))
    self.end_headers()
    self.wfile.write(data[start:])

  def log_message(self, *args):
    del args


@contextlib.contextmanager
def serving(files, honour_range=True):
  RangeHandler.files = files
  RangeHandler.ranges = []
  RangeHandler.honour_range = honour_range
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}/"
  finally:
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
  """Small zips in the official layout, as the server's files."""
  root = write_fake_omniglot(tmp_path_factory.mktemp("zips"))
  return {name: (root / name).read_bytes()
          for name in ("images_background.zip", "images_evaluation.zip")}


def sources_for(url, files):
  return [download.Source(url + name, name, len(data),
                          hashlib.sha256(data).hexdigest())
          for name, data in files.items()]


def test_download_verifies_places_and_the_loader_finds_it(stand_ins, tmp_path,
                                                          capsys):
  with serving(stand_ins) as url:
    target = download.download("omniglot", str(tmp_path), sources_for(
        url, stand_ins))
  assert target == tmp_path / "omniglot"
  for name, data in stand_ins.items():
    assert (target / name).read_bytes() == data
  assert not list(target.glob("*.partial"))
  assert omniglot.resolve_omniglot_dir(str(tmp_path)) == target
  # A second run finds them verified and fetches nothing.
  with serving(stand_ins) as url:
    download.download("omniglot", str(tmp_path), sources_for(url, stand_ins))
    assert RangeHandler.ranges == []
  assert "is there and verified" in capsys.readouterr().out


@pytest.mark.parametrize("honour_range", [True, False])
def test_an_interrupted_download_resumes(stand_ins, tmp_path, honour_range):
  name = "images_background.zip"
  data = stand_ins[name]
  target = tmp_path / "omniglot"
  target.mkdir()
  (target / (name + ".partial")).write_bytes(data[:1000])
  with serving({name: data}, honour_range) as url:
    download.download("omniglot", str(tmp_path),
                      sources_for(url, {name: data}), verbose=False)
    assert RangeHandler.ranges == ["bytes=1000-"]
  assert (target / name).read_bytes() == data


def test_a_wrong_checksum_keeps_nothing(stand_ins, tmp_path):
  name = "images_evaluation.zip"
  with serving({name: stand_ins[name]}) as url:
    wrong = [download.Source(url + name, name, len(stand_ins[name]),
                             "0" * 64)]
    with pytest.raises(DataError, match="not the published .* nothing was "
                       "kept"):
      download.download("omniglot", str(tmp_path), wrong, verbose=False)
  assert not list((tmp_path / "omniglot").iterdir())


def test_offline_the_error_says_how_to_place_the_files(tmp_path):
  with socket.socket() as s:  # A loopback port with no server behind it.
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  sources = [download.Source(f"http://127.0.0.1:{port}/python/{n}", n, 10,
                             "0" * 64)
             for n in ("images_background.zip", "images_evaluation.zip")]
  with pytest.raises(DataError) as error:
    download.download("omniglot", str(tmp_path), sources, verbose=False,
                      timeout=5)
  message = str(error.value)
  assert "cannot download" in message
  assert "images_background.zip and images_evaluation.zip" in message
  assert f"place them in {tmp_path / 'omniglot'}" in message


def test_the_published_files_are_the_official_ones():
  official = {s.name: (s.size, s.url) for s in download.SOURCES["omniglot"]}
  assert official == {
      "images_background.zip": (9464212, "https://github.com/brendenlake/"
                                "omniglot/raw/master/python/"
                                "images_background.zip"),
      "images_evaluation.zip": (6462886, "https://github.com/brendenlake/"
                                "omniglot/raw/master/python/"
                                "images_evaluation.zip")}


@pytest.mark.integration
def test_the_command_line_fails_in_one_line_without_a_route(tmp_path):
  env = dict(os.environ, http_proxy="http://127.0.0.1:9",
             https_proxy="http://127.0.0.1:9")
  result = subprocess.run(
      [sys.executable, "-m", "lasium_tf.data.download", "omniglot",
       f"--data_dir={tmp_path}"], capture_output=True, text=True, cwd=REPO,
      env=env, timeout=120)
  assert result.returncode == 2
  assert result.stderr.startswith("error: cannot download https://github.com")
  assert "Traceback" not in result.stderr


def test_nothing_is_fetched_when_the_runs_already_find_the_data(
    tmp_path, monkeypatch, capsys):
  monkeypatch.delenv("LASIUM_DATA_DIR", raising=False)
  monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
  (tmp_path / "checkout").mkdir()
  monkeypatch.chdir(tmp_path / "checkout")
  assert download.already_there("omniglot") is None
  write_fake_omniglot(tmp_path / "shared" / "data" / "omniglot")
  stand_in_counts(monkeypatch)
  assert download.main(["omniglot"]) == 0
  assert "already in" in capsys.readouterr().out
  assert download.main(["omniglot", "--print_path"]) == 0
  assert capsys.readouterr().out == (
      f"{tmp_path / 'shared' / 'data' / 'omniglot'}\n")


def stand_in_counts(monkeypatch):
  """The published sources, expecting the stand-ins' image counts (two
  alphabets of 3 characters of 20 drawings; one alphabet)."""
  monkeypatch.setitem(download.SOURCES, "omniglot", tuple(
      source._replace(images=count) for source, count in
      zip(download.SOURCES["omniglot"], (120, 60))))


@pytest.mark.parametrize("damage, message", [
    ("truncate", "not a readable zip"),
    ("alter", "damaged (CRC mismatch)|not a readable zip"),
    ("drop", "PNG images under images_evaluation/, not the official 60"),
])
def test_a_truncated_or_altered_copy_is_refused_not_kept(
    tmp_path, monkeypatch, capsys, damage, message):
  import zipfile

  monkeypatch.delenv("LASIUM_DATA_DIR", raising=False)
  monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
  monkeypatch.chdir(tmp_path)
  root = write_fake_omniglot(tmp_path / "xdg" / "lasium_tf" / "omniglot")
  stand_in_counts(monkeypatch)
  path = root / "images_evaluation.zip"
  data = path.read_bytes()
  if damage == "truncate":
    path.write_bytes(data[:len(data) // 2])
  elif damage == "alter":  # One byte inside the first member's data.
    with zipfile.ZipFile(path) as archive:
      first = archive.infolist()[0]
    at = first.header_offset + 30 + len(first.filename) + 5
    path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
  else:
    with zipfile.ZipFile(path) as archive:
      kept = [(i, archive.read(i)) for i in archive.infolist()[1:]]
    with zipfile.ZipFile(path, "w") as archive:
      for info, member in kept:
        archive.writestr(info, member)
  assert download.main(["omniglot"]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f"error: {path}")
  assert any(m in err for m in message.split("|")), err
  assert "Delete it and rerun" in err
  # The same check where a download finds the file already in place.
  with pytest.raises(DataError, match="neither the published file"):
    download.download("omniglot", str(tmp_path / "xdg" / "lasium_tf"),
                      verbose=False)


def test_a_complete_repacked_copy_is_accepted(tmp_path):
  """The shared copy's zips are re-packed (other checksums), complete."""
  root = write_fake_omniglot(tmp_path / "omniglot")
  source = download.SOURCES["omniglot"][1]._replace(images=60)
  assert download.copy_problem(root / "images_evaluation.zip", source) is None


def test_data_dir_means_what_it_means_to_the_runs(stand_ins, tmp_path):
  """--data_dir=DIR fills DIR/omniglot/, and --data_dir=DIR/omniglot fills
  that folder itself, as runs read either."""
  with serving(stand_ins) as url:
    sources = sources_for(url, stand_ins)
    holder = download.download("omniglot", str(tmp_path / "a"),
                               sources=sources, verbose=False)
    itself = download.download("omniglot", str(tmp_path / "b" / "omniglot"),
                               sources=sources, verbose=False)
  assert holder == tmp_path / "a" / "omniglot"
  assert itself == tmp_path / "b" / "omniglot"
  assert (itself / "images_background.zip").exists()
  assert not (itself / "omniglot").exists()
