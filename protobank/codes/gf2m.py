"""Exact arithmetic in GF(2^m) and the Galois ring GR(4, m), as the code families need it.

Elements of GF(2^m) are ints whose bits are polynomial coefficients modulo a primitive
polynomial; alpha = x generates the multiplicative group. GR(4, m) = Z4[x] / (h) where h is the
Hensel lift of that polynomial (MacWilliams & Sloane ch. 4; Hammons, Kumar, Calderbank, Sloane &
Sole 1994, section IV), and xi = x is the Teichmueller generator of order 2^m - 1. Everything
is integer arithmetic, so every table is identical on every platform.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MAX_M = 12


def _check_m(m: int) -> None:
    if not 2 <= m <= MAX_M:
        raise ValueError(f"field degree m must be in 2..{MAX_M}, got {m}")


def _order_of_x(poly: int, m: int) -> int:
    """Multiplicative order of x modulo the binary polynomial ``poly`` of degree m (0: > 2^m - 1)."""
    state, top = 2, 1 << m
    for k in range(1, 1 << m):
        if state == 1:
            return k
        state <<= 1
        if state & top:
            state ^= poly
    return 0


@lru_cache(maxsize=None)
def primitive_polynomial(m: int) -> int:
    """The numerically smallest primitive polynomial of degree m over GF(2), as a bit mask.

    Found by search (x must have order exactly 2^m - 1), so no table of polynomials is trusted.
    """
    _check_m(m)
    n = (1 << m) - 1
    for poly in range((1 << m) | 1, 1 << (m + 1), 2):
        if _order_of_x(poly, m) == n:
            return poly
    raise AssertionError(f"no primitive polynomial of degree {m}")  # cannot happen


@lru_cache(maxsize=None)
def exp_table(m: int) -> np.ndarray:
    """alpha^t as an int in [1, 2^m) for t = 0 .. 2^m - 2 (read-only int64 array)."""
    poly, n, top = primitive_polynomial(m), (1 << m) - 1, 1 << m
    out = np.empty(n, dtype=np.int64)
    state = 1
    for t in range(n):
        out[t] = state
        state <<= 1
        if state & top:
            state ^= poly
    out.setflags(write=False)
    return out


def trace_of_powers(m: int, exponents: np.ndarray, degree: int | None = None) -> np.ndarray:
    """Tr(alpha^e) in {0, 1} for each exponent e, as uint8.

    ``degree`` (a divisor of m, default m) selects the trace of the subfield GF(2^degree):
    then every alpha^e must lie in that subfield, i.e. e must be a multiple of
    (2^m - 1) / (2^degree - 1). The result is checked to lie in GF(2).
    """
    degree = m if degree is None else degree
    n, exp = (1 << m) - 1, exp_table(m)
    e = np.asarray(exponents, dtype=np.int64) % n
    acc = np.zeros(e.shape, dtype=np.int64)
    for i in range(degree):
        acc ^= exp[(e << i) % n]
    if np.any(acc > 1):
        raise ValueError(f"some alpha^e is outside GF(2^{degree}): the trace is not in GF(2)")
    return acc.astype(np.uint8)


@lru_cache(maxsize=None)
def hensel_lift(m: int) -> np.ndarray:
    """Coefficients h_0 .. h_m (Z4, h_m = 1) of the basic primitive polynomial over Z4.

    Graeffe's method (HKCSS 1994, section IV.B): with f = e(x) + o(x) split into even and odd
    powers, h(x^2) = +-(e(x)^2 - o(x)^2) mod 4. Checked: h = f mod 2 and h divides x^(2^m-1) - 1.
    """
    poly = primitive_polynomial(m)
    f = np.array([(poly >> i) & 1 for i in range(m + 1)], dtype=np.int64)
    even = np.where(np.arange(m + 1) % 2 == 0, f, 0)
    odd = f - even
    sq = np.convolve(even, even) - np.convolve(odd, odd)
    h = (sq[::2] * (1 if m % 2 == 0 else -1)) % 4
    if h[m] != 1 or np.any(h % 2 != f):
        raise AssertionError("Hensel lift failed")  # cannot happen
    powers = ring_powers_of_xi(m, h)
    if np.any(_ring_mul_by_xi(powers[-1], h) != np.eye(m, dtype=np.int64)[0]):
        raise AssertionError("xi does not have order 2^m - 1")  # cannot happen
    h.setflags(write=False)
    return h


def _ring_mul_by_xi(v: np.ndarray, h: np.ndarray) -> np.ndarray:
    """v * xi in GR(4, m) = Z4[x]/(h), v a coefficient vector of length m."""
    m = len(h) - 1
    out = np.concatenate(([0], v[:-1]))
    return (out - v[m - 1] * h[:m]) % 4


def ring_powers_of_xi(m: int, h: np.ndarray | None = None) -> np.ndarray:
    """xi^t for t = 0 .. 2^m - 2 as Z4 coefficient vectors, shape (2^m - 1, m)."""
    h = hensel_lift(m) if h is None else h
    n = (1 << m) - 1
    out = np.zeros((n, m), dtype=np.int64)
    v = np.eye(m, dtype=np.int64)[0]
    for t in range(n):
        out[t] = v
        v = _ring_mul_by_xi(v, h)
    return out


@lru_cache(maxsize=None)
def ring_trace_sequence(m: int) -> np.ndarray:
    """T(xi^t) in Z4 for t = 0 .. 2^m - 2, where T is the trace of GR(4, m) over Z4.

    T(y) is the sum of the Frobenius conjugates y^(2^i) of a Teichmueller element y; the sum
    is checked to lie in Z4 (all coefficients but the constant vanish).
    """
    n = (1 << m) - 1
    powers = ring_powers_of_xi(m)
    t = np.arange(n, dtype=np.int64)
    acc = np.zeros((n, m), dtype=np.int64)
    for i in range(m):
        acc += powers[(t << i) % n]
    acc %= 4
    if np.any(acc[:, 1:] != 0):
        raise AssertionError("ring trace is not in Z4")  # cannot happen
    out = acc[:, 0].astype(np.uint8)
    out.setflags(write=False)
    return out
