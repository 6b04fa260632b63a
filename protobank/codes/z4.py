"""Z4-linear codes (Hammons, Kumar, Calderbank, Sloane & Sole 1994): Kerdock and Delsarte-Goethals.

For m odd, the quaternary Kerdock code K(m) has the codewords (e + T(lam x))_x, x running over
the Teichmueller set {0, 1, xi, ..., xi^(2^m-2)} of the Galois ring GR(4, m), lam in GR(4, m),
e in Z4; the Delsarte-Goethals code DG(m, r) adds 2 sum_j Tr(b_j xbar^(1+2^j)), j = 1..r,
b_j in GF(2^m). The Gray map turns these into binary codes of length n = 2^(m+1) whose Lee
distances are Hamming distances, so the max cosine of the +-1/sqrt(n) vectors is 1 - 2 d/n:
2^(-(m+1)/2) for Kerdock, 2^(r-(m+1)/2) for DG(m, r).

``real_mub`` is the Kerdock code plus the 2n axis vectors +-e_i: n/2 + 1 mutually unbiased
orthonormal bases of R^n (Calderbank, Cameron, Kantor & Seidel 1997), all cosines in
{0, +-1/sqrt(n), -1}.

Index order: bit 0 adds 2 (the antipode), bit 1 adds 1 (the all-ones word), bits 2..m+1 add
2 T(xi^k x) and bits m+2..2m+1 add T(xi^k x) (k < m); DG's bits 2m+2.. add 2 Tr(alpha^k
xbar^(1+2^j)), j = 1..r in turn. So the first 2^j indices form a subgroup whose vectors sum to
zero (j >= 1: bit 0 pairs each vector with its antipode); the first 2n indices are the first
order Reed-Muller code RM(1, m+1), a cross-polytope (orthonormal basis and negatives); every
aligned block of 2n Kerdock indices is another such basis, unbiased to the others (cosine
+-1/sqrt(n)). real_mub's last 2n indices are the axes, index n^2 + 2i + s -> (-1)^s e_i.
dg(m, r) begins with the n^2 Kerdock words (without axes), and dg(m, r) with dg(m, r-1).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np

from .catalogue import Code
from .gf2m import ring_trace_sequence, trace_of_powers
from .linear import Z4Encoder

KERDOCK_SOURCE = (
    "Z4 Kerdock code (Hammons et al. 1994) Gray image plus the 2d axis vectors +-e_i "
    "(real mutually unbiased bases; Calderbank, Cameron, Kantor, Seidel 1997)"
)
DG_SOURCE = "Delsarte-Goethals codes, Z4 form (Hammons et al. 1994)"


def z4_generators(m: int, r: int) -> np.ndarray:
    """One Z4 row per index bit, in the index order of the module docstring, length 2^m."""
    n = (1 << m) - 1
    t = np.arange(n, dtype=np.int64)
    trace = ring_trace_sequence(m).astype(np.int64)
    ones = np.ones(n + 1, dtype=np.int64)
    lin = [np.concatenate(([0], trace[(k + t) % n])) for k in range(m)]
    quad = [np.concatenate(([0], trace_of_powers(m, k + ((1 << j) + 1) * t).astype(np.int64)))
            for j in range(1, r + 1) for k in range(m)]
    rows = [2 * ones, ones, *(2 * g for g in lin), *lin, *(2 * q for q in quad)]
    return np.stack(rows) % 4


@lru_cache(maxsize=None)
def _encoder(m: int, r: int) -> Z4Encoder:
    return Z4Encoder(z4_generators(m, r))


def real_mub(m: int) -> Code:
    """Kerdock code K(m) plus the axes, m odd: n = 2^(m+1), N = n^2 + 2n, max cosine 1/sqrt(n)."""
    n = 1 << (m + 1)
    words = n * n

    def rows(index: np.ndarray) -> np.ndarray:
        is_word = index < words
        if is_word.all():
            out = np.empty((len(index), n))
            _encoder(m, 0).write(index, out)
            return out
        out = np.zeros((len(index), n))
        at = np.flatnonzero(is_word)
        if is_word[:at.size].all():  # words first (e.g. arange): write them in place
            _encoder(m, 0).write(index[at], out[:at.size])
        else:
            block = np.empty((at.size, n))
            _encoder(m, 0).write(index[at], block)
            out[at] = block
        at = np.flatnonzero(~is_word)
        axis = index[at] - words
        out[at, axis >> 1] = np.where(axis & 1, -1.0, 1.0)
        return out

    exact = Fraction(1, 1 << (m + 1) // 2)
    return Code("real_mub", {"m": m}, n, words + 2 * n, float(exact), str(exact), KERDOCK_SOURCE, rows)


def dg(m: int, r: int) -> Code:
    """Delsarte-Goethals code DG(m, r), m odd, 1 <= r <= (m-1)/2: n = 2^(m+1), N = n^2 2^(rm).

    Minimum Lee distance 2^m - 2^((m-1)/2 + r) (HKCSS 1994), so max cosine 2^(r - (m+1)/2).
    """
    n = 1 << (m + 1)

    def rows(index: np.ndarray) -> np.ndarray:
        out = np.empty((len(index), n))
        _encoder(m, r).write(index, out)
        return out

    exact = Fraction(1 << r, 1 << (m + 1) // 2)
    return Code("dg", {"m": m, "r": r}, n, n * n << (r * m), float(exact), str(exact), DG_SOURCE, rows)


FAMILIES = {
    "real_mub": lambda: [real_mub(m) for m in (3, 5, 7, 9, 11)],
    "dg": lambda: [dg(m, r) for m, r in ((3, 1), (5, 1), (5, 2), (7, 1), (9, 1), (11, 1))],
}
