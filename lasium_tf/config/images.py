"""Image conventions every part agrees on: stroke polarity, the query
shift's fill value."""

from __future__ import annotations

from typing import Optional

from lasium_tf.datasets import DATASETS
from lasium_tf.errors import ConfigError

STROKES = ("white", "black")
# A grey folder's polarity: its background dark (light strokes) or light.
BACKGROUNDS = ("dark", "light")
SHIFT_FILLS = ("background", "ink")


def white_strokes(images, strokes: str):
  """Images drawn in `strokes` ink as white strokes on black, and back.

  Swapping ink (1 - x) is its own inverse, so this one function turns
  black-stroke arrays (or tensors) into the white-stroke form that the image
  cache, pictures and the stripe score use, and white ones into black.
  """
  return 1.0 - images if strokes == "black" else images


def shift_fill_value(dataset: str, strokes: str, fill: str,
                     background: Optional[str] = None) -> float:
  """The pixel value a query shift puts where it uncovers the image.

  "background" is the paper's page colour (0 for Omniglot read white on
  black, 1 for black on white; a grey folder's detected or given
  `--background`; 0, black, for RGB data sets); "ink" is
  Omniglot's stroke value, which is what the authors' code wrote (it filled
  with 0 on images whose strokes are 0, so shifted queries got ink bars).
  """
  if "strokes" not in DATASETS.get(dataset).options:  # No ink colour.
    if fill == "ink":
      raise ConfigError(
          f"--shift_fill=ink is Omniglot's stroke value; {dataset} images "
          f"have no ink colour: use --shift_fill=background.")
    return 1.0 if background == "light" else 0.0
  background = 1.0 if strokes == "black" else 0.0
  return background if fill == "background" else 1.0 - background
