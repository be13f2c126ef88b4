"""Accuracy against budget, drawn from the result JSONs.

  python -m lasium_tf.plots            # writes results/figures/*.png

Two figures:

* `accuracy_vs_generator_epochs.png`: test accuracy against how long the
  generator trained, one line per method and policy (runs of a `--study`,
  e.g. flags/study_gan_epochs.cfg, and table rows, whose generator card gives
  the epochs), with the authors' LASIUM-N GAN-MAML curve for reference.
* `accuracy_vs_meta_iterations.png`: test accuracy against meta-iterations,
  one line per method, policy, generator and shot with at least two budgets.

Every point has its 95% confidence interval as an error bar. matplotlib is an
optional dependency (`pip install -e ".[plots]"`).
"""

from __future__ import annotations

import collections
import pathlib
import sys
from typing import Dict, List, Tuple

from lasium_tf.records.tables import CHECK_STUDIES, REPO
from lasium_tf.records.schema import Summary, load_results

# The authors' plot (LASIUM-N, GAN-MAML, Omniglot 5-way 1-shot) against GAN
# epochs, read from their code (docs/reproducing.md).
AUTHORS_GAN_EPOCHS = ((0, 51.95), (10, 67.50), (20, 71.26), (30, 77.34),
                      (40, 77.67), (50, 77.35), (100, 78.14), (150, 79.99),
                      (200, 78.21), (300, 77.94), (400, 80.51), (500, 76.49))

Point = Tuple[float, float, float]  # x, accuracy, ci95


def _policy(record: Summary) -> str:
  values = record.values  # Each policy records its own hyperparameters.
  if "sigma_max" in values:
    return f"sigma~U(0,{values['sigma_max']:g})"
  if "sigma" in values and "sigma2" not in values:
    return f"sigma={values['sigma']:g}"
  if "sigma2" in values:
    return f"sigma^2={values['sigma2']:g}"
  if "alpha" in values:
    return f"alpha={values['alpha']:g}"
  return ""


def _data(record: Summary) -> str:
  """', authors split' / ', black strokes' for runs off the default data."""
  label = (f", {record.split} split"
           if record.split not in (None, "vinyals") else "")
  label += ", black strokes" if record.strokes == "black" else ""
  if record.query_shift:
    label += f", shift {record.query_shift} ({record.shift_fill} fill)"
  return label


def _drawn(records: List[Summary]) -> List[Summary]:
  """The records a curve may take a point from: not a check's runs."""
  return [r for r in records if r.study not in CHECK_STUDIES]


def generator_epoch_curves(records: List[Summary]) -> Dict[str, List[Point]]:
  """{label: [(epochs, accuracy, ci)]} for runs at 1000 meta-iterations.

  Only runs at Table 7's budget (1000 meta-iterations) are compared, so a
  line varies the generator's training alone.
  """
  curves = collections.defaultdict(dict)
  for r in _drawn(records):
    epochs = r.generator_epochs
    if epochs is None or r.meta_iterations != 1000:
      continue
    label = (f"{r.method}{r.generator_run} {_policy(r)}{_data(r)}, "
             f"{r.k_shot}-shot")
    curves[label].setdefault(epochs, (epochs, r.accuracy, r.ci95))
  return {k: sorted(v.values()) for k, v in curves.items() if len(v) >= 2}


def meta_iteration_curves(records: List[Summary]) -> Dict[str, List[Point]]:
  """{label: [(meta-iterations, accuracy, ci)]} with two budgets or more."""
  curves = collections.defaultdict(dict)
  for r in _drawn(records):
    iterations = r.meta_iterations
    if not iterations:
      continue
    epochs = r.generator_epochs
    generator = f", generator {epochs} ep" if epochs is not None else ""
    label = (f"{r.method}{r.generator_run} {_policy(r)}{generator}"
             f"{_data(r)}, {r.k_shot}-shot")
    curves[label].setdefault(iterations, (iterations, r.accuracy, r.ci95))
  return {k: sorted(v.values()) for k, v in curves.items() if len(v) >= 2}


def _figure(curves: Dict[str, List[Point]], xlabel: str, title: str, path,
            reference=None, logx: bool = False) -> pathlib.Path:
  try:
    import matplotlib
  except ImportError:
    raise SystemExit("plots need matplotlib: pip install -e \".[plots]\"")
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(7, 4.5))
  if reference:
    xs, ys = zip(*reference)
    ax.plot(xs, ys, "--", color="grey", label="authors' plot (paper code)")
  for label, points in sorted(curves.items()):
    xs, ys, cis = zip(*points)
    ax.errorbar(xs, ys, yerr=cis, marker="o", capsize=3, label=label)
  if logx:
    ax.set_xscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel("test accuracy (%), 95% CI")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  if curves or reference:
    ax.legend(fontsize=7)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp.png")
  fig.savefig(tmp, dpi=120)
  plt.close(fig)
  tmp.replace(path)  # Never a half-written figure.
  return path


def draw(results_dir: pathlib.Path, figures_dir: pathlib.Path):
  """Writes both figures; returns their paths and the curves drawn."""
  records = load_results(results_dir)
  epochs = generator_epoch_curves(records)
  iterations = meta_iteration_curves(records)
  paths = [
      _figure(epochs, "generator training epochs",
              "Omniglot 5-way, 1000 meta-iterations",
              figures_dir / "accuracy_vs_generator_epochs.png",
              reference=AUTHORS_GAN_EPOCHS),
      _figure(iterations, "meta-iterations", "Omniglot 5-way",
              figures_dir / "accuracy_vs_meta_iterations.png", logx=True),
  ]
  return paths, {"generator_epochs": epochs, "meta_iterations": iterations}


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  results_dir = pathlib.Path(argv[0]) if argv else REPO / "results"
  paths, curves = draw(results_dir, results_dir / "figures")
  for path in paths:
    print(f"Wrote {path}")
  for name, lines in curves.items():
    print(f"{name}: {len(lines)} line(s) with two or more budgets")
  return 0


if __name__ == "__main__":
  sys.exit(main())
