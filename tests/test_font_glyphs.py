"""scripts/font_glyphs.py: a real-font data set in the folder layout."""

import json
import os
import pathlib
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

font_glyphs = pytest.importorskip("font_glyphs")
matplotlib = pytest.importorskip("matplotlib")
PIL = pytest.importorskip("PIL.Image")
FONTS = pathlib.Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"


def _read(path):
  return np.asarray(PIL.open(path))


def test_glyphs_are_written_dark_on_light_in_disjoint_class_folders(tmp_path):
  letters = list("ABCDEFGHJKLM")
  summary = font_glyphs.build(str(FONTS), letters, str(tmp_path / "glyphs"),
                              size=28, min_fonts=3, test_classes=4,
                              val_classes=2, max_unlabeled=20, seed=0,
                              log=lambda *_: None)
  root = tmp_path / "glyphs"
  test, val = (sorted(os.listdir(root / p)) for p in ("test", "val"))
  assert len(test) == 4 and len(val) == 2 and not set(test) & set(val)
  assert summary["classes"] == {"train": 6, "val": 2, "test": 4}
  unlabeled = sorted((root / "unlabeled").iterdir())
  assert len(unlabeled) == summary["images"]["unlabeled"] == 20
  assert json.loads((root / "glyphs.json").read_text(encoding="utf-8")) == \
      summary
  held_out = {chr(int(name[1:], 16)) for name in test + val}
  assert held_out == set(summary["test_characters"] + summary[
      "val_characters"])
  image = _read(next((root / "test" / test[0]).iterdir()))
  assert image.shape == (28, 28) and image.dtype == np.uint8
  assert image[0].min() == 255 and image.min() < 64  # paper, and ink
  # Near-duplicates are dropped: the kept drawings of a class all differ.
  drawings = [_read(p).astype(float) / 255
              for p in sorted((root / "test" / test[0]).iterdir())]
  assert len(drawings) >= 3
  assert min(np.abs(a - b).mean() for i, a in enumerate(drawings)
             for b in drawings[i + 1:]) > 0.04


def test_too_few_characters_for_the_split_is_one_clear_error(tmp_path):
  with pytest.raises(SystemExit, match="only 3 characters.*lower"):
    font_glyphs.build(str(FONTS), list("ABC"), str(tmp_path / "g"), 28,
                      min_fonts=3, test_classes=4, val_classes=2,
                      max_unlabeled=10, seed=0, log=lambda *_: None)
  assert not (tmp_path / "g").exists()
