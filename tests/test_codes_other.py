"""The complex-phase, lattice and graph code families: exact max cosines on the built vectors,
unit norms, index order, row building by subset, bitwise determinism."""

from __future__ import annotations

import csv
import hashlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from protobank.codes import Code, catalogue, get_code
from protobank.codes.complex_phases import code_size, cubic_max_cosine, polynomial_phase_rows
from protobank.codes.finite_field import gf
from protobank.codes.graphs import spread_order
from protobank.codes.lattices import golay_code, leech_552_lines, reed_muller_1_4

FAMILIES = ("mub", "cubic", "e8", "dn", "bw16", "leech", "leech_4600", "leech_552", "hs_100",
            "mcl_275", "eq")
CSV = Path(__file__).parent / "data" / "spherical_codes.csv"
NOT_BUILT = "theory (srg, not built)"
FULL_GRAM_FLOPS = 2.5e9  # N^2 n: every pair checked where this is cheap (seconds in all)
SAMPLED_ELEMENTS = 3e6  # N n: sampled rows against all N rows (and the Leech code's 4.7e6)
TOL = 1e-12


def _csv_rows() -> list[dict[str, str]]:
    with CSV.open(newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["family"] in FAMILIES]


def _mine() -> list[Code]:
    return [c for c in catalogue() if c.family in FAMILIES]


def _max_offdiagonal(x: np.ndarray) -> float:
    """Largest x_i . x_j over i != j, in blocks of rows."""
    best = -np.inf
    for lo in range(0, len(x), 2048):
        g = x[lo : lo + 2048] @ x.T
        rows = np.arange(len(g))
        g[rows, rows + lo] = -np.inf
        best = max(best, float(g.max()))
    return best


# --- the table ---------------------------------------------------------------------------------

def test_every_buildable_csv_row_is_in_the_catalogue_with_its_value():
    rows = _csv_rows()
    codes = {(c.family, c.n, c.size): c for c in _mine()}
    built = [r for r in rows if r["how_the_value_is_known"] != NOT_BUILT]
    assert len(codes) == len(_mine()) == len(built)
    for row in built:
        code = codes[(row["family"], int(row["dimension_n"]), int(row["points_N"]))]
        assert math.isclose(code.max_cosine, float(row["max_cosine"]), rel_tol=TOL), code.name
        assert code.source == row["source"]
    left_out = {(r["family"], int(r["dimension_n"])) for r in rows if r not in built}
    assert left_out == {("eq", 1221), ("eq", 2041), ("eq", 3856)}


def test_exact_texts_evaluate_to_the_max_cosine():
    for code in _mine():
        text = code.exact.split(" ")[0]
        value = eval(text, {"sqrt": math.sqrt})  # "1/11", "2/sqrt(125)", "0.7236..."
        assert math.isclose(value, code.max_cosine, rel_tol=TOL), code.name


# --- exact max cosine on the built vectors -----------------------------------------------------

def _full_gram_codes() -> list[Code]:
    return [c for c in _mine() if c.size**2 * c.n <= FULL_GRAM_FLOPS]


def _sampled_codes() -> list[Code]:
    return [c for c in _mine()
            if c.size**2 * c.n > FULL_GRAM_FLOPS
            and (c.size * c.n <= SAMPLED_ELEMENTS or c.family in ("leech", "eq"))]


@pytest.mark.parametrize("code", _full_gram_codes(), ids=lambda c: c.name)
def test_max_cosine_over_all_pairs(code):
    x = code.vectors()
    assert x.shape == (code.size, code.n) and x.dtype == np.float64
    np.testing.assert_allclose((x * x).sum(axis=1), 1.0, atol=1e-14)
    assert abs(_max_offdiagonal(x) - code.max_cosine) <= TOL


@pytest.mark.parametrize(
    "code", [pytest.param(c, marks=pytest.mark.slow) if c.family == "eq" else c
             for c in _sampled_codes()], ids=lambda c: c.name)
def test_max_cosine_sampled_rows_against_all(code):
    """Each of these codes has symmetries moving any point to any other point of its kind
    (translations and modulations of GF(q), the lattice's or graph's automorphisms), so every
    point of the largest kind meets the max cosine (the axes of ``cubic`` only reach
    1/sqrt(q)): sampled rows against all rows pin it exactly."""
    x = code.vectors()
    np.testing.assert_allclose((x * x).sum(axis=1), 1.0, atol=1e-14)
    sample = np.sort(np.random.default_rng(0).choice(code.size, 24, replace=False))
    best = -np.inf
    for i in sample:
        g = x @ x[i]
        g[i] = -np.inf
        best = max(best, float(g.max()))
        assert float(g.max()) <= code.max_cosine + TOL
    assert abs(best - code.max_cosine) <= TOL


