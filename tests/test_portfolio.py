"""The default method's portfolio: catalogue plans, unions, spread subsets and the choice."""

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import protobank
from protobank.codes.plan import Plan, best_plan
from protobank.generation import forecast
from protobank.measure import geometry
from protobank.optimize import portfolio
from protobank.optimize.base import MethodResult

BANK = Path(__file__).resolve().parents[1] / "bank"


@pytest.mark.parametrize(
    "d,c,family,value",
    [(16, 200, "real_mub", Fraction(1, 4)), (32, 1000, "gold", Fraction(7, 31)),
     (64, 1000, "real_mub", Fraction(1, 8)), (128, 10000, "gold", Fraction(15, 127)),
     (256, 10000, "real_mub", Fraction(1, 16)), (512, 100000, "gold", Fraction(31, 511)),
     (1024, 100000, "real_mub", Fraction(1, 32))],
)
def test_planner_reaches_the_known_codes(d, c, family, value):
    plan = best_plan(d, c)
    assert [p.family for p in plan.parts] == [family]
    assert plan.max_cosine == pytest.approx(float(value), abs=1e-15)


@pytest.mark.parametrize("d,c", [(16, 200), (32, 1000), (64, 1000)])
def test_planned_vectors_meet_the_plan_over_all_pairs(d, c):
    x = best_plan(d, c).build()
    assert x.shape == (c, d)
    r = geometry(x)
    assert r.max_cosine == pytest.approx(best_plan(d, c).max_cosine, abs=1e-12)
    assert r.max_norm_deviation < 1e-12


def test_large_plan_meets_the_proven_value_on_sampled_rows():
    plan = best_plan(128, 10000)
    r = geometry(plan.build(), rows=300)
    assert r.measured_rows == 300 and r.max_cosine == pytest.approx(15 / 127, abs=1e-12)


def test_union_keeps_the_larger_bound_and_parts_are_orthogonal():
    plan = best_plan(128, 1000)
    assert len(plan.parts) >= 2 and plan.max_cosine == pytest.approx(1 / 9, abs=1e-15)
    x = plan.build()
    a, b = plan.parts[0], plan.parts[1]
    rows_a, rows_b = x[: a.count], x[a.count : a.count + b.count]
    assert np.abs(rows_a @ rows_b.T).max() == 0.0
    assert geometry(x).max_cosine <= plan.max_cosine + 1e-12
    assert abs(a.count - b.count) <= 1  # equal codes share c evenly


@pytest.mark.parametrize("d,c,limit", [(32, 1000, 5e-3), (128, 10000, 1e-3), (256, 10000, 1e-12), (512, 100000, 3e-4)])
def test_spread_subset_has_a_small_centroid(d, c, limit):
    plan = best_plan(d, c)
    assert np.linalg.norm(plan.centroid()) <= limit
    # far below the 1/sqrt(c) of a random subset
    assert np.linalg.norm(plan.centroid()) < 0.5 / np.sqrt(c)


def test_plan_record_rebuilds_bitwise():
    plan = best_plan(100, 5000)
    doc = json.loads(json.dumps(plan.to_dict()))
    again = Plan.from_dict(doc)
    assert np.array_equal(again.build(), plan.build())
    assert again.name == plan.name


def test_bad_plan_records_are_refused():
    doc = best_plan(32, 1000).to_dict()
    with pytest.raises(ValueError, match="selection"):
        Plan.from_dict({**doc, "selection": "random"})
    too_many = json.loads(json.dumps(doc))
    too_many["parts"][0]["count"] = 5000
    too_many["c"] = 5000
    with pytest.raises(ValueError, match="more rows"):
        Plan.from_dict(too_many)


def test_no_plan_where_no_code_fits():
    assert best_plan(3, 100) is None


def _bank_cells():
    doc = json.loads((BANK / "index.json").read_text())
    return [e for e in doc["entries"] if e["default"] and e.get("kind", "file") == "file"]


def test_never_worse_than_the_bank_or_the_best_code(monkeypatch):
    """With the optimizer replaced by the bank's stored result (today's default), the
    portfolio keeps the better of that and the plan on every bank cell a code fits."""
    from protobank.artifact import read

    cells = [e for e in _bank_cells() if best_plan(e["d"], e["c"]) is not None and e["c"] > 2 * e["d"]]
    assert cells
    for e in cells:
        stored = read(BANK / e["path"]).vectors.astype(np.float64)
        monkeypatch.setattr(portfolio, "optimize", lambda d, c, _x=stored, **kw: MethodResult(_x, {}, 1))
        result = portfolio.run_minimax(e["d"], e["c"], device="cpu")
        got = geometry(result.vectors).max_cosine
        assert got <= e["metrics"]["max_cosine"] + 1e-6, (e["d"], e["c"])
        assert got <= best_plan(e["d"], e["c"]).max_cosine + 1e-9, (e["d"], e["c"])


def test_default_records_the_winner_and_its_gap():
    p = protobank.generate(8, 240, device="cpu")
    params = p.method_params
    assert params["construction"] == "e8()[240]" and p.iterations == 0
    assert p.metrics["max_cosine"] == pytest.approx(0.5, abs=1e-12)
    assert params["gap_to_bound"] == pytest.approx(0.0, abs=1e-12)
    assert Plan.from_dict(params["plan"]).build().tobytes() == p.vectors.tobytes()


