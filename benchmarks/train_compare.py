"""Softmax vs static vs dynamic assignment with the same backbone and budget, several seeds.

Usage: python benchmarks/train_compare.py --data fashion-mnist --dims 2 3 4 10 --seeds 0 1 2 \
           --epochs 3 --json results.json
       python benchmarks/train_compare.py --data fashion-mnist --dims 10 --imbalance 0.01
       python benchmarks/train_compare.py --data imagefolder --data-path glyphs --dims 10 \
           --augment crop --no-flip --modes dynamic dynamic-ce --set feature_bn=true
Prints one markdown table (mean and standard deviation of test top-1 and balanced top-1 over
seeds) and, with --json, every run's metrics; runs already in that file (same d, head and
settings) are not repeated, so one file can collect a whole grid of ablations.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, fields, replace

from protobank.train.distributed import DistContext
from protobank.train.run import RunOptions, run_training
from protobank.train.config import PROTOTYPE_ONLY, effective_config
from protobank.train.head_options import parse_scale
from protobank.train.trainer import TrainConfig

#: mode -> (head, TrainConfig settings); --set applies on top (e.g. --set loss=ce).
#: The modes pin what they are named after, so their rows do not move with the package's
#: defaults: softmax without a long-tail correction; static and dynamic with the paper's eq. 6;
#: the -ce modes with 0.2's `--loss ce` (a fixed scale of 4, plain cross-entropy). `default` is
#: the prototype head on the package's defaults (HeadOptions), whatever they are.
CE_02 = {"loss": "ce", "scale": 4.0, "learn_scale": False, "long_tail": "none"}
MODES: dict[str, tuple[str, dict]] = {
    "softmax": ("softmax", {"assign": "static", "loss": "ce", "long_tail": "none"}),
    "static": ("prototypes", {"assign": "static", "loss": "ipm"}),
    "dynamic": ("prototypes", {"assign": "dynamic", "loss": "ipm"}),
    "dynamic-identity-start": ("prototypes", {"assign": "dynamic", "assign_init": "identity", "loss": "ipm"}),
    "static-ce": ("prototypes", {"assign": "static", **CE_02}),
    "dynamic-ce": ("prototypes", {"assign": "dynamic", **CE_02}),
    "default": ("prototypes", {}),
}
DEFAULT_MODES = ["softmax", "static", "dynamic"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--data-path")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3, 4, 10])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=DEFAULT_MODES, choices=list(MODES))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--backbone")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a TrainConfig field for every run, e.g. warmup_epochs=1 or feature_bn=true")  # fmt: skip
    ap.add_argument("--imbalance", type=float)
    ap.add_argument("--augment", default="auto", choices=["auto", "crop", "resized-crop", "none"], help="image folders' training augmentation")
    ap.add_argument("--workers", type=int, default=2, help="image folders: DataLoader processes")
    ap.add_argument("--flip", action=argparse.BooleanOptionalAction, help="horizontal flips (default: the data's)")
    ap.add_argument("--json")
    args = ap.parse_args()
    reference = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    runs = []
    if args.json and os.path.exists(args.json):  # continue an interrupted benchmark
        with open(args.json) as f:
            runs = json.load(f)
    for d in args.dims:
        for mode in args.modes:
            head, settings = MODES[mode]
            for seed in args.seeds:
                cfg = _apply(replace(reference, **settings, seed=seed), args.set)
                if head == "softmax":  # the prototype head's scale settings do not apply
                    cfg = replace(cfg, **{k: getattr(reference, k) for k in PROTOTYPE_ONLY})
                used = _used(head, asdict(effective_config(cfg, prototype_head=head == "prototypes")))
                if any(r["dim"] == d and r["head"] == head and _used(head, r["config"]) == used for r in runs):
                    continue
                opts = RunOptions(data=args.data, data_path=args.data_path, dim=d, head=head, backbone=args.backbone,
                                  imbalance=args.imbalance, augment=args.augment, flip=args.flip, workers=args.workers,
                                  config=cfg)
                t0 = time.perf_counter()
                m = run_training(opts, DistContext())
                m.update(mode=mode, wall_seconds=time.perf_counter() - t0)
                runs.append(m)
                print(f"d={d} {_label(m, reference)} seed={seed}: top-1 {m['test_top1']:.2f}  balanced {m['test_balanced_top1']:.2f}  "
                      f"({m['wall_seconds']:.0f} s)", flush=True)
                if args.json:
                    with open(args.json, "w") as f:
                        json.dump(runs, f, indent=1)
    extra = [k for k in ("test_many_shot_top1", "test_medium_shot_top1", "test_few_shot_top1") if k in runs[0]]
    related = any("related_prototype_cosine" in r for r in runs)
    print("\n| d | head | top-1 (%) | balanced top-1 (%) |" + "".join(f" {k[5:-5]} (%) |" for k in extra)
          + (" cos same super-class | cos different |" if related else ""))  # fmt: skip
    print("|---|---|---|---|" + "---|" * (len(extra) + 2 * related))
    for d in args.dims:
        for label in dict.fromkeys(_label(r, reference) for r in runs if r["dim"] == d):
            sel = [r for r in runs if r["dim"] == d and _label(r, reference) == label]
            cells = [_stat([r[k] for r in sel]) for k in ("test_top1", "test_balanced_top1", *extra)]
            if related:
                cells += [_stat([r.get("related_prototype_cosine", {}).get(k) for r in sel], 3)
                          for k in ("same_super_class", "different_super_class")]  # fmt: skip
            print(f"| {d} | {label} | " + " | ".join(cells) + " |")


def _apply(cfg: TrainConfig, settings: list[str]) -> TrainConfig:
    """``cfg`` with each ``KEY=VALUE`` of ``settings`` set, the value parsed as the field's type."""
    types = {f.name: str(f.type) for f in fields(cfg)}
    for item in settings:
        key, _, value = item.partition("=")
        if key not in types:
            raise SystemExit(f"error: --set {item}: unknown TrainConfig field; choose one of {', '.join(types)}")
        kind = types[key]
        if key == "scale":
            parsed: object = parse_scale(value)
        elif kind.startswith("bool"):
            parsed = value.lower() in ("1", "true", "yes")
        elif kind.startswith(("float", "int")):
            parsed = (float if kind.startswith("float") else int)(value)
        else:
            parsed = value
        setattr(cfg, key, parsed)
    return cfg


def _label(run: dict, reference: TrainConfig) -> str:
    """A run's mode plus every setting (the seed aside) that differs from ``reference`` (the
    command line's epochs, batch size and learning rate) with the mode's settings applied."""
    head, settings = MODES[run["mode"]]
    default = asdict(effective_config(replace(reference, **settings), prototype_head=head == "prototypes"))
    diff = [f"{k}={v}" for k, v in _used(run["head"], run["config"]).items() if k != "seed" and v != default.get(k)]
    return " ".join([run["mode"], *diff])


def _used(head: str, config: dict) -> dict:
    """The settings that decide a run's numbers: the scale settings only matter to the
    prototype head under the cross-entropy (a run is neither re-run nor relabelled when they
    change)."""
    if head == "prototypes" and config["loss"] == "ce":
        return config
    return {k: v for k, v in config.items() if k not in PROTOTYPE_ONLY}


def _stat(values: list, digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


if __name__ == "__main__":
    main()
