"""Non-iterative baselines: the simplex ETF and random directions."""

from __future__ import annotations

from ..errors import MethodNotApplicableError
from .base import Method, MethodResult, normalize_rows, random_unit_rows, register
from .constructions import random_rotation, simplex


def run_etf(d: int, c: int, *, seed: int = 0, **_: object) -> MethodResult:
    """The simplex equiangular tight frame, randomly rotated by ``seed``: cosines -1/(c-1)."""
    if c > d + 1:
        raise MethodNotApplicableError(
            f"ETF prototypes need c <= d + 1 (got d={d}, c={c}); use the default method for c > d + 1"
        )
    rot = random_rotation(d, c - 1, seed)
    return MethodResult(normalize_rows(simplex(c, c - 1) @ rot), {"rotation_seed": seed})


def run_random(d: int, c: int, *, seed: int = 0, **_: object) -> MethodResult:
    """Independent Gaussian directions: the uninformed baseline."""
    return MethodResult(random_unit_rows((c, d), seed), {"distribution": "normalized-gaussian"})


register(Method("etf", "simplex equiangular tight frame, c <= d + 1 (Yang et al. 2022)", run_etf, iterative=False))
register(Method("random", "normalised Gaussian vectors", run_random, iterative=False))
