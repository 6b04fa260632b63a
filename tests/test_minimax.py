"""The default method against known optima, best-known codes and the other methods."""

import csv
from pathlib import Path

import pytest

import protobank
from protobank.optimize.minimax import smoothed_max_gradient

TAMMES = {int(r["N"]): float(r["max_cosine"]) for r in csv.DictReader(open(Path(__file__).parent / "data" / "tammes_dim3_best_known.csv"))}


@pytest.mark.parametrize("d,c", [(10, 2), (10, 11), (200, 200), (4096, 30)])
def test_simplex_regime_exact(d, c):
    p = protobank.generate(d, c)
    assert p.metrics["max_cosine"] == pytest.approx(-1 / (c - 1), abs=1e-9)
    assert p.metrics["min_cosine"] == pytest.approx(-1 / (c - 1), abs=1e-9)
    assert p.iterations == 0


@pytest.mark.parametrize("d,c", [(50, 100), (50, 99), (512, 1000), (3, 6), (8, 10)])
def test_cross_polytope_regime_exact_and_most_uniform(d, c):
    p = protobank.generate(d, c)
    assert abs(p.metrics["max_cosine"]) <= 1e-9
    assert p.metrics["centroid_norm"] == pytest.approx(0 if c % 2 == 0 else 1 / c, abs=1e-12)


def test_tammes_small_targets():
    p = protobank.generate(3, 30, device="cpu")
    assert p.metrics["max_cosine"] == pytest.approx(TAMMES[30], abs=1e-3)
    assert p.metrics["max_cosine"] <= 0.7816


def test_optimizer_alone_finds_the_24_cell():
    p = protobank.generate(4, 24, device="cpu", known_codes=False)
    assert p.metrics["max_cosine"] == pytest.approx(0.5, abs=1e-3)
    assert protobank.generate(4, 24).metrics["max_cosine"] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("d,c", [(3, 12), (5, 24), (8, 40)])
def test_never_worse_than_gaussian_or_hpn(d, c):
    best_other = min(protobank.generate(d, c, method=m, seed=0).metrics["max_cosine"] for m in ("gaussian", "hpn"))
    mine = protobank.generate(d, c, seed=0, device="cpu", iters=300).metrics["max_cosine"]
    assert mine <= best_other + 1e-12


def test_blocked_gradient_equals_dense():
    import torch

    x = torch.as_tensor(protobank.generate(5, 37, method="random").to_numpy())[None]
    full, top_full = smoothed_max_gradient(x, 50.0, 37)
    blocked, top_blocked = smoothed_max_gradient(x, 50.0, 5)
    assert torch.allclose(full, blocked, atol=1e-12)
    assert float(top_full) == pytest.approx(float(top_blocked), abs=1e-15)
    g = x[0] @ x[0].T
    g.fill_diagonal_(-float("inf"))
    w = torch.softmax(50.0 * g.flatten(), 0).view(37, 37)
    assert torch.allclose(full[0], w @ x[0], atol=1e-12)
    assert float(top_full) == pytest.approx(float(g.max()))


def test_sharpening_runs_without_tf32():
    """TF32's ~1e-4 cosine error times beta up to 1e5 is noise: it is off while beta sharpens,
    whatever the caller set, and the caller's setting comes back after."""
    import torch

    from protobank.optimize.minimax import optimize
    from protobank.optimize.options import OptimizerOptions

    matmul = torch.backends.cuda.matmul
    previous, matmul.allow_tf32 = matmul.allow_tf32, True
    try:
        seen = []
        optimize(3, 9, iters=20, options=OptimizerOptions(restarts=2, polish=False), device="cpu",
                    progress=lambda step, total, info: seen.append((step, matmul.allow_tf32)))
        during = seen[:-1]  # the last report comes after the phases
        assert all(flag for step, flag in during if step <= 20)
        assert [flag for step, flag in during if step > 20] == [False] * 20
        assert matmul.allow_tf32
    finally:
        matmul.allow_tf32 = previous
