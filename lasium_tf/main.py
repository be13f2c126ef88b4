"""Command line: parses flags into a `Config` and calls
`lasium_tf.run.modes.run`.

  python -m lasium_tf.main --flagfile=flags/supervised_maml.cfg

This is the only module that reads FLAGS. Unknown flags are errors (absl).
"""

import sys

from absl import app, flags, logging

from lasium_tf.config import cli
from lasium_tf import config as config_lib


def _load_plugins() -> None:
  """Imports the modules --plugins names, so that what they register has
  its flags; a bad one is one `error:` line."""
  from lasium_tf import registry

  try:
    registry.load_plugins(cli.plugins_in_argv(sys.argv))
  except config_lib.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


_load_plugins()
# Every flag comes from a `config.setting` field: see `lasium_tf.config.cli`.
cli.define_flags(config_lib.Config)
flags.adopt_module_key_flags(cli)  # So that --help lists them.


def config_from_flags(argv) -> config_lib.Config:
  """The parsed flags as a `Config`, the recipe filling flags not given."""
  return cli.config_from_flag_values(flags.FLAGS, argv)


def main(argv):
  try:
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = config_from_flags(sys.argv)
  except app.UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  try:  # A bad value fails in a fraction of a second, before TensorFlow loads.
    config.validate()
  except config_lib.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  # Keras reads its backend when first imported, which is just below.
  from lasium_tf.core import backends, quiet
  backends.select(config.generative.backend)
  verbose = flags.FLAGS["verbosity"].present
  # Loaded here: TensorFlow loads slowly, and says much on the way.
  if not quiet.load_tensorflow(verbose) and (
      config.generative.backend == "tensorflow"):
    print("No GPU found: running on the CPU.", file=sys.stderr, flush=True)
  from lasium_tf.run import modes
  from lasium_tf.core import stopping
  from lasium_tf.data import DataError

  if not verbose:
    logging.set_verbosity(logging.WARNING)  # Hide TensorFlow's INFO lines.
  try:
    with stopping.signals_end_the_program():
      strategy = None
      if config.strategy != "default" or config.logical_cpus:
        from lasium_tf.run import distribute
        strategy = distribute.make_strategy(config.strategy,
                                            config.logical_cpus)
      modes.run(config, strategy=strategy)
  except (config_lib.ConfigError, DataError) as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except stopping.Stopped as e:
    print(str(e), file=sys.stderr)
    sys.exit(128 + e.signal_number)  # The shell's code for that signal.
  except Exception as e:  # pylint: disable=broad-except
    from lasium_tf.core import files
    if not files.disk_full(e):
      raise
    print(f"error: {files.disk_full_message(e)}", file=sys.stderr)
    sys.exit(2)


def run() -> None:
  """The program, on `sys.argv` (`python -m lasium_tf.main`, `lasium-tf
  train`)."""
  app.run(main, flags_parser=lambda argv: cli.parse_or_exit(
      argv, "lasium_tf.main", cli.flag_groups(config_lib.Config)))


if __name__ == "__main__":
  run()
