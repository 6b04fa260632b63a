"""Build the ideograph benchmark: 1,000 CJK ideographs rendered from Debian's fonts, split by typeface.

Usage: python benchmarks/build_ideographs.py OUT [--classes 1000] [--per-font 1] [--max-files-per-source 2]
                                             [--test-share 0.25] [--seed 0] [--workers 2] [--force]
       python -m protobank train --data imagefolder --data-path OUT --backbone cnn --dim 32

Writes ``OUT/train/<class>/*.png`` and ``OUT/test/<class>/*.png`` (32x32 grayscale, white on
black, the layout ``--data imagefolder`` reads) and ``OUT/manifest.json`` (the classes, the
fonts of each split, counts, options). Test images come from typefaces that no training image
uses: the task is to recognise an ideograph drawn in a design never seen.

Classes: Unihan (Debian's ``unicode-data``) gives each ideograph's usage frequency
(``kFrequency``, 1 = most frequent) and the national character sets that encode it. Candidates
are the ideographs that GB 2312, Big5, JIS X 0208 and KS X 1001 all encode (so Chinese,
Japanese and Korean fonts alike draw them), ranked by frequency, then code point. A font is
used when it draws at least 99 % of the first ``--classes`` candidates; the classes are the
first ``--classes`` candidates that every used font draws.

Sources: fonts are grouped by family name without its weight and width words, then families
whose ideographs are near copies of each other (derived fonts such as Takao from IPA, WenQuanYi
Micro Hei from Droid Sans Fallback, the weights of one design) are merged, by comparing
renderings of 64 classes. The split holds out a seeded share of these sources; up to
``--max-files-per-source`` font files (weights, regional variants) of each source are drawn,
each ``--per-font`` times per class at a random size (em 24 to 31 px), offset (up to 2 px) and
rotation (up to 6 degrees). Each class has its own seeded generator, so the tree is the same
whatever ``--workers``.

Needs these Debian packages::

    apt-get install -y fontconfig unicode-data FONT_PACKAGES...   (the list is FONT_PACKAGES below)
"""

from __future__ import annotations

import argparse
import bisect
import bz2
import os
import random
import re
import sys
import time
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from font_trees import fc_list, publish_tree, refuse_existing

FONT_PACKAGES = (
    "fonts-arphic-ukai fonts-arphic-uming fonts-arphic-bkai00mp fonts-arphic-bsmi00lp fonts-arphic-gbsn00lp "
    "fonts-arphic-gkai00mp fonts-wqy-microhei fonts-wqy-zenhei fonts-noto-cjk fonts-ipafont-gothic "
    "fonts-ipafont-mincho fonts-ipaexfont-gothic fonts-ipaexfont-mincho fonts-vlgothic fonts-takao-gothic "
    "fonts-takao-mincho fonts-hanazono fonts-droid-fallback fonts-unfonts-core fonts-baekmuk fonts-nanum "
    "fonts-mplus fonts-motoya-l-cedar fonts-motoya-l-maruberi fonts-sawarabi-gothic fonts-sawarabi-mincho "
    "fonts-cwtex-fs fonts-cwtex-heib fonts-cwtex-kai fonts-cwtex-ming fonts-cwtex-yen fonts-horai-umefont "
    "fonts-umeplus fonts-klee fonts-lxgw-wenkai fonts-seto fonts-yozvox-yozfont fonts-kouzan-mouhitsu "
    "fonts-kiloji fonts-smiley-sans fonts-dejima-mincho fonts-ipamj-mincho fonts-aoyagi-kouzan-t "
    "fonts-aoyagi-soseki fonts-konatu fonts-migmix"
).split()
UNIHAN = Path("/usr/share/unicode")
CHARSETS = ("kGB0", "kBigFive", "kJis0", "kKSC0")
MIN_COVERAGE = 0.99
MIN_SOURCES = 12
#: weight, width and style words that name faces of one design, not another design
FACE_WORDS = re.compile(
    r"\b(thin|extralight|ultralight|light|demilight|regular|book|medium|semibold|demibold|bold|extrabold|"
    r"heavy|black|mono|code|sharp|oblique|italic|w\d)\b", re.IGNORECASE)  # fmt: skip
SIMILAR = 0.8  # mean correlation of two families' renderings above which they are one design
#: derived designs whose renderings correlate just below SIMILAR (LXGW WenKai is built from Klee One: 0.79)
RELATED = {"LXGW WenKai": "Klee One"}
PROBES = 64
SIZE = 32
HINT = "run: apt-get install -y fontconfig unicode-data " + " ".join(FONT_PACKAGES)


class Face(NamedTuple):
    """One face of a font file (a .ttc holds several) and the code points it maps."""

    family: str
    file: str
    index: int
    chars: frozenset[int]

    @property
    def name(self) -> str:
        return f"{self.file}:{self.index}" if self.index else self.file


