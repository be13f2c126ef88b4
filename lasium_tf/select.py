"""Picks among meta-learning runs by their validation scores only.

  python -m lasium_tf.select experiments/folder/run_a experiments/folder/run_b

Each run must have been meta-trained with a validation split
(`--val_data_dir`; `lasium_tf.run.selection`), which scored its checkpoints; the
runs differ in whatever was tried (policy, alpha, query shift,
meta-iterations, the generator). Prints each run's best validation accuracy,
best first, and the run to evaluate and export. No test result is read, so
the test classes stay unseen by the choice.
"""

from __future__ import annotations

import sys

from lasium_tf.run import selection


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  if not argv or any(a.startswith("-") for a in argv):
    print("usage: python -m lasium_tf.select RUN_DIR [RUN_DIR ...] (run "
          "folders meta-trained with --val_data_dir)", file=sys.stderr)
    return 2
  rows = selection.compare(argv)
  for row in rows:
    if "accuracy" in row:
      line = (f"{row['accuracy']:6.2f} +- {row['ci95']:.2f}%  {row['run']}"
              f"  (meta-iteration {row['meta_iteration']}, best of "
              f"{row['scored']} scored)")
    else:
      line = f"     -         {row['run']}"
    print(line + (f"  [{row['problem']}]" if "problem" in row else ""))
  best = rows[0]
  if "problem" in best:
    print("error: no run has comparable validation scores.", file=sys.stderr)
    return 1
  tasks = best["tasks"]
  print(f"Best on {tasks['num_tasks']} validation {tasks['n_way']}-way "
        f"{tasks['k_shot']}-shot tasks: {best['run']}. Evaluate and export "
        f"that run (its flagfile with --mode=evaluate, then --mode=export).")
  return 0


if __name__ == "__main__":
  sys.exit(main())
