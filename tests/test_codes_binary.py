"""The binary and Z4 code families: exact max cosines, weight distributions, row building."""

from __future__ import annotations

import csv
import hashlib
import math
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from protobank.codes import Code, catalogue, get_code
from protobank.codes.binary import trace_generators
from protobank.codes.gf2m import hensel_lift, primitive_polynomial, ring_trace_sequence
from protobank.codes.linear import BinaryEncoder, Z4Encoder
from protobank.codes.z4 import z4_generators
from protobank.errors import InvalidInputError, ResourceLimitError

FAMILIES = ("gold", "gold_ext", "kasami_small", "kasami_large", "dual_bch3", "real_mub", "dg")
CSV = Path(__file__).parent / "data" / "spherical_codes.csv"
FULL_GRAM_MAX = 20_000
POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _csv_rows() -> list[dict[str, str]]:
    with CSV.open(newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["family"] in FAMILIES]


def _instances() -> list[Code]:
    return [c for c in catalogue() if c.family in FAMILIES]


def _exact(code: Code) -> Fraction:
    return Fraction(code.exact)


# --- the table -------------------------------------------------------------------------------

def test_catalogue_matches_every_csv_row_of_these_families():
    rows = _csv_rows()
    by_shape = {(c.family, c.n, c.size): c for c in _instances()}
    assert len(by_shape) == len(_instances()) == len(rows)
    for row in rows:
        code = by_shape[(row["family"], int(row["dimension_n"]), int(row["points_N"]))]
        assert math.isclose(code.max_cosine, float(row["max_cosine"]), rel_tol=1e-12), code.name
        assert code.max_cosine == float(_exact(code))
        assert code.source == row["source"]


def test_catalogue_is_stable_and_names_are_unique():
    names = [c.name for c in catalogue()]
    assert len(set(names)) == len(names)
    assert [c.name for c in catalogue()] == names
    assert get_code("gold", m=7).name == "gold(m=7)"
    assert get_code("dg", m=5, r=2).name == "dg(m=5, r=2)"
    assert len({*catalogue(), *catalogue()}) == len(names)  # hashable, usable as keys
    assert dict(get_code("dg", m=5, r=2).params) == {"m": 5, "r": 2}


# --- exact max cosine on the built vectors -----------------------------------------------------

def _integer_rows(code: Code, index: np.ndarray) -> np.ndarray:
    """Rows as exact integers: codewords must be exactly +-1/sqrt(n) (-> +-1), axes +-e_i (-> +-sqrt(n))."""
    x = code.rows(index)
    mag = np.abs(x)
    word = (mag == 1 / np.sqrt(float(code.n))).all(axis=1)
    axis = ((mag == 1).sum(axis=1) == 1) & ((mag == 0).sum(axis=1) == code.n - 1)
    assert (word | axis).all(), code.name
    root = math.isqrt(code.n)
    assert not axis.any() or root * root == code.n
    return (np.sign(x) * np.where(mag == 1, root, 1)).astype(np.float32)  # exact below 2^24


def _max_inner(a: np.ndarray, b: np.ndarray, same: bool) -> int:
    """Largest entry of a @ b.T (excluding the diagonal when a and b are the same rows)."""
    best = -(1 << 30)
    for lo in range(0, len(a), 2048):
        block = a[lo:lo + 2048] @ b.T
        if same:
            block[np.arange(len(block)), np.arange(lo, lo + len(block))] = -np.inf
        best = max(best, int(block.max()))
    return best


@pytest.mark.parametrize("code", [c for c in _instances() if c.size <= FULL_GRAM_MAX], ids=lambda c: c.name)
def test_max_cosine_is_exact_on_the_full_gram(code):
    ints = _integer_rows(code, np.arange(code.size))
    assert Fraction(_max_inner(ints, ints, same=True), code.n) == _exact(code)


@pytest.mark.parametrize("code", [c for c in _instances() if c.size > FULL_GRAM_MAX], ids=lambda c: c.name)
def test_max_cosine_is_exact_on_sampled_rows(code):
    rng = np.random.default_rng(12)
    rows = np.unique(rng.integers(0, code.size, 256))
    others = np.setdiff1d(rng.integers(0, code.size, 4096), rows)
    if code.family == "real_mub":  # include the axes
        others = np.union1d(others, np.arange(code.size - 64, code.size))
    a, b = _integer_rows(code, rows), _integer_rows(code, others)
    best = max(_max_inner(a, b, same=False), _max_inner(a, a, same=True))
    assert Fraction(best, code.n) == _exact(code)


