"""The default method's portfolio on a grid: catalogue code, optimizer, default and the bound.

Usage: python benchmarks/portfolio_grid.py [--d 8 16 ...] [--c 100 1000 ...] [--budget 60]
       python benchmarks/portfolio_grid.py --d 512 --c 100000 --device cuda --optimizer
Per cell it prints the best catalogue plan (its proven max cosine, checked over all pairs on
small cells, the seconds to build its rows and their centroid norm), the optimizer's max cosine (run inside the default method where its
predicted time is within --budget seconds; otherwise its predicted time and "not run"), the
default's max cosine and seconds, and the Levenshtein bound (or the proven optimum).
--optimizer runs the optimizer alone on each cell (e.g. on a GPU) and prints its seconds and
max cosine beside the code. --from-bank takes the default's and the optimizer's values of the
cells the packaged bank holds from its artifacts (each made by a run of the default method,
seed 0; marked "bank" in the seconds column) instead of running them again, except where a
catalogue code beats the stored artifact (there the default runs). --json writes the
rows for plots.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import protobank
from protobank.codes.plan import best_plan
from protobank.measure import geometry
from protobank.optimize.base import resolve_device
from protobank.optimize.portfolio import decide


def code_cell(d: int, c: int) -> dict:
    plan = best_plan(d, c)
    if plan is None:
        return {"code": None}
    start = time.perf_counter()
    centroid = float(np.linalg.norm(plan.centroid()))  # builds every row once, in blocks
    out = {"code": plan.name, "code_proven": plan.max_cosine, "code_centroid": centroid,
           "code_s": time.perf_counter() - start}
    if c * c * d <= 1e9:  # small enough to measure every pair here as well
        out["code_max"] = geometry(plan.build()).max_cosine
    return out


def default_cell(d: int, c: int, device: str, budget: float) -> dict:
    dec = decide(d, c, resolve_device(device).type)
    out = {"bound": dec.bound.value, "bound_kind": dec.bound.kind, "predicted_s": dec.optimizer.seconds,
           "exact": dec.exact}
    if dec.run_optimizer and dec.optimizer.seconds > budget:
        out.update(default=None, optimizer=None)
        return out
    start = time.perf_counter()
    p = protobank.generate(d, c, device=device)
    out.update(default=p.metrics["max_cosine"], default_s=time.perf_counter() - start,
               construction=p.method_params["construction"])
    opt = p.method_params.get("candidates", {}).get("optimizer", {})
    out["optimizer"] = opt.get("max_cosine")
    return out


def bank_cell(d: int, c: int) -> dict | None:
    """The default's and the optimizer's max cosine for (d, c) from the packaged bank's entry."""
    from protobank.folders import packaged_bank
    from protobank.lookup import open_entry, select

    if packaged_bank() is None:
        return None
    entry = select([packaged_bank()], d, c)
    if entry is None or entry.c <= 2 * entry.d or entry.d == 2:
        return None
    dec = decide(d, c, "cpu")
    if dec.plan is not None and dec.plan.max_cosine < entry.metrics["max_cosine"] - 1e-9:
        return None  # a code beats the stored artifact: the bank is stale here, run the default
    p = open_entry(entry)
    cand = p.method_params.get("candidates", {}).get("optimizer", {})
    # artifacts made before the catalogue existed are the optimizer's own result
    optimizer = cand.get("max_cosine") if "candidates" in p.method_params else p.metrics["max_cosine"]
    return {"bound": dec.bound.value, "bound_kind": dec.bound.kind, "predicted_s": dec.optimizer.seconds,
            "default": p.metrics["max_cosine"], "default_s": None, "optimizer": optimizer,
            "construction": p.method_params.get("construction", "optimizer"), "from_bank": True}


def optimizer_alone(d: int, c: int, device: str) -> dict:
    """The optimizer without the catalogue (known_codes=false), timed, its max cosine exact."""
    import torch

    from protobank.optimize.minimax import optimize, smoothed_max_gradient

    dev = resolve_device(device)
    start = time.perf_counter()
    result = optimize(d, c, device=str(dev))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    x = torch.as_tensor(result.vectors, dtype=torch.float64, device=dev)[None]
    _, top = smoothed_max_gradient(x, 1.0, max(1, (2**26 if dev.type == "cuda" else 2**22) // c))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return {"optimizer": float(top), "optimizer_s": seconds, "optimizer_device": name}


def fmt(value, digits: int = 5) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--c", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget", type=float, default=60.0, help="run the optimizer only below this predicted time (s)")
    ap.add_argument("--optimizer", action="store_true", help="run the optimizer alone and time it")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--from-bank", action="store_true", help="read the bank's cells instead of running them")
    args = ap.parse_args()
    rows = []
    print("| (d, c) | catalogue code | code max cos (proven) | code build s | code centroid | optimizer max cos | default max cos | default s | bound |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in args.c:
        for d in args.d:
            row = {"d": d, "c": c, **code_cell(d, c)}
            if args.optimizer:
                row.update(optimizer_alone(d, c, args.device))
                print(f"optimizer alone d={d} c={c} on {row['optimizer_device']}: {row['optimizer_s']:.1f} s, "
                      f"max cosine {row['optimizer']:.5f}; code {row['code']}: {fmt(row.get('code_proven'))}", flush=True)
                rows.append(row)
                continue
            stored = bank_cell(d, c) if args.from_bank else None
            row.update(stored or default_cell(d, c, args.device, args.budget))
            opt = (fmt(row["optimizer"]) if row["optimizer"] is not None else "not needed (theorem)" if row.get("exact")
                   else f"not run (predicted {row['predicted_s']:,.0f} s)")
            default = fmt(row["default"]) if row["default"] is not None else "not run"
            print(f"| ({d}, {c:,}) | {row['code'] or 'none fits'} | {fmt(row.get('code_proven'))} | "
                  f"{fmt(row.get('code_s'), 2)} | {fmt(row.get('code_centroid'), 6)} | {opt} | {default} | {'bank' if row.get('from_bank') else fmt(row.get('default_s'), 1)} | "
                  f"{fmt(row['bound'])}{'' if 'Levenshtein' in row['bound_kind'] else ' (exact)'} |", flush=True)
            rows.append(row)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=lambda v: float(v) if isinstance(v, np.floating) else str(v))


if __name__ == "__main__":
    main()
