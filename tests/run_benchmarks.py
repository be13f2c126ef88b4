"""Runs several benchmark scripts in one interpreter for the tests.

Each script is run as `python benchmarks/<script> <args>` would run it
(`runpy` as __main__, its own argv, its absl flags removed afterwards so the
next one can define flags of the same names); what it prints is kept apart.
TensorFlow is imported once instead of once per script. The last line
printed is one JSON object: {name: the script's last JSON line, or
{"error": the end of its traceback and output}}.

  python tests/run_benchmarks.py '[["name", "meta_step.py", ["--steps=2"]]]'
"""

import json
import pathlib
import sys

import lasium_tf  # noqa: F401  (before TensorFlow, as each script does)
from absl import app, flags

app.define_help_flags()  # absl's own flags stay; each script's go after it.

HERE = pathlib.Path(__file__).resolve().parent
BENCHMARKS = HERE.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # Their shared helpers, as when run.
sys.path.insert(0, str(HERE))

from script_runner import run_script  # noqa: E402


def run(script, args):
  before = set(flags.FLAGS)
  try:
    return run_script(BENCHMARKS / script, args)
  finally:
    for name in set(flags.FLAGS) - before:
      delattr(flags.FLAGS, name)


def main():
  results = {name: run(script, args)
             for name, script, args in json.loads(sys.argv[1])}
  print(json.dumps(results))


if __name__ == "__main__":
  main()
