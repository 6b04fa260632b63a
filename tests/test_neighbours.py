"""The neighbour-list optimizer and the portfolio's decision: certified results, never worse
than the start, no run predicted to lose, a model never below the bound, one decision per
command."""

import dataclasses

import numpy as np
import pytest
import torch

from protobank.bounds import max_cosine_bound
from protobank.codes.plan import best_plan
from protobank.measure import geometry
from protobank.optimize import get_method, neighbours, portfolio
from protobank.optimize.base import MethodResult, random_unit_rows
from protobank.optimize.neighbours import (
    PairGradient,
    all_pairs_neighbours,
    certify,
    optimize_neighbours,
    threshold_pairs,
)
from protobank.optimize.options import OptimizerOptions
from protobank.optimize.starts import fibonacci_sphere

CPU = torch.device("cpu")


def test_blocked_neighbour_lists_are_the_exact_nearest():
    x = random_unit_rows((257, 6), 1)
    nbr = all_pairs_neighbours(torch.as_tensor(x, dtype=torch.float32), 5, block_elements=1000).numpy()
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    want = np.sort(g, axis=1)[:, ::-1][:, :5]
    np.testing.assert_allclose(np.take_along_axis(g, nbr, 1), want, atol=1e-6)


def test_the_pair_set_is_every_pair_above_its_threshold(monkeypatch):
    monkeypatch.setattr(neighbours, "THRESHOLD_ROWS", 7)
    x = random_unit_rows((300, 5), 2)
    pairs, tau = threshold_pairs(torch.as_tensor(x, dtype=torch.float32), 12, block_elements=1500)
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    sample = np.arange(7) * 300 // 7  # seven rows spread evenly
    assert tau == pytest.approx(np.median(np.sort(g[sample], axis=1)[:, -12]), abs=1e-6)
    rows = np.repeat(np.arange(300), np.diff(pairs.crow_indices().numpy()))
    listed = set(zip(rows.tolist(), pairs.col_indices().tolist()))
    want = set(zip(*np.nonzero(g > tau + 1e-6)))
    assert want <= listed and all(g[i, j] > tau - 1e-6 for i, j in listed)
    assert all((j, i) in listed for i, j in listed) and not any(i == j for i, j in listed)
    assert len(listed) == len(rows)  # no pair twice


def test_a_step_is_the_smoothed_max_gradient_over_its_pairs_whatever_its_buffers_held():
    x = torch.as_tensor(random_unit_rows((200, 6), 3), dtype=torch.float32)
    pairs, _ = threshold_pairs(x, 10, block_elements=1000)
    gradient = PairGradient(pairs)
    y = x + 0.01 * torch.as_tensor(random_unit_rows((200, 6), 4), dtype=torch.float32)
    y = y / y.norm(dim=1, keepdim=True)
    gradient(x, 20.0)  # a step on other rows first: its cosines and weights stay in the buffers
    got, top = gradient(y, 20.0)
    rows = np.repeat(np.arange(200), np.diff(pairs.crow_indices().numpy()))
    cols = pairs.col_indices().numpy()
    yy = y.double().numpy()
    cos = (yy[rows] * yy[cols]).sum(1)
    w = np.exp(20.0 * (cos - cos.max()))
    want = np.zeros_like(yy)
    np.add.at(want, rows, w[:, None] * yy[cols])
    assert top == pytest.approx(cos.max(), abs=1e-6)
    np.testing.assert_allclose(got.numpy(), want / w.sum(), atol=1e-5)


@pytest.mark.parametrize("d,c,start", [(8, 400, "random"), (3, 500, "spiral")])
def test_certified_max_cosine_is_the_all_pairs_measurement(d, c, start):
    x = random_unit_rows((c, d), 0) if start == "random" else fibonacci_sphere(c)
    r = optimize_neighbours(x, 60, OptimizerOptions(neighbours=8), device=CPU, warm=start != "random")
    assert r.params["certified_max_cosine"] == pytest.approx(geometry(r.vectors).max_cosine, abs=1e-12)
    assert r.params["start_max_cosine"] == pytest.approx(geometry(x).max_cosine, abs=1e-12)
    assert r.params["certified_max_cosine"] < r.params["start_max_cosine"]


def test_a_seeded_run_is_bitwise_reproducible():
    x = random_unit_rows((400, 8), 3)
    runs = [optimize_neighbours(x, 40, OptimizerOptions(neighbours=8), device=CPU, warm=False) for _ in range(2)]
    assert np.array_equal(runs[0].vectors, runs[1].vectors)
    assert runs[0].params["rebuilds"] >= 2  # the set was rebuilt as the rows moved


