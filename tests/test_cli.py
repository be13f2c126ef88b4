"""The one config schema: flags generated from `config.setting` fields."""

import dataclasses
import pathlib
from typing import Optional, Tuple

import pytest
from absl import app, flags

from lasium_tf.config import cli
from lasium_tf import config as config_lib

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_every_setting_of_the_config_is_a_flag_with_help():
  fields = list(cli.flag_fields(config_lib.Config))
  names = [f.name for f in fields]
  assert len(fields) == 94  # 93 flags; --seed declared by two classes.
  assert names.count("seed") == 2 and len(set(names)) == 93
  for f in fields:
    assert f.help.endswith((".", ")")), f.name
  paths = {f.name: f.path for f in fields}
  assert paths["eval_queries"] == ("eval", "k_query")
  assert paths["generator_type"] == ("generative", "kind")
  assert paths["data_source"] == ("data", "source")


def test_flags_parse_into_the_nested_config_and_defaults_match():
  values = flags.FlagValues()
  cli.define_flags(config_lib.Config, values)
  values(["prog", "--eval_k_shots=1,3", "--generator_type=vae",
          "--sigma=0.7", "--seed=9", "--data_source=tfds", "--nobatched_tasks"])
  config = cli.build(config_lib.Config, values, command="c")
  assert config.eval.k_shots == (1, 3)
  assert config.generative.kind == "vae"
  assert config.lasium.sigma == 0.7
  assert (config.seed, config.generative.seed) == (9, 9)
  assert config.data.source == "tfds"
  assert config.batched_tasks is False
  assert config.command == "c"
  values.unparse_flags()
  values(["prog"])
  assert cli.build(config_lib.Config, values) == config_lib.Config()


def test_a_list_of_shots_that_is_not_integers_is_a_usage_error():
  values = flags.FlagValues()
  cli.define_flags(config_lib.Config, values)
  values(["prog", "--eval_k_shots=1,five"])
  with pytest.raises(app.UsageError, match="comma-separated list of integers"):
    cli.build(config_lib.Config, values)


def test_an_enum_setting_refuses_values_outside_its_choices():
  values = flags.FlagValues()
  cli.define_flags(config_lib.Config, values)
  with pytest.raises(flags.IllegalFlagValueError):
    values(["prog", "--policy=zz"])


@dataclasses.dataclass(frozen=True)
class _A:
  seed: int = config_lib.setting(0, "Seed.")


@dataclasses.dataclass(frozen=True)
class _B:
  seed: int = config_lib.setting(1, "Seed.")
  hidden: float = config_lib.setting(2.0, flag=None)


@dataclasses.dataclass(frozen=True)
class _Both:
  a: _A = config_lib.setting(factory=_A)
  b: _B = config_lib.setting(factory=_B)
  shots: Tuple[int, ...] = config_lib.setting((1,), "Shots.")
  name: Optional[str] = config_lib.setting(None, "Name.")


def test_a_flag_declared_twice_with_different_defaults_is_refused():
  with pytest.raises(ValueError, match="different defaults"):
    cli.define_flags(_Both, flags.FlagValues())


def test_only_defines_a_subset_and_build_keeps_other_defaults():
  values = flags.FlagValues()
  cli.define_flags(_Both, values, only=("shots",))
  values(["prog", "--shots=2,4"])
  assert "name" not in values and "hidden" not in values
  built = cli.build(_Both, values)
  assert built == _Both(shots=(2, 4))


def test_kind_dependent_defaults_are_resolved_in_one_place():
  gan = config_lib.GenerativeConfig(kind="gan")
  vae = config_lib.GenerativeConfig(kind="vae")
  assert (gan.resolved_learning_rate, vae.resolved_learning_rate) == (3e-4,
                                                                      1e-3)
  assert (gan.resolved_latent_dim, vae.resolved_latent_dim) == (128, 20)
  assert config_lib.GenerativeConfig(
      learning_rate=0.01).resolved_learning_rate == 0.01


def test_help_lists_every_flag_once_under_its_concern():
  from lasium_tf import config as config_lib
  groups = cli.flag_groups(config_lib.Config)
  # Each task source's settings under its own heading, after "tasks".
  assert tuple(groups) == cli.GROUP_ORDER[:3] + (
      "tasks (LASIUM)", "tasks (UMTRA)", "tasks (CACTUs)") + cli.GROUP_ORDER[3:]
  names = [n for g in groups.values() for n in g]
  assert len(names) == len(set(names)) == len(
      {f.name for f in cli.flag_fields(config_lib.Config)})
  assert "normalization" in groups["learner"]
  assert "data_dir" in groups["data"] and "policy" in groups["tasks (LASIUM)"]
  assert "eval_tasks" in groups["evaluation"]
  assert "init_from" in groups["export"] and "strategy" in groups["devices"]


@pytest.mark.integration
@pytest.mark.parametrize("program", ["lasium_tf.main", "lasium_tf.few_shot"])
def test_help_prints_the_groups(program):
  import subprocess
  import sys
  result = subprocess.run([sys.executable, "-m", program, "--help"],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0
  heads = [l for l in result.stdout.splitlines() if l.endswith(":")
           and not l.startswith(" ")]
  if program == "lasium_tf.main":
    assert heads == [f"{g}:" for g in cli.flag_groups(config_lib.Config)]
  else:
    assert heads == ["model:", "images:", "output:"]


def test_config_from_args_is_a_flagfile_with_overrides_for_notebooks():
  flagfile = REPO / "flags" / "folder" / "lasium_n_vae_maml.cfg"
  config = cli.config_from_args([f"--flagfile={flagfile}", "--data_dir=mine",
                                 "--iterations=7"])
  assert config.data.data_dir == "mine" and config.iterations == 7
  assert config.lasium.policy == "n" and config.lasium.sigma_max == 2.0
  assert config.command.endswith("--data_dir=mine --iterations=7")
  ours = cli.config_from_args(["--recipe=ours"])
  assert ours.task.query_shift == config_lib.RECIPES["ours"]["query_shift"]
  with pytest.raises(app.UsageError, match="bogus"):
    cli.config_from_args(["--bogus=1"])
  with pytest.raises(app.UsageError, match="--sigma"):
    cli.config_from_args(["--sigma=1", "--sigma2=1"])


def test_filters_flag_sets_the_backbone_width_and_refuses_nonsense():
  from lasium_tf.run import experiment
  values = flags.FlagValues()
  cli.define_flags(config_lib.Config, values)
  values(["prog", "--filters=32", "--learner=maml"])
  config = cli.build(config_lib.Config, values, command="c")
  assert config.filters == 32

  def widths(config):
    return {tuple(w.shape)[-1] for w in experiment.build_learner(
        config).model.weights if len(w.shape) == 4}

  assert widths(config) == {32}
  assert widths(dataclasses.replace(config, filters=None)) == {64}
  with pytest.raises(config_lib.ConfigError, match="--filters must be"):
    dataclasses.replace(config, filters=0).validate()
