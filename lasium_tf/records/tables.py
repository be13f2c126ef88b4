"""The paper's tables from the result records, beside the paper's numbers.

`render(records)` is the text of results/README.md, which
`python -m lasium_tf.report` writes. It reads every `results/**/*.json` (one
per recorded run and shot, through `schema.load_results`, as `schema.Summary`
values) and lays the Omniglot rows of the paper's Table 1 and Table 7 out with
our accuracy +- 95% CI, the paper's, the budget and the command of each run;
rows not yet run are marked so, with the flagfile that would run them.
"""

from __future__ import annotations

import pathlib
from typing import Dict, List, Optional, Tuple

from lasium_tf.config import EvalConfig
from lasium_tf.learners.normalizations import NORMALIZATIONS
from lasium_tf.records.schema import Summary, load_results

# The repository whose results/ and flags/ are reported: the working
# directory (run `python -m lasium_tf.report` from the repository root),
# never where the package is installed.
REPO = pathlib.Path(".")

# Table 1 (Omniglot, 5-way): method -> (1-shot, 5-shot).
PAPER_TABLE1 = {
    "Training from scratch": (51.64, 71.44),
    "Supervised MAML": (94.46, 98.83),
    "Supervised ProtoNets": (98.35, 99.58),
    "LASIUM-RO-GAN-MAML": (83.26, 95.29),
    "LASIUM-N-VAE-MAML": (76.11, 94.42),
    "LASIUM-RO-GAN-ProtoNets": (80.15, 91.10),
    "LASIUM-OC-VAE-ProtoNets": (73.22, 85.05),
    "UMTRA-MAML": (81.91, 94.58),
    "CACTUs-MAML (ACAI)": (68.84, 87.78),
    "CACTUs-ProtoNets (ACAI)": (68.12, 83.58),
}
TABLE1_FLAGFILES = {
    "Training from scratch": "flags/training_from_scratch.cfg",
    "Supervised MAML": "flags/supervised_maml.cfg",
    "LASIUM-RO-GAN-MAML": "flags/lasium_ro_gan_maml.cfg",
    "LASIUM-N-VAE-MAML": "flags/lasium_n_vae_maml.cfg",
    "Supervised ProtoNets": "flags/supervised_protonets.cfg",
    "LASIUM-RO-GAN-ProtoNets": "flags/lasium_ro_gan_protonets.cfg",
    "LASIUM-OC-VAE-ProtoNets": "flags/lasium_oc_vae_protonets.cfg",
    "UMTRA-MAML": "flags/umtra/umtra_maml.cfg",
    "CACTUs-MAML (ACAI)": "flags/cactus/cactus_maml_acai.cfg",
    "CACTUs-ProtoNets (ACAI)": "flags/cactus/cactus_protonets_acai.cfg",
}

