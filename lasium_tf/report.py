"""Regenerates results/README.md from the result JSONs beside the paper's
numbers.

  python -m lasium_tf.report            # writes results/README.md

Reads every `results/**/*.json` through `records.schema.load_results` and
writes the tables `records.tables.render` lays out.
"""

from __future__ import annotations

import pathlib
import sys

from lasium_tf.records.schema import load_results
from lasium_tf.records.tables import REPO, render

USAGE = ("usage: python -m lasium_tf.report [RESULTS_DIR]\n"
         "Rewrites RESULTS_DIR/README.md (default: results/README.md) from "
         "the result records (*.json) below it.")


def main(argv=None) -> int:
  from lasium_tf.config import ConfigError
  from lasium_tf.core.files import atomic_write

  argv = sys.argv[1:] if argv is None else argv
  if any(a in ("-h", "--help", "-?") for a in argv):
    print(USAGE)
    return 0
  if len(argv) > 1 or any(a.startswith("-") for a in argv):
    print(USAGE, file=sys.stderr)
    return 2
  results_dir = pathlib.Path(argv[0]) if argv else REPO / "results"
  try:
    text = render(load_results(results_dir, check_commands=True))
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  atomic_write(results_dir / "README.md", lambda f: f.write(text.encode()))
  print(f"Wrote {results_dir / 'README.md'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
