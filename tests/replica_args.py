"""The command line of the tests' distributed helper scripts.

TensorFlow fixes its logical devices when it initialises, once per process,
so each helper parses its arguments and splits the CPU before importing
anything that starts TensorFlow.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lasium_tf.run import distribute  # noqa: E402


_SPLIT = []  # The replica count this process's CPU was split into.


def parse_and_split(**defaults) -> argparse.Namespace:
  """Parses `--replicas` and one flag per default (typed by it), then splits
  the CPU into that many logical devices (once: a second helper run in the
  same process by tests/run_replica_checks.py reuses the split)."""
  parser = argparse.ArgumentParser()
  parser.add_argument("--replicas", type=int, default=2)
  for name, default in defaults.items():
    parser.add_argument(f"--{name}", type=type(default), default=default)
  args = parser.parse_args()
  if not _SPLIT:
    distribute.split_cpu(args.replicas)
    _SPLIT.append(args.replicas)
  elif _SPLIT[0] != args.replicas:
    raise SystemExit(f"this process is split into {_SPLIT[0]} devices, not "
                     f"{args.replicas}: run that check in its own process")
  return args
