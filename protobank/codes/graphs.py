"""Codes from strongly regular graphs: a vertex becomes its projection on the eigenspace of the
smallest eigenvalue s, whose Gram matrix is 1 on the diagonal, s/k between adjacent vertices
and -(1 + s)/(N - k - 1) between the others (k the degree, N the vertex count).

* ``hs_100``: the Higman-Sims graph srg(100, 22, 0, 6) (Higman & Sims 1968), s = -8 of
  multiplicity 22: 100 vectors in R^22, cosines -4/11 and 1/11. Vertices: a point infinity,
  the 22 points and the 77 hexads of the Steiner system S(3, 6, 22) (Golay octads through
  coordinates 22 and 23, those two removed); infinity ~ points, point ~ hexads through it,
  hexad ~ disjoint hexads. Coordinates in closed form (times sqrt(22)): infinity -> 1,
  point i -> -(4 + sqrt 5)/11 1 + 2 sqrt(5) e_i, hexad B -> (1 + 3 sqrt 5)/11 1 - sqrt(5) 1_B.
* ``mcl_275``: the McLaughlin graph srg(275, 112, 30, 56), s = -28 of multiplicity 22: 275
  vectors in R^22, cosines -1/4 and 1/6. Built from the 276 equiangular lines of
  :func:`~protobank.codes.lattices.leech_552_lines`: fix line y0, orient every other line y so
  that y.y0 = +16, and take 5y - y0 (orthogonal to y0 and to the Leech vector w).
* ``eq``: the collinearity graph of the generalized quadrangle of the elliptic quadric
  Q^-(5, q), GQ(q, q^2) (Payne & Thas), srg((q+1)(q^3+1), q(q^2+1), q-1, q^2+1), s =
  -(q^2+1) of multiplicity q(q^2-q+1): cosines -1/q (collinear points) and 1/q^2. Points are
  the projective points of x0 x1 + x2 x3 + x4^2 + x4 x5 + d x5^2 = 0 over GF(q) (d the
  smallest element making the last form irreducible); two points are collinear when the
  polar form vanishes. Coordinates from the exact Gram matrix by a pivoted Cholesky
  factorisation written with elementwise operations only, so rows are the same everywhere.

Index order: none of these codes is antipodal, and each whole code has centroid 0 (the
eigenspace is orthogonal to the all-ones vector). So that prefixes are well spread too, index
i is the i-th vertex of a greedy order (:func:`spread_order`): each next vertex is the one
adjacent to the most vertices already taken (ties to the lowest vertex number), which makes
|sum of the prefix|^2 the least possible for one step, since adjacent pairs carry the negative
cosine. Vertices are numbered as built: hs_100 infinity, the points, then the hexads (Golay
order); mcl_275 in the order of the lines of leech_552; eq in the order of the points (first
non-zero coordinate 1, lexicographic in the field numbering, last coordinate fastest).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .catalogue import Code
from .finite_field import gf
from .lattices import LEECH_552_NORMAL, complement_coordinates, golay_code, leech_552_lines

HS_SOURCE = "Higman-Sims graph code in R^22 (Higman & Sims 1968)"
MCL_SOURCE = "McLaughlin graph code, tight 4-design in R^22"
EQ_SOURCE = "elliptic quadric Q-(5,q) generalized-quadrangle code (Payne & Thas)"
EQ_QS = (2, 3, 4, 5, 7, 8, 9)


def steiner_hexads() -> np.ndarray:
    """The 77 blocks of S(3, 6, 22) as (77, 22) 0/1 rows: Golay octads containing coordinates
    22 and 23, restricted to the first 22 coordinates."""
    words = golay_code()
    octads = words[(words.sum(axis=1) == 8) & (words[:, 22] == 1) & (words[:, 23] == 1)]
    return octads[:, :22]


def spread_order(adjacency: np.ndarray) -> np.ndarray:
    """Vertices in greedy order: each next one has the most neighbours among those taken
    (ties to the lowest number), integer counts only, so the order is the same everywhere."""
    v = len(adjacency)
    taken = np.zeros(v, dtype=bool)
    neighbours = np.zeros(v, dtype=np.int64)
    order = np.empty(v, dtype=np.int64)
    for step in range(v):
        score = np.where(taken, -1, neighbours)
        nxt = int(np.argmax(score))
        order[step] = nxt
        taken[nxt] = True
        neighbours += adjacency[nxt]
    return order


def _in_spread_order(vectors: np.ndarray) -> np.ndarray:
    """The rows reordered by :func:`spread_order` of their graph (adjacent = negative cosine)."""
    return vectors[spread_order(vectors @ vectors.T < 0)]


@lru_cache(maxsize=1)
def _hs_vectors() -> np.ndarray:
    r5 = math.sqrt(5)
    hexads = steiner_hexads().astype(np.float64)
    infinity = np.ones((1, 22))
    points = np.full((22, 22), -(4 + r5) / 11) + np.diag(np.full(22, 2 * r5))
    blocks = (1 + 3 * r5) / 11 - r5 * hexads
    return _in_spread_order(np.concatenate([infinity, points, blocks]) / math.sqrt(22))


@lru_cache(maxsize=1)
def _mcl_vectors() -> np.ndarray:
    lines = leech_552_lines()
    y0, rest = lines[0], lines[1:]
    rest = rest * np.sign(rest @ y0)[:, None]  # every product is +-16 (cosine +-1/5)
    z = complement_coordinates(5 * rest - y0, LEECH_552_NORMAL)
    normal = complement_coordinates(y0[None, :], LEECH_552_NORMAL)[0]
    return _in_spread_order(complement_coordinates(z, normal) / math.sqrt(1920))  # |.|^2 = 1920


def hs_100() -> Code:
    """The Higman-Sims graph code: 100 unit vectors in R^22, max cosine 1/11."""
    return Code("hs_100", {}, 22, 100, 1 / 11, "1/11", HS_SOURCE,
                lambda index: _hs_vectors()[index])


def mcl_275() -> Code:
    """The McLaughlin graph code: 275 unit vectors in R^22, max cosine 1/6."""
    return Code("mcl_275", {}, 22, 275, 1 / 6, "1/6", MCL_SOURCE,
                lambda index: _mcl_vectors()[index])


# --- elliptic quadrics -------------------------------------------------------------------

def elliptic_quadric_points(q: int) -> tuple[np.ndarray, np.ndarray]:
    """The (q+1)(q^3+1) points of Q^-(5, q) as (v, 6) field elements, and their collinearity
    (v, v) bool matrix (zero diagonal)."""
    field = gf(q)
    mul, add = field.mul, field.add
    x = np.arange(q)
    d = next(int(c) for c in range(q) if not (add[add[mul[x, x], x], c] == 0).any())
    coords = (np.arange(q**6)[:, None] // q ** np.arange(5, -1, -1)[None, :]) % q
    lead = np.argmax(coords != 0, axis=1)
    coords = coords[1:][coords[1:][np.arange(q**6 - 1), lead[1:]] == 1]  # first non-zero is 1
    x0, x1, x2, x3, x4, x5 = coords.T
    anisotropic = add[add[mul[x4, x4], mul[x4, x5]], mul[d, mul[x5, x5]]]
    form = add[add[mul[x0, x1], mul[x2, x3]], anisotropic]
    points = coords[form == 0]
    # polar form B(x, y) = x0 y1 + x1 y0 + x2 y3 + x3 y2 + 2 x4 y4 + x4 y5 + x5 y4 + 2d x5 y5,
    # i.e. sum_i x_i (M y)_i; over GF(p) coordinates it is an integer bilinear form mod p.
    two = int(add[1, 1])
    x0, x1, x2, x3, x4, x5 = points.T
    my = np.stack([x1, x0, x3, x2, add[mul[two, x4], x5], add[x4, mul[mul[two, d], x5]]], axis=1)
    left = _multiplication_matrices(q)[points]  # (v, 6, k, k): y -> x_i y over GF(p)
    right = _digits(my, q)  # (v, 6, k)
    v, k = len(points), field.k
    lmat = left.transpose(0, 2, 1, 3).reshape(v * k, 6 * k).astype(np.float64)
    rmat = right.reshape(v, 6 * k).T.astype(np.float64)
    collinear = np.empty((v, v), dtype=bool)
    for lo in range(0, v, 512):  # integer-valued float products below 2^53 are exact
        block = np.rint(lmat[lo * k : (lo + 512) * k] @ rmat).astype(np.int64) % field.p
        collinear[lo : lo + 512] = (block.reshape(-1, k, v) == 0).all(axis=1)
    np.fill_diagonal(collinear, False)
    return points, collinear


def _digits(a: np.ndarray, q: int) -> np.ndarray:
    """Base-p digits of field elements: the GF(p) coordinates, shape a.shape + (k,)."""
    field = gf(q)
    return (a[..., None] // field.p ** np.arange(field.k)) % field.p


def _multiplication_matrices(q: int) -> np.ndarray:
    """(q, k, k) matrices over GF(p) of y -> a y in the basis t^j (element p^j)."""
    field = gf(q)
    basis = field.p ** np.arange(field.k)
    return _digits(field.mul[:, basis], q).transpose(0, 2, 1)  # column j = a t^j


def gram_coordinates(gram_column: Callable[[int], np.ndarray], v: int, rank: int) -> np.ndarray:
    """Rows x_i in R^rank with x_i . x_j = G[i, j], for a positive semidefinite G of that rank
    with unit diagonal given column by column, by pivoted Cholesky (largest remaining diagonal
    first, ties to the lower index).

    Only elementwise operations and sums along one axis, no BLAS, so the result is bitwise the
    same on every machine; rows are renormalised to unit length at the end.
    """
    xt = np.zeros((rank, v))  # column-major factor: xt[j] is column j
    scratch = np.empty((rank, v))
    residual = np.ones(v)
    for j in range(rank):
        pivot = int(np.argmax(residual))
        np.multiply(xt[:j], xt[:j, pivot : pivot + 1], out=scratch[:j])
        column = gram_column(pivot) - scratch[:j].sum(axis=0)
        xt[j] = column / math.sqrt(residual[pivot])
        residual -= xt[j] * xt[j]
        residual[pivot] = 0.0
    x = np.ascontiguousarray(xt.T)
    return x / np.sqrt((x * x).sum(axis=1))[:, None]


@lru_cache(maxsize=None)
def _eq_vectors(q: int) -> np.ndarray:
    _, collinear = elliptic_quadric_points(q)
    values = np.array([1.0 / q**2, -1.0 / q])

    def column(i: int) -> np.ndarray:
        out = values[collinear[:, i].astype(np.intp)]
        out[i] = 1.0
        return out

    order = spread_order(collinear)
    return gram_coordinates(column, len(collinear), q * (q * q - q + 1))[order]


def eq(q: int) -> Code:
    """The elliptic quadric GQ code: (q+1)(q^3+1) unit vectors in R^(q(q^2-q+1)), max cosine
    1/q^2."""
    exact = Fraction(1, q * q)
    return Code("eq", {"q": q}, q * (q * q - q + 1), (q + 1) * (q**3 + 1), float(exact), str(exact),
                EQ_SOURCE, lambda index: _eq_vectors(q)[index])


FAMILIES = {
    "hs_100": lambda: [hs_100()],
    "mcl_275": lambda: [mcl_275()],
    "eq": lambda: [eq(q) for q in EQ_QS],
}
