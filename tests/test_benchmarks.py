"""The benchmark scripts run and end with the promised JSON line."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.integration  # Subprocesses and kernels.


def _env():
  # The repository first on the path: the scripts import this checkout's
  # library even where another checkout is the installed one.
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
              PYTHONPATH=os.pathsep.join(
                  [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")]
                                 if p]))


def last_json_line(script, *args):
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script),
                           *args], capture_output=True, text=True, cwd=REPO,
                          env=_env(), timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


# The scripts that need no process of their own, at smoke-test sizes, run
# in one interpreter (tests/run_benchmarks.py): one TensorFlow start-up, not
# one per script. bfloat16 goes last: it sets Keras' global dtype policy.
SHARED = [
    ("meta_step", "meta_step.py", ["--order=1", "--steps=2",
                                   "--inner_steps=1"]),
    ("evaluation", "evaluation.py", ["--tasks=4", "--tasks_per_call=2",
                                     "--steps=2"]),
    ("sampler", "sampler.py", ["--generator_type=vae", "--batches=2",
                               "--order=1", "--inner_steps=1",
                               "--decode_precision=bfloat16"]),
    ("kmeans", "kmeans.py", ["--points=300", "--dims=4", "--clusters=5"]),
    ("lasium_iteration", "lasium_iteration.py", [
        "--generator_type=vae", "--iterations=1", "--windows=1",
        "--warmup=1", "--order=1", "--inner_steps=1"]),
    ("decode_formulations", "decode_formulations.py", [
        "--images=3", "--repeats=1", "--noxla"]),
    ("conv_formulations", "conv_formulations.py", [
        "--tasks=2", "--images=1", "--repeats=1", "--noxla"]),
    ("roofline", "roofline.py", ["--tasks=2", "--steps=2", "--repeats=1",
                                 "--matmul_size=256"]),
    ("bfloat16", "bfloat16.py", ["--repeats=1", "--inner_steps=1",
                                 "--meta_batch=1"]),
]


@pytest.fixture(scope="module")
def shared_runs():
  result = subprocess.run(
      [sys.executable, str(REPO / "tests" / "run_benchmarks.py"),
       json.dumps(SHARED)], capture_output=True, text=True, cwd=REPO,
      env=_env(), timeout=900)
  assert result.returncode == 0, result.stderr[-2000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def bench(shared_runs):
  def get(name):
    out = shared_runs[name]
    assert "error" not in out, out.get("error")
    return out
  return get


def test_meta_step_benchmark(bench):
  out = bench("meta_step")
  assert out["order"] == 1 and out["steps"] == 2
  assert out["config"]["inner_steps"] == 1
  assert out["seconds_per_step"] > 0 and out["per_task_seconds_per_step"] > 0
  assert out["same_first_loss"] is True
  assert out["stacked_path"] is True  # Not the per-task fallback.


def test_evaluation_benchmark(bench):
  out = bench("evaluation")
  assert out["same_accuracies"] is True
  assert out["stacked_path"] is True
  assert out["batched_max_accuracy_difference"] <= 0.1
  assert out["speedup"] > 0 and out["speedup_over_map_fn"] > 0
  assert out["seconds_per_1000_tasks"] > 0


def test_sampler_benchmark(bench):
  out = bench("sampler")
  assert out["decode_precision"] == "bfloat16"
  assert out["sampler_tasks_per_second"] > 0
  assert out["sampler_over_consumption"] > 0


def test_roofline_benchmark(bench):
  out = bench("roofline")
  assert out["stacked_path"] is True
  assert out["tasks"] == 2 and out["adaptation_steps"] == 2
  # The stride-2 backbone's four convolutions at 14, 7, 4 and 2 pixels:
  # 2 * pixels * 9 * C_in * C_out each, 5,313,024 FLOPs an image.
  assert out["conv_gflop_per_image_forward"] == pytest.approx(0.005313024)
  assert out["conv_gflop_per_image_step"] == pytest.approx(
      3 * 0.005313024 - 0.000225792)
  assert out["matmul_gflops"] > 0
  for k in (1, 5):
    timings = out[f"eval_{k}shot"]
    assert timings["stacked_seconds_per_1000_tasks"] > 0
    assert timings["shared_network_seconds_per_1000_tasks"] > 0
    assert timings["arithmetic_seconds_per_1000_tasks_at_matmul_rate"] > 0
  assert out["meta_step_order2"]["shared_network_seconds"] > 0


def test_bfloat16_benchmark(bench):
  out = bench("bfloat16")
  assert out["gan_decode_ratio"] > 0 and out["meta_step_ratio"] > 0
  assert out["decoded_images"] == 30


def test_decode_formulations_benchmark(bench):
  out = bench("decode_formulations")
  variants = out["variants"]
  assert out["images"] == 3 and variants["keras"]["ratio"] > 0
  # The float32 op formulations are the Keras generator, written otherwise.
  for name in ("transposed", "phases", "phases_3x3"):
    assert variants[name]["max_abs_difference"] < 1e-4, name
  assert variants["transposed_bfloat16"]["max_abs_difference"] > 0
  assert "phases_xla" not in variants  # --noxla.


def test_conv_formulations_benchmark(bench):
  out = bench("conv_formulations")
  assert out["variants"]["grouped"]["ratio"] == 1.0
  assert set(out["variants"]) == {"grouped", "patches", "slices",
                                  "grouped_bfloat16"}


def test_distributed_benchmark():
  out = last_json_line("distributed.py", "--replicas=2", "--steps=1",
                       "--meta_batch=2", "--inner_steps=1")
  assert out["replicas"] == 2 and out["tasks_per_replica"] == 1
  assert out["ratio"] > 0 and out["one_device_steps_per_second"] > 0


def test_kmeans_benchmark(bench):
  out = bench("kmeans")
  assert out["tensorflow_seconds"] > 0 and out["tensorflow_inertia"] > 0
  assert "sklearn_over_tensorflow" in out or "sklearn_seconds" not in out


def test_lasium_iteration_benchmark(bench):
  out = bench("lasium_iteration")
  assert out["vae"]["seconds_per_iteration"] > 0
  assert out["vae"]["on_demand_seconds_per_iteration"] > 0
  assert out["vae"]["bfloat16_on_demand_seconds_per_iteration"] > 0
  assert out["speedup"] >= 1.0 and out["seconds_per_iteration"] > 0
  assert out["vae"]["meta_step_only_seconds_per_iteration"] > 0
  assert out["vae"]["speedup_bound"] > 0


@pytest.mark.parametrize("script", sorted(
    p.name for p in (REPO / "benchmarks").glob("*.py")
    if '__name__ == "__main__"' in p.read_text()))
def test_every_benchmark_imports_lasium_tf_before_tensorflow(script):
  """The shared interpreter above imports lasium_tf first for every script,
  so it cannot catch a script that, run alone, loads TensorFlow first and
  times MAML's per-task fallback on CPUs where oneDNN is off by default."""
  lines = (REPO / "benchmarks" / script).read_text().splitlines()
  first = {name: next((i for i, l in enumerate(lines)
                       if l.strip().startswith(f"import {name}")
                       or l.strip().startswith(f"from {name}")), len(lines))
           for name in ("lasium_tf", "tensorflow", "keras")}
  assert first["lasium_tf"] < min(first["tensorflow"], first["keras"]), script
