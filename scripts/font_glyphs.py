"""Builds a grey few-shot data set of dark strokes on light paper from fonts.

A class is a character (kana, and kanji of few strokes from KANJIDIC's school
grades), an image is that character as one installed font draws it: brush,
handwriting, mincho and gothic faces by many designers give the in-class
variety that Omniglot's twenty drawers give. The project made none of the
images' shapes: they are the fonts' own glyphs, rendered, cropped to their ink,
fitted into the frame and stored as 8-bit grey PNGs (ink 0, paper 255).

It writes three folders in the layout `--dataset=folder` reads:
`unlabeled/` (the training classes' images, no class folders: what LASIUM
sees), `val/<class>/` and `test/<class>/` (disjoint classes, for model
selection and for the test tasks). Classes are split with --seed; a font whose
glyph nearly duplicates another font's (the same outlines under two names, or
one weight step apart) counts once for that character.

On Debian or Ubuntu the fonts and KANJIDIC come from apt (docs/your_images.md
lists the packages):

  python scripts/font_glyphs.py --fonts=/usr/share/fonts \
      --kanjidic=/usr/share/edict/kanjidic --out=experiments/glyphs
"""

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))

if __name__ == "__main__":
  # Flags only for the command line: importing `build` (as the tests do)
  # defines none, so no absl flag name is taken from another program.
  _FONTS = flags.DEFINE_string("fonts", "/usr/share/fonts",
                               "Folder searched for .ttf, .otf and .ttc files.")
  _KANJIDIC = flags.DEFINE_string(
      "kanjidic", "",
      "KANJIDIC file (EUC-JP), for kanji by school grade and stroke count; "
      "empty: kana only.")
  _OUT = flags.DEFINE_string("out", "experiments/glyph_data",
                             "Output folder.")
  _SIZE = flags.DEFINE_integer("size", 28, "Side of the square images.")
  _GRADES = flags.DEFINE_integer("max_grade", 6,
                                 "Kanji of school grades 1..max_grade.")
  _STROKES = flags.DEFINE_integer("max_strokes", 6,
                                  "Kanji of at most this many strokes.")
  _MIN_DIFFERENCE = flags.DEFINE_float(
      "min_difference", 0.04, "A glyph within this mean absolute difference "
      "(pixels in [0, 1]) of one already kept for its character is dropped.")
  _MIN_FONTS = flags.DEFINE_integer(
      "min_fonts", 20, "A character drawn by fewer distinct fonts is dropped.")
  _TEST = flags.DEFINE_integer("test_classes", 100, "Classes in test/.")
  _VAL = flags.DEFINE_integer("val_classes", 40, "Classes in val/.")
  _UNLABELED = flags.DEFINE_integer(
      "max_unlabeled", 10000, "At most this many images in unlabeled/ "
      "(a seeded choice).")
  _SEED = flags.DEFINE_integer("seed", 0, "Seed of the class split.")

# Small kana are their big forms at a smaller size: once a glyph is fitted to
# the frame they are the same image, so only the big forms are classes.
_SMALL_KANA = set("ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ")
# Katakana drawn like a kanji or hiragana that is also a class (エ/工, カ/力,
# タ/夕, ニ/二, ハ/八, ロ/口, ヘ/へ and its voiced forms, ト/卜, ー/一): kept
# out so that no two classes share their shapes.
_LOOKALIKES = set("エカタニハロヘベペトー")


def kana():
  """Hiragana and katakana letters, without small forms and look-alikes."""
  letters = [chr(c) for c in range(0x3041, 0x3097)]
  letters += [chr(c) for c in range(0x30A1, 0x30FB)]
  return [c for c in letters if c not in _SMALL_KANA | _LOOKALIKES]


def kanji(path, max_grade, max_strokes):
  """Kanji of KANJIDIC's grades 1..max_grade with at most max_strokes."""
  chosen = []
  with open(path, encoding="euc_jp", errors="replace") as f:
    for line in f:
      if line.startswith("#"):
        continue
      fields = line.split()
      grade = [int(x[1:]) for x in fields if x[:1] == "G" and x[1:].isdigit()]
      strokes = [int(x[1:]) for x in fields if x[:1] == "S" and x[1:].isdigit()]
      if (grade and grade[0] <= max_grade and strokes
          and strokes[0] <= max_strokes):
        chosen.append(fields[0])
  return chosen


def font_faces(folder):
  """(path, face index) of every font file under folder, sorted."""
  faces = []
  for root, _, files in os.walk(folder):
    for name in sorted(files):
      path = os.path.join(root, name)
      lower = name.lower()
      if lower.endswith((".ttf", ".otf")):
        faces.append((path, 0))
      elif lower.endswith(".ttc"):
        from fontTools.ttLib import TTCollection
        faces += [(path, i) for i in range(len(TTCollection(path).fonts))]
  return sorted(faces)


def covered(path, index, characters):
  """The characters that the face's character map draws."""
  from fontTools.ttLib import TTFont
  cmap = TTFont(path, fontNumber=index, lazy=True).getBestCmap() or {}
  return {c for c in characters if ord(c) in cmap}


