"""lasium_tf: LASIUM unsupervised meta-learning in TensorFlow 2 / Keras 3.

Khodadadeh, Zehtabian, Vahidian, Wang, Lin, Boloni. "Unsupervised
Meta-Learning through Latent-Space Interpolation in Generative Models",
ICLR 2021.
"""

import os

# TensorFlow's own CPU kernels cannot differentiate a grouped convolution
# (Conv2DBackpropFilter refuses the grouped filter's shape); its oneDNN
# kernels can. TensorFlow turns oneDNN on by itself only on some CPUs (those
# with AVX-512 VNNI and newer), so the stacked MAML path
# (`lasium_tf.learners.batched`) asks for it. TensorFlow reads the variable
# when it loads, so this works when lasium_tf is imported first; otherwise
# `batched.grouped_gradients_work` finds out and MAML falls back to the
# per-task path. An explicit TF_ENABLE_ONEDNN_OPTS is left as it is.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow's C++ start-up lines ("failed call to cuInit" and the like,
# which look like failures where nothing is wrong) are silenced wherever
# the library is used, not only in its programs (`lasium_tf.core.quiet`).
from lasium_tf.core import quiet as _quiet  # noqa: E402

_quiet.quiet_import()

__version__ = "0.1.0"

# Modules that moved into subpackages (issue 45's layout), by their old
# names: `from lasium_tf import lasium, modes` in a user's notebook keeps
# working; new code imports them from their packages.
_MOVED = {
    "augment": "lasium_tf.tasks.augment",
    "backends": "lasium_tf.core.backends",
    "batched": "lasium_tf.learners.batched",
    "cli": "lasium_tf.config.cli",
    "cluster": "lasium_tf.tasks.cluster",
    "distribute": "lasium_tf.run.distribute",
    "encoders": "lasium_tf.tasks.encoders",
    "episodes": "lasium_tf.tasks.episodes",
    "evaluation": "lasium_tf.run.evaluation",
    "experiment": "lasium_tf.run.experiment",
    "export": "lasium_tf.run.export",
    "files": "lasium_tf.core.files",
    "gan_objective": "lasium_tf.generators.gan_objective",
    "generative": "lasium_tf.generators",
    "generator_modes": "lasium_tf.run.generator_modes",
    "lasium": "lasium_tf.tasks.lasium",
    "learner": "lasium_tf.learners.base",
    "maml": "lasium_tf.learners.maml_core",
    "modes": "lasium_tf.run.modes",
    "normalization": "lasium_tf.learners.batchnorm",
    "pictures": "lasium_tf.records.pictures",
    "plots": "lasium_tf.plots",
    "progress": "lasium_tf.core.progress",
    "protonets": "lasium_tf.learners.protonets_core",
    "quiet": "lasium_tf.core.quiet",
    "rundir": "lasium_tf.records.rundir",
    "selection": "lasium_tf.run.selection",
    "stopping": "lasium_tf.core.stopping",
}


def __getattr__(name: str):
  if name not in _MOVED:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  import importlib

  return importlib.import_module(_MOVED[name])
