"""Named recipes: settings by flag name that `--recipe` applies."""

from __future__ import annotations

import dataclasses

# Named recipes: settings by flag name, applied by the command line to every
# flag the user did not give (an explicit flag always wins). "none" is every
# flag's own default: the pipeline this project ran before the query shift.
# "authors" is everything as the authors' paper-era code ran it
# (docs/reproducing.md), the ink-valued shift fill included.
# "ours" is the project's best measured recipe: the authors' query shift with
# a background fill, on our defaults otherwise (results/README.md).
RECIPES = {
    "none": {},
    "authors": {
        "query_shift": 5, "shift_fill": "ink", "strokes": "black",
        "split": "authors", "anchor_rejection": "none",
        "gan_generator_loss": "summed_logits", "gan_fake_targets": "overshoot",
        "keep_last_batch": True,
    },
    "ours": {
        "query_shift": 5, "shift_fill": "background",
    },
}


def flag_paths(config_class) -> dict:
  """{flag name: field path} of every command-line setting of
  `config_class` (`Config`), which is how a recipe's flags name fields."""
  paths = {}

  def walk(cls, path):
    for field in dataclasses.fields(cls):
      kind = field.default_factory if field.default_factory is not \
          dataclasses.MISSING else None
      if kind is not None and dataclasses.is_dataclass(kind):
        walk(kind, path + (field.name,))
      elif field.metadata.get("flag", "") is not None:
        paths.setdefault(field.metadata.get("flag") or field.name,
                         path + (field.name,))

  walk(config_class, ())
  return paths


def get_path(config, path):
  for name in path:
    config = getattr(config, name)
  return config


def set_path(config, path, value):
  if len(path) == 1:
    return dataclasses.replace(config, **{path[0]: value})
  return dataclasses.replace(config, **{path[0]: set_path(
      getattr(config, path[0]), path[1:], value)})
