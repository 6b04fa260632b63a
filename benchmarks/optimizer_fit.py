"""Refit the portfolio's model of the optimizer's max cosine on measured results.

Usage: python benchmarks/optimizer_fit.py

Takes the measured runs of protobank/optimize/measured.csv made by the engine the default
runs on their cell on a CPU (``default_engine_runs``), fits log m = a + b log(bound) + e log d
by least squares on the cells with c >= 4d and d >= 8 (where the bound is informative), and
prints the fit, each cell's relative error, and the two margins: the most the optimizer beat
the fit (``FIT_MARGIN``, which keeps a run that could win from being skipped) and the most it
fell short. The printed constants are the ones to copy into protobank/optimize/portfolio.py.
"""

from __future__ import annotations

import math

import numpy as np

from protobank.bounds import max_cosine_bound
from protobank.optimize.portfolio import default_engine_runs


def main() -> None:
    cells = [(r.d, r.c, r.max_cosine, max_cosine_bound(r.d, r.c).value)
             for r in default_engine_runs() if r.c >= 4 * r.d and r.d >= 8]
    x = np.array([[1.0, math.log(b), math.log(d)] for d, _, _, b in cells])
    y = np.log([m for _, _, m, _ in cells])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    fitted = np.exp(x @ coef)
    print(f"{len(cells)} cells; OPTIMIZER_FIT = ({coef[0]:.5f}, {coef[1]:.5f}, {coef[2]:.5f})")
    print("| (d, c) | measured | fitted | measured / fitted - 1 |")
    print("|---|---|---|---|")
    for (d, c, m, _), f in zip(cells, fitted):
        print(f"| ({d}, {c:,}) | {m:.5f} | {f:.5f} | {m / f - 1:+.1%} |")
    rel = np.array([m for _, _, m, _ in cells]) / fitted - 1
    print(f"optimizer below the fit by at most {-rel.min():.1%} (FIT_MARGIN), above it by at most {rel.max():.1%}")


if __name__ == "__main__":
    main()
