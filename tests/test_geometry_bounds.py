import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protobank import geometry, max_cosine_bound
from protobank.bounds import levenshtein_bound
from protobank.measure import pairwise_cosines
from protobank.optimize.constructions import cell24, cross_polytope_subset, e8_roots, polygon, random_rotation, simplex


def dense_reference(x):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    g = x @ x.T
    c = len(x)
    off = g[~np.eye(c, dtype=bool)]
    rowmax = np.where(np.eye(c, dtype=bool), -np.inf, g).max(axis=1)
    iu = np.triu_indices(c, 1)
    return off, rowmax, float(np.log(np.mean(np.exp(-2.0 * (2 - 2 * g[iu])))))


@pytest.mark.parametrize("c,d", [(2, 1), (5, 4), (10, 30), (101, 100)])
def test_simplex_known_answer(c, d):
    r = geometry(simplex(c, d))
    assert r.max_cosine == pytest.approx(-1 / (c - 1), abs=1e-12)
    assert r.min_cosine == pytest.approx(-1 / (c - 1), abs=1e-12)
    assert r.centroid_norm < 1e-12 and r.gap_to_bound == pytest.approx(0, abs=1e-12)


def test_cross_polytope_known_answer():
    r = geometry(cross_polytope_subset(20, 10))
    assert r.max_cosine == 0.0 and r.min_cosine == -1.0 and r.bound.value == 0.0


@pytest.mark.parametrize("c", [3, 7, 50])
def test_polygon_min_angle(c):
    r = geometry(polygon(c))
    assert math.radians(r.min_angle_deg) == pytest.approx(2 * math.pi / c, rel=1e-9)
    assert r.gap_to_bound == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("points,d,c", [(cell24, 4, 24), (e8_roots, 8, 240)])
def test_optimal_codes(points, d, c):
    x = points()
    assert x.shape == (c, d)
    r = geometry(x)
    assert r.max_cosine == pytest.approx(0.5, abs=1e-12)
    assert r.bound.exact and r.bound.value == 0.5


def test_invariant_under_rotation_and_permutation():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 7))
    q = random_rotation(7, 7, seed=5)
    a, b = geometry(x), geometry((x @ q.T)[rng.permutation(60)])
    for k in ("max_cosine", "min_cosine", "mean_cosine", "std_cosine", "uniformity", "nn_angle_mean_deg", "centroid_norm"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), abs=1e-10), k


def test_blocked_equals_dense(monkeypatch):
    import protobank.measure as g

    x = np.random.default_rng(0).standard_normal((257, 9))
    off, rowmax, unif = dense_reference(x)
    monkeypatch.setattr(g, "BLOCK_BYTES", 8 * 257 * 10)  # 10-row blocks
    r = g.geometry(x)
    assert r.max_cosine == pytest.approx(off.max(), abs=1e-12)
    assert r.min_cosine == pytest.approx(off.min(), abs=1e-12)
    assert r.mean_cosine == pytest.approx(off.mean(), abs=1e-12)
    assert r.std_cosine == pytest.approx(off.std(), abs=1e-10)
    assert r.uniformity == pytest.approx(unif, abs=1e-10)
    np.testing.assert_allclose(r.row_max_cosine, rowmax, atol=1e-12)


def test_pairwise_cosines_counts():
    x = np.random.default_rng(0).standard_normal((30, 4))
    assert pairwise_cosines(x).shape == (435,)
    assert pairwise_cosines(x, max_rows=10).shape == (45,)


def test_levenshtein_known_values():
    assert levenshtein_bound(8, 0.5) == pytest.approx(240, rel=1e-9)  # attained by E8
    assert levenshtein_bound(24, 0.5) == pytest.approx(196560, rel=1e-9)  # attained by Leech
    n, s = 5, -0.1  # second bound, 2n(1-s)/(1-ns)
    assert levenshtein_bound(n, s) == pytest.approx(2 * n * (1 - s) / (1 - n * s))
    assert levenshtein_bound(5, -0.3) == pytest.approx((-0.3 - 1) / -0.3)  # first bound, simplex


def test_bound_regimes():
    assert max_cosine_bound(10, 11).value == pytest.approx(-0.1)
    assert max_cosine_bound(50, 100).value == 0.0 and max_cosine_bound(50, 100).exact
    assert max_cosine_bound(2, 6).value == pytest.approx(0.5)
    b = max_cosine_bound(3, 30)
    assert not b.exact and 0.7 < b.value < 0.78155  # below the best known code


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 12), c=st.integers(2, 60), seed=st.integers(0, 2**31))
def test_bound_never_above_a_configuration(d, c, seed):
    x = np.random.default_rng(seed).standard_normal((c, d))
    r = geometry(x)
    assert r.bound.value <= r.max_cosine + 1e-9
