"""The benchmark scripts run and end with the promised JSON line."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.integration  # Subprocesses and kernels.


def last_json_line(script, *args):
  # The repository first on the path: the scripts import this checkout's
  # library even where another checkout is the installed one.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
             PYTHONPATH=os.pathsep.join(
                 [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script),
                           *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_meta_step_benchmark():
  out = last_json_line("meta_step.py", "--order=1", "--steps=2",
                       "--inner_steps=1")
  assert out["order"] == 1 and out["steps"] == 2
  assert out["config"]["inner_steps"] == 1
  assert out["seconds_per_step"] > 0 and out["per_task_seconds_per_step"] > 0
  assert out["same_first_loss"] is True
  assert out["stacked_path"] is True  # Not the per-task fallback.


def test_evaluation_benchmark():
  out = last_json_line("evaluation.py", "--tasks=4", "--tasks_per_call=2",
                       "--steps=2")
  assert out["same_accuracies"] is True
  assert out["stacked_path"] is True
  assert out["batched_max_accuracy_difference"] <= 0.1
  assert out["speedup"] > 0 and out["speedup_over_map_fn"] > 0
  assert out["seconds_per_1000_tasks"] > 0


def test_sampler_benchmark():
  out = last_json_line("sampler.py", "--generator_type=vae", "--batches=2",
                       "--order=1", "--inner_steps=1")
  assert out["sampler_tasks_per_second"] > 0
  assert out["sampler_over_consumption"] > 0


def test_bfloat16_benchmark():
  out = last_json_line("bfloat16.py", "--repeats=1", "--inner_steps=1",
                       "--meta_batch=1")
  assert out["gan_decode_ratio"] > 0 and out["meta_step_ratio"] > 0
  assert out["decoded_images"] == 30


def test_distributed_benchmark():
  out = last_json_line("distributed.py", "--replicas=2", "--steps=1",
                       "--meta_batch=2", "--inner_steps=1")
  assert out["replicas"] == 2 and out["tasks_per_replica"] == 1
  assert out["ratio"] > 0 and out["one_device_steps_per_second"] > 0


def test_kmeans_benchmark():
  out = last_json_line("kmeans.py", "--points=300", "--dims=4",
                       "--clusters=5")
  assert out["tensorflow_seconds"] > 0 and out["tensorflow_inertia"] > 0
  assert "sklearn_over_tensorflow" in out or "sklearn_seconds" not in out


def test_lasium_iteration_benchmark():
  out = last_json_line("lasium_iteration.py", "--generator_type=vae",
                       "--iterations=1", "--windows=1", "--warmup=1",
                       "--order=1", "--inner_steps=1")
  assert out["vae"]["seconds_per_iteration"] > 0
  assert out["vae"]["on_demand_seconds_per_iteration"] > 0
  assert out["speedup"] >= 1.0 and out["seconds_per_iteration"] > 0
