"""Plot test top-1 against d for the heads of one or more train_compare.py result files.

Usage: python benchmarks/plot_accuracy_vs_d.py runs.json [more.json] --out docs/glyphs_accuracy_vs_d.png \
           [--epochs 4 --batch-size 32 --lr 0.05] [--curve "softmax=softmax" --curve "dynamic, ce + bn=dynamic-ce feature_bn=True"]
A curve is NAME=LABEL, LABEL as train_compare.py prints it (mode plus settings); each point is
the mean over seeds, with the seeds' range as an error bar. Default curves: softmax, static,
dynamic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_compare import _label  # noqa: E402

from protobank.train.trainer import TrainConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=3, help="as given to train_compare.py (labels name what differs)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--curve", action="append", help="NAME=LABEL")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    reference = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    runs = [r for path in args.results for r in json.loads(path.read_text())]
    curves = [c.split("=", 1) for c in args.curve] if args.curve else [[m, m] for m in ("softmax", "static", "dynamic")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label in curves:
        by_d: dict[int, list[float]] = {}
        for r in runs:
            if _label(r, reference) == label:
                by_d.setdefault(r["dim"], []).append(r["test_top1"])
        if not by_d:
            sys.exit(f"error: no run labelled {label!r} in {', '.join(map(str, args.results))}")
        ds = sorted(by_d)
        mean = [sum(by_d[d]) / len(by_d[d]) for d in ds]
        err = [[m - min(by_d[d]) for d, m in zip(ds, mean)], [max(by_d[d]) - m for d, m in zip(ds, mean)]]
        ax.errorbar(ds, mean, yerr=err, marker="o", capsize=3, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({r["dim"] for r in runs}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("feature dimension d")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
