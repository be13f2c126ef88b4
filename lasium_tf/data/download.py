"""Fetches a data set's official files to where the loaders look.

  python -m lasium_tf.data.download omniglot [--data_dir=DIR]

Puts Omniglot's official `images_background.zip` and `images_evaluation.zip`
(Lake et al., Science 2015; the files of github.com/brendenlake/omniglot)
in `DIR/omniglot/`, by default the library's own data folder
(`lasium_tf.data.common.user_data_dir`), the first place the loaders look
when no --data_dir is given. Each file is checked against its published
size and SHA-256. A download goes to `<file>.partial` and is renamed only
when complete and verified, so an interrupted one never looks finished; the
next run resumes it where the server allows (HTTP Range). Without internet
access the error says how to place the files by hand. Needs only the
standard library (no TensorFlow).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import urllib.error
import urllib.request
from typing import Dict, NamedTuple, Optional, Sequence

from lasium_tf.data.common import DataError, user_data_dir


class Source(NamedTuple):
  """One file of a data set: where it comes from and what it must be."""

  url: str
  name: str
  size: int
  sha256: str
  images: int = 0  # PNGs a copy must hold under the zip's top folder.


_OMNIGLOT = "https://github.com/brendenlake/omniglot/raw/master/python/"
SOURCES: Dict[str, Sequence[Source]] = {
    "omniglot": (
        Source(_OMNIGLOT + "images_background.zip", "images_background.zip",
               9464212, "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5"
               "367b2b26ee640", 19280),
        Source(_OMNIGLOT + "images_evaluation.zip", "images_evaluation.zip",
               6462886, "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10f"
               "cc74cf0609cee", 13180),
    ),
}
CHUNK = 1 << 16


def sha256_of(path: pathlib.Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def copy_problem(path: pathlib.Path, source: Source) -> Optional[str]:
  """Why the file (or extracted folder) at `path` is not a usable copy of
  `source`, or None.

  The published file passes by its checksum. A re-packed copy (other
  compression, the same images) passes when it is a readable zip, every
  member's CRC holds, and it has the official layout: `source.images`
  PNGs under the top folder of the zip's own name.
  """
  import zipfile

  top = source.name[:-len(".zip")]
  if path.is_dir():
    count = sum(1 for _ in path.rglob("*.png"))
  else:
    if (path.stat().st_size == source.size
        and sha256_of(path) == source.sha256):
      return None
    try:
      with zipfile.ZipFile(path) as archive:
        broken = archive.testzip()
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
      return f"not a readable zip ({e})"
    if broken is not None:
      return f"its member {broken} is damaged (CRC mismatch)"
    count = sum(1 for n in names
                if n.startswith(top + "/") and n.endswith(".png"))
  if source.images and count != source.images:
    return (f"{count} PNG images under {top}/, not the official "
            f"{source.images}")
  return None


def _by_hand(target: pathlib.Path, sources: Sequence[Source]) -> str:
  names = " and ".join(s.name for s in sources)
  origin = os.path.dirname(sources[0].url)
  return (f"download {names} from {origin} on a machine that can, and place "
          f"them in {target} (or anywhere, and pass that folder as "
          f"--data_dir to the runs)")


def _stream(source: Source, partial: pathlib.Path, have: int,
            verbose: bool, timeout: float) -> None:
  """Appends the rest of `source` to `partial` (all of it if the server
  ignores the range)."""
  request = urllib.request.Request(source.url)
  if have:
    request.add_header("Range", f"bytes={have}-")
  with urllib.request.urlopen(request, timeout=timeout) as response:
    if have and response.status != 206:  # The server ignored the range.
      have = 0
    with open(partial, "ab" if have else "wb") as out:
      done, shown = have, -1
      while True:
        block = response.read(CHUNK)
        if not block:
          break
        out.write(block)
        done += len(block)
        percent = int(100 * done / source.size) if source.size else 100
        if verbose and percent // 10 != shown:
          shown = percent // 10
          print(f"  {source.name}: {done / 1e6:.1f} of "
                f"{source.size / 1e6:.1f} MB", flush=True)


def _fetch(source: Source, final: pathlib.Path, verbose: bool,
           timeout: float) -> None:
  """Downloads `source` to `final` via `final.partial`, resuming it."""
  partial = final.with_name(final.name + ".partial")
  have = partial.stat().st_size if partial.exists() else 0
  if have > source.size:
    partial.unlink()
    have = 0
  if have < source.size:
    _stream(source, partial, have, verbose, timeout)
  size = partial.stat().st_size
  digest = sha256_of(partial) if size == source.size else None
  if digest != source.sha256:
    partial.unlink()
    raise DataError(
        f"{source.url} gave {size} bytes"
        + (f" with SHA-256 {digest}" if digest else "")
        + f", not the published {source.size} bytes with SHA-256 "
          f"{source.sha256}; nothing was kept: rerun to download it again.")
  os.replace(partial, final)


def download(dataset: str, data_dir: Optional[str] = None,
             sources: Optional[Sequence[Source]] = None,
             verbose: bool = True, timeout: float = 60.0) -> pathlib.Path:
  """Fetches `dataset`'s files into `<data_dir>/<dataset>`; returns it.

  `sources` replaces the data set's published files (tests serve stand-ins
  from the loopback interface).
  """
  if sources is None:
    if dataset not in SOURCES:
      raise DataError(f"no download for {dataset!r}; this fetches "
                      f"{', '.join(SOURCES)}.")
    sources = SOURCES[dataset]
  base = pathlib.Path(data_dir).expanduser() if data_dir else user_data_dir()
  # As the runs read --data_dir: a folder holding <dataset>/, or that
  # folder itself (named after the data set, or already holding its files).
  itself = data_dir and (base.name == dataset or any(
      (base / s.name).exists() for s in sources))
  target = base if itself else base / dataset
  try:
    target.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise DataError(f"cannot make {target} ({e.strerror}); pass "
                    f"--data_dir=A_WRITABLE_FOLDER.") from None
  for source in sources:
    final = target / source.name
    if final.exists():
      problem = copy_problem(final, source)
      if problem:
        raise DataError(
            f"{final} is there but is neither the published file nor a "
            f"complete copy: {problem}. Delete it and rerun to download the "
            f"official one.")
      if verbose:
        print(f"{final} is there and verified.", flush=True)
      continue
    if verbose:
      print(f"Downloading {source.url} to {final}.", flush=True)
    try:
      _fetch(source, final, verbose, timeout)
    except (urllib.error.URLError, OSError) as e:
      reason = getattr(e, "reason", None) or e
      raise DataError(
          f"cannot download {source.url} ({reason}); what arrived is kept "
          f"and the next run resumes it. Offline: "
          f"{_by_hand(target, sources)}.") from None
  if verbose:
    print(f"{dataset} is in {target}; runs find it there without "
          f"--data_dir.", flush=True)
  return target


def already_there(dataset: str) -> Optional[pathlib.Path]:
  """Where the runs already find `dataset` without --data_dir (each of its
  files, zipped or extracted, in one folder of the search chain), if
  anywhere."""
  from lasium_tf.data.common import base_dirs

  for base in base_dirs(None):
    for root in (base, base / dataset):
      if all((root / s.name).exists()
             or (root / s.name[:-len(".zip")]).is_dir()
             for s in SOURCES[dataset]):
        return root
  return None


def main(argv=None) -> int:
  import argparse

  parser = argparse.ArgumentParser(
      prog="python -m lasium_tf.data.download",
      description="Fetch a data set's official files where the loaders "
                  "look.")
  parser.add_argument("dataset", choices=sorted(SOURCES))
  parser.add_argument("--data_dir", default=None,
                      help="folder to put <dataset>/ in, or that folder "
                           "itself, as the runs read --data_dir (default: "
                           f"{user_data_dir()})")
  parser.add_argument("--print_path", action="store_true",
                      help="print only the folder that holds the files "
                           "(for scripts: OMNIGLOT=$(python -m ... "
                           "--print_path))")
  args = parser.parse_args(argv)
  found = None if args.data_dir else already_there(args.dataset)
  if found is not None:
    for source in SOURCES[args.dataset]:
      path = found / source.name
      path = path if path.exists() else found / source.name[:-len(".zip")]
      problem = copy_problem(path, source)
      if problem:
        print(f"error: {path}, where the runs would read {args.dataset}, "
              f"is neither the published file nor a complete copy: "
              f"{problem}. Delete it and rerun to download the official "
              f"one.", file=sys.stderr)
        return 2
    print(found if args.print_path else
          f"{args.dataset} is already in {found}, where the runs find it; "
          f"nothing to download (--data_dir=DIR fetches a copy into DIR).")
    return 0
  try:
    target = download(args.dataset, args.data_dir,
                      verbose=not args.print_path)
  except DataError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("stopped by SIGINT; what arrived is kept and the next run "
          "resumes it.", file=sys.stderr)
    return 130
  if args.print_path:
    print(target)
  return 0


if __name__ == "__main__":
  sys.exit(main())