def test_a_plan_short_of_the_bound_still_faces_the_optimizer(monkeypatch):
    calls = []

    def fake(d, c, **kw):
        calls.append((d, c))
        return MethodResult(best_plan(d, c).build()[::-1].copy(), {"restarts": 1}, 7)

    monkeypatch.setattr(portfolio, "optimize", fake)
    result = portfolio.run_minimax(32, 100, device="cpu")
    assert calls == [(32, 100)]
    assert result.params["candidates"]["optimizer"]["max_cosine"] == pytest.approx(1 / 11, abs=1e-12)
    # equal max cosine and uniformity: the tie goes to the code
    assert result.params["construction"].startswith("hs_100()")


def test_large_c_is_a_code_without_the_optimizer():
    dec = portfolio.decide(512, 100000, "cpu")
    assert not dec.run_optimizer and dec.plan.parts[0].family == "gold"
    assert forecast(512, 100000, device="cpu") is None


def test_long_optimizer_runs_are_announced_with_time_and_memory():
    message = forecast(512, 100000, device="cpu", known_codes=False)
    cost = portfolio.decide(512, 100000, "cpu", known_codes=False).optimizer
    hours, gib = f"{cost.seconds / 3600:.1f} h", f"{cost.bytes / 2**30:.1f} GiB"
    assert message is not None and f"neighbours optimizer predicted to take {hours} and {gib}" in message
    assert forecast(512, 100000, method="random", device="cpu") is None


def test_an_optimizer_run_memory_cannot_hold_is_refused_before_it_starts(run_cli, tmp_path, monkeypatch):
    from protobank.optimize import base

    monkeypatch.setattr(base, "available_memory", lambda device: 64 * 2**20)  # the rows fit, the run not
    out = tmp_path / "p.h5"
    code, stdout, err = run_cli("generate", "--d", "10", "--c", "20000", "--device", "cpu", "--out", str(out))
    assert code == 1 and stdout == "" and not out.exists()
    last = err.strip().splitlines()[-1]  # after the forecast, one error line
    assert "Traceback" not in err and err.count("error:") == 1 and last.startswith("error:")
    assert "the neighbours optimizer at d=10, c=20000 needs about" in last and "a smaller c" in last


def test_rows_memory_cannot_hold_are_refused_with_the_figure(monkeypatch):
    from protobank.errors import ResourceLimitError
    from protobank.optimize import base

    monkeypatch.setattr(base, "available_memory", lambda device: 2**20)  # 1 MiB free
    with pytest.raises(ResourceLimitError, match=r"holding 20000 x 10 prototypes needs about .* a smaller c or d"):
        protobank.generate(d=10, c=20000, method="random", device="cpu")


def test_sampled_geometry_matches_the_dense_pairs_of_its_rows():
    x = np.random.default_rng(3).standard_normal((300, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    r = geometry(x, rows=40)
    idx = np.unique(np.linspace(0, 299, 40).round().astype(int))
    g = x[idx] @ x.T
    g[np.arange(len(idx)), idx] = -np.inf
    assert r.measured_rows == len(idx)
    np.testing.assert_allclose(r.row_max_cosine, g.max(axis=1), atol=1e-12)
    full = geometry(x)
    assert r.mean_cosine == pytest.approx(full.mean_cosine, abs=1e-14) and r.max_cosine <= full.max_cosine


def test_sampled_artifacts_verify_the_way_they_were_measured(monkeypatch, tmp_path):
    monkeypatch.setattr(portfolio, "MEASURE_WORK", 1e5)
    p = protobank.generate(8, 240, device="cpu")
    assert p.metrics["measured_rows"] == 52 and p.metrics["max_cosine"] == pytest.approx(0.5, abs=1e-12)
    path = protobank.save(p, tmp_path / "p.h5")
    assert protobank.verify(path).ok


def test_recipe_entry_round_trip_and_hash_check(tmp_path):
    from protobank import bank
    from protobank.errors import ChecksumMismatchError, InvalidArtifactError
    from protobank.lookup import load

    entries = bank.build_bank(tmp_path, [(8, 240)], device="cpu")
    assert [(e.kind, e.path, e.default) for e in entries] == [("recipe", None, True)]
    assert not list(tmp_path.rglob("*.h5"))
    p = load(8, 240, bank=tmp_path)
    assert np.array_equal(p.vectors, protobank.generate(8, 240).vectors) and p.content_sha256 == entries[0].content_sha256
    assert all(ch.ok for ch in bank.verify_bank(tmp_path))

    doc = json.loads((tmp_path / "index.json").read_text())
    doc["entries"][0]["content_sha256"] = "0" * 64
    (tmp_path / "index.json").write_text(json.dumps(doc))
    with pytest.raises(ChecksumMismatchError):
        load(8, 240, bank=tmp_path)
    doc["entries"][0]["content_sha256"] = entries[0].content_sha256
    doc["entries"][0]["method_params"]["plan"]["parts"][0]["count"] = 241
    (tmp_path / "index.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidArtifactError, match="cannot be rebuilt"):
        load(8, 240, bank=tmp_path)