@pytest.mark.parametrize("q", [509, 529])
def test_largest_mub_rows_meet_one_over_sqrt_q_in_every_other_basis(q):
    """A vector's inner products with one other basis take the value 1/sqrt(q) (a Gauss sum
    with a phase 1, -1, i or -i, the phase undone by one of the four copies) and no larger."""
    code = get_code("mub", q=q)
    rng = np.random.default_rng(q)
    rows = code.rows(rng.choice(code.size, 6, replace=False))
    for basis in rng.choice(q + 1, 3, replace=False):
        other = code.rows(np.arange(4 * q * basis, 4 * q * (basis + 1)))
        g = rows @ other.T
        g[np.isclose(g, 1.0)] = -np.inf  # a sampled row inside this basis
        hit = np.abs(g.max(axis=1) - 1 / math.sqrt(q)) <= TOL
        same = np.isinf(g).any(axis=1)
        assert (hit | same).all()
        assert (g.max(axis=1) <= 1 / math.sqrt(q) + TOL).all()


@pytest.mark.parametrize("q", [125, 127])
def test_largest_cubic_codes_meet_their_weil_maximum(q):
    """The products of u_f with u_g depend on the leading coefficient of g - f only through
    its cube class, so one random cubic row against the blocks c + (each class) sees them all."""
    code = get_code("cubic", q=q)
    field = gf(q)
    g = field.primitive_element()
    reps = [1] if (q - 1) % 3 else [1, g, int(field.mul[g, g])]
    rng = np.random.default_rng(q)
    c = int(rng.integers(1, q))
    row = code.rows(np.array([4 * q + 4 * q * q * c + int(rng.integers(0, 4 * q * q))]))[0]
    best = -np.inf
    for rep in reps:
        start = 4 * q + 4 * q * q * int(field.add[c, rep])
        for lo in range(start, start + 4 * q * q, 16384):
            block = code.rows(np.arange(lo, min(lo + 16384, start + 4 * q * q)))
            best = max(best, float((block @ row).max()))
    assert abs(best - code.max_cosine) <= TOL
    assert code.max_cosine <= 2 / math.sqrt(q) + TOL


# --- building rows -----------------------------------------------------------------------------

@pytest.mark.parametrize("family, params", [("mub", {"q": 25}), ("cubic", {"q": 7}), ("e8", {}),
                                            ("bw16", {}), ("leech_4600", {}), ("hs_100", {}),
                                            ("mcl_275", {}), ("eq", {"q": 4})])
