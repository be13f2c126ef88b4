"""report and select refuse damaged, mistyped or non-finite records by name
instead of skipping them or ranking them; their --help is help."""

import json
import subprocess
import sys

import pytest

from conftest import REPO
from lasium_tf import report, rundir, select, selection
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
  assert len(rundir.load_results(tmp_path)) == 1


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