def ranked_candidates() -> list[int]:
    """Ideographs every CJK national set encodes, most frequent first (Unihan's kFrequency, then code point)."""
    fields: dict[str, dict[str, str]] = {}
    for part in ("DictionaryLikeData", "OtherMappings"):
        path = UNIHAN / f"Unihan_{part}.txt.bz2"
        if not path.exists():
            sys.exit(f"error: {path} not found; {HINT}")
        with bz2.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("U+"):
                    code, key, value = line.rstrip("\n").split("\t", 2)
                    fields.setdefault(code, {})[key] = value
    chosen = [c for c, f in fields.items() if "kFrequency" in f and all(k in f for k in CHARSETS)]
    return [int(c[2:], 16) for c in sorted(chosen, key=lambda c: (int(fields[c]["kFrequency"]), int(c[2:], 16)))]


def parse_charset(text: str, wanted: list[int]) -> frozenset[int]:
    """The code points of ``wanted`` that fontconfig's ``%{charset}`` (hex points and ranges) holds."""
    ranges = sorted((int(low, 16), int(high or low, 16)) for low, _, high in (i.partition("-") for i in text.split()))
    starts = [low for low, _ in ranges]
    held = set()
    for code in wanted:
        at = bisect.bisect_right(starts, code) - 1
        if at >= 0 and code <= ranges[at][1]:
            held.add(code)
    return frozenset(held)


def find_faces(wanted: list[int]) -> list[Face]:
    """Outline faces that map U+4E00 (the ideograph 'one'), with the code points of ``wanted`` they map."""
    out = fc_list(":charset=4e00:outline=true", "%{family[0]}\t%{file}\t%{index}\t%{charset}\n", HINT)
    faces = {}
    for line in out.splitlines():
        family, file, index, charset = line.split("\t")
        if file.lower().endswith((".ttf", ".otf", ".ttc", ".otc")):
            faces[(file, int(index))] = Face(family.strip(), file, int(index), parse_charset(charset, wanted))
    return [faces[k] for k in sorted(faces)]


def choose_classes(faces: list[Face], candidates: list[int], n: int) -> tuple[list[int], list[Face]]:
    """The faces that draw >= 99 % of the first ``n`` candidates, and the first ``n`` candidates all of them draw."""
    top = candidates[:n]
    kept = [f for f in faces if sum(c in f.chars for c in top) >= MIN_COVERAGE * n]
    common = [c for c in candidates if all(c in f.chars for f in kept)]
    if len(common) < n:
        sys.exit(f"error: the fonts found draw only {len(common)} common ideographs (need {n}); {HINT}")
    return common[:n], kept


