"""The best achievable largest pairwise cosine of c unit vectors in R^d: exact where known,
a proved lower bound elsewhere.

Regimes (smaller is better; every configuration's max cosine is >= the value returned):

* ``d == 1``: two points, cosine -1.
* ``c <= d + 1``: the regular simplex, ``-1/(c-1)``, exact (Rankin 1955).
* ``d + 2 <= c <= 2d``: ``0``, exact (Rankin 1955); reached by c vertices of the cross-polytope.
* ``d == 2``: the regular polygon, ``cos(2 pi / c)``, exact.
* ``(d, c)`` in :data:`PROVED_OPTIMA`: the code of exactly c points in R^d that attains the
  optimum (the 24-cell, E8 roots, Leech minimal vectors); its value is read from the code table
  (:func:`protobank.codes.plan.code_table`).
* otherwise: the Levenshtein bound (see :func:`levenshtein_bound`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

# (d, c) whose optimum is proved, with the proof; the optimal code itself is the one of exactly
# c points in R^d in the code table (D_4 = the 24-cell, E8 roots, Leech minimal vectors).
PROVED_OPTIMA = {
    (4, 24): "Musin 2008, the kissing number in 4-D",
    (8, 240): "Levenshtein 1979; Odlyzko & Sloane 1979",
    (24, 196560): "Levenshtein 1979; Odlyzko & Sloane 1979",
}


@dataclass(frozen=True)
class Bound:
    """A lower bound on the max pairwise cosine, and whether it is the exact optimum."""

    value: float
    kind: str
    exact: bool

    def to_dict(self) -> dict:
        return {"value": self.value, "kind": self.kind, "exact": self.exact}


def max_cosine_bound(d: int, c: int) -> Bound:
    """The best possible largest pairwise cosine of ``c`` unit vectors in ``R^d``.

    Returns the exact optimum where it is known and otherwise the Levenshtein lower bound.

    >>> max_cosine_bound(50, 100)
    Bound(value=0.0, kind='cross-polytope (Rankin)', exact=True)
    """
    if d < 1 or c < 2:
        raise ValueError(f"need d >= 1 and c >= 2, got d={d}, c={c}")
    if d == 1:
        if c > 2:
            return Bound(1.0, "coincident points (d=1, c>2)", True)
        return Bound(-1.0, "regular simplex", True)
    if c <= d + 1:
        return Bound(-1.0 / (c - 1), "regular simplex", True)
    if c <= 2 * d:
        return Bound(0.0, "cross-polytope (Rankin)", True)
    if d == 2:
        return Bound(math.cos(2 * math.pi / c), "regular polygon", True)
    if (d, c) in PROVED_OPTIMA:
        from .codes.plan import code_table

        code = next(k for k in code_table() if (k.n, k.size) == (d, c))
        return Bound(float(code.max_cosine), f"{code.name} (optimal: {PROVED_OPTIMA[(d, c)]})", True)
    with np.errstate(all="ignore"):
        value = levenshtein_max_cosine(d, c)
    if not math.isfinite(value) or value < 0:
        # Numerically out of reach (very large d): Rankin's max cosine > 0 for c > 2d still holds.
        return Bound(0.0, "Rankin (c > 2d)", False)
    return Bound(value, "Levenshtein bound", False)


# ----------------------------------------------------------------------------------------------
# Levenshtein's bound, evaluated as a Delsarte linear-programming bound.
#
# For a code on S^(n-1) with inner products <= s, any polynomial f with f(t) <= 0 on [-1, s],
# non-negative Gegenbauer coefficients and f_0 > 0 gives |C| <= f(1) / f_0 (Delsarte, Goethals,
# Seidel 1977).  Levenshtein (1979, 1992) found the optimal polynomials of each degree m:
#   m = 2k - 1, s in [t_{k-1}^{1,1}, t_k^{1,0}]:  f(t) = (t - s) * K_{k-1}^{1,0}(t, s)^2
#   m = 2k,     s in [t_k^{1,0},     t_k^{1,1}]:  f(t) = (t - s) * (t + 1) * K_{k-1}^{1,1}(t, s)^2
# where K^{a,b} is the Christoffel-Darboux kernel of the Jacobi polynomials orthogonal for the
# weight (1-t)^(alpha+a) (1+t)^(alpha+b), alpha = (n-3)/2, and t_k^{a,b} is the largest zero of
# the degree-k one (t_0^{1,1} = -1).  L_1 = (s-1)/s and L_2 = 2n(1-s)/(1-ns) are the simplex and
# cross-polytope bounds; L(8, 1/2) = 240 and L(24, 1/2) = 196560 are attained.
# Reference: V. I. Levenshtein, "Universal bounds for codes and designs", Handbook of Coding
# Theory (1998), ch. 6, section 6.1; Conway & Sloane, SPLAG, ch. 9.
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _largest_zero(k: int, a: float, b: float) -> float:
    if k == 0:
        return -1.0
    return float(special.roots_jacobi(k, a, b)[0].max())


@lru_cache(maxsize=1024)
def _jacobi_norms(degree: int, a: float, b: float) -> np.ndarray:
    """h_j = integral of P_j^(a,b)^2 against the Jacobi weight, j = 0..degree (by quadrature)."""
    nodes, weights = special.roots_jacobi(degree + 1, a, b)
    j = np.arange(degree + 1)[:, None]
    return (special.eval_jacobi(j, a, b, nodes[None, :]) ** 2 * weights).sum(axis=1)


def _kernel(t: np.ndarray, s: float, degree: int, a: float, b: float) -> np.ndarray:
    """Christoffel-Darboux kernel sum_{j<=degree} p_j(t) p_j(s) / h_j for Jacobi(a, b)."""
    j = np.arange(degree + 1)[:, None]
    coef = special.eval_jacobi(j[:, 0], a, b, s) / _jacobi_norms(degree, a, b)
    return (coef[:, None] * special.eval_jacobi(j, a, b, np.asarray(t)[None, :])).sum(axis=0)


@lru_cache(maxsize=1024)
def _quadrature(points: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    return special.roots_jacobi(points, alpha, alpha)


def levenshtein_bound(n: int, s: float) -> float:
    """Levenshtein's upper bound on the size of a code on S^(n-1) with all cosines <= s."""
    if not -1.0 < s < 1.0:
        raise ValueError("s must lie in (-1, 1)")
    alpha = (n - 3) / 2.0
    k = 1
    while True:
        if s <= _largest_zero(k, alpha + 1, alpha):
            odd, kernel_b = True, alpha
            break
        if s <= _largest_zero(k, alpha + 1, alpha + 1):
            odd, kernel_b = False, alpha + 1
            break
        k += 1

    def f(t: np.ndarray) -> np.ndarray:
        kern = _kernel(t, s, k - 1, alpha + 1, kernel_b) if k > 1 else np.ones_like(t)
        poly = (t - s) * kern**2
        return poly if odd else poly * (t + 1)

    degree = 2 * k - 1 if odd else 2 * k
    nodes, weights = _quadrature(degree // 2 + 2, alpha)
    f0 = float(np.sum(weights * f(nodes)) / np.sum(weights))
    return float(f(np.array([1.0]))[0] / f0)


@lru_cache(maxsize=4096)
def levenshtein_max_cosine(d: int, c: int) -> float:
    """The smallest s with ``levenshtein_bound(d, s) >= c``: no c points do better than s."""
    lo, hi = -1.0 / (c - 1), 1.0 - 1e-12
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        if levenshtein_bound(d, mid) >= c:
            hi = mid
        else:
            lo = mid
    return lo
