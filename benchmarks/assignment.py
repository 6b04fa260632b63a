"""Assignment step (eq. 9) time and peak memory against c: scipy vs protobank, exact.

Usage: python benchmarks/assignment.py --cs 100 1000 10000 50000 --d 512
       python benchmarks/assignment.py --cs 100000 --d 128 --kinds random --repeats 1
Each (c, kind) runs in a fresh process so its peak resident memory is its own. Kinds:
  random        class means unrelated to the prototypes (the first epoch);
  near          each class mean near its own prototype (late training);
  near-collide  as near, but 2% of the classes sit near another class's prototype, so the
                row maxima collide and the exact sparse matching and certificate run.
Columns: scipy = linear_sum_assignment on the dense float64 cosine matrix (only where it fits
in memory); solve = protobank.assignment.solve_assignment on the same matrix (float32);
assign = match_to_prototypes from means and prototypes, cosine products included (what the
trainer calls; never a dense c x c matrix above 2048 classes). Times are medians of --repeats
runs; "rescored" counts the score rows the certificate recomputed after the first pass
(c rows per round before it kept per-row bounds). Where scipy runs, the table gives |objective(solve) - objective(scipy)| on the same
matrix, and whether assign (whose cosines come from its own products) picked scipy's
permutation.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

SCIPY_MAX_C = 20_000  # a float64 c x c matrix of 3.2 GB


def make_case(c: int, d: int, kind: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    protos = torch.nn.functional.normalize(torch.randn(c, d, generator=g), dim=1)
    if kind == "random":
        return torch.nn.functional.normalize(torch.randn(c, d, generator=g), dim=1), protos
    planted = torch.randperm(c, generator=g)
    target = planted.clone()
    if kind == "near-collide":
        movers = torch.randperm(c, generator=g)[: max(1, c // 50)]
        target[movers] = planted[torch.randint(0, c, (len(movers),), generator=g)]
    noise = torch.nn.functional.normalize(torch.randn(c, d, generator=g), dim=1)
    return torch.nn.functional.normalize(protos[target] + 1.5 * noise, dim=1), protos


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run_case(c: int, d: int, kind: str, repeats: int) -> dict:
    from scipy.optimize import linear_sum_assignment

    from protobank.assignment import match_to_prototypes, solve_assignment

    means, protos = make_case(c, d, kind)
    row: dict = {"c": c, "d": d, "kind": kind}
    row["assign_s"], res = timed(lambda: match_to_prototypes(means, protos), repeats)
    row.update(route=res.route, rounds=res.rounds, rescored=res.rescored_rows, objective=res.objective)
    if c <= SCIPY_MAX_C:
        scores = means @ protos.T
        row["solve_s"], sol = timed(lambda: solve_assignment(scores), repeats)
        dense = scores.double().numpy()
        row["scipy_s"], (_, ref) = timed(lambda: linear_sum_assignment(dense, maximize=True), repeats)
        best = float(dense[np.arange(c), ref].sum())
        row["objective_gap"] = abs(sol.objective - best)  # same costs: rounding of the sum only
        row["assign_same_perm"] = bool(np.array_equal(res.perm, ref))
        del dense, scores
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cs", type=int, nargs="+", default=[100, 1000, 10000, 50000])
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--kinds", nargs="+", default=["random", "near", "near-collide"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--case", nargs=2, metavar=("C", "KIND"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(int(args.case[0]), args.d, args.case[1], args.repeats)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, d = {args.d}, median of {args.repeats}")
    print("| c | kind | scipy dense (s) | protobank solve (s) | protobank assign incl. cosines (s) | route (rounds, rows rescored) | solve - scipy objective | assign perm = scipy's | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in args.cs:
        for kind in args.kinds:
            out = subprocess.run(
                [sys.executable, __file__, "--d", str(args.d), "--repeats", str(args.repeats), "--case", str(c), kind],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            r = json.loads(out.stdout.strip().splitlines()[-1])
            fmt = lambda k: f"{r[k]:.4f}" if k in r else "-"  # noqa: E731
            gap = f"{r['objective_gap']:.1e}" if "objective_gap" in r else "certified"
            same = {True: "yes", False: "no"}.get(r.get("assign_same_perm"), "-")
            print(f"| {c:,} | {kind} | {fmt('scipy_s')} | {fmt('solve_s')} | {fmt('assign_s')} | {r['route']} ({r['rounds']}, {r['rescored']:,}) | {gap} | {same} | {r['peak_rss_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