@lru_cache(maxsize=256)
def font(file: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(file, size, index=index)


def fitted(face: Face, ch: str, size: int, box: int) -> np.ndarray:
    """``ch`` drawn at ``size`` px and centred on a ``box`` x ``box`` canvas (shrunk to fit), as uint8."""
    f = font(face.file, face.index, size)
    left, top, right, bottom = f.getbbox(ch)
    if max(right - left, bottom - top) > box:
        f = font(face.file, face.index, max(6, size * box // max(right - left, bottom - top)))
        left, top, right, bottom = f.getbbox(ch)
    canvas = Image.new("L", (box, box), 0)
    ImageDraw.Draw(canvas).text((box / 2 - (left + right) / 2, box / 2 - (top + bottom) / 2), ch, fill=255, font=f)
    return np.asarray(canvas)


def draws(face: Face, codes: list[int]) -> bool:
    """Whether FreeType renders every one of ``codes`` from ``face`` as a visible glyph (some hinted fonts fail)."""
    try:
        return all(font(face.file, face.index, 16).getmask(chr(c)).getbbox() is not None for c in codes)
    except OSError:
        return False


def group_sources(faces: list[Face], probes: list[int]) -> dict[str, list[Face]]:
    """Faces grouped into designs: by family name less its weight words, then families whose probes correlate."""
    by_family: dict[str, list[Face]] = {}
    for face in faces:
        key = re.sub(r"\s+", " ", FACE_WORDS.sub(" ", face.family)).strip(" -") or face.family
        by_family.setdefault(key, []).append(face)
    names = sorted(by_family)
    stacks = []
    for name in names:
        images = np.stack([fitted(by_family[name][0], chr(c), 28, SIZE) for c in probes]).astype(np.float32)
        images -= images.mean(axis=(1, 2), keepdims=True)
        images /= np.linalg.norm(images, axis=(1, 2), keepdims=True) + 1e-6
        stacks.append(images.reshape(len(probes), -1))
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            related = RELATED.get(names[i]) == names[j] or RELATED.get(names[j]) == names[i]
            if related or float(np.mean(np.sum(stacks[i] * stacks[j], axis=1))) > SIMILAR:
                parent[root(j)] = root(i)
    sources: dict[str, list[Face]] = {}
    for i, name in enumerate(names):
        sources.setdefault(names[root(i)], []).extend(by_family[name])
    return sources


def render(face: Face, ch: str, rng: random.Random) -> np.ndarray:
    """One 32x32 uint8 image of ``ch``: random em size, offset and rotation, white on black."""
    image = Image.fromarray(fitted(face, ch, rng.randint(24, 31), 2 * SIZE))
    image = image.rotate(rng.uniform(-6, 6), resample=Image.BILINEAR)
    dx, dy = rng.randint(-2, 2), rng.randint(-2, 2)
    return np.asarray(image.crop((SIZE // 2 - dx, SIZE // 2 - dy, SIZE // 2 - dx + SIZE, SIZE // 2 - dy + SIZE)))


def render_class(job: tuple) -> int:
    """Write every image of one class on one side of the split; returns how many."""
    folder, code, files, per_font, seed = job
    rng = random.Random(f"{seed}:{folder.parent.name}:{code}")  # the side and the class, not where OUT lies
    folder.mkdir(parents=True)
    n = 0
    for source, faces in files:
        for i, face in enumerate(faces):
            for k in range(per_font):
                stem = f"{source}_{i}_{k}".replace(" ", "-").replace("/", "-")
                Image.fromarray(render(face, chr(code), rng)).save(folder / f"{stem}.png")
                n += 1
    return n


def build(out: Path, *, n_classes: int, per_font: int, max_files: int, test_share: float, seed: int,
          workers: int, min_sources: int = MIN_SOURCES) -> dict:  # fmt: skip
    """Render the tree into ``out`` (which must not exist) and return the manifest."""
    candidates = ranked_candidates()
    classes, faces = choose_classes(find_faces(candidates), candidates, n_classes)
    faces = [f for f in faces if draws(f, classes[:PROBES])]
    sources = group_sources(faces, classes[:PROBES])
    if len(sources) < min_sources:
        sys.exit(f"error: only {len(sources)} distinct CJK typefaces draw {n_classes} common ideographs "
                 f"(need {min_sources}); {HINT}")  # fmt: skip
    rng = random.Random(seed)
    files = {name: rng.sample(group, min(max_files, len(group))) for name, group in sorted(sources.items())}
    names = sorted(files)
    rng.shuffle(names)
    n_test = max(1, round(test_share * len(names)))
    split = {"test": sorted(names[:n_test]), "train": sorted(names[n_test:])}
    picked = [face for group in files.values() for face in group]
    counts = {}
    with Pool(workers) as pool:
        blank = [f.name for f, ok in zip(picked, pool.starmap(draws, [(f, classes) for f in picked])) if not ok]
        if blank:
            sys.exit(f"error: these fonts leave some of the {n_classes} ideographs blank: {', '.join(blank)}")
        for part, chosen in split.items():
            jobs = [(out / part / f"{label:04d}_u{code:04x}", code, [(s, files[s]) for s in chosen], per_font, seed)
                    for label, code in enumerate(classes)]  # fmt: skip
            counts[part] = sum(pool.imap(render_class, jobs, chunksize=8))
    return {
        "classes": "".join(chr(c) for c in classes),
        "image_size": SIZE,
        "options": {"classes": n_classes, "per_font": per_font, "max_files_per_source": max_files,
                    "test_share": test_share, "seed": seed},  # fmt: skip
        "images": counts,
        "sources": {part: {s: {"families": sorted({f.family for f in sources[s]}),
                               "files": [f.name for f in files[s]]} for s in chosen}
                    for part, chosen in split.items()},  # fmt: skip
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--classes", type=int, default=1000, help="number of ideographs, the most frequent first")
    ap.add_argument("--per-font", type=int, default=1, help="images of each class per font file")
    ap.add_argument("--max-files-per-source", type=int, default=2, help="font files (weights, variants) per typeface")
    ap.add_argument("--test-share", type=float, default=0.25, help="share of typefaces held out for test")
    ap.add_argument("--min-sources", type=int, default=MIN_SOURCES, help="refuse to build with fewer typefaces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="rendering processes")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = ap.parse_args()
    if args.classes < 2 or args.per_font < 1 or args.max_files_per_source < 1 or args.workers < 1:
        sys.exit("error: --classes must be at least 2, --per-font, --max-files-per-source and --workers at least 1")
    if not 0 < args.test_share < 1:
        sys.exit(f"error: --test-share must lie strictly between 0 and 1, got {args.test_share}")
    refuse_existing(args.out, args.force)
    start = time.perf_counter()
    manifest = publish_tree(args.out, lambda folder: build(
        folder, n_classes=args.classes, per_font=args.per_font, max_files=args.max_files_per_source,
        test_share=args.test_share, seed=args.seed, workers=args.workers, min_sources=args.min_sources))  # fmt: skip
    src = manifest["sources"]
    print(f"{args.out}: {args.classes} classes; train {manifest['images']['train']} images from "
          f"{len(src['train'])} typefaces, test {manifest['images']['test']} images from {len(src['test'])} "
          f"unseen typefaces; {time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