# Table 1's rows that this project has not produced, with the reason.
TABLE1_NOT_RUN = {
    "CACTUs-MAML (BiGAN) 58.18 / 78.66, CACTUs-ProtoNets (BiGAN) 54.74 / "
    "71.69 and the embedding rows on BiGAN": "no BiGAN trained on Omniglot "
    "here",
    "VGG-19 transfer": "needs ImageNet-trained weights, which cannot be "
    "fetched on these machines",
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


# Runs before this date drew --split=authors with numpy's RandomState(47),
# not the authors' Python random.seed(47) over sorted full paths.
AUTHORS_SPLIT_EXACT_SINCE = "2026-11-28"
RECIPES = ("none", "authors", "ours")
RECIPE_NAMES = {"none": "no shift", "authors": "authors' recipe",
                "ours": "our recipe"}


def _find(records: List[Summary], method, k_shot, table=None, key=None,
          value=None, recipe=None) -> Optional[Summary]:
  for record in records:
    if record.method != method or record.k_shot != k_shot:
      continue
    if record.dataset != "omniglot":
      continue
    if record.study:
      continue  # A budget series for the plots, not a table row.
    if not record.papers_rule:
      continue  # Listed apart: `one_at_a_time`.
    if table is not None and record.table != table:
      continue
    if recipe is not None and record.recipe != recipe:
      continue
    if key is not None and record.values.get(key) != value:
      continue
    if key == "sigma" and "sigma2" in record.values:
      continue  # Given as a variance; the recipes' N cells give a std.
    return record
  return None


def reaches_paper(record: Optional[Summary], paper: float) -> bool:
  """Whether the paper's number lies within or below our 95% interval."""
  return record is not None and record.accuracy + record.ci95 >= paper


def _cell(record: Optional[Summary]) -> str:
  if record is None:
    return "not run"
  return f"{record.accuracy:.2f} +- {record.ci95:.2f}"


def _budget(record: Summary) -> str:
  parts = []
  if record.meta_iterations is not None:
    shots = (f" of {record.trained_shot}-shot tasks" if record.meta_iterations
             and record.trained_shot not in (None, record.k_shot) else "")
    ways = (f" on {record.trained_ways}-way tasks" if record.meta_iterations
            and record.trained_ways else "")
    parts.append(f"{record.meta_iterations} meta-its{shots}{ways}")
  if record.generator_epochs is not None:
    parts.append(f"{record.generator_kind.upper()} {record.generator_epochs} "
                 f"epochs{record.generator_run}")
  if record.eval_tasks is not None:
    parts.append(f"{record.eval_tasks} tasks")
  if record.strokes == "black":
    parts.append("black strokes")
  if record.train_rotations:
    parts.append("rotation classes")
  if record.split == "authors":
    parts.append("authors' split" + (
        " (an earlier permutation)"
        if record.date < AUTHORS_SPLIT_EXACT_SINCE else ""))
  return ", ".join(parts)


def _command(record: Summary) -> str:
  return f"`{record.command}`"


def _recipe_flagfile(flagfile: str, recipe: str) -> str:
  """flags/x.cfg (no shift) -> flags/<recipe>/x.cfg."""
  if recipe == "none":
    return flagfile
  return f"flags/{recipe}/{flagfile[len('flags/'):]}"


def table1(records) -> List[str]:
  lines = ["## Table 1: Omniglot, 5-way", "",
           "One row per recipe and setting that was run (bold: the paper's "
           "number lies within or below our 95% interval). Recipes: "
           "`--recipe=none`, the pipeline before the query shift; "
           "`authors`, everything as the authors' paper-era code ran it; "
           "`ours`, the query shift with a background fill "
           "(`lasium_tf/config/recipes.py`, `RECIPES`).", "",
           "| method | recipe | settings | 1-shot (ours) | 1-shot (paper) | "
           "5-shot (ours) | 5-shot (paper) | over seeds: 1 / 5-shot | "
           "over test-task sets: 1 / 5-shot | budget | command |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
           "|"]
  for method, (paper1, paper5) in PAPER_TABLE1.items():
    runs = [r for r in records if r.method == method and r.table == 1
            and not r.study and r.dataset == "omniglot"]
    # A row per recipe, settings and budget: the same settings run longer
    # is a row of its own, never hidden behind the shorter run.
    # Runs that differ only in their meta-training seed share a row: it
    # shows the lowest seed's run, and the spread over the seeds. Another
    # split is another row (its test tasks differ).
    groups: Dict[Tuple[str, str, int, str, str],
                 Dict[int, List[Summary]]] = {}
    for r in runs:
      key = (r.recipe, r.settings, r.meta_iterations or 0,
             r.normalization, r.split or "")
      groups.setdefault(key, {}).setdefault(r.k_shot, []).append(r)
    flagfile = TABLE1_FLAGFILES.get(method)
    for recipe in RECIPES:
      keys = sorted(k for k in groups if k[0] == recipe)
      if not keys:
        path = flagfile and _recipe_flagfile(flagfile, recipe)
        if path and (REPO / path).exists():
          lines.append(f"| {method} | {recipe} |  | not run | {paper1:.2f} "
                       f"| not run | {paper5:.2f} |  |  |  | not run yet: "
                       f"`{path}` |")
        continue
      for key in keys:
        by_shot = groups[key]
        shown = {k: _shown_run(runs) for k, runs in by_shot.items()}
        one, five = shown.get(1), shown.get(5)
        ran = one or five
        spread = _both_shots([seed_spread(
            [r for r in by_shot[k] if r.eval_seed == shown[k].eval_seed])
            if k in shown else None for k in (1, 5)])
        test_spread = _both_shots([eval_seed_spread(
            [r for r in by_shot[k] if r.seed == shown[k].seed])
            if k in shown else None for k in (1, 5)])
        settings = _with_normalization(key[1], ran)
        lines.append(
            f"| {method} | {recipe} | {settings} | "
            f"{_marked(one, paper1)} | {paper1:.2f} | "
            f"{_marked(five, paper5)} | {paper5:.2f} | "
            f"{spread} | {test_spread} | {_budget(ran)} | "
            f"{_command(ran)} |")
  lines += ["", "Not run here:"] + [f"- {row}: {why}."
                                    for row, why in TABLE1_NOT_RUN.items()]
  extra = table1_extra(records)
  return lines + ([""] + extra[:-1] if extra else [])


def table1_extra(records) -> List[str]:
  """Table 1 protocol runs of methods the paper's table lacks (another
  learner for a task source, another embedding), a row each."""
  runs = [r for r in records if r.table == 1 and not r.study
          and r.dataset == "omniglot" and r.method not in PAPER_TABLE1]
  if not runs:
    return []
  lines = ["### Under Table 1's protocol, not in the paper", "",
           "| method | recipe | settings | 1-shot | 5-shot | budget | "
           "command |", "| --- | --- | --- | --- | --- | --- | --- |"]
  groups: Dict[Tuple, Dict[int, Summary]] = {}
  for r in sorted(runs, key=lambda r: r.path):
    groups.setdefault((r.method, r.recipe, r.settings, r.meta_iterations,
                       r.normalization, r.split or ""), {})[r.k_shot] = r
  for (method, recipe, settings, *_), shots in sorted(groups.items(),
                                                      key=str):
    ran = shots.get(1) or shots.get(5)
    lines.append(f"| {method} | {recipe} | {settings} | "
                 f"{_cell(shots.get(1))} | {_cell(shots.get(5))} | "
                 f"{_budget(ran)} | {_command(ran)} |")
  return lines + [""]


# The test tasks' seed every table row is scored on (`--eval_seed`'s
# default); runs on other seeds give a row's spread over test-task sets.
TABLE_EVAL_SEED = EvalConfig().seed


def _shown_run(runs: List[Summary]) -> Summary:
  """The run a row shows: the lowest meta-training seed, on the tables'
  test tasks where it was scored on several sets."""
  return min(runs, key=lambda r: (
      r.seed, (r.eval_seed or TABLE_EVAL_SEED) != TABLE_EVAL_SEED,
      r.eval_seed or 0))


def _both_shots(cells: List[Optional[str]]) -> str:
  return " / ".join(c or "-" for c in cells) if any(cells) else ""


def _spread(values: List[float], what: str) -> str:
  mean = sum(values) / len(values)
  std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
  return f"{mean:.2f} +- {std:.2f} ({len(values)} {what})"


def eval_seed_spread(runs: List[Summary]) -> Optional[str]:
  """"mean +- std (n test-task sets)" over runs of one trained model scored
  on different sets of test tasks (`--eval_seed`); None for fewer than two.
  Beside `seed_spread`, it tells the test tasks' share of the noise."""
  by_eval_seed = {r.eval_seed or TABLE_EVAL_SEED: r for r in runs}
  if len(by_eval_seed) < 2 or len({r.seed for r in runs}) > 1:
    return None
  return _spread([r.accuracy for r in by_eval_seed.values()],
                 "test-task sets")


def seed_spread(runs: List[Summary]) -> Optional[str]:
  """"mean +- std (n seeds)" over runs that differ in their meta-training
  seed and were scored on the same test tasks; None for fewer than two.

  The std is the sample standard deviation over seeds (n - 1): the spread
  of one run's accuracy from seed to seed, not the mean's interval.
  """
  by_seed = {r.seed: r for r in runs}
  if len(by_seed) < 2 or len({r.eval_seed for r in runs}) > 1:
    return None
  return _spread([r.accuracy for r in by_seed.values()], "seeds")


def _marked(record: Optional[Summary], paper: float) -> str:
  cell = _cell(record)
  return f"**{cell}**" if reaches_paper(record, paper) else cell


def _table7_record(records, method, recipe, key, value):
  if key == "sigma2" and recipe != "none":
    key = "sigma"  # The recipes run N's value as a standard deviation.
  return _find(records, method, 1, table=7, key=key, value=value,
               recipe=recipe)


def _table7_flagfile(policy, generator, learner, key, value, recipe) -> str:
  tag = f"{value:g}".replace(".", "")
  if recipe == "none":
    return (f"flags/table7_{policy.lower()}_{generator.lower()}_"
            f"{learner.lower()}_{key}{tag}.cfg")
  name = "sigma" if key == "sigma2" else key
  return (f"flags/{recipe}/table7_{policy.lower()}_{generator.lower()}_"
          f"{learner.lower()}_{name}{tag}.cfg")


def table7(records) -> List[str]:
  lines = ["## Table 7: Omniglot, 5-way 1-shot, 1000 meta-iterations", "",
           "The paper labels LASIUM-N's rows by the variance sigma^2; the "
           "authors' code ran those values as the standard deviation. The "
           "no-shift column ran them as variances (`--sigma2`), the recipe "
           "columns as standard deviations (`--sigma`). Bold: the paper's "
           "number lies within or below our 95% interval. Budgets and "
           "commands of every cell follow below.", ""]
  reached = {recipe: [0, 0] for recipe in RECIPES}
  for (generator, learner), paper in PAPER_TABLE7.items():
    lines += [f"### {generator}-{learner}", "",
              "| policy | paper | " + " | ".join(
                  RECIPE_NAMES[r] for r in RECIPES) + " |",
              "| --- | --- | " + " | ".join("---" for _ in RECIPES) + " |"]
    for (policy, key, value), paper_value in zip(TABLE7_ROWS, paper):
      method = f"LASIUM-{policy}-{generator}-{learner}"
      cells = []
      for recipe in RECIPES:
        record = _table7_record(records, method, recipe, key, value)
        if record is not None:
          reached[recipe][1] += 1
          reached[recipe][0] += reaches_paper(record, paper_value)
        cells.append(_marked(record, paper_value))
      lines.append(f"| {policy} {value:g} | {paper_value:.2f} | "
                   + " | ".join(cells) + " |")
    lines.append("")
  lines += ["Cells at or above the paper (within our 95% interval), of the "
            "cells run: " + "; ".join(
                f"{RECIPE_NAMES[r]} {reached[r][0]} of {reached[r][1]}"
                for r in RECIPES) + ".", ""]
  for recipe in RECIPES:
    lines += table7_runs(records, recipe)
  return lines


def table7_runs(records, recipe) -> List[str]:
  """Every Table 7 cell of one recipe with its budget and command."""
  rows = []
  for (generator, learner), paper in PAPER_TABLE7.items():
    for (policy, key, value), paper_value in zip(TABLE7_ROWS, paper):
      method = f"LASIUM-{policy}-{generator}-{learner}"
      record = _table7_record(records, method, recipe, key, value)
      flagfile = _table7_flagfile(policy, generator, learner, key, value,
                                  recipe)
      if record is None and not (REPO / flagfile).exists():
        continue
      command = (_command(record) if record else
                 f"not run yet: `{flagfile}`")
      rows.append(f"| {generator}-{learner} | {policy} {value:g} | "
                  f"{_cell(record)} | {paper_value:.2f} | "
                  f"{_budget(record) if record else ''} | {command} |")
  if not rows:
    return []
  return [f"### Table 7 runs: {RECIPE_NAMES[recipe]} (`--recipe={recipe}`)",
          "", "| column | policy | ours | paper | budget | command |",
          "| --- | --- | --- | --- | --- | --- |"] + rows + [""]


def one_at_a_time(records) -> List[str]:
  """Runs answering each query on its own, beside the same weights scored
  transductively and the run of the same settings trained the paper's way."""
  rows = sorted((r for r in records if r.one_at_a_time
                 and r.dataset == "omniglot" and not r.study),
                key=lambda r: (r.table or 0, r.method, r.path))
  if not rows:
    return []
  lines = ["## Queries one at a time (`--normalization`)", "",
           "What a classifier answers for an image sent alone: BatchNorm "
           "normalises the queries with the support set's statistics "
           "(`support`), theirs and the query's own (`support_and_query`), "
           "or blends them with each image's (`tasknorm_i`), not the query "
           "batch's (`transductive`, every other number of this page); "
           "beside it, the same weights (the same checkpoint and score on "
           "validation tasks) given whole query batches, and the same "
           "method, settings and budget trained the paper's way.", "",
           "| table | method | normalization | settings | shot | one at a "
           "time | same network, transductive | trained the paper's way | "
           "budget | command |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  alike = lambda t, r: ((t.study, t.method, t.k_shot, t.table, t.recipe,
                         t.meta_iterations) == (r.study, r.method, r.k_shot,
                                                r.table, r.recipe,
                                                r.meta_iterations))
  for r in rows:
    counterpart = NORMALIZATIONS.get(r.normalization).counterpart
    same = next((t for t in records if alike(t, r)
                 and t.normalization == counterpart
                 and r.selection is not None and t.selection == r.selection),
                None)
    papers = next((t for t in records if alike(t, r) and t.papers_rule
                   and NORMALIZATIONS.get(t.trained_normalization).paper
                   and t.settings == r.settings), None)
    lines.append(f"| {r.table or ''} | {r.method} | {r.normalization} | "
                 f"{r.settings} | {r.k_shot} | {_cell(r)} | "
                 f"{_cell(same) if same else 'not run'} | "
                 f"{_cell(papers) if papers else 'not run'} | "
                 f"{_budget(r)} | {_command(r)} |")
  return lines + [""]


