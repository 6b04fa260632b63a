"""Copy a train/test image tree with a long-tailed training split; the test split stays whole.

Usage: python benchmarks/long_tail_tree.py SRC OUT [--rho 0.01] [--seed 0] [--force]
       python benchmarks/long_tail_tree.py glyphs glyphs-lt --rho 0.01

Class i (in the sorted order of the class folders, the labels ``--data imagefolder`` gives)
keeps ``n_max * rho^(i / (c - 1))`` training images, at least one, drawn by ``seed``: the
profile and the draw of ``protobank train --imbalance RHO --seed SEED``, so training on
``OUT`` sees the very images that run sees. A tree of its own serves what takes a plain image
folder (another tool, a balanced-accuracy check per class, a look at the rare classes).
``OUT/manifest.json`` is SRC's manifest (when it has one) with the options and the kept counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from protobank.errors import ProtobankError
from protobank.train.data import ImageFolder, load_dataset, long_tail


def copy_long_tailed(src: Path, out: Path, *, rho: float, seed: int) -> dict:
    """Write ``out`` (which must not exist) from ``src``; returns the manifest."""
    data = load_dataset("imagefolder", src, seed=seed)
    if not isinstance(data, ImageFolder) or data.train_root == data.test_root:
        sys.exit(f"error: {src} needs train/<class>/ and test/<class>/ folders")
    kept = long_tail(data, rho, seed=seed)
    for part, root, files in (("train", kept.train_root, kept.train_files), ("test", data.test_root, data.test_files)):
        for rel in files:
            target = out / part / rel.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel.decode(), target)
    for folder in sorted(p for p in data.train_root.iterdir() if p.is_dir()):  # a class may keep no training image
        (out / "train" / folder.name).mkdir(parents=True, exist_ok=True)
    manifest = json.loads((src / "manifest.json").read_text()) if (src / "manifest.json").exists() else {}
    counts = kept.class_counts()
    manifest["long_tail"] = {"source": str(src), "rho": rho, "seed": seed, "train_per_class": counts.tolist()}
    manifest["images"] = {"train": int(counts.sum()), "test": len(data.test_files)}
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--rho", type=float, default=0.01, help="rarest class's share of the most frequent one's images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = ap.parse_args()
    if not 0 < args.rho <= 1:
        sys.exit(f"error: --rho must be in (0, 1], got {args.rho}")
    if args.out.exists() and not args.force:
        sys.exit(f"error: {args.out} exists; pass --force to replace it")
    if args.out.resolve() == args.src.resolve():
        sys.exit("error: OUT must differ from SRC")
    tmp = args.out.with_name(f".{args.out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        manifest = copy_long_tailed(args.src, tmp, rho=args.rho, seed=args.seed)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    except ProtobankError as exc:
        sys.exit(f"error: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_class = np.array(manifest["long_tail"]["train_per_class"])
    print(f"{args.out}: {len(per_class)} classes; train {per_class.sum()} images ({per_class.max()} to "
          f"{per_class.min()} per class, rho {args.rho:g}), test {manifest['images']['test']} images, as in {args.src}")


if __name__ == "__main__":
    main()
