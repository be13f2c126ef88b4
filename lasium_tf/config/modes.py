"""What each `--mode` does, described once: the config's checks, the run
folder and the programs read these fields, never a mode's name."""

from __future__ import annotations

import dataclasses
from typing import Dict


@dataclasses.dataclass(frozen=True)
class Mode:
  """A `--mode`.

  Attributes:
    name: its `--mode` value.
    trains: meta-trains a learner.
    evaluates: scores the learner on test tasks.
    exports: writes a SavedModel to `--export_dir`.
    trains_generator: trains a generative model.
    exports_generator: publishes a generator (`--export_epoch` picks it).
    draws_tasks: draws LASIUM's tasks as pictures.
    reads_weights: may start from a published classifier (`--init_from`).
    distributes: runs under a tf.distribute `--strategy`.
    reads_images: reads the data set's images (a folder's channels and
      background are found from its files first).
  """

  name: str
  trains: bool = False
  evaluates: bool = False
  exports: bool = False
  trains_generator: bool = False
  exports_generator: bool = False
  draws_tasks: bool = False
  reads_weights: bool = False
  distributes: bool = False
  reads_images: bool = False

  @property
  def writes_a_run(self) -> bool:
    """Trains something into `--experiment_dir` (its config.json is the
    run's own)."""
    return self.trains or self.trains_generator


MODES: Dict[str, Mode] = {m.name: m for m in (
    Mode("train", trains=True, distributes=True, reads_images=True),
    Mode("evaluate", evaluates=True, reads_weights=True, distributes=True,
         reads_images=True),
    Mode("train_and_evaluate", trains=True, evaluates=True, distributes=True,
         reads_images=True),
    Mode("export", exports=True, reads_weights=True, reads_images=True),
    Mode("train_generator", trains_generator=True, distributes=True,
         reads_images=True),
    Mode("export_generator", exports=True, exports_generator=True),
    Mode("draw_tasks", draws_tasks=True, reads_images=True),
)}
