"""Keras networks: few-shot backbones and the Omniglot generators.

Every builder takes a `seed` and gives each layer its own seeded initialiser
(explicit random state: no global seeds), so the same seed builds the same
weights in any process.
"""

import itertools

import keras


def seeded_initializers(seed: int):
  """Distinct, reproducible Glorot-uniform initialisers for one network."""
  for i in itertools.count():
    yield keras.initializers.GlorotUniform(seed=seed * 1000 + i)
