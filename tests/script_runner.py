"""Runs a script as `python <script> <args>` would, inside this process.

For the test helpers that run several scripts in one interpreter (one
TensorFlow start-up instead of one per script): `runpy` as __main__ with
the script's own argv, its output kept apart, and its last printed line
read as JSON.
"""

import contextlib
import io
import json
import runpy
import sys
import traceback


def run_script(path, args):
  """The script's last JSON line, or {"error": the end of what went wrong}."""
  output = io.StringIO()
  sys.argv = [str(path), *args]
  try:
    with contextlib.redirect_stdout(output):
      runpy.run_path(str(path), run_name="__main__")
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
