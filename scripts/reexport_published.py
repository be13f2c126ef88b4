"""Re-exports published meta-learned classifiers with this version's
signatures, from their own weights.

  python scripts/reexport_published.py                 # every pretrained/lasium_*
  python scripts/reexport_published.py lasium_ro_gan_maml_alpha04_40k_lr1e4

Each is exported again by `python -m lasium_tf.main` with the flagfile its
card names, `--mode=export --init_from=pretrained/NAME` (the published
weights; `--continue_from=` drops a continued run's starting point) into
`pretrained/NAME.reexport`; its weights are checked to equal the published
ones, and it then replaces the published folder. The card keeps its
training command, results and checkpoint selection and gains the new export
command; what changes is the SavedModel's signatures (for example the
`few_shot` signature reading drawings of either polarity, issue 48).
Run from the repository root; about half a minute per model on 2 CPU cores.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np


def same_weights(a: pathlib.Path, b: pathlib.Path) -> bool:
  from lasium_tf.run import export

  first, second = (export.load_keras_model(str(p / "model.keras"))
                   for p in (a, b))
  return len(first.weights) == len(second.weights) and all(
      np.array_equal(np.asarray(x), np.asarray(y))
      for x, y in zip(first.weights, second.weights))


def reexport(name: str) -> None:
  """Re-exports pretrained/NAME; refuses, touching nothing, a name that is
  not a published classifier there or a sibling folder it would need
  (NAME.reexport, NAME.old) that already exists: those may be yours."""
  root = pathlib.Path("pretrained")
  published = root / name
  if (pathlib.Path(name).name != name or name in ("", ".", "..")
      or not (published / "card.json").is_file()
      or not (published / "model.keras").is_file()):
    raise SystemExit(f"{published} is not a published classifier (a folder "
                     f"of pretrained/ with card.json and model.keras); "
                     f"nothing done.")
  target, old = root / (name + ".reexport"), root / (name + ".old")
  for folder in (target, old):
    if os.path.lexists(folder):
      raise SystemExit(f"{folder} exists; move it away (it may hold files "
                       f"of yours), then run again. Nothing done.")
  card = json.loads((published / "card.json").read_text())
  flagfile = next(a for a in card["export_command"].split()
                  if a.startswith("--flagfile="))
  subprocess.run([sys.executable, "-m", "lasium_tf.main", flagfile,
                  "--continue_from=", "--mode=export",
                  f"--init_from={published}", f"--export_dir={target}"],
                 check=True)
  if not same_weights(published, target):
    shutil.rmtree(target)  # The export this call just made.
    raise SystemExit(f"{target} held other weights than {published}; "
                     f"removed it, nothing replaced.")
  os.replace(published, old)
  os.replace(target, published)
  shutil.rmtree(old)  # The published folder this call just moved aside.
  print(f"Re-exported {published}.", flush=True)


def main(names) -> None:
  names = names or sorted(p.name for p in pathlib.Path("pretrained").glob(
      "lasium_*") if (p / "model.keras").exists())
  for name in names:
    reexport(name)


if __name__ == "__main__":
  main(sys.argv[1:])
