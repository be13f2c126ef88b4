"""What every trainable generative model is to the training loop.

A model holds its networks and optimizers and a pure `step` from the
variables' values, a batch and its random draws to new values, written in
`keras.ops` (`stateless_call`, `Optimizer.stateless_apply`), so the same
step runs on TensorFlow and on JAX (`backends`). The variable groups are
what a checkpoint holds (`checkpoints`).
"""

from __future__ import annotations

import contextlib
from typing import Dict, Optional

import numpy as np

from lasium_tf.core import backends
from lasium_tf import lazy
from lasium_tf.generators import KINDS

keras = lazy.module("keras")
ops = lazy.module("keras.ops")

State = Dict[str, list]  # Variable values by group name (`groups`).


class GenerativeModel:
  """Networks and optimizers, and the variable groups a checkpoint holds.

  A group is a list of variables: a network's trainable ones (its name), its
  others such as BatchNorm statistics ("<name>.fixed"), or an optimizer's.
  """

  networks: Dict[str, keras.Model]
  optimizers: Dict[str, keras.optimizers.Optimizer]
  # A tf.distribute strategy whose scope built the model: each step's batch
  # is split over its replicas (`backends.value_and_grad`).
  strategy = None
  # The networks LASIUM and exports decode and encode with (no encoder: None).
  decoding: keras.Model
  encoding: Optional[keras.Model] = None
  scores_samples = False  # `sample_metrics` has something to say.

  def groups(self) -> Dict[str, list]:
    groups = {}
    for name, network in self.networks.items():
      groups[name] = network.trainable_variables
      groups[f"{name}.fixed"] = network.non_trainable_variables
    for name, optimizer in self.optimizers.items():
      groups[name] = optimizer.variables
    return groups

  def state(self) -> State:
    """The values of every variable: the input of `step`."""
    return {k: [ops.convert_to_tensor(v) for v in vs]
            for k, vs in self.groups().items()}

  def assign(self, state: State) -> None:
    """Puts `state` (a step's output, or a checkpoint's) into the variables."""
    for name, variables in self.groups().items():
      for variable, value in zip(variables, state[name]):
        variable.assign(value)

  def _call(self, name: str, state: State, params, *inputs):
    """A network's forward pass on `params`: (outputs, new fixed values)."""
    return self.networks[name].stateless_call(
        params, state[f"{name}.fixed"], *inputs, training=True)

  def grid_images(self, fixed_z, fixed_images):
    """What a training run's sample grids show: decoded prior samples."""
    del fixed_images
    return self.decode(fixed_z)

  def sample_metrics(self, samples) -> Dict[str, float]:
    """Scores of an epoch's sample grid (white strokes [64, H, W, C]) for
    its metrics; a kind that has some sets `scores_samples`, so that the
    grid is drawn every epoch."""
    del samples
    return {}

  def as_generator(self):
    """The LASIUM generator interface over the trained networks."""
    from lasium_tf.generators.interface import KerasGenerator

    return KerasGenerator(self.decoding, self.encoding)

  def train_step(self, images, draws: Optional[Dict] = None,
                 rng: Optional[np.random.Generator] = None) -> Dict:
    """One step on the variables themselves (an eager convenience)."""
    if draws is None:
      draws = self.draws(rng or np.random.default_rng(0), len(images))
    if not hasattr(self, "_compiled"):
      self._compiled = backends.compile_step(self.step)
    state, metrics = self._compiled(self.state(), images, draws)
    self.assign(state)
    return metrics


def build(config, image_size: int = 28, channels: int = 1, strategy=None):
  """A fresh model of the configured `--generator_type`, for images
  [size, size, channels] (`GeneratorKind.build`).

  With a tf.distribute `strategy` (TensorFlow backend), built in its scope:
  training then splits each batch over its replicas (data parallel).
  """
  kind = KINDS.get(config.kind)
  with (strategy.scope() if strategy is not None
        else contextlib.nullcontext()):
    model = kind.build(config, image_size, channels)
  model.strategy = strategy
  return model
