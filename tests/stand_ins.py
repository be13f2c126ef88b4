"""Stand-ins the tests build in the exact formats of what cannot be fetched.

* TF-Hub generators: tiny SavedModels with BigBiGAN's and ProGAN's signature
  names, latent sizes, output keys and output ranges, loaded through the same
  `hub.load` path as the real module handles.
* mini-ImageNet: the Ravi split's CSV files and JPEGs, flat or per class.
* CelebA: img_align_celeba/ with the official text files.

Images carry their class in their colour, so a learner can tell classes apart.
"""

import pathlib

import numpy as np
import tensorflow as tf


class BigBiGANLike(tf.Module):
  """generate: z [batch, 120] -> {default, upsampled}: 128x128x3 in [-1, 1]."""

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(tf.random.stateless_normal([120, 8 * 8 * 3], [0, 1]))

  @tf.function(input_signature=[tf.TensorSpec([None, 120], tf.float32)])
  def generate(self, z):
    small = tf.reshape(tf.tanh(z @ self.w), [-1, 8, 8, 3])
    images = tf.image.resize(small, [128, 128])
    return {"default": images, "upsampled": tf.image.resize(small, [256, 256])}

  @tf.function(input_signature=[tf.TensorSpec([None, 128, 128, 3])])
  def encode(self, x):
    return {"default": tf.reduce_mean(x, axis=[1, 2, 3])[:, None] * tf.ones(
        [1, 120])}


class ProGANLike(tf.Module):
  """default: z [batch, 512] -> {default}: 128x128x3 in [0, 1].

  The output is the input's norm, so a test sees what the module received.
  """

  @tf.function(input_signature=[tf.TensorSpec([None, 512], tf.float32)])
  def default(self, z):
    norm = tf.norm(z, axis=-1)[:, None, None, None]
    return {"default": tf.clip_by_value(norm * tf.ones([1, 128, 128, 3]) / 4,
                                        0.0, 1.0)}


def save(module, path, signatures):
  tf.saved_model.save(module, str(path), signatures=signatures)
  return str(path)


class ProGANPictures(tf.Module):
  """default: z [batch, 512] -> 128x128x3 in [0, 1] that vary with z."""

  def __init__(self):
    super().__init__()
    self.w = tf.Variable(tf.random.stateless_normal([512, 8 * 8 * 3], [0, 2])
                         / 8.0)

  @tf.function(input_signature=[tf.TensorSpec([None, 512], tf.float32)])
  def default(self, z):
    small = tf.reshape(tf.sigmoid(32.0 * z @ self.w), [-1, 8, 8, 3])
    return {"default": tf.image.resize(small, [128, 128])}


def write_hub_modules(folder) -> dict:
  """Saves both stand-ins; returns `--generator` values naming their presets."""
  folder = pathlib.Path(folder)
  big = BigBiGANLike()
  pro = ProGANPictures()
  return {
      "bigbigan": "bigbigan:" + save(big, folder / "bigbigan",
                                     {"generate": big.generate,
                                      "encode": big.encode}),
      "progan": "progan:" + save(pro, folder / "progan",
                                 {"default": pro.default}),
  }


def class_image(label: int, index: int, size: int = 12) -> np.ndarray:
  """uint8 [size, size, 3]: a class colour plus a little per-image noise."""
  rng = np.random.default_rng([label, index])
  colour = np.random.default_rng(label).integers(0, 256, 3)
  noise = rng.integers(-20, 21, (size, size, 3))
  return np.clip(colour + noise, 0, 255).astype(np.uint8)


def write_image(path: pathlib.Path, image: np.ndarray) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  encode = tf.io.encode_png if path.suffix == ".png" else tf.io.encode_jpeg
  path.write_bytes(encode(image).numpy())


def write_mini_imagenet(root, classes=(3, 2, 6), per_class=8,
                        layout="flat") -> pathlib.Path:
  """mini_imagenet/ with train/val/test CSVs and JPEGs; returns its folder.

  layout "flat": images/<filename>.jpg; "per_class": <part>/<label>/<file>.
  Labels are wnids (n0000NNNN) and filenames <wnid><0000NNNN>.jpg, as Ravi's.
  """
  root = pathlib.Path(root) / "mini_imagenet"
  label = 0
  for part, count in zip(("train", "val", "test"), classes):
    lines = ["filename,label"]
    for _ in range(count):
      wnid = f"n{label:08d}"
      for i in range(per_class):
        filename = f"{wnid}{i + 1:08d}.jpg"
        lines.append(f"{filename},{wnid}")
        where = (root / "images" / filename if layout == "flat"
                 else root / part / wnid / filename)
        write_image(where, class_image(label, i))
      label += 1
    (root / f"{part}.csv").write_text("\n".join(lines) + "\n")
  return root


ATTRIBUTES = ("5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive",
              "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose",
              "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
              "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses",
              "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
              "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
              "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
              "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
              "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
              "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie",
              "Young")


def write_celeba(root, identities=(4, 3, 7), per_identity=6,
                 num_attributes=len(ATTRIBUTES)) -> pathlib.Path:
  """celeba/ as the official release, `identities` per partition.

  Attributes are random but seeded; returns the celeba folder.
  """
  root = pathlib.Path(root) / "celeba"
  names = ATTRIBUTES[:num_attributes]
  partition, identity, attributes = [], [], []
  rng = np.random.default_rng(0)
  number, person = 0, 0
  for part, count in enumerate(identities):
    for _ in range(count):
      person += 1
      for i in range(per_identity):
        number += 1
        filename = f"{number:06d}.jpg"
        write_image(root / "img_align_celeba" / filename,
                    class_image(person, i, size=14))
        partition.append(f"{filename} {part}")
        identity.append(f"{filename} {person}")
        values = rng.integers(0, 2, len(names)) * 2 - 1
        attributes.append(f"{filename} " + " ".join(f"{v:2d}" for v in values))
  (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
  (root / "identity_CelebA.txt").write_text("\n".join(identity) + "\n")
  (root / "list_attr_celeba.txt").write_text(
      f"{number}\n" + " ".join(names) + " \n" + "\n".join(attributes) + "\n")
  return root