def render(path, index, character, size):
  """The glyph, cropped to its ink and fitted into a size x size frame.

  Returns uint8 (ink 0, paper 255), or None where the face draws nothing.
  """
  import numpy as np
  from PIL import Image, ImageDraw, ImageFont
  font = ImageFont.truetype(path, 96, index=index)
  canvas = Image.new("L", (192, 192), 0)
  ImageDraw.Draw(canvas).text((48, 48), character, fill=255, font=font)
  box = canvas.getbbox()
  if box is None:
    return None
  glyph = canvas.crop(box)
  side = max(glyph.size)
  square = Image.new("L", (side, side), 0)
  square.paste(glyph, ((side - glyph.size[0]) // 2,
                       (side - glyph.size[1]) // 2))
  inner = size - 2 * max(1, size // 14)
  small = square.resize((inner, inner), Image.LANCZOS)
  frame = Image.new("L", (size, size), 0)
  offset = (size - inner) // 2
  frame.paste(small, (offset, offset))
  return 255 - np.asarray(frame, dtype=np.uint8)


def build(fonts, characters, out, size, min_fonts, test_classes, val_classes,
          max_unlabeled, seed, min_difference=0.04, log=print):
  """Renders every character in every face and writes the three folders.

  A face whose drawing of a character is within min_difference (mean
  absolute difference of [0, 1] pixels) of an earlier face's counts once for
  it: families ship the same outlines under several names and weights. Returns the summary that is also written to out/glyphs.json.
  """
  import numpy as np
  from PIL import Image
  from lasium_tf.core.files import atomic_directory
  faces = font_faces(fonts)
  if not faces:
    raise SystemExit(f"error: no .ttf, .otf or .ttc files under {fonts}: "
                     "pass --fonts=FOLDER_WITH_FONTS.")
  images = {c: [] for c in characters}
  for n, (path, index) in enumerate(faces):
    try:
      drawn = covered(path, index, characters)
      drawings = {c: render(path, index, c, size) for c in sorted(drawn)}
    except Exception as e:  # A damaged or unreadable font is skipped whole.
      log(f"skipping {path}: {e}")
      continue
    for c, image in drawings.items():
      if image is not None:
        images[c].append(image)
    if (n + 1) % 20 == 0:
      log(f"{n + 1}/{len(faces)} font faces rendered")
  kept = {}
  for c in characters:
    distinct = []
    for image in images[c]:
      x = image.astype(np.float32) / 255.0
      if all(np.abs(x - y).mean() > min_difference for y in distinct):
        distinct.append(x)
    distinct = [np.round(x * 255).astype(np.uint8) for x in distinct]
    if len(distinct) >= min_fonts:
      kept[c] = distinct
  if len(kept) < test_classes + val_classes + 1:
    raise SystemExit(
        f"error: only {len(kept)} characters are drawn by {min_fonts} or more "
        f"distinct fonts under {fonts}; {test_classes + val_classes + 1} are "
        "needed: install more fonts or lower --min_fonts or the class counts.")
  rng = np.random.default_rng(seed)
  order = [characters[i] for i in rng.permutation(len(characters))
           if characters[i] in kept]
  test, val, train = (order[:test_classes],
                      order[test_classes:test_classes + val_classes],
                      order[test_classes + val_classes:])

  def write(root):
    for part, classes in (("test", test), ("val", val)):
      for c in classes:
        folder = os.path.join(root, part, f"u{ord(c):04x}")
        os.makedirs(folder)
        for i, image in enumerate(kept[c]):
          Image.fromarray(image).save(os.path.join(folder, f"{i:03d}.png"))
    pool = [(c, i) for c in train for i in range(len(kept[c]))]
    chosen = rng.permutation(len(pool))[:max_unlabeled]
    os.makedirs(os.path.join(root, "unlabeled"))
    for n, j in enumerate(sorted(chosen)):
      c, i = pool[j]
      Image.fromarray(kept[c][i]).save(
          os.path.join(root, "unlabeled", f"{n:05d}.png"))
    summary = {
        "faces": len(faces), "size": size, "seed": seed,
        "min_difference": min_difference,
        "classes": {"train": len(train), "val": len(val), "test": len(test)},
        "images": {"unlabeled": int(len(chosen)),
                   "val": sum(len(kept[c]) for c in val),
                   "test": sum(len(kept[c]) for c in test)},
        "fonts_per_class": {"min": min(len(v) for v in kept.values()),
                            "max": max(len(v) for v in kept.values())},
        "test_characters": "".join(test), "val_characters": "".join(val),
    }
    with open(os.path.join(root, "glyphs.json"), "w", encoding="utf-8") as f:
      json.dump(summary, f, ensure_ascii=False, indent=1)
    return summary

  with atomic_directory(out) as tmp:
    return write(str(tmp))


def main(argv):
  del argv
  characters = kana()
  if _KANJIDIC.value:
    characters += kanji(_KANJIDIC.value, _GRADES.value, _STROKES.value)
  summary = build(_FONTS.value, characters, _OUT.value, _SIZE.value,
                  _MIN_FONTS.value, _TEST.value, _VAL.value, _UNLABELED.value,
                  _SEED.value, _MIN_DIFFERENCE.value)
  print(json.dumps({k: v for k, v in summary.items()
                    if not k.endswith("characters")}))


if __name__ == "__main__":
  app.run(main)