# --- weight distributions ----------------------------------------------------------------------

def _binary_weights(gens: np.ndarray) -> Counter:
    enc = BinaryEncoder(gens)
    packed = enc.packed(np.arange(1 << enc.k, dtype=np.int64))
    return Counter(POPCOUNT[packed].sum(axis=1, dtype=np.int64).tolist())


def _gray_weights(m: int, r: int) -> Counter:
    enc = Z4Encoder(z4_generators(m, r))
    first, second = enc.packed(np.arange(1 << enc.k, dtype=np.int64))
    weights = POPCOUNT[first].sum(axis=1, dtype=np.int64) + POPCOUNT[second].sum(axis=1, dtype=np.int64)
    return Counter(weights.tolist())


def _pless(n: int, log2_size: int, weights: list[int], known: dict[int, int]) -> dict[int, int]:
    """Counts A_w on ``weights`` (besides ``known``) from the first len(weights) power moments.

    A code of size 2^k whose dual distance is at least len(weights) is an orthogonal array of
    strength len(weights) - 1, so sum_c wt(c)^j = 2^k E[Bin(n, 1/2)^j] for j < len(weights)
    (the Pless power moments, MacWilliams & Sloane ch. 5); these fix the counts uniquely.
    """
    u = len(weights)
    binom = [math.comb(n, i) for i in range(n + 1)]
    moments = [Fraction(sum(b * i**j for i, b in enumerate(binom)) << log2_size, 1 << n) for j in range(u)]
    rhs = [moments[j] - sum(a * w**j for w, a in known.items()) for j in range(u)]
    mat = [[Fraction(w) ** j for w in weights] + [rhs[j]] for j in range(u)]
    for col in range(u):  # Gauss-Jordan elimination over the rationals
        piv = next(r for r in range(col, u) if mat[r][col] != 0)
        mat[col], mat[piv] = mat[piv], mat[col]
        mat[col] = [x / mat[col][col] for x in mat[col]]
        for r in range(u):
            if r != col and mat[r][col] != 0:
                mat[r] = [x - mat[r][col] * y for x, y in zip(mat[r], mat[col])]
    counts = {w: mat[i][u] for i, w in enumerate(weights)}
    assert all(c.denominator == 1 and c >= 0 for c in counts.values())
    return {**known, **{w: int(c) for w, c in counts.items() if c}}


def _dual_distance_at_least_5(gens: np.ndarray) -> bool:
    """No 4 or fewer columns of the generator matrix sum to zero."""
    cols = (gens.astype(np.int64) << np.arange(len(gens))[:, None]).sum(axis=0)
    if 0 in cols or len(set(cols.tolist())) < len(cols):
        return False
    i, j = np.triu_indices(len(cols), 1)
    pairs = cols[i] ^ cols[j]
    return len(np.unique(pairs)) == len(pairs) and not np.isin(pairs, cols).any()


@pytest.mark.parametrize("m", [3, 5, 7, 9])
def test_gold_weight_distribution(m):
    """MacWilliams & Sloane ch. 15: dual of the double-error-correcting BCH code, m odd."""
    n, h = (1 << m) - 1, 1 << (m - 1) // 2
    expected = {
        0: 1,
        (1 << (m - 1)) - h: n * ((1 << (m - 2)) + (h >> 1)),
        1 << (m - 1): n * ((1 << (m - 1)) + 1),
        (1 << (m - 1)) + h: n * ((1 << (m - 2)) - (h >> 1)),
    }
    gens = np.concatenate([trace_generators(m, 1), trace_generators(m, 3)])
    assert _binary_weights(gens) == expected
    assert _pless(n, 2 * m, sorted(expected)[1:], {0: 1}) == expected


