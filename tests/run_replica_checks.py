"""Runs several distributed helper scripts in one process, for the tests.

Logical devices are fixed once per process, so the helpers that use the
same replica count share one: each runs as `python tests/<script> <args>`
would (runpy as __main__, its own argv; `replica_args.parse_and_split`
splits the CPU only the first time), with its output kept apart. The last
line printed is one JSON object: {name: the helper's last JSON line, or
{"error": the end of its traceback and output}}.

  python tests/run_replica_checks.py '[["gan", "distributed_generator_check.py", ["--kind=gan"]]]'
"""

import contextlib
import io
import json
import pathlib
import runpy
import sys
import traceback

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def run(script, args):
  output = io.StringIO()
  sys.argv = [str(HERE / script), *args]
  try:
    with contextlib.redirect_stdout(output):
      runpy.run_path(sys.argv[0], run_name="__main__")
  except SystemExit as e:
    if e.code not in (None, 0):
      return {"error": f"exit {e.code}: {output.getvalue()[-2000:]}"}
  except Exception:  # pylint: disable=broad-except
    return {"error": traceback.format_exc()[-3000:] + output.getvalue()[-1000:]}
  lines = output.getvalue().strip().splitlines()
  try:
    return json.loads(lines[-1])
  except (IndexError, json.JSONDecodeError):
    return {"error": f"no JSON line at the end: {output.getvalue()[-2000:]}"}


def main():
  print(json.dumps({name: run(script, args)
                    for name, script, args in json.loads(sys.argv[1])}))


if __name__ == "__main__":
  main()