def test_rows_of_a_subset_equal_those_rows_of_the_full_build(family, params):
    code = get_code(family, **params)
    full = code.vectors()
    index = np.random.default_rng(1).permutation(code.size)[: code.size // 3]
    assert np.array_equal(code.rows(index), full[index])
    assert np.array_equal(code.rows(index), code.rows(index))
    assert code.rows(np.array([], dtype=np.int64)).shape == (0, code.n)


def test_rows_are_bitwise_the_same_in_a_fresh_process():
    picks = {"mub": {"q": 121}, "cubic": {"q": 49}, "leech": {}, "leech_552": {}, "mcl_275": {},
             "eq": {"q": 5}}
    script = (
        "import hashlib, numpy as np\n"
        "from protobank.codes import get_code\n"
        f"for family, params in {picks!r}.items():\n"
        "    code = get_code(family, **params)\n"
        "    index = np.random.default_rng(7).choice(code.size, 200, replace=False)\n"
        "    print(hashlib.sha256(code.rows(index).tobytes()).hexdigest())\n"
    )
    here = []
    for family, params in picks.items():
        code = get_code(family, **params)
        index = np.random.default_rng(7).choice(code.size, 200, replace=False)
        here.append(hashlib.sha256(code.rows(index).tobytes()).hexdigest())
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert out.stdout.split() == here


# --- index order and structure -----------------------------------------------------------------

def test_mub_is_the_prefix_of_cubic_and_bases_are_cross_polytopes():
    q = 13
    mub, cubic = get_code("mub", q=q), get_code("cubic", q=q)
    assert np.array_equal(mub.vectors(), cubic.rows(np.arange(mub.size)))
    for start in (0, 4 * q, 4 * q * 7, 4 * q * (q + 5)):  # axes, two MUB bases, a cubic basis
        block = cubic.rows(np.arange(start, start + 4 * q))
        assert np.allclose(block[0::2], -block[1::2], atol=0)  # antipodal pairs, exactly
        g = block @ block.T
        assert np.allclose(g, np.round(g), atol=1e-14)  # cosines 0 and -1 only
        assert np.abs(block.sum(axis=0)).max() < 1e-13


def test_polynomial_phase_codes_refuse_bad_fields():
    with pytest.raises(ValueError, match="odd prime power"):
        polynomial_phase_rows(8, 2, np.arange(3))
    with pytest.raises(ValueError, match="characteristic"):
        polynomial_phase_rows(27, 3, np.arange(3))
    with pytest.raises(ValueError, match="odd prime power"):
        cubic_max_cosine(15)
    assert code_size(5, 3) == 520


@pytest.mark.parametrize("q", [2, 4, 8, 9, 25, 27, 125, 169, 529])
def test_finite_field_tables_are_a_field(q):
    f = gf(q)
    a = np.arange(q)
    assert (f.mul[1] == a).all() and (f.add[0] == a).all() and (f.add[a, f.neg] == 0).all()
    assert all(len(np.unique(f.mul[x])) == q for x in range(1, q))  # no zero divisors
    x, y, z = np.random.default_rng(q).integers(0, q, (3, 2000))
    assert (f.mul[x, f.add[y, z]] == f.add[f.mul[x, y], f.mul[x, z]]).all()
    assert (f.mul[x, f.mul[y, z]] == f.mul[f.mul[x, y], z]).all()
    assert (f.trace[f.add[x, y]] == (f.trace[x] + f.trace[y]) % f.p).all()
    assert np.bincount(f.trace, minlength=f.p).tolist() == [q // f.p] * f.p
    g = np.array(f.primitive_element())
    assert len({int(f.power(g, e)) for e in range(q - 1)}) == q - 1


@pytest.mark.parametrize("family", ["e8", "dn", "bw16", "leech", "leech_4600", "leech_552"])
def test_lattice_codes_list_antipodal_pairs_consecutively(family):
    code = next(c for c in _mine() if c.family == family)
    x = code.rows(np.arange(min(code.size, 4000)))
    assert np.array_equal(x[1::2], -x[0::2])


def test_golay_and_reed_muller_weights():
    assert np.bincount(golay_code().sum(axis=1), minlength=25)[[0, 8, 12, 16, 24]].tolist() == \
        [1, 759, 2576, 759, 1]
    assert np.bincount(reed_muller_1_4().sum(axis=1)).tolist()[::8] == [1, 30, 1]


def test_leech_vectors_are_integers_of_norm_32_over_sqrt_8():
    code = get_code("leech")
    x = code.vectors() * math.sqrt(32)
    assert np.abs(x - np.round(x)).max() < 1e-12
    x = np.round(x).astype(np.int64)
    assert ((x * x).sum(axis=1) == 32).all()
    assert len({row.tobytes() for row in x.astype(np.int8)}) == code.size == 196_560
    parity = x % 2
    assert (parity == parity[:, :1]).all()  # all coordinates even, or all odd
    assert ((x.sum(axis=1) - 4 * parity[:, 0]) % 8 == 0).all()  # sum = 4 (odd) or 0 (even) mod 8


def test_slices_and_graph_codes_have_their_two_distance_structure():
    lines = leech_552_lines()
    products = lines @ lines.T
    assert set(np.unique(np.abs(products))) == {16, 80}  # 276 equiangular lines, cosine 1/5
    expected = {"leech_4600": {-1.0, -1 / 3, 0.0, 1 / 3}, "hs_100": {-4 / 11, 1 / 11},
                "mcl_275": {-1 / 4, 1 / 6}, "eq": {-1 / 3, 1 / 9}}
    degrees = {"hs_100": 22, "mcl_275": 112, "eq": 30}  # eq(3): GQ(3, 9), q(q^2 + 1) = 30
    for family, values in expected.items():
        code = get_code(family, q=3) if family == "eq" else get_code(family)
        x = code.vectors()
        g = x[:300] @ x.T
        g[np.arange(len(g)), np.arange(len(g))] = np.nan
        found = np.unique(np.round(g[~np.isnan(g)], 12))
        assert np.allclose(found, sorted(values), atol=1e-12), family
        if family in degrees:
            assert ((g < 0).sum(axis=1) == degrees[family]).all()
            assert np.abs(x.sum(axis=0)).max() < 1e-12  # an eigenspace orthogonal to all-ones


def test_spread_order_takes_the_most_connected_vertex_each_step():
    rng = np.random.default_rng(3)
    adjacency = np.triu(rng.random((40, 40)) < 0.3, 1)
    adjacency = adjacency | adjacency.T
    order = spread_order(adjacency)
    assert sorted(order.tolist()) == list(range(40))
    for t in range(1, 40):
        counts = adjacency[order[:t]].sum(axis=0)
        rest = order[t:]
        best = counts[rest].max()
        assert order[t] == min(r for r in rest if counts[r] == best)


@pytest.mark.parametrize("family, params", [("hs_100", {}), ("mcl_275", {}), ("eq", {"q": 5})])
def test_graph_code_prefixes_keep_their_centroid_small(family, params):
    x = get_code(family, **params).vectors()
    centroid = np.linalg.norm(np.cumsum(x, axis=0), axis=1) / np.arange(1, len(x) + 1)
    assert centroid[-1] < 1e-12
    assert centroid[len(x) // 4 :].max() < 0.06
