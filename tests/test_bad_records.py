"""report and select refuse damaged, mistyped or non-finite records by name
instead of skipping them or ranking them; their --help is help."""

import json
import subprocess
import sys

import pytest

from conftest import REPO
from lasium_tf import report, select
from lasium_tf.records import rundir
from lasium_tf.records import schema
from lasium_tf.run import selection
from lasium_tf.config import ConfigError
from test_plots import record


def write(folder, name, content):
  (folder / name).write_text(content if isinstance(content, str)
                             else json.dumps(content))


@pytest.mark.parametrize("content, message", [
    ('{"method": "x", "k_', "not valid JSON|damaged|cannot be read"),
    ({**record("M", 80.0, 10), "accuracy": "88"}, "accuracy is '88'"),
    ({**record("M", 80.0, 10), "ci95": float("inf")}, "ci95 is inf"),
    ({**record("M", 80.0, 10), "budget": "ten"}, "wrong type"),
])
def test_report_names_a_record_it_cannot_use(tmp_path, capsys, content,
                                             message):
  write(tmp_path, "good.json", record("M", 80.0, 10))
  write(tmp_path, "bad.json", content)
  assert report.main([str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "bad.json" in err
  assert any(part in err for part in message.split("|")), err
  assert not (tmp_path / "README.md").exists()


def test_report_help_and_a_missing_folder(tmp_path, capsys):
  assert report.main(["--help"]) == 0
  assert capsys.readouterr().out.startswith("usage: python -m lasium_tf.report")
  assert report.main([str(tmp_path / "none")]) == 2
  assert "is not a folder of result records" in capsys.readouterr().err
  assert report.main(["--bogus"]) == 2


def test_report_still_skips_json_that_is_no_result_record(tmp_path):
  write(tmp_path, "r.json", record("M", 80.0, 10))
  write(tmp_path, "notes.json", {"anything": 1})
  assert len(schema.load_results(tmp_path)) == 1


def selection_record(accuracy, selected=1000):
  return {"split": "val", "n_way": 5, "k_shot": 1, "num_tasks": 200,
          "seed": 1, "selected": selected,
          "scores": [{"meta_iteration": 1000, "accuracy": accuracy,
                      "ci95": 1.0}]}


def test_select_ranks_a_non_finite_or_mistyped_score_last_with_why(
    tmp_path, capsys):
  runs = {"good": selection_record(80.0),
          "infinite": selection_record(float("inf")),
          "text": selection_record("90"),
          "garbled": '{"scores": [',
          "wrong_pick": selection_record(70.0, selected=5)}
  for name, content in runs.items():
    (tmp_path / name).mkdir()
    write(tmp_path / name, selection.FILE, content)
  rows = selection.compare([str(tmp_path / n) for n in runs])
  assert rows[0]["run"].endswith("good") and "problem" not in rows[0]
  problems = {r["run"].rsplit("/", 1)[1]: r["problem"] for r in rows[1:]}
  assert "not a finite number" in problems["infinite"]
  assert "not a finite number" in problems["text"]
  assert "selection.json" in problems["garbled"]
  assert "selected checkpoint is none" in problems["wrong_pick"]
  assert select.main([str(tmp_path / n) for n in runs]) == 0
  out = capsys.readouterr().out
  assert "inf" not in out.split("\n")[0]


def test_report_help_from_the_command_line_reads_no_folder():
  result = subprocess.run([sys.executable, "-m", "lasium_tf.report",
                           "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 0 and result.stdout.startswith("usage:")
  assert result.stderr == ""


def test_a_shortened_run_cannot_replace_a_published_record(tmp_path):
  import dataclasses

  from lasium_tf import config as config_lib

  results = tmp_path / "results" / "row_{k_shot}shot.json"
  published = config_lib.Config(
      mode="train_and_evaluate", iterations=10000,
      experiment_dir=str(tmp_path / "run"), results_file=str(results),
      eval=config_lib.EvalConfig(k_shots=(1,)))
  record = {"method": "M", "k_shot": 1, "accuracy": 87.35, "ci95": 0.53,
            "config": json.loads(json.dumps(dataclasses.asdict(published)))}
  results.parent.mkdir()
  path = tmp_path / "results" / "row_1shot.json"
  path.write_text(json.dumps(record))
  run = rundir.RunDir(tmp_path / "run")
  run.check_results_file(published)  # The same experiment again: fine.
  run.check_results_file(dataclasses.replace(
      published, mode="evaluate", experiment_dir=str(tmp_path / "other")))
  short = dataclasses.replace(published, iterations=200)
  with pytest.raises(ConfigError, match=r"row_1shot.json holds the result "
                     r"of another experiment \(iterations 10000 -> 200\).*"
                     r"--replace_results"):
    run.check_results_file(short)
  run.check_results_file(dataclasses.replace(short, replace_results=True))
  with pytest.raises(ConfigError, match=r"eval.k_query 15 -> 5"):
    run.check_results_file(dataclasses.replace(
        published, eval=dataclasses.replace(published.eval, k_query=5)))
  assert json.loads(path.read_text())["accuracy"] == 87.35


def test_report_refuses_a_record_its_flagfile_no_longer_makes(
    tmp_path, monkeypatch, capsys):
  import dataclasses

  from lasium_tf.config import cli

  monkeypatch.chdir(tmp_path)
  (tmp_path / "row.cfg").write_text("# a row\n--iterations=300\n")
  command = "python -m lasium_tf.main --flagfile=row.cfg"
  config = cli.config_from_args(["--flagfile=row.cfg"])
  good = {**record("M", 80.0, 300), "command": command,
          "config": json.loads(json.dumps(dataclasses.asdict(config)))}
  (tmp_path / "results").mkdir()
  write(tmp_path / "results", "row.json", good)
  assert report.main(["results"]) == 0
  (tmp_path / "row.cfg").write_text("# a row\n--iterations=500\n")
  assert report.main(["results"]) == 2
  err = capsys.readouterr().err
  assert "row.json was made with other settings than its command gives " \
         "now (iterations)" in err


def test_a_missing_flagfile_is_one_plain_error_line(tmp_path):
  result = subprocess.run([sys.executable, "-m", "lasium_tf.main",
                           "--flagfile=nope.cfg"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.startswith("error: Unable to open flagfile")
  assert "ERROR::" not in result.stderr and "check the --flagfile path" in \
      result.stderr
