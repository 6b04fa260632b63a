"""Minimal vectors of lattices, and two slices of the Leech lattice (Conway & Sloane, SPLAG).

All vectors are integer vectors of one norm, divided by its square root, so every cosine is a
ratio of integers and rows are bitwise the same everywhere.

* ``dn`` (D_n roots, n = 10, 12, 14): +-e_i +- e_j, 2n(n-1) vectors, max cosine 1/2.
* ``e8`` (E8 roots, SPLAG ch. 4 sec. 8.1): the 112 D8 roots and the 128 vectors (+-1/2)^8 with
  an even number of minus signs; max cosine 1/2 (the optimal kissing configuration).
* ``bw16`` (Barnes-Wall BW16, SPLAG ch. 4 sec. 10): 480 vectors (+-2)^2 0^14 and 3840 vectors
  (+-1)^8 0^8 on the 30 weight-8 words of the Reed-Muller code RM(1, 4) with an even number of
  minus signs; 4320 vectors, max cosine 1/2.
* ``leech`` (SPLAG ch. 4 sec. 11), scaled by sqrt(8): 97,152 vectors (+-2)^8 0^16 on the 759
  octads of the extended Golay code, even number of minus signs; 98,304 vectors (-3, 1^23)
  with the signs flipped on a Golay codeword, the -3 anywhere; 1,104 vectors (+-4)^2 0^22.
  196,560 vectors of norm 32, max cosine 1/2.
* ``leech_4600``: the Leech minimal vectors x with x.v = 16 for v = (4, 4, 0^22), moved to
  v's orthogonal complement (x - v/2, norm 24): a tight spherical 7-design in R^23 (Cohn &
  Kumar 2007, Table 1), max cosine 1/3.
* ``leech_552``: the Leech minimal vectors x with x.w = 24 for the type-3 vector
  w = (5, 1^23) come in 276 pairs {x, w - x}; 2x - w lies in w's orthogonal complement and
  gives 276 equiangular lines in R^23 with angle arccos 1/5 (Lemmens & Seidel 1973); 552
  vectors, max cosine 1/5.

Index order: every family lists a half-set H (one vector of each antipodal pair) and row i is
(-1)^(i mod 2) H[i // 2], so any even-length aligned prefix has centroid exactly zero and the
least possible mean cosine for its size among antipodal sets. Row order of H: D_n and E8 by
shape then lexicographically; Leech by shape ((+-2)^8, (-3, 1^23), (+-4)^2), octads and
codewords in Golay-code order; the slices in Leech order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .catalogue import Code

E8_SOURCE = "E8 root system (Conway & Sloane ch. 4)"
DN_SOURCE = "D_n root system"
BW16_SOURCE = "Barnes-Wall lattice BW16 minimal vectors"
LEECH_SOURCE = "Leech lattice minimal vectors"
LEECH_4600_SOURCE = "Leech lattice slice, tight spherical 7-design (Cohn & Kumar 2007, Table 1)"
LEECH_552_SOURCE = "276 equiangular lines in R^23 (Lemmens & Seidel 1973)"

GOLAY_GENERATOR = (1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 1)  # 1 + x^2 + x^4 + x^5 + x^6 + x^10 + x^11


def complement_coordinates(y: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Rows y, all orthogonal to ``normal``, in coordinates of its orthogonal complement.

    The Householder reflection that takes ``normal`` to -+|normal| e_1 is an isometry that
    leaves y's first coordinate 0; the other coordinates are y_j - s y_1 a_j / (|a| + |a_1|)
    (a = normal, s its first entry's sign), elementwise IEEE operations only, so the result is
    bitwise the same everywhere.
    """
    a = np.asarray(normal, dtype=np.float64)
    norm = math.sqrt(math.fsum(a * a))
    sign = 1.0 if a[0] >= 0 else -1.0
    coef = a[1:] * (sign / (norm + abs(a[0])))
    y = np.asarray(y, dtype=np.float64)
    return y[:, 1:] - y[:, :1] * coef


