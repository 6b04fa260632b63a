"""Build the glyph benchmark: 53 character classes rendered from Debian's fonts, split by font family.

Usage: python benchmarks/build_glyphs.py OUT [--per-font 1] [--max-files-per-family 1] [--seed 0] [--force]
       python -m protobank train --data imagefolder --data-path OUT --backbone cnn --dim 10

Writes ``OUT/train/<class>/*.png`` and ``OUT/test/<class>/*.png`` (32x32 grayscale, the layout
``--data imagefolder`` reads) and ``OUT/manifest.json`` (fonts of each split, counts, options).
Test fonts come from font *families* that no training image uses: the task is to recognise a
character drawn in a typeface never seen. Each image draws the glyph at a random size (cap
height 13 to 22 px), a random offset (up to 3 px) and a random rotation (up to 8 degrees).
Classes avoid pairs that no classifier can tell apart once scale is random or the image is
mirrored (the loader flips images horizontally): no 0/O or 1/I/l, no lowercase letters shaped
like their capital (c o s u v w x y z k), no b/d or p/q mirror pairs.

Fonts are found with fontconfig (``fc-list``); a font is used only when it has all 53 glyphs.
Needs these Debian packages (with them, 112 usable families on Debian 12)::

    apt-get install -y fontconfig FONT_PACKAGES...   (the list is FONT_PACKAGES below)
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from font_trees import fc_list, publish_tree, refuse_existing

CLASSES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ23456789abefghijmnqrt&?@#%$"
FONT_PACKAGES = (
    "fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-liberation2 fonts-freefont-ttf "
    "fonts-crosextra-carlito fonts-crosextra-caladea fonts-croscore fonts-urw-base35 fonts-go fonts-hack-ttf "
    "fonts-inconsolata fonts-lato fonts-open-sans fonts-cantarell fonts-comic-neue fonts-ebgaramond "
    "fonts-linuxlibertine fonts-oldstandard fonts-texgyre fonts-humor-sans fonts-dancingscript fonts-lobster "
    "fonts-cabin fonts-karla fonts-jura fonts-firacode fonts-jetbrains-mono fonts-roboto fonts-adf-accanthis "
    "fonts-adf-baskervald fonts-adf-berenis fonts-adf-gillius fonts-adf-ikarius fonts-adf-irianis "
    "fonts-adf-libris fonts-adf-mekanus fonts-adf-oldania fonts-adf-romande fonts-adf-solothurn "
    "fonts-adf-switzera fonts-adf-tribun fonts-adf-universalis fonts-adf-verana fonts-cmu fonts-courier-prime "
    "fonts-b612 fonts-comfortaa fonts-dosis fonts-averia-gwf fonts-kaushanscript fonts-junicode "
    "fonts-mononoki fonts-opendyslexic fonts-ocr-a fonts-ocr-b fonts-play"
).split()
MIN_FAMILIES = 40
#: families whose letters are not the usual Latin shapes (Greek, dingbats, caps only, small caps)
EXCLUDE = re.compile(r"symbol|dingbat|d050000l|smallcaps|small caps|titling|unicase", re.IGNORECASE)
SIZE = 32


INSTALL = "run: apt-get install -y fontconfig " + " ".join(FONT_PACKAGES)


def find_fonts() -> dict[str, list[str]]:
    """Outline fonts that cover English, grouped by family name (fontconfig's first name).

    Fonts that also draw CJK ideographs are left out: their Latin letters are mostly shared
    copies (one Japanese package alone names 122 families), and the benchmark's families
    should not depend on whether CJK fonts are installed."""
    out = fc_list(":lang=en:outline=true", "%{family[0]}\t%{file}\n", INSTALL)
    cjk = set(fc_list(":charset=4e00", "%{file}\n", INSTALL).splitlines())
    families: dict[str, list[str]] = {}
    for line in out.splitlines():
        family, _, file = line.partition("\t")
        if EXCLUDE.search(family) is None and file.lower().endswith((".ttf", ".otf", ".t1", ".pfb")) and file not in cjk:
            families.setdefault(family.strip(), []).append(file)
    return {f: sorted(set(files)) for f, files in sorted(families.items())}


def covers(path: str) -> bool:
    """Whether the font draws every class with a real glyph (not empty, not the .notdef box)."""
    try:
        font = ImageFont.truetype(path, 40)
        notdef = bytes(font.getmask("\U0010fffd"))
        for ch in CLASSES:
            mask = font.getmask(ch)
            if mask.getbbox() is None or bytes(mask) == notdef:
                return False
    except OSError:
        return False
    return True


def render(path: str, ch: str, rng: random.Random) -> np.ndarray:
    """One 32x32 uint8 image of ``ch``: random cap height, offset and rotation, white on black."""
    cap = rng.uniform(13, 22)
    probe = ImageFont.truetype(path, 100)
    left, top, right, bottom = probe.getbbox("H")
    size = max(6, round(100 * cap / max(1, bottom - top)))
    font = ImageFont.truetype(path, size)
    canvas = Image.new("L", (2 * SIZE, 2 * SIZE), 0)
    left, top, right, bottom = font.getbbox(ch)
    scale = min(1.0, 0.9 * SIZE / max(right - left, bottom - top, 1))  # wide glyphs shrink to fit
    if scale < 1.0:
        font = ImageFont.truetype(path, max(6, int(size * scale)))
        left, top, right, bottom = font.getbbox(ch)
    ImageDraw.Draw(canvas).text((SIZE - (left + right) / 2, SIZE - (top + bottom) / 2), ch, fill=255, font=font)
    canvas = canvas.rotate(rng.uniform(-8, 8), resample=Image.BILINEAR)
    dx, dy = rng.randint(-3, 3), rng.randint(-3, 3)
    box = (SIZE // 2 - dx, SIZE // 2 - dy, SIZE // 2 - dx + SIZE, SIZE // 2 - dy + SIZE)
    return np.asarray(canvas.crop(box))


def build(out: Path, *, per_font: int, max_files: int, test_share: float, seed: int) -> dict:
    """Render the tree into ``out`` (which must not exist) and return the manifest."""
    rng = random.Random(seed)
    families = {}
    for family, files in find_fonts().items():
        usable = [f for f in files if covers(f)]
        if usable:
            families[family] = rng.sample(usable, min(max_files, len(usable)))
    if len(families) < MIN_FAMILIES:
        sys.exit(f"error: only {len(families)} font families have all {len(CLASSES)} glyphs (need {MIN_FAMILIES}); "
                 f"run: apt-get install -y fontconfig " + " ".join(FONT_PACKAGES))  # fmt: skip
    names = sorted(families)
    rng.shuffle(names)
    n_test = round(test_share * len(names))
    split = {"test": sorted(names[:n_test]), "train": sorted(names[n_test:])}
    counts = {}
    for part, fams in split.items():
        n = 0
        for label, ch in enumerate(CLASSES):
            folder = out / part / f"{label:02d}_u{ord(ch):04x}"
            folder.mkdir(parents=True)
            for family in fams:
                for i, file in enumerate(families[family]):
                    for k in range(per_font):
                        image = render(file, ch, rng)
                        stem = f"{family}_{i}_{k}".replace(" ", "-").replace("/", "-")
                        Image.fromarray(image).save(folder / f"{stem}.png")
                        n += 1
        counts[part] = n
    return {
        "classes": CLASSES,
        "image_size": SIZE,
        "options": {"per_font": per_font, "max_files_per_family": max_files, "test_share": test_share, "seed": seed},
        "images": counts,
        "families": {part: {f: families[f] for f in fams} for part, fams in split.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-font", type=int, default=1, help="images of each character per font file")
    ap.add_argument("--max-files-per-family", type=int, default=1, help="font files (weights, styles) per family")
    ap.add_argument("--test-share", type=float, default=0.25, help="share of font families held out for test")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = ap.parse_args()
    refuse_existing(args.out, args.force)
    manifest = publish_tree(args.out, lambda folder: build(folder, per_font=args.per_font, max_files=args.max_files_per_family,
                                                           test_share=args.test_share, seed=args.seed))  # fmt: skip
    fam = manifest["families"]
    print(f"{args.out}: {len(CLASSES)} classes; train {manifest['images']['train']} images from "
          f"{len(fam['train'])} families, test {manifest['images']['test']} images from {len(fam['test'])} "
          f"unseen families")  # fmt: skip


if __name__ == "__main__":
    main()
