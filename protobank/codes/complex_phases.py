"""Complex codes from polynomial phases over GF(q), realified: mutually unbiased bases and
Alltop's cubic phases.

For an odd prime power q = p^k, omega = exp(2 pi i / p) and a polynomial f over GF(q), the
vector u_f(x) = omega^Tr(f(x)) / sqrt(q), x in GF(q), is a unit vector of C^q. Then
<u_f, u_g> = S(g - f) / q with S(h) = sum_x omega^Tr(h(x)), and:

* h linear and non-zero: S = 0 (characters are orthogonal);
* h of degree 2: |S| = sqrt(q) (a quadratic Gauss sum);
* h of degree 3, p != 3: |S| <= 2 sqrt(q) (Weil's bound).

``mub`` (Wootters & Fields 1989): the standard basis and the q bases {u_f : f = a x^2 + b x},
one per a, are q + 1 mutually unbiased bases: every cosine is 0 or of modulus 1/sqrt(q).
``cubic`` (Alltop 1980): the standard basis and all f = c x^3 + a x^2 + b x, q^3 + q vectors;
the MUB is the part with c = 0.

A complex vector u becomes (Re u, Im u) in R^2q, which keeps Re <u, v>; taking each of u, -u,
iu, -iu gives 4 real points per complex vector, and the largest real cosine is the largest of
|Re S|, |Im S| over the sums above, divided by q: exactly 1/sqrt(q) for the MUB, the largest
such value over the cubic Weil sums for ``cubic`` (computed exactly in :func:`cubic_max_cosine`).

Index order (the same for both families, so ``mub(q)`` is the first 4q(q+1) rows of
``cubic(q)``). Row i = 4 v + s, with s the phase (0: u, 1: -u, 2: iu, 3: -iu) and v the
complex vector: v < q is the standard basis vector e_v; v = q + (c q + a) q + b is u_f with
f = c x^3 + a x^2 + b x (c = 0 for the MUB; field elements numbered as in
:mod:`protobank.codes.finite_field`). So every 4 consecutive rows from a multiple of 4 are an
antipodal quadruple (centroid 0, cosines 0 and -1); every 4q consecutive rows from a multiple
of 4q are one whole basis, the cross-polytope of R^2q; within a basis all cosines are 0 or -1.
Prefixes of whole bases are therefore the best-spread subsets: centroid exactly 0 and mean
cosine the least possible, -1/(c-1).

Entries are cos and sin of 2 pi m / (4p), divided by sqrt(q), each computed once in
40-digit decimal arithmetic and rounded to float64, so rows are bitwise the same everywhere
and any rows are built without building the others.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from functools import lru_cache

import numpy as np

from .catalogue import Code
from .finite_field import gf, prime_power

MUB_SOURCE = (
    "complex mutually unbiased bases (Wootters & Fields 1989), q a prime power, "
    "mapped C^q -> R^2q with the four phases"
)
CUBIC_SOURCE = (
    "complex cubic-phase sequences (Alltop 1980), Weil bound, mapped C^q -> R^2q"
)
MUB_QS = (5, 7, 9, 11, 13, 17, 19, 23, 25, 27, 29, 31, 37, 41, 47, 49, 53, 59, 61, 67, 71, 73,
          79, 83, 89, 97, 101, 103, 107, 109, 113, 121, 125, 127, 131, 169, 181, 197, 199, 211,
          251, 257, 269, 289, 337, 361, 401, 509, 529)
CUBIC_QS = (5, 7, 11, 13, 17, 19, 23, 25, 29, 31, 37, 41, 43, 47, 49, 53, 59, 61, 67, 71, 73, 79,
            83, 89, 97, 101, 103, 107, 109, 113, 121, 125, 127)

_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494")
_BLOCK_ROWS = 4096  # rows built per step: bounds the int16 exponent scratch to ~4 MB at q = 529


def code_size(q: int, degree: int) -> int:
    """The number of real points: 4 (q + q^(degree - 1) q) for the standard basis and the
    polynomials of degree <= degree without constant term."""
    return 4 * (q + q ** (degree - 1) * q)


def polynomial_phase_rows(q: int, degree: int, index: np.ndarray) -> np.ndarray:
    """Rows ``index`` of the realified code of degree 2 (``mub``) or 3 (``cubic``) over GF(q).

    Parameters
    ----------
    q : int
        An odd prime power (and not a power of 3 for degree 3).
    degree : int
        2 or 3.
    index : numpy.ndarray of int64, shape (k,)
        Row numbers in [0, :func:`code_size`), in the order of the module docstring (checked
        by :class:`~protobank.codes.catalogue.Code`).

    Returns
    -------
    numpy.ndarray, shape (k, 2q), float64 unit rows.
    """
    _check(q, degree)
    tables = _exponent_tables(q, degree)
    cos_t, sin_t = _scaled_unit_circle(q)
    p = gf(q).p
    out = np.zeros((index.size, 2 * q))
    for lo in range(0, index.size, _BLOCK_ROWS):
        idx = index[lo : lo + _BLOCK_ROWS]
        vec, phase = idx // 4, idx % 4
        quarter = np.array([0, 2, 1, 3])[phase]  # i^quarter is the phase: 1, -1, i, -i
        axis = vec < q
        block = out[lo : lo + idx.size]
        rows_a = np.flatnonzero(axis)
        # e_v times the phase: (Re, Im) = (1, 0), (-1, 0), (0, 1), (0, -1)
        block[rows_a, vec[rows_a] + q * (quarter[rows_a] % 2)] = 1.0 - 2.0 * (quarter[rows_a] >= 2)
        rows_f = slice(None) if not rows_a.size else np.flatnonzero(~axis)
        if rows_a.size < idx.size:
            poly = vec[rows_f] - q
            # omega^Tr(f(x)) i^quarter = zeta_4p^m, m = 4 Tr(f(x)) + p quarter (tables hold 4 Tr)
            m = tables[0][poly % q] + tables[1][(poly // q) % q]
            if degree == 3:
                m += tables[2][poly // (q * q)]
            m += (p * quarter[rows_f]).astype(m.dtype)[:, None]
            block[rows_f, :q] = cos_t[m]
            block[rows_f, q:] = sin_t[m]
    return out


@lru_cache(maxsize=None)
def cubic_max_cosine(q: int) -> float:
    """The exact largest cosine of ``cubic(q)``: max over f != 0 of cubic, quadratic and the
    standard-basis products, max(|Re S(f)|, |Im S(f)|) / q, from exact GF(q) exponents.

    Substituting x -> x - a / (3c) and x -> lambda x maps every sum S(c x^3 + a x^2 + b x) to
    zeta times S(c' x^3 + b' x) with c' one of the <= 3 cube classes of GF(q)*, so
    O(q^2) terms per class suffice instead of the q^4 of the Gram matrix.
    """
    _check(q, 3)
    field, p = gf(q), gf(q).p
    g = field.primitive_element()
    reps = [1] if (q - 1) % 3 else [1, g, int(field.mul[g, g])]
    cos_t, sin_t = _unit_circle(p)
    x = np.arange(q)
    best = 1.0 / math.sqrt(q)  # standard basis against any u_f, and the quadratic Gauss sums
    t1 = field.trace[field.mul]  # t1[a, x] = Tr(a x)
    three = int(field.add[field.add[1, 1], 1])
    cube = field.power(x, 3)
    for c in reps:
        e_sums = (field.trace[field.mul[c, cube]][None, :] + t1) % p  # (b', x)
        s_re = cos_t[4 * e_sums].sum(axis=1)
        s_im = sin_t[4 * e_sums].sum(axis=1)
        # f = c x^3 + a x^2 + b x, x = y - t with t = a/(3c): f = c y^3 + b' y + k with
        # b' = b - a t and k = 2c t^3 - b t, so S(f) = omega^Tr(k) S(c y^3 + b' y).
        inv3c = _inverse(field, int(field.mul[three, c]))
        a = np.repeat(x, q)
        b = np.tile(x, q)
        a_over = field.mul[a, inv3c]  # a / (3c)
        b_prime = field.add[b, field.neg[field.mul[a, a_over]]]
        a_over_cubed = field.power(a_over, 3)
        two_c_t3 = field.mul[int(field.add[c, c]), a_over_cubed]
        k = field.add[two_c_t3, field.neg[field.mul[b, a_over]]]
        m = 4 * field.trace[k]
        re = cos_t[m] * s_re[b_prime] - sin_t[m] * s_im[b_prime]
        im = sin_t[m] * s_re[b_prime] + cos_t[m] * s_im[b_prime]
        best = max(best, float(np.abs(re).max()) / q, float(np.abs(im).max()) / q)
    return best


def mub(q: int) -> Code:
    """Wootters-Fields mutually unbiased bases of C^q, realified: n = 2q, N = 4q(q+1),
    max cosine 1/sqrt(q)."""
    return Code("mub", {"q": q}, 2 * q, code_size(q, 2), 1 / math.sqrt(q), _root_text(1, q),
                MUB_SOURCE, lambda index: polynomial_phase_rows(q, 2, index))


def cubic(q: int) -> Code:
    """Alltop's cubic phases with the standard basis, realified: n = 2q, N = 4(q^3 + q), max
    cosine from the cubic Weil sums (:func:`cubic_max_cosine`), at most 2/sqrt(q)."""
    value = cubic_max_cosine(q)
    if abs(value - 2 / math.sqrt(q)) < 1e-12:  # Weil's bound met (q = 25, 121, 125)
        exact = _root_text(2, q)
    else:
        exact = f"{value:.15f} (largest |Re|, |Im| of a cubic Weil sum over GF({q}), / {q})"
    return Code("cubic", {"q": q}, 2 * q, code_size(q, 3), value, exact, CUBIC_SOURCE,
                lambda index: polynomial_phase_rows(q, 3, index))


def _root_text(numerator: int, q: int) -> str:
    """numerator/sqrt(q) as text, with an integer root where q is a square."""
    root = math.isqrt(q)
    return f"{numerator}/{root}" if root * root == q else f"{numerator}/sqrt({q})"


def _check(q: int, degree: int) -> None:
    pk = prime_power(q)
    if pk is None or pk[0] == 2:
        raise ValueError(f"polynomial-phase codes need an odd prime power q, got q={q}")
    if degree not in (2, 3):
        raise ValueError(f"degree must be 2 (MUB) or 3 (cubic), got {degree}")
    if degree == 3 and pk[0] == 3:
        raise ValueError(
            f"cubic phases need characteristic other than 3 (x^3 is additive), got q={q}"
        )


def _inverse(field, a: int) -> int:
    return int(np.flatnonzero(field.mul[a] == 1)[0])


@lru_cache(maxsize=None)
def _exponent_tables(q: int, degree: int) -> tuple[np.ndarray, ...]:
    """tables[j - 1][c, x] = 4 Tr(c x^j) for j = 1..degree: one row gather per coefficient.

    Their sum plus p * quarter stays below 4p (degree + 1), so the periodic circle tables of
    :func:`_scaled_unit_circle` need no reduction modulo 4p; int16 halves the traffic.
    """
    field = gf(q)
    x = np.arange(q)
    t1 = field.trace[field.mul]
    dtype = np.int16 if 16 * field.p < 2**15 else np.int32
    return tuple((4 * t1[:, field.power(x, j)]).astype(dtype) for j in range(1, degree + 1))


@lru_cache(maxsize=None)
def _unit_circle(p: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2 pi m / (4p), m in [0, 4p), each correctly rounded to float64."""
    return _circle_table(p, 1)


