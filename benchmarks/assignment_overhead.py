"""Share of training time spent on the dynamic assignment, at c = 100 and c = 1,000.

Usage: python benchmarks/assignment_overhead.py --classes 100 1000 --epochs 1
A CIFAR-sized workload (50,000 training images of 3 x 32 x 32, the `cnn` backbone, d = 64,
batch 128, the default cadence of one assignment per epoch); the images are random, which
makes the class means unstructured: the assignment's hardest case. Each c is trained with
the dynamic and the static assignment; the overhead is the time of the assignment steps
(eq. 9 solve and install) and, separately, of the initial assignment pass, as shares of the
training time, and the dynamic/static epoch-time ratio (which also holds the per-step
class-mean tracking).
"""

from __future__ import annotations

import argparse

import torch

import protobank
from protobank.train import Classifier, TrainConfig, Trainer, build_backbone, build_prototype_head
from protobank.train.data import Augmentation, InMemoryDataset


def workload(c: int, n: int, seed: int = 0) -> InMemoryDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    xt = torch.randint(0, 256, (1000, 3, 32, 32), generator=g, dtype=torch.uint8)
    return InMemoryDataset(f"random-images-c{c}", x, torch.arange(n) % c, xt, torch.arange(1000) % c, c, augmentation=Augmentation("crop", flip=True))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.samples} images 3x32x32, cnn, d={args.dim}")
    print("| c | static epoch (s) | dynamic epoch (s) | dynamic/static | assignment steps (s) | share | initial assignment (s) | share |")
    print("|---|---|---|---|---|---|---|---|")
    for c in args.classes:
        data = workload(c, args.samples)
        prototypes = protobank.load(d=args.dim, c=c, generate=True)
        seconds = {}
        for mode in ("static", "dynamic"):
            torch.manual_seed(0)
            config = TrainConfig(epochs=args.epochs, batch_size=128, assign=mode)
            model = Classifier(build_backbone("cnn", data.input_shape, args.dim), build_prototype_head(prototypes, config.head_options()))
            trainer = Trainer(model, config)
            final = trainer.fit(data).final
            seconds[mode] = final
        s, d = seconds["static"]["train_seconds"], seconds["dynamic"]
        print(f"| {c:,} | {s:.1f} | {d['train_seconds']:.1f} | {d['train_seconds'] / s:.3f} | "
              f"{d['assignment_seconds']:.3f} | {100 * d['assignment_seconds'] / d['train_seconds']:.2f} % | "
              f"{d['initial_assignment_seconds']:.2f} | {100 * d['initial_assignment_seconds'] / d['train_seconds']:.2f} % |", flush=True)


if __name__ == "__main__":
    main()
