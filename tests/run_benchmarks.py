"""Runs several benchmark scripts in one interpreter for the tests.

Each script is run as `python benchmarks/<script> <args>` would run it
(`runpy` as __main__, its own argv, its absl flags removed afterwards so the
next one can define flags of the same names); what it prints is kept apart.
TensorFlow is imported once instead of once per script. The last line
printed is one JSON object: {name: the script's last JSON line, or
{"error": the end of its traceback and output}}.

  python tests/run_benchmarks.py '[["name", "meta_step.py", ["--steps=2"]]]'
"""

import contextlib
import io
import json
import pathlib
import runpy
import sys
import traceback

import lasium_tf  # noqa: F401  (before TensorFlow, as each script does)
from absl import app, flags

app.define_help_flags()  # absl's own flags stay; each script's go after it.

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # Their shared helpers, as when run.


def run(script, args):
  before = set(flags.FLAGS)
  output = io.StringIO()
  sys.argv = [str(BENCHMARKS / script), *args]
  try:
    with contextlib.redirect_stdout(output):
      runpy.run_path(sys.argv[0], run_name="__main__")
  except SystemExit as e:
    if e.code not in (None, 0):
      return {"error": f"exit {e.code}: {output.getvalue()[-2000:]}"}
  except Exception:  # pylint: disable=broad-except
    return {"error": traceback.format_exc()[-3000:] + output.getvalue()[-1000:]}
  finally:
    for name in set(flags.FLAGS) - before:
      delattr(flags.FLAGS, name)
  lines = output.getvalue().strip().splitlines()
  try:
    return json.loads(lines[-1])
  except (IndexError, json.JSONDecodeError):
    return {"error": f"no JSON line at the end: {output.getvalue()[-2000:]}"}


def main():
  results = {name: run(script, args)
             for name, script, args in json.loads(sys.argv[1])}
  print(json.dumps(results))


if __name__ == "__main__":
  main()