@lru_cache(maxsize=None)
def _scaled_unit_circle(q: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_unit_circle` of q's characteristic, divided by sqrt(q) before rounding, repeated
    4 times so that indices up to 16p need no reduction."""
    cos_t, sin_t = _circle_table(gf(q).p, q)
    return np.tile(cos_t, 4), np.tile(sin_t, 4)


def _circle_table(p: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    with localcontext() as ctx:
        ctx.prec = 40
        scale = 1 / Decimal(q).sqrt()
        # cos(pi/2 * j/p) for j in [0, p]; every other entry is one of these, negated or not,
        # so antipodal and orthogonal partners are exact.
        quarter = [float(_cos(_PI * j / (2 * p)) * scale) for j in range(p + 1)]
    quarter = np.array(quarter)
    j = np.arange(4 * p)
    r, quadrant = j % p, j // p
    c = quarter[r]  # cos of the angle within the quadrant
    s = quarter[p - r]  # its sin
    cos_t = np.choose(quadrant, [c, -s, -c, s])
    sin_t = np.choose(quadrant, [s, c, -s, -c])
    return cos_t, sin_t


def _cos(x: Decimal) -> Decimal:
    """cos(x) for 0 <= x <= pi/2 by its Taylor series, to the context's precision."""
    term, total, n, x2 = Decimal(1), Decimal(1), 0, x * x
    eps = Decimal(10) ** -45
    while abs(term) > eps:
        n += 2
        term = -term * x2 / (n * (n - 1))
        total += term
    return total


FAMILIES = {
    "mub": lambda: [mub(q) for q in MUB_QS],
    "cubic": lambda: [cubic(q) for q in CUBIC_QS],
}
