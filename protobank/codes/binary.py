"""Binary cyclic codes from trace sequences: Gold, extended Gold, Kasami, dual 3-error BCH.

A binary codeword c of length n becomes the unit vector ((-1)^c_t / sqrt(n))_t; two such
vectors have cosine 1 - 2w/n where w is the weight of their sum, itself a codeword, so the
code's max cosine is 1 - 2 w_min / n (MacWilliams & Sloane ch. 1 and 15). The codes are
sums of trace sequences Tr(b alpha^(d t)), t = 0 .. n-1, n = 2^m - 1, one term per exponent d.

Index order (the planner picks subsets by index): bit j of the index selects generator j, and
the generators come in the order of the terms below, each term's m (or m/2) basis elements in
turn. So the first 2^j indices form a linear subcode (for j >= 1 their vectors sum to zero
exactly when no coordinate vanishes on the whole subcode), every aligned block of 2^j indices
is a coset of it, and each family's prefixes are the smaller codes inside it:
- the first 2^m indices of gold, kasami_small, kasami_large and dual_bch3 are the simplex code
  (b = 0): a regular simplex, all cosines -1/n, centroid zero; every aligned block of 2^m
  indices is a translate of it, again a regular simplex;
- dual_bch3(m) begins with gold(m) (its first 2^(2m) indices), kasami_large(m) begins with
  kasami_small(m) (its first 2^(3m/2) indices);
- gold_ext puts the all-ones word at bit m, so each aligned block of 2^(m+1) = 2n indices is a
  cross-polytope (an orthonormal basis and its negatives, max cosine 0), and the first 2^m
  indices are an orthonormal basis.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np

from .catalogue import Code
from .gf2m import trace_of_powers
from .linear import BinaryEncoder

GOLD_SOURCE = (
    "Gold 1967/1968; dual of the double-error-correcting BCH code (MacWilliams & Sloane ch. 15), m odd"
)
GOLD_EXT_SOURCE = "extended Gold code plus complements"
KASAMI_SMALL_SOURCE = "Kasami 1966 (small set), m even"
KASAMI_LARGE_SOURCE = "Kasami 1969 (large set), m even"
DUAL_BCH3_SOURCE = "dual of the triple-error-correcting BCH code, m odd"


def trace_generators(m: int, d: int, *, subfield: int | None = None) -> np.ndarray:
    """Rows Tr(b_k alpha^(d t)), t < 2^m - 1, for a GF(2)-basis b_k of the field of b.

    By default b runs over GF(2^m) (basis alpha^k, k < m). With ``subfield = e``, b runs over
    GF(2^e), whose basis is beta^k (k < e) with beta = alpha^((2^m-1)/(2^e-1)), and the trace
    is that of GF(2^e); then alpha^d must lie in GF(2^e) too.
    """
    n = (1 << m) - 1
    t = np.arange(n, dtype=np.int64)
    dim, step = (m, 1) if subfield is None else (subfield, n // ((1 << subfield) - 1))
    return np.stack([trace_of_powers(m, step * k + d * t, subfield) for k in range(dim)])


def _cyclic_code(family: str, params: dict[str, int], exponents: list[tuple[int, int | None]],
                 max_cosine: Fraction, source: str, extend: bool = False) -> Code:
    """A Code whose generators are the trace rows of ``exponents`` ((d, subfield) pairs).

    ``extend`` appends a zero coordinate and inserts the all-ones word as generator m.
    """
    m = params["m"]
    n = (1 << m) - 1 + extend
    k = sum(m if sub is None else sub for _, sub in exponents) + extend

    @lru_cache(maxsize=1)
    def encoder() -> BinaryEncoder:
        gens = np.concatenate([trace_generators(m, d, subfield=sub) for d, sub in exponents])
        if extend:
            gens = np.pad(gens, [(0, 0), (0, 1)])
            gens = np.concatenate([gens[:m], np.ones((1, n), dtype=gens.dtype), gens[m:]])
        return BinaryEncoder(gens)

    def rows(index: np.ndarray) -> np.ndarray:
        out = np.empty((len(index), n))
        encoder().write(index, out)
        return out

    return Code(family, params, n, 1 << k, float(max_cosine), str(max_cosine), source, rows)


def gold(m: int) -> Code:
    """Gold code (dual of the double-error-correcting BCH code), m odd: terms d = 1, 3.

    n = 2^m - 1, N = 2^(2m); weights 2^(m-1) and 2^(m-1) +- 2^((m-1)/2), so the max cosine is
    (2^((m+1)/2) - 1)/n (MacWilliams & Sloane ch. 15). The code is 2^m translates of the
    simplex code, i.e. 2^m regular simplices.
    """
    n = (1 << m) - 1
    return _cyclic_code("gold", {"m": m}, [(1, None), (3, None)],
                        Fraction((1 << (m + 1) // 2) - 1, n), GOLD_SOURCE)


def gold_ext(m: int) -> Code:
    """Extended Gold code plus complements, m odd: n = 2^m, N = 2^(2m+1), max cosine 2^(-(m-1)/2).

    The Gold weights are even, so the extension appends a zero coordinate; the complements add
    the all-ones word. Weights 0, 2^(m-1), 2^(m-1) +- 2^((m-1)/2), 2^m.
    """
    return _cyclic_code("gold_ext", {"m": m}, [(1, None), (3, None)],
                        Fraction(1, 1 << (m - 1) // 2), GOLD_EXT_SOURCE, extend=True)


def kasami_small(m: int) -> Code:
    """Small Kasami code, m even: Tr(a alpha^t) + Tr_(m/2)(b alpha^((2^(m/2)+1) t)), b in GF(2^(m/2)).

    n = 2^m - 1, N = 2^(3m/2); weights 2^(m-1) and 2^(m-1) +- 2^(m/2-1) (Kasami 1966), max
    cosine (2^(m/2) - 1)/n = 1/(2^(m/2) + 1), which meets the Welch bound.
    """
    s = 1 << m // 2
    return _cyclic_code("kasami_small", {"m": m}, [(1, None), (s + 1, m // 2)],
                        Fraction(s - 1, (1 << m) - 1), KASAMI_SMALL_SOURCE)


def kasami_large(m: int) -> Code:
    """Large Kasami code, m even: the small Kasami terms plus Tr(c alpha^((2^(m/2+1)+1) t)).

    n = 2^m - 1, N = 2^(5m/2); weights 2^(m-1) + {0, +-2^(m/2-1), +-2^(m/2)} (Kasami 1969),
    max cosine (2^(m/2+1) - 1)/n. Its first 2^(3m/2) indices are kasami_small(m).
    """
    s = 1 << m // 2
    return _cyclic_code("kasami_large", {"m": m}, [(1, None), (s + 1, m // 2), (2 * s + 1, None)],
                        Fraction(2 * s - 1, (1 << m) - 1), KASAMI_LARGE_SOURCE)


def dual_bch3(m: int) -> Code:
    """Dual of the triple-error-correcting BCH code, m odd: terms d = 1, 3, 5.

    n = 2^m - 1, N = 2^(3m); weights 2^(m-1) + {0, +-2^((m-1)/2), +-2^((m+1)/2)}
    (MacWilliams & Sloane ch. 15), max cosine (2^((m+3)/2) - 1)/n. Begins with gold(m).
    """
    return _cyclic_code("dual_bch3", {"m": m}, [(1, None), (3, None), (5, None)],
                        Fraction((1 << (m + 3) // 2) - 1, (1 << m) - 1), DUAL_BCH3_SOURCE)


FAMILIES = {
    "gold": lambda: [gold(m) for m in (3, 5, 7, 9, 11)],
    "gold_ext": lambda: [gold_ext(m) for m in (3, 5, 7, 9, 11)],
    "kasami_small": lambda: [kasami_small(m) for m in (4, 6, 8, 10, 12)],
    "kasami_large": lambda: [kasami_large(m) for m in (6, 8, 10, 12)],
    "dual_bch3": lambda: [dual_bch3(m) for m in (5, 7, 9)],
}