def test_certify_is_exact_on_a_code_with_many_tied_pairs():
    rows = best_plan(8, 240).build()  # E8: 240 points, every row has 56 pairs at exactly 0.5
    assert certify(rows, CPU, 10**6, k=4) == pytest.approx(0.5, abs=1e-15)


def test_never_returns_worse_than_its_start():
    """From an optimal code no step can improve; the start comes back untouched."""
    rows = best_plan(8, 240).build()
    r = optimize_neighbours(rows, 30, OptimizerOptions(neighbours=8, lr=0.05), device=CPU, warm=True)
    assert r.params["kept_start"] and np.array_equal(r.vectors, rows)
    assert geometry(r.vectors).max_cosine <= 0.5 + 1e-12


def test_a_measured_cell_is_predicted_by_its_measurement_and_others_by_the_fit():
    measured = portfolio.optimizer_prediction(32, 1000)
    assert (measured.value, measured.margin, measured.source) == (0.26596, portfolio.MEASURED_MARGIN, "measured")
    fitted = portfolio.optimizer_prediction(33, 1000)
    assert fitted.source == "fit" and fitted.margin == portfolio.FIT_MARGIN
    assert fitted.value == pytest.approx(measured.value, rel=0.1)


def test_the_model_never_predicts_below_the_bound():
    for d in (3, 4, 10, 128):
        for c in (2 * d + 1, 1000, 10_000, 100_000):
            predicted = portfolio.predicted_optimizer_max_cosine(d, c)
            if predicted is not None:
                assert predicted >= max_cosine_bound(d, c).value, (d, c)


@pytest.mark.parametrize("d,c,device", [(32, 1000, "cpu"), (64, 1000, "cpu"), (512, 100_000, "cuda")])
def test_no_optimizer_run_that_is_predicted_to_lose(d, c, device, monkeypatch):
    dec = portfolio.decide(d, c, device)
    assert dec.plan is not None and not dec.run_optimizer
    prediction = portfolio.optimizer_prediction(d, c)
    assert prediction.value * (1 - prediction.margin) >= dec.plan.max_cosine
    if device == "cpu":
        monkeypatch.setattr(portfolio, "optimize", lambda *a, **k: pytest.fail("optimizer ran"))
        result = portfolio.run_minimax(d, c, device="cpu")
        assert result.params["construction"] == dec.plan.name
        assert "not_run" in result.params["candidates"]["optimizer"]


def test_the_engine_predicted_sooner_runs_and_starts_from_rows_predicted_better(monkeypatch):
    assert portfolio.decide(32, 1000, "cpu", known_codes=False).engine == "all-pairs"
    dec = portfolio.decide(32, 5000, "cpu")
    assert dec.engine == "neighbours" and dec.run_optimizer
    assert dec.plan.max_cosine > dec.predicted_optimizer  # the code is predicted to lose: random rows
    seen = {}

    def fake(start, steps, options, **kw):
        seen.update(start=start, warm=kw["warm"])
        return MethodResult(start, {}, steps)

    monkeypatch.setattr(portfolio, "optimize_neighbours", fake)
    result = portfolio.run_minimax(32, 5000, device="cpu")
    assert not seen["warm"] and np.array_equal(seen["start"], random_unit_rows((5000, 32), 0))
    assert result.params["construction"] == dec.plan.name  # random rows lose to the code, which is kept
    # a code at least as good as the prediction is the start
    monkeypatch.setattr(portfolio, "optimizer_prediction", lambda d, c: portfolio.Prediction(0.49, 0.05, "fit"))
    portfolio.run_minimax(32, 5000, device="cpu", engine="neighbours")
    assert seen["warm"] and np.array_equal(seen["start"], dec.plan.build())


def test_options_are_declared_once_and_checked():
    params = get_method("minimax").parameters()
    for f in dataclasses.fields(OptimizerOptions):
        assert params[f.name].default == f.default
    assert set(params) == {f.name for f in dataclasses.fields(OptimizerOptions)} | {"known_codes"}
    with pytest.raises(Exception, match="neighbours"):
        OptimizerOptions(neighbours=0)


def test_generate_decides_once(monkeypatch, run_cli, tmp_path):
    calls = []
    real = portfolio.decide

    def counting(*a, **k):
        calls.append(a[:2])
        return real(*a, **k)

    monkeypatch.setattr(portfolio, "decide", counting)
    code, _, err = run_cli("generate", "--d", "8", "--c", "240", "--device", "cpu", "--out", str(tmp_path / "p.h5"))
    assert code == 0, err
    assert calls == [(8, 240)]