def _antipodal_rows(half: np.ndarray, index: np.ndarray, norm2: int) -> np.ndarray:
    """Row i = (-1)^(i mod 2) half[i // 2] / sqrt(norm2)."""
    sign = 1.0 - 2.0 * (index % 2)
    return half[index // 2] * sign[:, None] / math.sqrt(norm2)


def _code(family: str, params: dict[str, int], n: int, size: int, half: Callable[[], np.ndarray],
          norm2: int, exact: Fraction, source: str) -> Code:
    """A Code whose rows come from the cached half-set ``half()``, built on first use only."""
    return Code(family, params, n, size, float(exact), str(exact), source,
                lambda index: _antipodal_rows(half(), index, norm2))


# --- root systems -------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _dn_half(n: int) -> np.ndarray:
    """e_i + e_j and e_i - e_j for i < j: one root of each antipodal pair of D_n (norm 2)."""
    rows = []
    for i, j in itertools.combinations(range(n), 2):
        for s in (1, -1):
            v = np.zeros(n)
            v[i], v[j] = 1, s
            rows.append(v)
    return np.array(rows)


def dn(n: int) -> Code:
    """The 2n(n-1) roots +-e_i +- e_j of D_n: max cosine 1/2."""
    return _code("dn", {"n": n}, n, 2 * n * (n - 1), lambda: _dn_half(n), 2, Fraction(1, 2),
                 DN_SOURCE)


def _even_signs(k: int) -> np.ndarray:
    """The 2^(k-2) sign vectors of length k with first sign + and an even number of minus."""
    return np.array([s for s in itertools.product((1, -1), repeat=k)
                     if s[0] == 1 and s.count(-1) % 2 == 0], dtype=np.int64)


@lru_cache(maxsize=1)
def _e8_half() -> np.ndarray:
    return np.concatenate([2 * _dn_half(8), _even_signs(8)])


def e8() -> Code:
    """The 240 roots of E8 (doubled: D8 roots (+-2)^2 0^6 and (+-1)^8 with an even number of
    minus signs, norm 8): max cosine 1/2."""
    return _code("e8", {}, 8, 240, _e8_half, 8, Fraction(1, 2), E8_SOURCE)


# --- Reed-Muller, Golay and the lattices built on them --------------------------------------

def reed_muller_1_4() -> np.ndarray:
    """The 32 words of RM(1, 4) as (32, 16) 0/1 rows: affine functions on GF(2)^4, word
    index = 2 (linear part) + constant."""
    points = (np.arange(16)[:, None] >> np.arange(4)) & 1  # (16, 4)
    lin = (np.arange(16)[:, None] >> np.arange(4)) & 1  # (16, 4) linear forms
    words = (lin @ points.T) % 2  # (16, 16)
    return np.stack([words, 1 - words], axis=1).reshape(32, 16).astype(np.int8)


@lru_cache(maxsize=1)
def _bw16_half() -> np.ndarray:
    words = reed_muller_1_4()
    parts = [2 * _dn_half(16)]
    for word in words[words.sum(axis=1) == 8]:
        v = np.zeros((64, 16))
        v[:, np.flatnonzero(word)] = _even_signs(8)
        parts.append(v)
    return np.concatenate(parts)


def bw16() -> Code:
    """The 4320 minimal vectors of the Barnes-Wall lattice BW16 (norm 8): max cosine 1/2."""
    return _code("bw16", {}, 16, 4320, _bw16_half, 8, Fraction(1, 2), BW16_SOURCE)


@lru_cache(maxsize=1)
def golay_code() -> np.ndarray:
    """The 4096 words of the extended binary Golay code [24, 12, 8] as (4096, 24) int8 rows.

    The cyclic [23, 12, 7] code generated by ``GOLAY_GENERATOR`` plus a parity bit; word k is
    the sum of the shifts x^j g(x) for the bits j of k (MacWilliams & Sloane ch. 2 and 20).
    """
    gens = np.zeros((12, 24), dtype=np.int64)
    for j in range(12):
        gens[j, j : j + 12] = GOLAY_GENERATOR
    gens[:, 23] = gens[:, :23].sum(axis=1) % 2
    bits = (np.arange(4096)[:, None] >> np.arange(12)) & 1
    return ((bits @ gens) % 2).astype(np.int8)


@lru_cache(maxsize=1)
def _leech_half() -> np.ndarray:
    """One of each antipodal pair of Leech minimal vectors, scaled by sqrt(8): (98280, 24) int8."""
    words = golay_code()
    octads = words[words.sum(axis=1) == 8]  # 759, in code order
    parts = []
    # (+-2)^8 on an octad, first sign +, even number of minus signs: 759 x 64
    signs = _even_signs(8).astype(np.int8)
    for octad in octads:
        v = np.zeros((len(signs), 24), dtype=np.int8)
        v[:, np.flatnonzero(octad)] = 2 * signs
        parts.append(v)
    # (-3, 1^23) with signs flipped on a codeword C, C not containing the -3: 24 x 2048
    for i in range(24):
        flip = words[words[:, i] == 0]
        base = np.ones(24, dtype=np.int8)
        base[i] = -3
        parts.append(base * (1 - 2 * flip))
    # (4, +-4, 0^22): 276 x 2
    for i, j in itertools.combinations(range(24), 2):
        for s in (4, -4):
            v = np.zeros((1, 24), dtype=np.int8)
            v[0, i], v[0, j] = 4, s
            parts.append(v)
    return np.concatenate(parts)


def leech() -> Code:
    """The 196,560 minimal vectors of the Leech lattice (norm 32 at this scale): max cosine 1/2."""
    return _code("leech", {}, 24, 196560, _leech_half, 32, Fraction(1, 2), LEECH_SOURCE)


def _leech_slice(target: np.ndarray, product: int) -> np.ndarray:
    """2x - target for the Leech minimal vectors x with x.target = product, one of each pair
    {x, target - x} (the first in Leech order), as int64 rows orthogonal to target."""
    half = _leech_half().astype(np.int64)
    full = np.empty((2 * len(half), 24), dtype=np.int64)  # in the code's row order
    full[0::2], full[1::2] = half, -half
    chosen = full[full @ target == product]
    y = 2 * chosen - target
    seen: set[bytes] = set()
    keep = []
    for k, row in enumerate(y):
        if (-row).tobytes() not in seen:
            seen.add(row.tobytes())
            keep.append(k)
    return y[keep]


@lru_cache(maxsize=1)
def leech_4600_half() -> np.ndarray:
    """The 2300 half-set rows of ``leech_4600`` in R^23, unscaled (norm 96)."""
    v = np.zeros(24, dtype=np.int64)
    v[:2] = 4
    return complement_coordinates(_leech_slice(v, 16), v)


LEECH_552_NORMAL = np.array([5] + [1] * 23)  # a type-3 Leech vector (norm 48 at this scale)


@lru_cache(maxsize=1)
def leech_552_lines() -> np.ndarray:
    """The 276 lines of ``leech_552`` as integer vectors 2x - w in R^24 (norm 80), w =
    ``LEECH_552_NORMAL``."""
    return _leech_slice(LEECH_552_NORMAL, 24)


@lru_cache(maxsize=1)
def _leech_552_half() -> np.ndarray:
    return complement_coordinates(leech_552_lines(), LEECH_552_NORMAL)


def leech_4600() -> Code:
    """4600 vectors of a tight spherical 7-design in R^23 from the Leech lattice: max cosine 1/3."""
    return _code("leech_4600", {}, 23, 4600, leech_4600_half, 96, Fraction(1, 3),
                 LEECH_4600_SOURCE)


def leech_552() -> Code:
    """276 equiangular lines in R^23 (552 unit vectors), all cosines +-1/5 or -1: max cosine 1/5."""
    return _code("leech_552", {}, 23, 552, _leech_552_half, 80, Fraction(1, 5), LEECH_552_SOURCE)


FAMILIES = {
    "e8": lambda: [e8()],
    "dn": lambda: [dn(n) for n in (10, 12, 14)],
    "bw16": lambda: [bw16()],
    "leech": lambda: [leech()],
    "leech_4600": lambda: [leech_4600()],
    "leech_552": lambda: [leech_552()],
}