@pytest.mark.parametrize("m", [3, 5, 7])
def test_gold_ext_weight_distribution(m):
    """Extended Gold (a zero appended: all Gold weights are even) plus complements."""
    code = get_code("gold_ext", m=m)
    n, h = code.n, 1 << (m - 1) // 2
    gold = {0: 1, n // 2 - h: (n - 1) * (n // 4 + h // 2), n // 2: (n - 1) * (n // 2 + 1),
            n // 2 + h: (n - 1) * (n // 4 - h // 2)}
    expected = Counter()
    for w, a in gold.items():
        expected[w] += a
        expected[n - w] += a
    ints = _integer_rows(code, np.arange(code.size))
    assert Counter(((code.n - ints.sum(axis=1).astype(np.int64)) // 2).tolist()) == expected


@pytest.mark.parametrize("m", [4, 6, 8, 10])
def test_kasami_small_weight_distribution(m):
    """Kasami 1966: weights (s^2 -+ s)/2 and s^2/2, s = 2^(m/2), counts from the Pless moments."""
    s = 1 << m // 2
    expected = {0: 1, (s * s - s) // 2: s * (s * s - 1) // 2, s * s // 2: s * s - 1,
                (s * s + s) // 2: s * (s - 1) ** 2 // 2}
    gens = np.concatenate([trace_generators(m, 1), trace_generators(m, s + 1, subfield=m // 2)])
    assert _binary_weights(gens) == expected
    assert _pless((1 << m) - 1, 3 * m // 2, sorted(expected)[1:], {0: 1}) == expected


@pytest.mark.parametrize("m", [6, 8])
def test_kasami_large_weight_distribution(m):
    """Kasami 1969: weights 2^(m-1) + {0, +-2^(m/2-1), +-2^(m/2)}; dual distance 5, so the
    counts are the unique solution of the first five Pless power moments."""
    s = 1 << m // 2
    gens = np.concatenate([trace_generators(m, 1), trace_generators(m, s + 1, subfield=m // 2),
                           trace_generators(m, 2 * s + 1)])
    assert _dual_distance_at_least_5(gens)
    half = 1 << (m - 1)
    weights = [half - s, half - s // 2, half, half + s // 2, half + s]
    assert _binary_weights(gens) == _pless((1 << m) - 1, 5 * m // 2, weights, {0: 1})


@pytest.mark.parametrize("m", [5, 7])
def test_dual_bch3_weight_distribution(m):
    """Dual of the triple-error-correcting BCH code (dual distance 7), m odd: weights
    2^(m-1) + {0, +-2^((m-1)/2), +-2^((m+1)/2)} with counts fixed by the Pless moments."""
    gens = np.concatenate([trace_generators(m, d) for d in (1, 3, 5)])
    half, h = 1 << (m - 1), 1 << (m - 1) // 2
    weights = [half - 2 * h, half - h, half, half + h, half + 2 * h]
    assert _binary_weights(gens) == _pless((1 << m) - 1, 3 * m, weights, {0: 1})


@pytest.mark.parametrize("m", [3, 5, 7])
def test_kerdock_weight_distribution(m):
    """MacWilliams & Sloane ch. 15: the Kerdock code of length n = 2^(m+1) has
    A_(n/2 +- sqrt(n)/2) = n (n/2 - 1), A_(n/2) = 2n - 2, A_0 = A_n = 1."""
    n = 1 << (m + 1)
    root = math.isqrt(n)
    expected = {0: 1, n // 2 - root // 2: n * (n // 2 - 1), n // 2: 2 * n - 2,
                n // 2 + root // 2: n * (n // 2 - 1), n: 1}
    assert _gray_weights(m, 0) == expected


def test_dg_3_1_is_the_extended_hamming_weight_distribution():
    """The Gray image of DG(3, 1) has the weights of the [16, 11, 4] extended Hamming code."""
    assert _gray_weights(3, 1) == {0: 1, 4: 140, 6: 448, 8: 870, 10: 448, 12: 140, 16: 1}


def test_dg_5_1_weight_distribution():
    """DG(5, 1), n = 64: weights n/2 + {0, +-4, +-8} and n, counts from the Pless moments
    (its formal dual, the Goethals code, has minimum distance 8)."""
    weights = [24, 28, 32, 36, 40]
    assert _gray_weights(5, 1) == _pless(64, 17, weights, {0: 1, 64: 1})


# --- the field arithmetic against the papers ---------------------------------------------------

def test_hensel_lift_of_x3_x_1_is_the_papers_example():
    """HKCSS 1994: f = x^3 + x + 1 lifts to h = x^3 + 2x^2 + x + 3 over Z4."""
    assert primitive_polynomial(3) == 0b1011
    assert hensel_lift(3).tolist() == [3, 1, 2, 1]
    assert set(ring_trace_sequence(5).tolist()) <= {0, 1, 2, 3}


# --- rows ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gold(m=5)", "gold_ext(m=3)", "kasami_small(m=6)", "real_mub(m=3)",
                                  "dg(m=3, r=1)", "dual_bch3(m=5)"])
def test_rows_of_a_subset_equal_the_full_build_and_are_unit(name):
    code = next(c for c in catalogue() if c.name == name)
    full = code.vectors()
    assert full.shape == (code.size, code.n)
    pick = np.random.default_rng(0).permutation(code.size)[:97]
    assert np.array_equal(code.rows(pick), full[pick])
    assert np.array_equal(code.rows(pick), code.rows(pick.copy()))
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-14)
    assert len(np.unique(full, axis=0)) == code.size


def test_rows_are_bitwise_pinned():
    """The same bytes on every platform: integer construction, then +-1/sqrt(n)."""
    digests = {
        name: hashlib.sha256(next(c for c in catalogue() if c.name == name)
                             .rows(np.array([0, 1, 5, 1000, 77])).astype("<f8").tobytes()).hexdigest()[:16]
        for name in ("gold(m=5)", "real_mub(m=5)")
    }
    assert digests == PINNED


PINNED = {"gold(m=5)": "980fdb341f794dda", "real_mub(m=5)": "caeb4116f9e3e314"}


def test_index_structure_documented_for_the_planner():
    gold = get_code("gold", m=5)
    simplex = gold.rows(np.arange(32, 64))  # an aligned block of 2^m indices: a regular simplex
    gram = simplex @ simplex.T
    np.testing.assert_allclose(gram[~np.eye(32, dtype=bool)], -1 / 31, atol=1e-14)
    np.testing.assert_allclose(simplex.sum(axis=0), 0, atol=1e-13)
    mub = get_code("real_mub", m=5)  # aligned blocks of 2n indices: orthonormal bases +-
    block = mub.rows(np.arange(128, 256))
    gram = block @ block.T
    assert set(np.round(gram, 12).ravel().tolist()) == {-1.0, 0.0, 1.0}
    axes = mub.rows(np.arange(mub.size - 128, mub.size))
    assert np.array_equal(axes[0::2], np.eye(64)) and np.array_equal(axes[1::2], -np.eye(64))
    big = get_code("dual_bch3", m=5)
    assert np.array_equal(big.rows(np.arange(1024)), gold.vectors())
    assert np.array_equal(get_code("kasami_large", m=6).rows(np.arange(512)), get_code("kasami_small", m=6).vectors())
    ext = get_code("gold_ext", m=5).rows(np.arange(64, 128))  # aligned block of 2n: a cross-polytope
    gram = ext @ ext.T
    assert set(np.round(gram, 12).ravel().tolist()) == {-1.0, 0.0, 1.0}
    np.testing.assert_allclose(gram[:32, :32], np.eye(32), atol=1e-14)
    assert np.array_equal(get_code("dg", m=3, r=1).rows(np.arange(256)), get_code("real_mub", m=3).rows(np.arange(256)))


def test_huge_codes_build_any_rows_cheaply():
    code = get_code("dg", m=11, r=1)
    rows = code.rows(np.array([0, code.size - 1, 123_456_789_012 % code.size]))
    assert rows.shape == (3, 4096)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0)


# --- errors ----------------------------------------------------------------------------------------

def test_unknown_family_suggests_the_close_name():
    with pytest.raises(InvalidInputError, match="unknown code family 'gol'.*Did you mean 'gold'"):
        get_code("gol", m=5)


def test_unknown_parameters_list_what_exists():
    with pytest.raises(InvalidInputError, match=r"'gold' has no instance with m=4; it has: m=3; m=5"):
        get_code("gold", m=4)
    with pytest.raises(InvalidInputError, match="no instance with q=5"):
        get_code("gold", q=5)


@pytest.mark.parametrize("bad", [np.array([64]), np.array([-1]), np.array([0.5]), np.zeros((2, 2), int)])
def test_bad_indices_get_one_clear_error(bad):
    with pytest.raises(InvalidInputError, match=r"gold\(m=3\): indices must"):
        get_code("gold", m=3).rows(bad)


def test_vectors_refuses_codes_too_large_to_hold():
    with pytest.raises(ResourceLimitError, match="use rows|rows\\(index\\)"):
        get_code("dg", m=11, r=1).vectors()


def test_import_does_not_load_torch():
    code = "import sys, protobank.codes as c; c.catalogue(); c.get_code('gold', m=3).vectors(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
