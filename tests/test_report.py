"""results/README.md is generated from the JSONs, beside the paper's numbers."""

import json

from lasium_tf import report
from lasium_tf.records import tables


def write(path, **record):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(record))


def test_rows_filled_from_results_and_missing_rows_marked(tmp_path):
  write(tmp_path / "omniglot" / "a.json", method="Supervised MAML", k_shot=1,
        accuracy=90.5, ci95=0.5, dataset="omniglot", table=1,
        command="python -m lasium_tf.main --flagfile=flags/supervised_maml.cfg",
        budget={"meta_iterations": 10000, "eval_tasks": 1000})
  write(tmp_path / "omniglot" / "b.json", method="LASIUM-RO-VAE-MAML",
        k_shot=1, accuracy=71.0, ci95=0.7, table=7, dataset="omniglot",
        hyperparameters={"alpha": 0.4, "generator_info": {"kind": "vae",
                                                          "epochs": 20}},
        command="x", budget={"meta_iterations": 1000, "eval_tasks": 1000})
  # A Table 7 cell never fills a Table 1 row of the same method.
  write(tmp_path / "omniglot" / "c.json", method="LASIUM-N-VAE-MAML",
        k_shot=1, accuracy=60.0, ci95=0.7, table=7, dataset="omniglot",
        hyperparameters={"sigma2": 0.5}, command="y", budget={})
  # (A damaged JSON is refused by name: tests/test_bad_records.py.)
  assert report.main([str(tmp_path)]) == 0
  text = (tmp_path / "README.md").read_text()
  maml_row = next(l for l in text.splitlines()
                  if l.startswith("| Supervised MAML"))
  assert "| none |  | 90.50 +- 0.50 | 94.46 | not run | 98.83" in maml_row
  assert "10000 meta-its" in maml_row
  vae_rows = [l for l in text.splitlines()
              if l.startswith("| LASIUM-N-VAE-MAML")]
  # Not run under any recipe: a row per recipe that has a flagfile.
  assert [r.split(" | ")[1] for r in vae_rows] == ["none", "ours"]
  assert all("not run | 76.11" in r for r in vae_rows)
  assert "flags/ours/lasium_n_vae_maml.cfg" in vae_rows[1]
  vae = text[text.index("### VAE-MAML"):text.index("### GAN-ProtoNets")]
  ro04 = next(l for l in vae.splitlines() if l.startswith("| RO 0.4"))
  assert ro04 == "| RO 0.4 | 71.31 | **71.00 +- 0.70** | not run | not run |"
  runs = text[text.index("### Table 7 runs: no shift"):]
  ro04 = next(l for l in runs.splitlines() if "| VAE-MAML | RO 0.4" in l)
  assert "VAE 20 epochs" in ro04
  ro02 = next(l for l in runs.splitlines() if "| VAE-MAML | RO 0.2" in l)
  assert "not run" in ro02 and "flags/table7_ro_vae_maml_alpha02.cfg" in ro02