# Table 1's embedding rows as the paper quotes them from CACTUs (ACAI
# embedding), where known: classifier -> (1-shot, 5-shot).
PAPER_EMBEDDING_ACAI = {"embedding_knn": (57.46, 81.16),
                        "embedding_linear": (61.08, 81.82)}


def embedding_baselines(records) -> List[str]:
  """Table 1's embedding rows: classifiers fitted to each test task's
  support embeddings (`--eval_baselines`, `--baseline_encoder`)."""
  from lasium_tf.baselines import BASELINES

  embedding = [kind for kind in BASELINES.loaded() if kind.needs_encoder]
  runs = [r for r in records if r.dataset == "omniglot" and not r.study
          and any(k.name in r.baselines for k in embedding)]
  if not runs:
    return []
  lines = ["## Embedding baselines (Table 1's CACTUs rows)", "",
           "Each test task's support embeddings fit a classifier, which "
           "labels the queries; at 15 queries per class the same 1000 test "
           "tasks as every row above, at 5 the test protocol of the paper's "
           "embedding rows (`lasium_tf/baselines/embedding.py`). The paper's "
           "figures are on the ACAI embedding (where known here); ours on the "
           "embedding named.", "",
           "| classifier | embedding | test queries | 1-shot (ours) | "
           "1-shot (paper, ACAI) | 5-shot (ours) | 5-shot (paper, ACAI) | "
           "command |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  protocol = EvalConfig().k_query
  by_encoder: Dict[Tuple[str, int], Dict[int, Summary]] = {}
  for r in runs:
    by_encoder.setdefault((r.baseline_encoder or "",
                           r.eval_queries or protocol), {})[r.k_shot] = r
  for (encoder, queries), shots in sorted(by_encoder.items(),
                                          key=lambda item: (item[0][0],
                                                            -item[0][1])):
    for kind in embedding:
      name = kind.name
      cells = []
      for k in (1, 5):
        r = shots.get(k)
        cells.append(f"{r.baselines[name][0]:.2f} +- "
                     f"{r.baselines[name][1]:.2f}"
                     if r and name in r.baselines else "not run")
      paper = PAPER_EMBEDDING_ACAI.get(name)
      papers = [f"{p:.2f}" for p in paper] if paper else ["not known here"] * 2
      ran = shots.get(1) or shots.get(5)
      lines.append(f"| {kind.title} | `{encoder}` | {queries} | {cells[0]} | "
                   f"{papers[0]} | {cells[1]} | {papers[1]} | "
                   f"{_command(ran)} |")
  return lines + [""]


# Studies that check one setting against the same run without it (several
# seeds each) rather than vary a budget: listed with the others, not drawn.
CHECK_STUDIES = ("decode_precision",)


def _with_normalization(settings: str, record: Summary) -> str:
  """A row's settings, and which images gave BatchNorm its statistics where
  that was not the paper's rule."""
  if record.papers_rule:
    return settings
  how = "one at a time" if record.one_at_a_time else "as one batch"
  return ", ".join(filter(None, [
      settings, f"queries {how} ({record.normalization})"]))


def studies(records) -> List[str]:
  """Runs of a `--study` (budget series and checks), one row each."""
  rows = sorted((r for r in records if r.study),
                key=lambda r: (r.study, r.method, r.path))
  if not rows:
    return []
  lines = ["## Studies (budget series, drawn by `python -m lasium_tf.plots`;"
           " checks: " + ", ".join(CHECK_STUDIES) + ")",
           "", "| study | method | recipe | settings | seed | shot | ours | "
           "budget | command |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in rows:
    lines.append(f"| {r.study} | {r.method} | {r.recipe} | "
                 f"{_with_normalization(r.settings, r)} | {r.seed} | "
                 f"{r.k_shot} | {_cell(r)} | "
                 f"{_budget(r)} | {_command(r)} |")
  return lines


def render(records) -> str:
  lines = ["# Results", "",
           "Generated by `python -m lasium_tf.report` from the JSON files "
           "in this folder; do not edit by hand. Accuracy in percent +- the "
           "95% confidence interval (1.96 std / sqrt(tasks)), 15 queries per "
           "class, 50 adaptation steps, test tasks drawn with seed "
           f"{TABLE_EVAL_SEED}.", ""]
  lines += (table1(records) + [""] + embedding_baselines(records)
            + one_at_a_time(records) + table7(records)
            + [""] + studies(records))
  return "\n".join(lines).rstrip() + "\n"
