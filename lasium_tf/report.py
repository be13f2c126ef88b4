"""Regenerates results/README.md from the result JSONs beside the paper's numbers.

  python -m lasium_tf.report            # writes results/README.md

Reads every `results/**/*.json` (one per recorded run and shot) and lays the
Omniglot rows of the paper's Table 1 and Table 7 out with our accuracy +- 95%
CI, the paper's, the budget and the command of each run; rows not yet run
are marked so, with the flagfile that would run them.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
from typing import Dict, List, Optional, Tuple

REPO = pathlib.Path(__file__).resolve().parents[1]

# Table 1 (Omniglot, 5-way): method -> (1-shot, 5-shot).
PAPER_TABLE1 = {
    "Training from scratch": (51.64, 71.44),
    "Supervised MAML": (94.46, 98.83),
    "Supervised ProtoNets": (98.35, 99.58),
    "LASIUM-RO-GAN-MAML": (83.26, 95.29),
    "LASIUM-N-VAE-MAML": (76.11, 94.42),
    "LASIUM-RO-GAN-ProtoNets": (80.15, 91.10),
    "LASIUM-OC-VAE-ProtoNets": (73.22, 85.05),
}
TABLE1_FLAGFILES = {
    "Training from scratch": "flags/training_from_scratch.cfg",
    "Supervised MAML": "flags/supervised_maml.cfg",
    "LASIUM-RO-GAN-MAML": "flags/lasium_ro_gan_maml.cfg",
    "LASIUM-N-VAE-MAML": "flags/lasium_n_vae_maml.cfg",
    "Supervised ProtoNets": "flags/supervised_protonets.cfg",
    "LASIUM-RO-GAN-ProtoNets": "flags/lasium_ro_gan_protonets.cfg",
    "LASIUM-OC-VAE-ProtoNets": "flags/lasium_oc_vae_protonets.cfg",
}

# Table 7 (Omniglot, 5-way 1-shot, 1000 meta-iterations): policy rows.
TABLE7_ROWS: List[Tuple[str, str, float]] = [
    ("N", "sigma2", 0.5), ("N", "sigma2", 1.0), ("N", "sigma2", 2.0),
    ("RO", "alpha", 0.2), ("RO", "alpha", 0.4),
    ("OC", "alpha", 0.2), ("OC", "alpha", 0.4)]
PAPER_TABLE7 = {
    ("GAN", "MAML"): (77.16, 71.10, 63.18, 77.62, 75.79, 74.70, 73.40),
    ("VAE", "MAML"): (70.41, 68.26, 65.18, 75.02, 71.31, 74.98, 68.79),
    ("GAN", "ProtoNets"): (62.16, 60.95, 59.81, 62.24, 64.19, 61.79, 64.59),
    ("VAE", "ProtoNets"): (61.57, 62.17, 64.88, 62.17, 62.20, 62.16, 63.08),
}


def load_results(results_dir: pathlib.Path) -> List[Dict]:
  records = []
  for path in sorted(results_dir.rglob("*.json")):
    try:
      record = json.loads(path.read_text())
    except (OSError, ValueError):
      continue
    if {"method", "k_shot", "accuracy", "ci95"} <= set(record):
      record["_path"] = path.relative_to(results_dir).as_posix()
      records.append(record)
  return records


def _find(records, method, k_shot, table=None, key=None, value=None):
  for record in records:
    if record["method"] != method or record["k_shot"] != k_shot:
      continue
    if record.get("dataset", "omniglot") != "omniglot":
      continue
    if record.get("study"):
      continue  # A budget series for the plots, not a table row.
    if table is not None and record.get("table") != table:
      continue
    if key is not None and record.get("hyperparameters", {}).get(key) != value:
      continue
    return record
  return None


def _cell(record: Optional[Dict]) -> str:
  if record is None:
    return "not run"
  return f"{record['accuracy']:.2f} +- {record['ci95']:.2f}"


def generator_run(record: Dict) -> str:
  """Which generator training run a record used, where runs differ.

  GANs trained with `scripts/gan_jax.py` (on a GPU) and with the TensorFlow
  trainer are separate runs with their own epoch counts, so tables and
  curves tell them apart; so is a run with another Adam beta_1.
  """
  info = record.get("hyperparameters", {}).get("generator_info") or {}
  text = " ".join(str(info.get(k, "")) for k in ("train_command", "source",
                                                 "trainer"))
  if "gan_jax" not in text:
    return ""
  beta1 = re.search(r"--generator_beta1=([0-9.]+)", text)
  if beta1 or "beta05" in text:
    return f" (JAX-trained, Adam beta1 {beta1.group(1) if beta1 else '0.5'})"
  return " (JAX-trained)"


def _budget(record: Dict) -> str:
  budget = record.get("budget", {})
  parts = []
  hyper = record.get("hyperparameters", {})
  if "meta_iterations" in budget:
    trained = (hyper.get("train_task") or {}).get("k_shot")
    shots = (f" of {trained}-shot tasks" if budget["meta_iterations"]
             and trained not in (None, record.get("k_shot")) else "")
    parts.append(f"{budget['meta_iterations']} meta-its{shots}")
  generator = hyper.get("generator_info") or {}
  if generator.get("epochs") is not None:
    parts.append(f"{generator['kind'].upper()} {generator['epochs']} epochs"
                 f"{generator_run(record)}")
  if "eval_tasks" in budget:
    parts.append(f"{budget['eval_tasks']} tasks")
  if hyper.get("strokes") == "black":
    parts.append("black strokes")
  return ", ".join(parts)


def _command(record: Dict) -> str:
  return f"`{record.get('command', '')}`"


def table1(records) -> List[str]:
  lines = ["## Table 1: Omniglot, 5-way", "",
           "| method | 1-shot (ours) | 1-shot (paper) | 5-shot (ours) | "
           "5-shot (paper) | budget | command |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for method, (paper1, paper5) in PAPER_TABLE1.items():
    one = _find(records, method, 1, table=1)
    five = _find(records, method, 5, table=1)
    ran = one or five
    budget = _budget(ran) if ran else ""
    command = (_command(ran) if ran else
               f"not run yet: `{TABLE1_FLAGFILES[method]}`"
               if method in TABLE1_FLAGFILES else "not run yet: no flagfile")
    lines.append(f"| {method} | {_cell(one)} | {paper1:.2f} | {_cell(five)} | "
                 f"{paper5:.2f} | {budget} | {command} |")
  return lines


def table7(records) -> List[str]:
  lines = ["## Table 7: Omniglot, 5-way 1-shot, 1000 meta-iterations", ""]
  for (generator, learner), paper in PAPER_TABLE7.items():
    lines += [f"### {generator}-{learner}", "",
              "| policy | ours | paper | budget | command |",
              "| --- | --- | --- | --- | --- |"]
    for (policy, key, value), paper_value in zip(TABLE7_ROWS, paper):
      method = f"LASIUM-{policy}-{generator}-{learner}"
      record = _find(records, method, 1, table=7, key=key, value=value)
      symbol = "sigma^2" if key == "sigma2" else "alpha"
      tag = f"{value:g}".replace(".", "")
      flagfile = (f"flags/table7_{policy.lower()}_{generator.lower()}_"
                  f"{learner.lower()}_{key}{tag}.cfg")
      exists = (REPO / flagfile).exists()
      command = (_command(record) if record else
                 f"not run yet: `{flagfile}`" if exists
                 else "not run yet: no flagfile")
      lines.append(f"| {policy} {symbol}={value:g} | {_cell(record)} | "
                   f"{paper_value:.2f} | {_budget(record) if record else ''} "
                   f"| {command} |")
    lines.append("")
  return lines


def studies(records) -> List[str]:
  """Runs of a `--study` (budget series), one row each, by study name."""
  rows = sorted((r for r in records if r.get("study")),
                key=lambda r: (r["study"], r["method"], r["_path"]))
  if not rows:
    return []
  lines = ["## Studies (budget series; drawn by `python -m lasium_tf.plots`)",
           "", "| study | method | policy | shot | ours | budget | command |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    hyper = r.get("hyperparameters", {})
    policy = ", ".join(f"{k}={hyper[k]:g}" for k in
                       ("sigma2", "sigma_max", "alpha") if k in hyper)
    lines.append(f"| {r['study']} | {r['method']} | {policy} | {r['k_shot']} "
                 f"| {_cell(r)} | {_budget(r)} | {_command(r)} |")
  return lines


def render(records) -> str:
  lines = ["# Results", "",
           "Generated by `python -m lasium_tf.report` from the JSON files "
           "in this folder; do not edit by hand. Accuracy in percent +- the "
           "95% confidence interval (1.96 std / sqrt(tasks)), 15 queries per "
           "class, 50 adaptation steps, test tasks drawn with seed 42.", ""]
  lines += table1(records) + [""] + table7(records) + [""] + studies(records)
  return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  results_dir = pathlib.Path(argv[0]) if argv else REPO / "results"
  text = render(load_results(results_dir))
  (results_dir / "README.md").write_text(text)
  print(f"Wrote {results_dir / 'README.md'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