def test_a_table1_row_run_longer_is_a_row_of_its_own(tmp_path):
  for name, iterations, accuracy in (("a", 10000, 88.31), ("b", 20000, 88.9)):
    write(tmp_path / f"{name}.json", method="LASIUM-RO-GAN-MAML", k_shot=1,
          accuracy=accuracy, ci95=0.5, table=1, dataset="omniglot",
          command=f"run {name}", hyperparameters={"alpha": 0.4,
                                                  "recipe": "ours"},
          budget={"meta_iterations": iterations, "eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  rows = [l for l in (tmp_path / "README.md").read_text().splitlines()
          if l.startswith("| LASIUM-RO-GAN-MAML | ours | alpha 0.4")]
  assert [("88.31" in r, "10000 meta-its" in r, "20000 meta-its" in r)
          for r in rows] == [(True, True, False), (False, False, True)]


def test_recipes_side_by_side_reaching_the_paper_counted(tmp_path):
  common = dict(k_shot=1, ci95=0.6, table=7, dataset="omniglot",
                method="LASIUM-N-GAN-MAML", budget={})
  write(tmp_path / "a.json", accuracy=64.66, **common,
        hyperparameters={"sigma2": 0.5})
  # Our recipe's N cells give a standard deviation; one given as a variance
  # is another experiment and fills no cell.
  write(tmp_path / "b.json", accuracy=81.64, **common,
        hyperparameters={"sigma": 0.5, "recipe": "ours",
                         "train_task": {"query_shift": 5,
                                        "shift_fill": "background"}})
  write(tmp_path / "c.json", accuracy=99.0, **common,
        hyperparameters={"sigma2": 0.25, "sigma": 0.5, "recipe": "ours"})
  write(tmp_path / "d.json", accuracy=76.7, **common,
        hyperparameters={"sigma": 0.5, "recipe": "authors"})
  assert report.main([str(tmp_path)]) == 0
  text = (tmp_path / "README.md").read_text()
  gan = text[text.index("### GAN-MAML"):text.index("### VAE-MAML")]
  n05 = next(l for l in gan.splitlines() if l.startswith("| N 0.5"))
  # 76.70 + 0.60 reaches 77.16 within the interval; 64.66 does not.
  assert n05 == ("| N 0.5 | 77.16 | 64.66 +- 0.60 | **76.70 +- 0.60** | "
                 "**81.64 +- 0.60** |")
  assert ("no shift 0 of 1; authors' recipe 1 of 1; our recipe 1 of 1"
          in text)


def test_study_runs_are_listed_apart_and_never_fill_a_table(tmp_path):
  write(tmp_path / "omniglot" / "a" / "s.json", method="LASIUM-N-GAN-MAML",
        k_shot=1, accuracy=53.5, ci95=0.7, study="gan_epochs",
        dataset="omniglot", hyperparameters={"sigma2": 0.5, "generator_info": {
            "kind": "gan", "epochs": 5}},
        command="python -m lasium_tf.main --flagfile=flags/study_gan_epochs.cfg",
        budget={"meta_iterations": 1000, "eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  text = (tmp_path / "README.md").read_text()
  gan = text[text.index("### GAN-MAML"):text.index("### VAE-MAML")]
  n05 = next(l for l in gan.splitlines() if l.startswith("| N 0.5"))
  assert "not run" in n05
  study = text[text.index("## Studies"):]
  assert ("| gan_epochs | LASIUM-N-GAN-MAML | none | sigma2 0.5 | 0 | 1 | "
          "53.50 +- 0.70 |") in study
  assert "GAN 5 epochs" in study
  assert "black strokes" not in study
  write(tmp_path / "omniglot" / "a" / "b.json", method="Training from scratch",
        k_shot=1, accuracy=49.0, ci95=0.6, study="strokes", table=1,
        hyperparameters={"strokes": "black"}, budget={"eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  text = (tmp_path / "README.md").read_text()
  assert ("| strokes | Training from scratch | none |  | 0 | 1 | 49.00 +- "
          "0.60 | 1000 tasks, black strokes |") in text
  scratch = next(l for l in text.splitlines()
                 if l.startswith("| Training from scratch |"))
  assert "not run" in scratch
  write(tmp_path / "omniglot" / "a" / "c.json", method="LASIUM-RO-GAN-ProtoNets",
        k_shot=5, accuracy=80.0, ci95=0.5, study="train_shots",
        hyperparameters={"alpha": 0.4, "train_task": {"k_shot": 1}},
        budget={"meta_iterations": 1000, "eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  text = (tmp_path / "README.md").read_text()
  assert "1000 meta-its of 1-shot tasks, 1000 tasks" in text


def test_a_decode_precision_check_is_a_study_with_its_seeds(tmp_path):
  for seed, precision in ((0, "float32"), (2, "bfloat16")):
    write(tmp_path / "omniglot" / "precision" / f"{precision}{seed}.json",
          method="LASIUM-RO-GAN-MAML", k_shot=1, accuracy=65.0 + seed,
          ci95=0.6, study="decode_precision",
          hyperparameters={"alpha": 0.4, "seed": seed},
          config={"lasium": {"decode_precision": precision}},
          budget={"meta_iterations": 1000, "eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  text = (tmp_path / "README.md").read_text()
  table7 = text[text.index("## Table 7"):text.index("## Studies")]
  assert "65.00" not in table7 and "67.00" not in table7
  study = text[text.index("## Studies"):]
  assert ("| decode_precision | LASIUM-RO-GAN-MAML | none | alpha 0.4 | 0 | "
          "1 | 65.00 +- 0.60 |") in study
  assert ("| alpha 0.4, bfloat16 decoding | 2 | 1 | 67.00 +- 0.60 |"
          in study)


def _ro_gan_maml_row(tmp_path, runs):
  """Writes Table 1 RO-GAN-MAML alpha 0.4 runs, (seed, eval seed, shot,
  accuracy) each, and returns the report's one row for them, in cells."""
  for seed, eval_seed, k_shot, accuracy in runs:
    write(tmp_path / f"s{seed}_e{eval_seed}_{k_shot}.json",
          method="LASIUM-RO-GAN-MAML", k_shot=k_shot, accuracy=accuracy,
          ci95=0.5, table=1, dataset="omniglot",
          command=f"run --seed={seed} --eval_seed={eval_seed}",
          hyperparameters={"alpha": 0.4, "recipe": "ours", "seed": seed,
                           "eval_seed": eval_seed},
          budget={"meta_iterations": 10000, "eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  rows = [l for l in (tmp_path / "README.md").read_text().splitlines()
          if l.startswith("| LASIUM-RO-GAN-MAML | ours | alpha 0.4")]
  assert len(rows) == 1
  return rows[0].split(" | ")


def test_runs_that_differ_in_their_seed_share_a_row_with_the_spread(tmp_path):
  cells = _ro_gan_maml_row(tmp_path, [
      (seed, 42, k_shot, accuracy)
      for seed, one, five in ((0, 88.0, 96.0), (1, 90.0, 97.0),
                              (2, 89.0, 96.5))
      for k_shot, accuracy in ((1, one), (5, five))])
  assert cells[3] == "**88.00 +- 0.50**"  # Seed 0's run (over the paper).
  assert cells[7] == "89.00 +- 1.00 (3 seeds) / 96.50 +- 0.50 (3 seeds)"
  assert cells[8] == ""  # One set of test tasks.
  assert cells[-1] == "`run --seed=0 --eval_seed=42` |"


def test_a_run_on_another_split_is_a_row_of_its_own_not_a_seed(tmp_path):
  for seed, split, accuracy in ((0, "vinyals", 49.0), (1, "vinyals", 48.0),
                                (0, "authors", 51.5)):
    write(tmp_path / f"{split}_{seed}.json", method="Training from scratch",
          k_shot=1, accuracy=accuracy, ci95=0.6, table=1, dataset="omniglot",
          command=f"run --split={split} --seed={seed}",
          hyperparameters={"seed": seed, "eval_seed": 42, "split": split},
          budget={"meta_iterations": 0, "eval_tasks": 1000})
  assert report.main([str(tmp_path)]) == 0
  rows = [l.split(" | ") for l in (tmp_path / "README.md").read_text()
          .splitlines() if l.startswith("| Training from scratch |")]
  assert len(rows) == 2
  by_split = {("authors" in row[-1]): row for row in rows}
  assert by_split[True][3] == "**51.50 +- 0.60**"  # The paper within.
  assert by_split[True][7] == ""
  assert by_split[False][7].startswith("48.50 +- 0.71 (2 seeds)")


def test_test_task_sets_and_seeds_give_two_spreads_side_by_side(tmp_path):
  """One model scored on other test tasks (--eval_seed) is the row's
  spread over test-task sets; other meta-training seeds on the table's
  test tasks its spread over seeds; the row shows seed 0 on seed 42."""
  cells = _ro_gan_maml_row(tmp_path, [
      (0, 42, 1, 90.0), (0, 1, 1, 89.0), (0, 2, 1, 88.0), (1, 42, 1, 86.0),
      (1, 1, 1, 70.0)])
  assert cells[3] == "**90.00 +- 0.50**"
  assert cells[7] == "88.00 +- 2.83 (2 seeds) / -"
  assert cells[8] == "89.00 +- 1.00 (3 test-task sets) / -"
  assert cells[-1] == "`run --seed=0 --eval_seed=42` |"


def test_a_seed_spread_needs_two_seeds_on_the_same_test_tasks():
  from lasium_tf.records.schema import summarize

  def run(seed, accuracy, eval_seed=42):
    return summarize({"method": "m", "k_shot": 1, "accuracy": accuracy,
                      "ci95": 0.5, "hyperparameters": {
                          "seed": seed, "eval_seed": eval_seed}})

  assert tables.seed_spread([run(0, 80.0)]) is None
  assert tables.seed_spread([run(0, 80.0), run(0, 82.0)]) is None
  assert tables.seed_spread([run(0, 80.0), run(1, 82.0, 7)]) is None
  assert tables.seed_spread([run(0, 80.0), run(1, 82.0)]) == (
      "81.00 +- 1.41 (2 seeds)")


def test_embedding_baselines_get_their_own_rows():
  from lasium_tf import report
  from lasium_tf.records.schema import summarize
  record = {"method": "Embedding baselines (VAE)", "k_shot": 1,
            "accuracy": 40.0, "ci95": 1.0, "command": "python x",
            "baselines": {"embedding_knn": {"accuracy": 55.5, "ci95": 0.7},
                          "pixel_nn": {"accuracy": 60.0, "ci95": 0.7}},
            "config": {"eval": {"encoder": "pretrained/omniglot_vae"}}}
  lines = tables.embedding_baselines([summarize(record)])
  knn = next(line for line in lines if line.startswith("| 1-nearest"))
  assert "`pretrained/omniglot_vae`" in knn and "55.50 +- 0.70" in knn
  assert "57.46" in knn and "not run" in knn  # Paper 1-shot; no 5-shot.
  assert not any("pixel" in line for line in lines)
  assert tables.embedding_baselines([summarize({**record, "baselines": {}})]
                                    ) == []
  # The same embedding at 5 test queries (the paper rows' protocol) is a
  # row of its own, after the 15-query one.
  five = {**record, "baselines": {"embedding_knn": {"accuracy": 58.0,
                                                    "ci95": 0.9}},
          "config": {"eval": {"encoder": "pretrained/omniglot_vae",
                              "k_query": 5}}}
  lines = tables.embedding_baselines([summarize(five), summarize(record)])
  knns = [line for line in lines if line.startswith("| 1-nearest")]
  assert len(knns) == 2
  assert "| 15 | 55.50 +- 0.70 |" in knns[0]
  assert "| 5 | 58.00 +- 0.90 |" in knns[1]


def test_table1_runs_of_methods_not_in_the_paper_get_rows_of_their_own():
  from lasium_tf import report
  from lasium_tf.records.schema import summarize
  records = [summarize({"method": "UMTRA-ProtoNets", "k_shot": k,
                        "accuracy": a, "ci95": 0.5, "table": 1,
                        "command": "python u"}) for k, a in ((1, 80.0),
                                                            (5, 93.0))]
  lines = tables.table1_extra(records)
  row, = [line for line in lines if line.startswith("| UMTRA-ProtoNets")]
  assert "80.00 +- 0.50" in row and "93.00 +- 0.50" in row
  assert tables.table1_extra([summarize({
      "method": "UMTRA-MAML", "k_shot": 1, "accuracy": 1.0, "ci95": 0.1,
      "table": 1})]) == []


def test_cactus_rows_say_which_embedding_was_clustered():
  from lasium_tf import report
  from lasium_tf.records.schema import summarize

  def cactus(encoder, accuracy, method="CACTUs-MAML"):
    return summarize({"method": method, "k_shot": 1, "accuracy": accuracy,
                      "ci95": 0.5, "table": 1, "command": "python c",
                      "n_way": 5, "budget": {"meta_iterations": 10000},
                      "hyperparameters": {"cactus": {
                          "encoder": encoder, "clusters": 500,
                          "partitions": 1}, "train_task": {"n_way": 20}}})
  lines = tables.table1_extra([cactus("pretrained/omniglot_vae", 60.0),
                               cactus("pretrained/omniglot_acai", 61.0)])
  rows = [line for line in lines if line.startswith("| CACTUs-MAML")]
  assert len(rows) == 2  # Two embeddings, two rows.
  assert any("omniglot_vae embedding" in r and "60.00" in r for r in rows)
  assert any("omniglot_acai embedding" in r and "61.00" in r for r in rows)
  assert all("10000 meta-its on 20-way tasks" in r for r in rows)
  # The paper's ACAI rows are Table 1 rows of their own, run or not.
  table = tables.table1([cactus("pretrained/omniglot_acai", 66.0,
                                method="CACTUs-MAML (ACAI)")])
  row, = [l for l in table if l.startswith("| CACTUs-MAML (ACAI)")]
  assert "66.00 +- 0.50" in row and "68.84" in row
  missing, = [l for l in table if l.startswith("| CACTUs-ProtoNets (ACAI)")]
  assert "not run yet: `flags/cactus/cactus_protonets_acai.cfg`" in missing


def test_a_protocol_ablation_row_names_what_it_changed():
  from lasium_tf.records.schema import summarize

  def run(**config):
    base = {"backbone": "code", "filters": None, "task": {"k_query": 5},
            "eval": {"k_query": 15}, "maml": {"meta_batch_size": 4}}
    for key, value in config.items():
      if isinstance(value, dict):
        base[key] = {**base[key], **value}
      else:
        base[key] = value
    return summarize({"method": "Supervised ProtoNets", "k_shot": 1,
                      "accuracy": 90.0, "ci95": 0.5, "config": base,
                      "study": "supervised_protonets_protocol"})

  assert run().settings == ""  # Table 1's protocol: nothing to say.
  changed = run(backbone="paper", filters=32, task={"k_query": 15},
                eval={"k_query": 5}, maml={"meta_batch_size": 1})
  assert changed.settings == ("max-pool network, 32 filters, 15 training "
                              "queries, 5 test queries, meta-batch 1")
  assert run(task={"k_query": 1}).settings == "1 training query"
  # ProtoNets carries an inner lr it never uses: not a change.
  assert run(maml={"inner_lr": 1.0}).settings == ""

  def maml(**config):
    record = {"method": "Supervised MAML", "k_shot": 1, "accuracy": 90.0,
              "ci95": 0.5, "hyperparameters": {"learner": "maml"},
              "config": {"maml": {"meta_batch_size": 4, "inner_lr": 0.4},
                         "eval": {"k_query": 15, "inner_lr": None}}}
    for key, value in config.items():
      record["config"][key].update(value)
    return summarize(record)

  assert maml().settings == ""
  assert maml(maml={"inner_lr": 1.0}).settings == "inner lr 1"
  assert maml(maml={"inner_lr": 1.0}, eval={"inner_lr": 0.25}).settings == (
      "inner lr 1, test inner lr 0.25")
  assert maml(eval={"inner_lr": 0.4}).settings == ""
  # Records from before these settings were kept read as the protocol.
  assert summarize({"method": "m", "k_shot": 1, "accuracy": 1.0,
                    "ci95": 0.1}).protocol_changes == []


def test_a_continued_run_says_what_it_continued():
  from lasium_tf.records.schema import summarize

  record = {"method": "LASIUM-RO-GAN-MAML", "k_shot": 1, "accuracy": 91.0,
            "ci95": 0.4, "hyperparameters": {"alpha": 0.4},
            "config": {"continue_from": "pretrained/best_20k"}}
  assert summarize(record).settings == (
      "alpha 0.4, continued from best_20k (fresh optimizer)")
  del record["config"]["continue_from"]
  assert summarize(record).settings == "alpha 0.4"
  # Another meta learning rate, and weights from a selected checkpoint:
  # two runs' records that differ only in these get rows of their own.
  record["config"]["maml"] = {"meta_lr": 1e-4}
  record["selection"] = {"meta_iteration": 39000, "accuracy": 90.9,
                         "ci95": 0.9}
  assert summarize(record).settings == (
      "alpha 0.4, meta lr 0.0001, checkpoint 39000")
  record["config"]["maml"] = {"meta_lr": 1e-3}
  del record["selection"]
  assert summarize(record).settings == "alpha 0.4"
  # Test-time copies of the support set make a row of their own.
  record["config"]["eval"] = {"support_copies": 15}
  assert summarize(record).settings == (
      "alpha 0.4, 15 shifted copies of each support image at test")


def test_one_image_rows_pair_the_same_weights_and_the_paper_way_apart():
  """A one-image row gets the same weights' transductive score (found by
  the checkpoint selected on validation tasks) and, apart, the run of the
  same settings meta-trained and scored the paper's way; a network trained
  with another rule and scored transductively says so and is never the
  paper's way."""
  from lasium_tf.records.schema import summarize

  def record(accuracy, normalization, trained=None, selection=None,
             init_from=None, continued=None):
    hyper = {"alpha": 0.4, "normalization": normalization}
    if trained:
      hyper["trained_normalization"] = trained
    return summarize({
        "method": "LASIUM-RO-GAN-MAML", "k_shot": 1, "accuracy": accuracy,
        "ci95": 0.4, "table": 1, "dataset": "omniglot",
        "hyperparameters": hyper, "command": f"cmd {accuracy}",
        "budget": {"meta_iterations": 40000, "eval_tasks": 1000},
        **({"selection": {"meta_iteration": 39000, "accuracy": selection,
                          "ci95": 1.0}} if selection else {}),
        "config": {"init_from": init_from, "continue_from": continued}})

  paper = record(91.8, "transductive", selection=90.86)
  scored = record(88.5, "support", "transductive", 90.86, "pretrained/a")
  retrained = record(89.0, "support", selection=87.53, continued="x")
  retrained_batch = record(91.7, "transductive", "support", 87.53,
                           "experiments/b/export")
  assert "meta-trained with support" in retrained_batch.settings
  assert "meta-trained" not in scored.settings
  rows = "\n".join(tables.one_at_a_time(
      [paper, scored, retrained, retrained_batch]))
  line = lambda accuracy: next(
      l for l in rows.splitlines()
      if l.startswith("| 1 |")
      and l.split(" | ")[5] == f"{accuracy:.2f} +- 0.40")
  # Same weights: the selection; the paper's way: same settings, trained so.
  assert line(88.5).split(" | ")[6:8] == ["91.80 +- 0.40", "91.80 +- 0.40"]
  assert line(89.0).split(" | ")[6:8] == ["91.70 +- 0.40", "not run"]
