"""Real few-shot tasks from large RGB image sets (mini-ImageNet, CelebA).

Omniglot fits in memory as one array (`omniglot.ClassImages`); mini-ImageNet
(60,000 images) and CelebA (202,599) are read from their files as tasks are
drawn, so nothing is decoded twice into a cache of gigabytes. Two kinds of
task source share the `episodes(n_way, k_shot, k_query, seed, start, count)`
interface of `ClassImages`, and give the same `Episode`s:

* `LabelledImages`: one label per image (a mini-ImageNet class, a CelebA
  identity); an N-way task draws N classes that have at least K_tr + K_val
  images, and K_tr + K_val distinct images of each.
* `AttributeImages`: CelebA's 40 binary attributes, tasks as in CACTUs (Hsu
  et al. 2019), the LASIUM paper's Table 3: draw 3 attributes and a value for
  each; class A is the images with all three values, class B the images with
  all three negated; 2-way.

Tasks are pure functions of `(seed, index)`, as for Omniglot: every method
sees the same test tasks.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from lasium_tf.data.common import DataError
from lasium_tf.tasks.episodes import check_task_shape, split_classes, task_seed


@dataclasses.dataclass(frozen=True)
class ImageFiles:
  """Image files (JPEG or PNG), decoded and resized when fetched."""

  paths: Tuple[str, ...]
  image_size: int
  channels: int = 3  # 1: read as grey; 3: RGB (grey files are expanded).
  # Resize with an antialiasing filter; False: as the Omniglot loader does
  # (`lasium_tf.datasets.DatasetKind.antialias`).
  antialias: bool = True

  def __len__(self) -> int:
    return len(self.paths)

  @functools.cached_property
  def _path_table(self) -> tf.Tensor:
    return tf.constant(self.paths)  # Built once, not at every trace.

  def fetch(self, indices: tf.Tensor) -> tf.Tensor:
    """float32 [n, S, S, C] in [0, 1]: images `indices`, squashed to S x S."""
    paths = tf.gather(self._path_table, indices)
    size, channels = self.image_size, self.channels
    antialias = self.antialias

    def decode(path):
      image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                 expand_animations=False)
      image = tf.image.convert_image_dtype(image, tf.float32)
      return tf.image.resize(image, (size, size), method="bilinear",
                             antialias=antialias)

    images = tf.map_fn(decode, paths, fn_output_signature=tf.TensorSpec(
        [size, size, channels], tf.float32))
    return tf.clip_by_value(images, 0.0, 1.0)

  def check_readable(self, sample: int = 3) -> None:
    """Decodes the first few files, so a wrong format fails before training."""
    for i in range(min(sample, len(self.paths))):
      try:
        self.fetch(tf.constant([i]))
      except tf.errors.OpError as e:
        raise DataError(f"cannot decode {self.paths[i]} "
                        f"({e.message.strip()[:200]}); the file is corrupt "
                        f"or not an image: replace it.") from None


@dataclasses.dataclass(frozen=True)
class ImageArray:
  """Images already in memory (e.g. from TFDS) as uint8 [n, S, S, 3]."""

  images: np.ndarray

  def __len__(self) -> int:
    return len(self.images)

  @functools.cached_property
  def _table(self) -> tf.Tensor:
    # One copy of the (possibly hundreds of MB) array as a tensor, made once
    # and captured by the task stream, not rebuilt at every trace; made
    # eagerly even when first read inside a trace, so that a later stream's
    # trace can capture it too.
    with tf.init_scope():
      return tf.convert_to_tensor(self.images)

  def fetch(self, indices: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.gather(self._table, indices), tf.float32) / 255.0

  def check_readable(self, sample: int = 3) -> None:
    del sample  # Decoded already.


def _task_stream(start: int, count: Optional[int], store, n_way: int,
                 k_shot: int, per_class: int, pick) -> tf.data.Dataset:
  """Episodes `start, start + 1, ...`: `pick(index)` gives class-major image
  indices [n_way * per_class], fetched from `store` and split into
  support (first K_tr of each class) and query."""
  stop = start + count if count is not None else np.iinfo(np.int64).max

  def sample(index):
    images = store.fetch(pick(index))
    return split_classes(
        tf.reshape(images, [n_way, per_class] + images.shape[1:]), k_shot)

  return tf.data.Dataset.range(start, stop).map(
      sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@dataclasses.dataclass(frozen=True)
class LabelledImages:
  """Images with one class label each; classes may differ in size."""

  store: "ImageFiles | ImageArray"
  labels: np.ndarray  # [n] int, the class of each image
  class_names: Tuple[str, ...]

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def counts(self) -> np.ndarray:
    return np.bincount(self.labels, minlength=self.num_classes)

  def usable_classes(self, per_class: int) -> np.ndarray:
    """The classes with at least `per_class` images."""
    return np.flatnonzero(self.counts >= per_class)

  def check(self, n_way: int, k_shot: int, k_query: int, what: str) -> None:
    usable = self.usable_classes(k_shot + k_query)
    check_task_shape(len(usable), k_shot + k_query, n_way, k_shot, k_query,
                     f"{what} (classes with at least {k_shot + k_query} "
                     f"images)")

  def episodes(self, n_way: int, k_shot: int, k_query: int, seed: int,
               start: int = 0, count: Optional[int] = None) -> tf.data.Dataset:
    """Task `start, start + 1, ...` of the seed's sequence (`Episode`s)."""
    self.check(n_way, k_shot, k_query, "the data")
    per_class = k_shot + k_query
    usable = self.usable_classes(per_class)
    if len(usable) < self.num_classes:
      small = [self.class_names[c] for c in np.flatnonzero(
          self.counts < per_class)]
      print(f"{len(small)} of {self.num_classes} classes have fewer than "
            f"{per_class} images (K_tr + K_val) and are never drawn: "
            f"{', '.join(small[:5])}{', ...' if len(small) > 5 else ''}.",
            file=sys.stderr, flush=True)
    # [classes, most images] table of image indices, padded with -1.
    # Images grouped by class in one sort (CelebA: 10,000 identities).
    by_class = np.split(np.argsort(self.labels, kind="stable"),
                        np.cumsum(self.counts)[:-1])
    members = [by_class[c] for c in usable]
    width = max(len(m) for m in members)
    table = np.full((len(members), width), -1, np.int64)
    for row, m in zip(table, members):
      row[:len(m)] = m
    table = tf.constant(table)
    counts = tf.constant([len(m) for m in members], tf.int64)

    def pick(index):
      class_seed, image_seed = tf.unstack(
          tf.random.experimental.stateless_split(task_seed(seed, index), 2))
      classes = tf.math.top_k(tf.random.stateless_uniform(
          [len(members)], class_seed), n_way).indices
      rows = tf.gather(table, classes)
      # Uniform scores, padding pushed below every real image: the top-k is a
      # random choice of distinct real images of each class.
      scores = tf.random.stateless_uniform([n_way, width], image_seed)
      valid = (tf.range(width, dtype=tf.int64)[None, :]
               < tf.gather(counts, classes)[:, None])
      scores = tf.where(valid, scores, -1.0)
      picks = tf.math.top_k(scores, per_class).indices
      return tf.reshape(tf.gather(rows, picks, batch_dims=1), [-1])

    return _task_stream(start, count, self.store, n_way, k_shot, per_class,
                        pick)


