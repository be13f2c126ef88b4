"""Meta-training and evaluation under tf.distribute (`lasium_tf.run.distribute`).

A process's logical CPU devices are fixed when TensorFlow initialises, so
every run on several replicas is a subprocess (the `tests/distributed_*`
helpers, those of two replicas together in one, or the command line);
those tests are in the integration tier.
"""

import dataclasses
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from lasium_tf import config as config_lib
from lasium_tf.run import distribute

REPO = pathlib.Path(__file__).resolve().parents[1]
CHECK = str(REPO / "tests" / "distributed_check.py")


def env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join(
      [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def check(*args):
  result = subprocess.run([sys.executable, CHECK, *args], env=env(),
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


# The two-replica checks share one process (tests/run_replica_checks.py):
# one TensorFlow start-up and one split of the CPU instead of four.
TWO_REPLICA_CHECKS = [
    ("maml-2nd-order", "distributed_check.py",
     ["--replicas=2", "--learner=maml", "--order=2", "--batched=1"]),
    ("fomaml-per-task", "distributed_check.py",
     ["--replicas=2", "--learner=maml", "--order=1", "--batched=0"]),
    ("generator", "distributed_generator_check.py",
     ["--kind=gan", "--mode_seeking_weight=0"]),
    ("lasium", "distributed_lasium_check.py", []),
]


@pytest.fixture(scope="module")
def two_replica_runs():
  result = subprocess.run(
      [sys.executable, str(REPO / "tests" / "run_replica_checks.py"),
       json.dumps(TWO_REPLICA_CHECKS)], env=env(), capture_output=True,
      text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def shared(runs, name):
  out = runs[name]
  assert "error" not in out, out.get("error")
  return out


@pytest.mark.integration
@pytest.mark.parametrize("args", [
    ("--replicas=2", "--learner=maml", "--order=2", "--batched=1"),
    ("--replicas=2", "--learner=maml", "--order=1", "--batched=0"),
    ("--replicas=4", "--learner=protonets"),
], ids=["maml-2nd-order", "fomaml-per-task", "protonets-4-replicas"])
def test_a_mirrored_meta_step_and_evaluation_equal_the_single_device_ones(
    args, request, two_replica_runs):
  """Tolerance: 1e-5 on every weight and Adam slot after one step, whose
  own size is above 1e-3 (Adam's first step is ~lr = 1e-3 per weight), so
  a meta-gradient scaled by the replica count (a step R times too large, or
  Adam's state out of step) could not pass."""
  name = request.node.callspec.id
  out = (shared(two_replica_runs, name) if name in two_replica_runs
         else check(*args))
  replicas = int(args[0].split("=")[1])
  assert out["replicas"] == replicas
  assert out["moved"] > 1e-3
  assert out["max_diff"] < 1e-5
  assert out["loss"][0] == pytest.approx(out["loss"][1], rel=1e-5)
  assert out["finite"] == 1.0
  # Meta-batch 0 is tasks 0..3 whatever the replica count, in blocks.
  per = 4 // replicas
  assert out["replica_tasks"] == [list(range(r * per, (r + 1) * per))
                                  for r in range(replicas)]
  assert out["mirrored_accuracies"] == out["single_accuracies"]
  assert len(set(out["single_accuracies"])) > 1  # Tasks that tell apart.


class _Replicas:
  """A stand-in strategy: only its replica count is read."""

  def __init__(self, count):
    self.num_replicas_in_sync = count


def test_a_replica_count_that_does_not_divide_the_meta_batch_names_the_fix():
  assert distribute.per_replica_batch(_Replicas(2), 4) == 2
  with pytest.raises(config_lib.ConfigError,
                     match="--meta_batch_size=4 cannot be split evenly over "
                           "3 replicas; use a multiple of 3"):
    distribute.per_replica_batch(_Replicas(3), 4)
  assert distribute.per_replica_batch(None, 5) == 5


def test_strategies_are_checked_before_anything_runs(monkeypatch):
  with pytest.raises(config_lib.ConfigError, match="--strategy"):
    config_lib.Config(strategy="mirrored", mode="export",
                      export_dir="x").validate()
  with pytest.raises(config_lib.ConfigError, match="drop one of the two"):
    config_lib.Config(strategy="mirrored", mode="train_generator",
                      generative=config_lib.GenerativeConfig(
                          backend="jax")).validate()
  with pytest.raises(config_lib.ConfigError, match="--logical_cpus"):
    config_lib.Config(logical_cpus=0).validate()
  monkeypatch.delenv("TF_CONFIG", raising=False)
  with pytest.raises(config_lib.ConfigError, match="needs TF_CONFIG"):
    distribute.make_strategy("multi_worker")
  assert distribute.make_strategy("default") is None
  assert distribute.describe(None) == {"strategy": "default", "replicas": 1}


def main(*args, extra_env=None, check_rc=True):
  result = subprocess.run([sys.executable, "-m", "lasium_tf.main", *args],
                          env={**env(), **(extra_env or {})},
                          capture_output=True, text=True, timeout=600)
  if check_rc:
    assert result.returncode == 0, result.stderr[-3000:]
  return result


def in_process(*args, verbose=False):
  """A one-device run of the same flags in this process (no interpreter to
  start): what the distributed runs are compared with, or resume on."""
  from lasium_tf.run import modes
  from test_train import parse_flags
  return modes.run(parse_flags(*args).validate(), verbose=verbose)


def supervised(folder, iterations, data_dir, *extra):
  return [f"--experiment_dir={folder}", f"--data_dir={data_dir}",
          f"--iterations={iterations}", "--meta_batch_size=4",
          "--inner_steps=1", "--eval_k_shots=1", "--eval_tasks=8",
          "--eval_tasks_per_call=4", "--eval_inner_steps=2", "--log_every=1",
          "--checkpoint_every=2", "--method=Supervised MAML (test)", *extra]


def weights(folder):
  reader = tf.train.load_checkpoint(str(folder / "checkpoints"))
  names = sorted(n for n in reader.get_variable_to_shape_map()
                 if n.startswith(("model/", "optimizer/")) and
                 "OBJECT_GRAPH" not in n)
  return {n: reader.get_tensor(n) for n in names}


@pytest.mark.integration
def test_a_run_on_two_replicas_resumes_on_one_as_if_straight(real_omniglot,
                                                            tmp_path):
  """Same tasks, same steps: 2 iterations on 2 logical CPUs then 2 on one
  equal 4 on one. (The evaluation's equality is distributed_check's.)"""
  data_dir = real_omniglot[0].data_dir
  straight, moved = tmp_path / "straight", tmp_path / "moved"
  in_process(*supervised(straight, 4, data_dir, "--mode=train"))
  out = main(*supervised(moved, 2, data_dir, "--mode=train",
                         "--strategy=mirrored", "--logical_cpus=2"))
  assert "meta-train 2/2" in out.stdout + out.stderr
  in_process(*supervised(moved, 4, data_dir, "--mode=train"))
  a, b = weights(straight), weights(moved)
  assert sorted(a) == sorted(b) and len(a) > 10
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


@pytest.mark.integration
def test_two_workers_on_localhost_take_the_single_worker_step(real_omniglot,
                                                              tmp_path):
  """MultiWorkerMirroredStrategy, 2 processes named by TF_CONFIG: the
  chief's checkpoint and evaluation equal one process's, and only the
  chief writes."""
  data_dir = real_omniglot[0].data_dir
  single, multi = tmp_path / "single", tmp_path / "multi"
  in_process(*supervised(single, 2, data_dir))
  workers = [f"localhost:{p}" for p in _free_ports(2)]
  children = []
  for index in range(2):
    config = {"cluster": {"worker": workers},
              "task": {"type": "worker", "index": index}}
    children.append(subprocess.Popen(
        [sys.executable, "-m", "lasium_tf.main",
         *supervised(multi, 2, data_dir, "--strategy=multi_worker")],
        env={**env(), "TF_CONFIG": json.dumps(config)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  for child in children:
    try:
      _, err = child.communicate(timeout=300)
    except subprocess.TimeoutExpired:
      for c in children:
        c.kill()
      raise
    assert child.returncode == 0, err[-3000:]
  a, b = weights(single), weights(multi)
  assert sorted(a) == sorted(b)
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)
  commands = (multi / "commands.jsonl").read_text().splitlines()
  assert len(commands) == 1  # The chief's; the other worker wrote elsewhere.
  # Evaluation's tasks shared between the workers: the same accuracy, up
  # to one query of the 8 x 75 flipping on a near-tie (each worker adapts
  # its tasks in a stacked batch of another size, so sums round in another
  # order; a task missed or counted twice would move it by whole tasks),
  # plus the record's rounding to 0.01.
  one, two = (json.loads((f / "results_1shot.json").read_text())
              for f in (single, multi))
  assert abs(one["accuracy"] - two["accuracy"]) <= 100 / (8 * 75) + 0.01
  assert two["budget"]["replicas"] == 2 and two["num_tasks"] == 8


def test_the_strategy_flag_is_refused_without_its_cluster(monkeypatch, capsys,
                                                         tmp_path):
  from test_train import run_main_in_process
  monkeypatch.setenv("TF_CONFIG", "")
  code, stderr = run_main_in_process(
      ["--strategy=multi_worker", "--mode=train",
       f"--experiment_dir={tmp_path / 'run'}"], monkeypatch, capsys)
  assert code == 2
  assert "needs TF_CONFIG" in stderr
  assert not (tmp_path / "run").exists()


def test_the_distributed_table7_cell_is_the_cell_under_another_strategy():
  """Its flagfile differs from the single-device cell's only in where it
  runs and where it writes."""
  from absl import flags
  from lasium_tf.config import cli

  def parse(flagfile):
    values = flags.FlagValues()
    cli.define_flags(config_lib.Config, values)
    values(["prog", f"--flagfile={REPO / flagfile}"])
    cli.apply_recipe(values["recipe"].value, values)
    return cli.build(config_lib.Config, values)

  cell = parse("flags/ours/table7_n_gan_maml_sigma05.cfg")
  mirrored = parse("flags/distributed/table7_n_gan_maml_sigma05_mirrored.cfg")
  where = dict(strategy="mirrored", logical_cpus=2, study="distributed",
               table=None, experiment_dir=mirrored.experiment_dir,
               results_file=mirrored.results_file)
  assert dataclasses.replace(cell, **where) == mirrored
  mirrored.validate()


@pytest.mark.integration
def test_a_generator_step_split_over_replicas_is_the_single_device_step(
    two_replica_runs):
  """Data parallel: without the mode-seeking term (which, like BatchNorm's
  statistics, is each replica's own in data-parallel training) the GAN's
  step on 2 replicas equals one device's within 5e-5 (against a step of
  about 1e-2: the replicas sum the gradient in another order, and Adam's
  first step turns that rounding into up to 1.3e-5 on a CPU without
  AVX-512; 3e-7 with it)."""
  out = shared(two_replica_runs, "generator")
  assert out["replicas"] == 2
  assert out["moved"] > 1e-4 and out["max_diff"] < 5e-5
  for single, replicas in out["metrics"].values():
    assert single == pytest.approx(replicas, rel=1e-5)


@pytest.mark.integration
def test_generator_training_under_mirrored_resumes_on_one_device(tmp_path,
                                                                capsys):
  from lasium_tf import generators
  from lasium_tf.data import shapes
  data = shapes.write_shapes(tmp_path / "shapes", per_class=10)
  folder = tmp_path / "vae"
  common = ["--mode=train_generator", "--generator_type=vae",
            "--dataset=folder", f"--data_dir={data['data_dir']}",
            f"--experiment_dir={folder}", "--generator_batch_size=10",
            "--samples_every=5"]
  main(*common, "--generator_epochs=1", "--strategy=mirrored",
       "--logical_cpus=2")
  capsys.readouterr()
  in_process(*common, "--generator_epochs=2", verbose=True)
  assert "Resumed vae training at epoch 1" in capsys.readouterr().out
  assert generators.checkpoint_epochs(str(folder)) == [1, 2]
  lines = [json.loads(l) for l in
           (folder / "metrics.jsonl").read_text().splitlines()]
  assert [l["epoch"] for l in lines] == [1, 2]
  assert all(np.isfinite(l["loss"]) for l in lines)
  saved = json.loads((folder / "config.json").read_text())
  assert saved["strategy"] == "default"  # The last command's.
  first = json.loads((folder / "commands.jsonl").read_text().splitlines()[0])
  assert "--strategy=mirrored" in first["command"]


@pytest.mark.integration
def test_lasium_replicas_decode_their_own_tasks_on_their_own_devices(
    two_replica_runs):
  """The stream hands replica r the indices 2r, 2r + 1 of meta-batch 0;
  it decodes them on its device, and the step equals one device's within
  5e-5 (a step moves weights by up to Adam's lr, 1e-3; replicas sum the
  gradients in another order, and Adam's first step turns that rounding
  on near-zero gradients into up to ~3e-5, as in the generator check)."""
  out = shared(two_replica_runs, "lasium")
  assert out["indices"] == [[0, 1], [2, 3]]
  assert [d.rsplit(":", 1)[-1] for d in out["devices"]] == ["0", "1"]
  assert all("CPU" in d for d in out["devices"])
  assert out["max_diff"] < 5e-5
