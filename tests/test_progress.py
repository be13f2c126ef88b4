"""Progress lines in a log file: throttled, with the time left."""

import time

from lasium_tf.core import progress


def test_log_lines_are_throttled_and_say_the_time_left(capsys, monkeypatch):
  clock = iter([0.0, 1.0, 5.0, 25.0, 26.0, 50.0])
  monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
  bar = progress.Progress(100, "gan epoch 1/3 step", every_seconds=20)
  bar.tty = False
  bar.bar = None
  for done in (10, 20, 40, 50, 100):
    bar.update(done, [("d_loss", 0.5)])
  lines = capsys.readouterr().out.splitlines()
  # 1 s and 5 s fall within 20 s of the start; 25 s does not; so does the end.
  assert lines == ["gan epoch 1/3 step 40/100 d_loss 0.5000 (25 s, 38 s left)",
                   "gan epoch 1/3 step 100/100 d_loss 0.5000 (50 s)"]


def test_without_throttling_every_update_is_a_line(capsys):
  bar = progress.Progress(3, "meta-train")
  bar.tty, bar.bar = False, None
  for done in (1, 2, 3):
    bar.update(done)
  assert len(capsys.readouterr().out.splitlines()) == 3


def test_a_resumed_loop_counts_its_rate_from_where_it_started(capsys,
                                                             monkeypatch):
  clock = iter([0.0, 10.0])
  monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
  bar = progress.Progress(1000, "meta-train", start=900)
  bar.tty = False
  bar.bar = None
  bar.update(950, [("loss", 1.0)])
  # 50 steps in 10 s: the other 50 take 10 s (not 950 steps' rate).
  assert capsys.readouterr().out.strip() == (
      "meta-train 950/1000 loss 1.0000 (10 s, 10 s left)")