@dataclasses.dataclass(frozen=True)
class AttributeImages:
  """Images with binary attributes; 2-way tasks defined by attribute values.

  A task (CACTUs, Hsu et al. 2019; LASIUM Table 3) picks `conditions`
  attributes and a value for each: class A holds the images with those
  values, class B the images with every one of them negated. Combinations
  with too few images in either class are redrawn.
  """

  store: "ImageFiles | ImageArray"
  attributes: np.ndarray  # [n, num_attributes] bool
  attribute_names: Tuple[str, ...]
  conditions: int = 3
  max_tries: int = 1000

  @property
  def num_classes(self) -> int:
    return 2

  def check(self, n_way: int, k_shot: int, k_query: int, what: str) -> None:
    if n_way != 2:
      raise ValueError(f"attribute tasks are 2-way (values and their "
                       f"negation), not {n_way}-way; set the ways to 2.")
    if self.conditions > self.attributes.shape[1]:
      raise ValueError(f"{what} has {self.attributes.shape[1]} attributes; a "
                       f"task needs {self.conditions}.")
    self.task_indices(0, 0, k_shot + k_query)  # Raises if none is possible.

  def task_indices(self, seed: int, index: int, per_class: int) -> np.ndarray:
    """Image indices of task `index`: class A's `per_class`, then class B's."""
    rng = np.random.default_rng([seed, index])
    num = self.attributes.shape[1]
    for _ in range(self.max_tries):
      chosen = rng.choice(num, self.conditions, replace=False)
      values = rng.integers(0, 2, self.conditions).astype(bool)
      columns = self.attributes[:, chosen]
      a = np.flatnonzero(np.all(columns == values, axis=1))
      b = np.flatnonzero(np.all(columns != values, axis=1))
      if len(a) >= per_class and len(b) >= per_class:
        return np.concatenate([rng.choice(a, per_class, replace=False),
                               rng.choice(b, per_class, replace=False)])
    raise ValueError(
        f"no combination of {self.conditions} attribute values gave two "
        f"classes of {per_class} images in {self.max_tries} draws from "
        f"{len(self.attributes)} images; lower the shots or queries.")

  def episodes(self, n_way: int, k_shot: int, k_query: int, seed: int,
               start: int = 0, count: Optional[int] = None) -> tf.data.Dataset:
    self.check(n_way, k_shot, k_query, "the data")
    per_class = k_shot + k_query

    def pick(index):
      indices = tf.numpy_function(
          lambda i: self.task_indices(seed, int(i), per_class), [index],
          tf.int64, stateful=False)
      indices.set_shape([2 * per_class])
      return indices

    return _task_stream(start, count, self.store, 2, k_shot, per_class, pick)


def labels_from_names(names: Sequence[str]) -> Tuple[np.ndarray, Tuple[str, ...]]:
  """Class indices of `names` (sorted class names), and the class names."""
  classes = tuple(sorted(set(names)))
  index = {c: i for i, c in enumerate(classes)}
  return np.array([index[n] for n in names], np.int64), classes
