"""`lasium-tf COMMAND [FLAGS]` and `python -m lasium_tf COMMAND [FLAGS]`.

One entry point for the library's programs:

  lasium-tf train --flagfile=flags/quickstart.cfg    (python -m lasium_tf.main)
  lasium-tf few-shot --model=M --support=S --query=Q (python -m
  lasium_tf.few_shot) lasium-tf select RUN_DIR [RUN_DIR ...]            
  (python -m lasium_tf.select) lasium-tf report [RESULTS_DIR]                  
    (python -m lasium_tf.report) lasium-tf download omniglot                   
        (python -m lasium_tf.data.download)
  lasium-tf --version
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, how it is called: "run" reads sys.argv, "main" takes
# the arguments and returns the exit code).
COMMANDS = {
    "train": ("lasium_tf.main", "run"),
    "few-shot": ("lasium_tf.few_shot", "run"),
    "select": ("lasium_tf.select", "main"),
    "report": ("lasium_tf.report", "main"),
    "download": ("lasium_tf.data.download", "main"),
}


def usage() -> str:
  return (__doc__.split("\n\n", 1)[1].strip() + "\n\nEach command's own "
          "--help lists its flags.")


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(usage())
    return 0 if argv else 2
  if argv[0] == "--version":
    from lasium_tf.config.cli import version_line
    print(version_line())
    return 0
  if argv[0] not in COMMANDS:
    print(f"error: unknown command {argv[0]!r}; use one of "
          f"{', '.join(COMMANDS)} (lasium-tf --help).", file=sys.stderr)
    return 2
  module, call = COMMANDS[argv[0]]
  if call == "run":  # absl programs read sys.argv, flags included.
    sys.argv = [module, *argv[1:]]
    importlib.import_module(module).run()
    return 0
  return importlib.import_module(module).main(argv[1:])


if __name__ == "__main__":
  sys.exit(main())
