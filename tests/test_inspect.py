import json

import numpy as np
import pytest

import protobank
from protobank.baselines import estimated_seconds, run_baselines
from protobank.foreign import as_prototype_rows, read_matrix


def test_inspect_artifact_json_against_baselines(run_cli, tmp_path):
    path = protobank.save(protobank.generate(4, 5, method="etf", seed=1), tmp_path / "p.h5")
    code, out, err = run_cli("inspect", str(path), "--json", "--baselines", "etf,random")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["subject"]["max_cosine"] == pytest.approx(-0.25)
    assert doc["bound"] == {"value": pytest.approx(-0.25), "kind": "regular simplex", "exact": True}
    assert doc["baselines"]["etf"]["max_cosine"] == pytest.approx(-0.25)
    assert set(doc["baselines"]) == {"etf", "random"}


def test_inspect_bank_default_with_plot(run_cli, tmp_path):
    png = tmp_path / "fig.png"
    code, out, err = run_cli("inspect", "--d", "3", "--c", "8", "--baselines", "etf,hpn,random", "--plot", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "max cosine" in out and "etf: skipped, not possible: c > d + 1" in out


def test_inspect_foreign_dc_matrix_normalises_with_warning(run_cli, tmp_path):
    x = np.random.default_rng(0).standard_normal((6, 40)) * 3  # (d, c), not unit
    np.save(tmp_path / "w.npy", x)
    code, out, err = run_cli("inspect", str(tmp_path / "w.npy"), "--json", "--baselines", "none")
    assert code == 0
    assert "not unit length" in err and "(d, c)" in err
    assert json.loads(out)["c"] == 40


@pytest.mark.filterwarnings("ignore:.*not unit length")
def test_read_matrix_formats(tmp_path):
    import torch

    x = np.random.default_rng(1).standard_normal((20, 5))
    torch.save({"prototypes": torch.from_numpy(x)}, tmp_path / "w.pt")
    np.savez(tmp_path / "w.npz", protos=x.T)
    a = read_matrix(tmp_path / "w.pt")
    b = read_matrix(tmp_path / "w.npz", layout="dc")
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1)


def test_square_matrix_needs_layout():
    with pytest.raises(protobank.InvalidInputError, match="--layout"):
        as_prototype_rows(np.eye(4))
    assert as_prototype_rows(np.eye(4), layout="cd").shape == (4, 4)


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["inspect"], 1, "--d and --c"),
        (["inspect", "/no/such/file.npy"], 1, "no such file"),
        (["inspect", "--d", "3", "--c", "8", "--baselines", "etff"], 1, "Did you mean 'etf'"),
        (["inspect", "--d", "3", "--c", "8", "--layout", "xy", "--baselines", "none"], 1, "--layout"),
    ],
)
def test_inspect_bad_input(run_cli, args, code, needle):
    got, _, err = run_cli(*args)
    assert got == code and needle in err and "Traceback" not in err


def test_baselines_skipped_beyond_time_budget():
    res = run_baselines(16, 50_000, ["hpn", "random"], time_budget=10)
    assert res[0].skipped and "time budget" in res[0].skipped and res[0].report is None
    assert res[1].report is not None
    assert estimated_seconds(16, 50_000, 1000, "cpu") > 10
