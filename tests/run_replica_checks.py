"""Runs several distributed helper scripts in one process, for the tests.

Logical devices are fixed once per process, so the helpers that use the
same replica count share one: each runs as `python tests/<script> <args>`
would (runpy as __main__, its own argv; `replica_args.parse_and_split`
splits the CPU only the first time), with its output kept apart. The last
line printed is one JSON object: {name: the helper's last JSON line, or
{"error": the end of its traceback and output}}.

  python tests/run_replica_checks.py '[["gan", "distributed_generator_check.py", ["--kind=gan"]]]'
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from script_runner import run_script  # noqa: E402


def run(script, args):
  return run_script(HERE / script, args)


def main():
  print(json.dumps({name: run(script, args)
                    for name, script, args in json.loads(sys.argv[1])}))


if __name__ == "__main__":
  main()
