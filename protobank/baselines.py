"""Baseline configurations for comparison reports: ETF, HPN, the paper's method, random."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError, MethodNotApplicableError, ResourceLimitError, did_you_mean
from .measure import GeometryReport, geometry

BASELINES = ("etf", "hpn", "gaussian", "random")
# Rough arithmetic throughput (flop/s) used to predict whether an iterative baseline fits the
# time budget; conservative for a 2-core CPU and for one data-centre GPU.
THROUGHPUT = {"cpu": 2e10, "cuda": 1e13}
DEFAULT_ITERS = 1000


@dataclass
class BaselineResult:
    """One baseline of a report: its geometry, or why it was not computed."""

    name: str
    vectors: np.ndarray | None = None
    report: GeometryReport | None = None
    iterations: int = 0
    seconds: float = 0.0
    skipped: str | None = None


def parse_baselines(text: str) -> list[str]:
    """``"etf,hpn"`` -> ``["etf", "hpn"]``; ``""`` or ``none`` -> ``[]``."""
    names = [n.strip() for n in text.split(",") if n.strip() and n.strip() != "none"]
    for n in names:
        if n not in BASELINES:
            raise InvalidInputError(f"unknown baseline {n!r}.{did_you_mean(n, BASELINES)} Choose from {', '.join(BASELINES)}")
    return names


def estimated_seconds(d: int, c: int, iters: int, device: str) -> float:
    """Predicted run time of a dense iterative baseline (gaussian or hpn)."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return iters * (6.0 * c * c * d + 30.0 * c * c) / THROUGHPUT[kind]


def run_baselines(
    d: int, c: int, names: list[str], *, seed: int = 0, device: str = "auto", time_budget: float = 120.0
) -> list[BaselineResult]:
    """Compute each named baseline with the same seed; iterative ones predicted to exceed
    ``time_budget`` seconds (or the memory) are skipped with the reason."""
    from .optimize import get_method
    from .optimize.base import resolve_device

    dev = str(resolve_device(device))
    out = []
    for name in names:
        method = get_method(name)
        if method.iterative:
            predicted = estimated_seconds(d, c, DEFAULT_ITERS, dev)
            if predicted > time_budget:
                out.append(BaselineResult(name, skipped=f"predicted {predicted:.0f} s > time budget {time_budget:.0f} s"))
                continue
        start = time.perf_counter()
        try:
            result = method.run(d, c, seed=seed, device=dev)
        except MethodNotApplicableError:
            out.append(BaselineResult(name, skipped=f"not possible: c > d + 1 ({c} > {d + 1})"))
            continue
        except ResourceLimitError as exc:
            out.append(BaselineResult(name, skipped=f"does not fit in memory ({exc})"))
            continue
        seconds = time.perf_counter() - start
        out.append(BaselineResult(name, result.vectors, geometry(result.vectors), result.iterations, seconds))
    return out
