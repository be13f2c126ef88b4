"""The programs behind `python -m lasium_tf.main`, one per `--mode`.

`run(config)` validates the config and calls its mode's function; every mode
returns a small dict of what it did. Notebooks and tests call `run` exactly
as the command line does.
"""

from __future__ import annotations

import dataclasses

from typing import Callable, Dict

from lasium_tf.run import experiment, generator_modes
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


def run(config: Config, verbose: bool = True, strategy=None) -> Dict:
  """Runs the configured mode (after `config.validate()`); returns its dict.

  `strategy` (a tf.distribute strategy, which the command line makes from
  `--strategy`) spreads meta-training and evaluation over its replicas;
  without one, a `--strategy` other than default is made here.
  """
  if config.seeds:
    return sweep(config, verbose, strategy)
  config = with_folder_background(with_folder_channels(config.validate()))
  if config.run_mode.distributes:
    if strategy is None and (config.strategy != "default"
                             or config.logical_cpus):
      from lasium_tf.run import distribute
      strategy = distribute.make_strategy(config.strategy,
                                          config.logical_cpus)
    return MODES[config.mode](config, verbose, strategy)
  return MODES[config.mode](config, verbose)


def sweep(config: Config, verbose: bool = True, strategy=None) -> Dict:
  """`--seeds`: the experiment once per meta-training seed, in turn, each
  in its own folder ("{seed}" in the paths); {seed: its mode's dict}.

  Rerunning the sweep resumes each seed's run where it stopped, so a sweep
  interrupted in its second seed picks up there.
  """
  config.validate()
  out = {}
  for seed in config.seeds:
    if verbose:
      print(f"Seed {seed} ({len(out) + 1} of {len(config.seeds)}).",
            flush=True)
    out[seed] = run(dataclasses.replace(config, seed=seed,
                                        seeds=()).with_seed_in_paths(),
                    verbose, strategy)
  return out


def with_folder_channels(config: Config) -> Config:
  """--dataset=folder without --channels: the channels its images have.

  Read from the files' headers (`data.folder.folder_channels`), so the
  networks, the run folder's config.json and an exported model all say
  the same; a mix of grey and colour images is an error naming both.
  """
  if "channels" not in config.data.kind.options or (
      config.data.channels is not None):
    return config
  if not config.run_mode.reads_images:
    return config
  from lasium_tf.data import folder

  channels = folder.folder_channels(config.data.data_dir,
                                    config.data.eval_data_dir,
                                    config.data.skip_bad_images)
  return dataclasses.replace(config, data=dataclasses.replace(
      config.data, channels=channels))


def with_folder_background(config: Config) -> Config:
  """A grey --dataset=folder without --background: the one its images have
  (`data.folder.detect_background`), so the shift fill, the pictures and
  the run's records agree with the files."""
  data = config.data
  if ("background" not in data.kind.options or data.background is not None
      or data.channels != 1 or not config.run_mode.reads_images):
    return config
  from lasium_tf.data import folder

  background = folder.detect_background(data.data_dir, data.eval_data_dir,
                                        data.resolved_image_size,
                                        data.skip_bad_images)
  return dataclasses.replace(config, data=dataclasses.replace(
      data, background=background))

