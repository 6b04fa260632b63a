"""Exact point sets: the regular simplex, cross-polytope subsets, polygons, 24-cell, E8 roots.

All return float64 (c, d) unit rows. They are the proven optima for their (d, c) (see
:mod:`protobank.bounds`). The 24-cell and E8 come from the code catalogue's lattices
(:mod:`protobank.codes.lattices`), their one home.
"""

from __future__ import annotations

import numpy as np

from .base import normalize_rows


def simplex(c: int, d: int) -> np.ndarray:
    """The regular simplex of c vertices in R^d (needs c <= d + 1): all cosines -1/(c-1).

    Built from the Helmert basis of the sum-zero subspace of R^c, so coordinates are exact up
    to rounding and the last d - (c - 1) columns are zero.
    """
    if c > d + 1:
        raise ValueError(f"a regular simplex of {c} vertices needs d >= {c - 1}, got d={d}")
    h = np.zeros((c - 1, c))
    for k in range(1, c):
        h[k - 1, :k] = 1.0
        h[k - 1, k] = -k
        h[k - 1] /= np.sqrt(k * (k + 1))
    out = np.zeros((c, d))
    out[:, : c - 1] = h.T * np.sqrt(c / (c - 1))
    return normalize_rows(out)


def cross_polytope_subset(c: int, d: int) -> np.ndarray:
    """c of the 2d vertices +-e_i (needs c <= 2d): every cosine is 0 or -1.

    Vertices come in antipodal pairs, so the centroid is 0 (c even) or of norm 1/c (c odd),
    the least possible, and the count of -1 cosines (the most uniform choice) is maximal.
    """
    if c > 2 * d:
        raise ValueError(f"the cross-polytope in R^{d} has only {2 * d} vertices, asked for {c}")
    out = np.zeros((c, d))
    for i in range(c):
        out[i, i // 2] = 1.0 if i % 2 == 0 else -1.0
    return out


def polygon(c: int) -> np.ndarray:
    """The regular c-gon on the unit circle: min angle 2 pi / c."""
    theta = 2 * np.pi * np.arange(c) / c
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def cell24() -> np.ndarray:
    """The 24 vertices of the 24-cell (the D4 roots): max cosine 1/2, optimal in R^4."""
    from ..codes.lattices import dn

    return dn(4).vectors()


def e8_roots() -> np.ndarray:
    """The 240 roots of E8: max cosine 1/2, the optimal kissing configuration in R^8."""
    from ..codes.lattices import e8

    return e8().vectors()


def random_rotation(d: int, k: int, seed: int) -> np.ndarray:
    """k orthonormal rows in R^d, uniformly random (Haar) for the seed."""
    g = np.random.default_rng(seed).standard_normal((d, k))
    q, r = np.linalg.qr(g)
    return (q * np.sign(np.diag(r))).T
