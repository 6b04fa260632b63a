"""Streamed image folders: images per second and peak memory, torchvision path against the
Pillow path, and peak memory at two folder sizes.

Usage: python benchmarks/image_stream.py --images 4000 --small 1000 --workers 2
Generates a folder of ``--images`` JPEGs (``--source`` px squares, 10 classes) into a temporary
directory, plus a folder of its first ``--small``, then, each in a fresh process so that peak
RSS belongs to that measurement alone:

- ``loader``: one training epoch of ``train_batches`` (random-resized crop to ``--image-size``
  and flip), for each installed pixel path and both folder sizes;
- ``train``: one epoch of ``protobank.train.run_training`` (``cnn``, d = 10) at
  ``--train-size`` px on both folder sizes, the whole training job's peak memory.

Memory is measured from the start of the measurement (after the imports; see
:class:`PeakMemory`): the main process's peak RSS and the peak total PSS of the main process
and its workers. Linux only (/proc). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def make_folder(root: Path, n: int, size: int, classes: int = 10) -> None:
    """``n`` JPEGs of smooth colour fields with noise (quality 90, like photos in size)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        cls = root / f"class{i % classes:02d}"
        cls.mkdir(parents=True, exist_ok=True)
        a = rng.uniform(0, 6, (3, 2))
        field = np.stack([np.sin(a[c, 0] * xx + a[c, 1] * yy + c) for c in range(3)], -1)
        pixels = np.clip(127 + 100 * field + rng.normal(0, 12, field.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(cls / f"{i:06d}.jpg", quality=90)


class PeakMemory:
    """Peak memory of this process and its DataLoader workers while the block runs.

    Sampled every 50 ms from /proc: the total PSS (proportional set size: pages shared after
    fork counted once, split between the sharers) of the process tree, and this process's
    own peak RSS (VmHWM, reset at entry through /proc/self/clear_refs).
    """

    def __enter__(self) -> PeakMemory:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the import's peak is not ours
        self.tree_mib, self._done = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.main_mib = _status_kib(os.getpid(), "VmHWM") / 1024

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            pids = [os.getpid()] + [int(p) for t in Path("/proc/self/task").iterdir() for p in (t / "children").read_text().split()]
            self.tree_mib = max(self.tree_mib, sum(_pss_kib(p) for p in pids) / 1024)


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:  # a worker that just exited
        pass
    return 0


def measure_loader(args: argparse.Namespace) -> dict:
    from protobank.train.data import load_dataset

    with PeakMemory() as memory:
        data = load_dataset("imagefolder", args.folder, image_size=args.image_size, workers=args.workers, backend=args.backend)
        t0 = time.perf_counter()
        images = 0
        for x, _ in data.train_batches(args.batch_size, seed=0, epoch=0):
            images += len(x)
        seconds = time.perf_counter() - t0
    return {"images": images, "images_per_s": images / seconds, "main_mib": memory.main_mib, "tree_mib": memory.tree_mib}


def measure_train(args: argparse.Namespace) -> dict:
    from protobank.train.allocator import fix_mmap_threshold
    from protobank.train.distributed import DistContext
    from protobank.train.run import RunOptions, run_training
    from protobank.train.trainer import TrainConfig

    fix_mmap_threshold()  # as protobank train does
    with tempfile.TemporaryDirectory() as out, PeakMemory() as memory:
        opts = RunOptions(
            data="imagefolder", data_path=str(args.folder), dim=10, backbone="cnn", image_size=args.image_size,
            workers=args.workers, out=Path(out) / "run", config=TrainConfig(epochs=1, batch_size=args.batch_size),
        )  # fmt: skip
        m = run_training(opts, DistContext())
    return {"images": m["train_samples"], "seconds": m["train_seconds"], "main_mib": memory.main_mib, "tree_mib": memory.tree_mib}


def run_child(mode: str, folder: Path, backend: str, image_size: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--measure", mode, "--folder", str(folder), "--backend", backend,
           "--image-size", str(image_size), "--workers", str(args.workers), "--batch-size", str(args.batch_size)]  # fmt: skip
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4000)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--source", type=int, default=224, help="side of the generated JPEGs")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--train-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--parts", nargs="+", choices=["loader", "train"], default=["loader", "train"])
    ap.add_argument("--measure", choices=["loader", "train"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="pillow", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        result = measure_loader(args) if args.measure == "loader" else measure_train(args)
        print(json.dumps(result))
        return

    from protobank.train.images import default_backend

    backends = ["torchvision", "pillow"] if default_backend() == "torchvision" else ["pillow"]
    import torch

    versions = f"torch {torch.__version__}"
    if "torchvision" in backends:
        import torchvision

        versions += f", torchvision {torchvision.__version__}"
    print(f"{versions}; {os.cpu_count()} cores; load before: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        large, small = Path(tmp) / "large", Path(tmp) / "small"
        make_folder(large, args.images, args.source)
        make_folder(small, args.small, args.source)
        mib = sum(f.stat().st_size for f in large.rglob("*.jpg")) / 2**20
        decoded = args.images * 3 * args.image_size**2 / 2**20
        print(f"{args.images} JPEGs of {args.source} px, {mib:.0f} MiB on disk; decoded at {args.image_size} px they would take {decoded:.0f} MiB in memory\n")
        if "loader" in args.parts:
            print(f"Loader: one epoch, batch {args.batch_size}, {args.workers} workers, {args.image_size} px crops")
            print("| path | images in folder | images / s | peak RSS, main process (MiB) | peak PSS, main + workers (MiB) |")
            print("|---|---|---|---|---|")
            for backend in backends:
                for folder, n in ((small, args.small), (large, args.images)):
                    r = run_child("loader", folder, backend, args.image_size, args)
                    print(f"| {backend} | {n} | {r['images_per_s']:.0f} | {r['main_mib']:.0f} | {r['tree_mib']:.0f} |", flush=True)
        if "train" in args.parts:
            print(f"\nTraining: one epoch of `cnn`, d = 10, {args.train_size} px, batch {args.batch_size}, {args.workers} workers, {backends[0]} path")
            print("| images in folder | train seconds | peak RSS, main process (MiB) | peak PSS, main + workers (MiB) |")
            print("|---|---|---|---|")
            for folder, n in ((small, args.small), (large, args.images)):
                r = run_child("train", folder, backends[0], args.train_size, args)
                print(f"| {n} | {r['seconds']:.1f} | {r['main_mib']:.0f} | {r['tree_mib']:.0f} |", flush=True)
    print(f"\nload after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
