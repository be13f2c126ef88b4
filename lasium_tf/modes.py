"""The programs behind `python -m lasium_tf.main`, one per `--mode`.

`run(config)` validates the config and calls its mode's function; every mode
returns a small dict of what it did. Notebooks and tests call `run` exactly
as the command line does.
"""

from __future__ import annotations

from typing import Callable, Dict

from lasium_tf import experiment, generator_modes
from lasium_tf.config import Config

MODES: Dict[str, Callable[[Config, bool], Dict]] = {
    "train": experiment.meta_learn,
    "evaluate": experiment.meta_learn,
    "train_and_evaluate": experiment.meta_learn,
    "export": experiment.meta_learn,
    "train_generator": generator_modes.train_generator,
    "export_generator": generator_modes.export_generator,
    "draw_tasks": generator_modes.draw_tasks,
}


def run(config: Config, verbose: bool = True) -> Dict:
  """Runs the configured mode (after `config.validate()`); returns its dict."""
  return MODES[config.validate().mode](config, verbose)
