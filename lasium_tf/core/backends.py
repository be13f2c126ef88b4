"""The per-backend part of generator training: gradients, updates, compiling.

The generators' training steps (`lasium_tf.generators`) are written once
in `keras.ops` over `stateless_call`: pure functions from (variable values,
images, random draws) to new values. Three things differ between Keras
backends, and this module holds them: taking a gradient (`tf.GradientTape`
or `jax.value_and_grad`), applying an optimizer to values
(`Optimizer.stateless_apply`, which Keras' TensorFlow optimizers lack), and
compiling a step (`tf.function` or `jax.jit`). Keras fixes its backend per
process (`KERAS_BACKEND`, read when keras is first imported); `lasium_tf.main`
sets it from `--generator_backend` before importing keras.
"""

from __future__ import annotations

import os
from typing import Callable

# keras is imported inside the functions: `select` runs before it may be.
BACKENDS = ("tensorflow", "jax")

# "off": TensorFlow's graph optimizer (Grappler) is skipped in this process.
GRAPH_OPTIMIZER_ENV = "LASIUM_GRAPH_OPTIMIZER"


def apply_graph_optimizer_setting() -> None:
  """Turns Grappler off where `LASIUM_GRAPH_OPTIMIZER=off` asks.

  Grappler rewrites every new graph before its first run: about 3.3 s of a
  second-order MAML meta-step's 7.5 s first call on 2 CPU cores, for a step
  that then takes as long (0.25 s) with or without it. Short runs and the
  test suite, which compile many graphs and run each briefly, set it off;
  long runs keep TensorFlow's default.
  """
  if os.environ.get(GRAPH_OPTIMIZER_ENV, "").lower() == "off":
    import tensorflow as tf
    tf.config.optimizer.set_experimental_options(
        {"disable_meta_optimizer": True})


def current() -> str:
  """The backend Keras runs on in this process."""
  import keras
  return keras.backend.backend()


def describe() -> str:
  """The backend and the kind of device it computes on, e.g. "jax on gpu"."""
  if current() == "jax":
    import jax
    return f"jax on {jax.devices()[0].platform}"
  import tensorflow as tf
  return f"tensorflow on {'gpu' if tf.config.list_logical_devices('GPU') else 'cpu'}"


def require(backend: str) -> None:
  """Refuses to train on `backend` in a process whose Keras runs another."""
  if backend not in BACKENDS:
    raise ValueError(f"--generator_backend={backend!r}: use one of "
                     f"{BACKENDS}.")
  if current() != backend:
    raise RuntimeError(
        f"--generator_backend={backend} but Keras runs on {current()} in this "
        f"process: set KERAS_BACKEND={backend} before keras is first imported "
        f"(python -m lasium_tf.main does so from the flag).")


def select(backend: str) -> None:
  """Sets KERAS_BACKEND for this process, before keras is imported.

  Refuses when keras was already imported with another backend: the choice
  would silently not apply.
  """
  import sys
  if "keras" in sys.modules and sys.modules["keras"].backend.backend() != (
      backend):
    raise RuntimeError(f"keras was imported on the "
                       f"{sys.modules['keras'].backend.backend()} backend "
                       f"before --generator_backend={backend} could apply.")
  os.environ["KERAS_BACKEND"] = backend


def value_and_grad(fn: Callable, strategy=None) -> Callable:
  """`fn(params, batch) -> (value, aux)` to
  `(params, batch) -> ((value, aux), grads)`.

  `params` is a list of tensors, `batch` a dict of per-example tensors
  (first axis: the batch); the gradient is of `value` with respect to each
  param, as `jax.value_and_grad(fn, has_aux=True)` defines it. With a
  tf.distribute `strategy` (TensorFlow), replica r of R takes the r-th
  share of `batch`, and value, aux and gradients are the replicas' means
  weighted by their shares: data parallel, so quantities that depend on the
  whole batch (the GAN's mode-seeking ratio, BatchNorm statistics) are
  each replica's own, as in any data-parallel training.
  """
  if current() == "jax":
    if strategy is not None:
      raise RuntimeError("tf.distribute strategies run on TensorFlow; "
                         "--generator_backend=jax trains on one device.")
    import jax
    return jax.value_and_grad(fn, has_aux=True)
  if current() != "tensorflow":
    raise RuntimeError(f"generator training runs on {BACKENDS}, not Keras' "
                       f"{current()} backend.")
  import tensorflow as tf

  def local(params, batch):
    with tf.GradientTape() as tape:
      tape.watch(params)
      value, aux = fn(params, batch)
    return (value, aux), tape.gradient(value, params)

  if strategy is None:
    return local

  def replicated(params, batch):
    count = tf.shape(tf.nest.flatten(batch)[0])[0]
    replicas = strategy.num_replicas_in_sync

    def replica():
      r = tf.distribute.get_replica_context().replica_id_in_sync_group
      low, high = count * r // replicas, count * (r + 1) // replicas
      share = tf.cast(high - low, tf.float32) / tf.cast(count, tf.float32)
      out = local(params, tf.nest.map_structure(lambda x: x[low:high],
                                                batch))
      return tf.nest.map_structure(lambda x: x * share, out)

    return strategy.reduce(tf.distribute.ReduceOp.SUM,
                           strategy.run(replica), axis=None)

  return replicated


def apply_gradients(optimizer, variables: list, optimizer_state: list,
                    grads: list, params: list):
  """One optimizer step on values: (new params, new optimizer state).

  `variables` are the Keras variables `params` are the values of (the
  optimizer was built on them). JAX: `optimizer.stateless_apply`. Keras'
  TensorFlow optimizers refuse `stateless_apply` (it does not mix with
  tf.distribute), so there the values go into the variables, the optimizer
  applies, and the new values are read back, all inside the compiled step
  (TensorFlow orders the reads after the writes): the same Adam either way.
  """
  if current() == "jax":
    return optimizer.stateless_apply(optimizer_state, grads, params)
  import tensorflow as tf
  for variable, value in zip(optimizer.variables, optimizer_state):
    variable.assign(value)
  for variable, value in zip(variables, params):
    variable.assign(value)
  optimizer.apply(grads, variables)
  return ([tf.identity(v.value) for v in variables],
          [tf.identity(v.value) for v in optimizer.variables])


def compile_step(fn: Callable) -> Callable:
  """`fn` traced and compiled once per input shape (a partial last batch
  adds one trace)."""
  if current() == "jax":
    import jax
    return jax.jit(fn)
  import tensorflow as tf
  apply_graph_optimizer_setting()
  return tf.function(fn, reduce_retracing=True)
