"""Handling artifacts from the shell: info, verify, export, methods, cache, help and --json."""

import dataclasses
import inspect
import json
import os
import sys
import time

import h5py
import numpy as np
import pytest

import protobank
from protobank import cache, index
from protobank.optimize import get_method, method_names


@pytest.fixture
def artifact(tmp_path):
    return protobank.save(protobank.generate(5, 9, method="random", seed=2), tmp_path / "p.h5")


def _json(run_cli, *args):
    code, out, err = run_cli(*args, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["protobank_version"] == protobank.__version__ and doc["schema_version"] == 1
    return doc


def test_info_shows_what_the_file_is(run_cli, artifact):
    doc = _json(run_cli, "info", str(artifact))
    p = protobank.read(artifact)
    assert (doc["d"], doc["c"], doc["method"], doc["seed"], doc["dtype"]) == (5, 9, "random", 2, "float64")
    assert doc["content_sha256"] == p.content_sha256 and doc["metrics"]["max_cosine"] == p.metrics["max_cosine"]
    assert doc["provenance"]["protobank"] == protobank.__version__
    code, out, _ = run_cli("info", str(artifact))
    assert code == 0 and p.content_sha256 in out and "c=9 x d=5" in out and "random" in out


def test_verify_exits_0_or_1(run_cli, artifact, tmp_path):
    assert run_cli("verify", str(artifact))[0] == 0
    bad = tmp_path / "bad.h5"
    bad.write_bytes(artifact.read_bytes())
    with h5py.File(bad, "r+") as f:
        f["metrics"].attrs["max_cosine"] = -0.5
    code, out, _ = run_cli("verify", str(artifact), str(bad))
    assert code == 1 and f"ok {artifact}" in out and f"FAIL {bad}" in out
    code, out, _ = run_cli("verify", str(artifact), str(bad), "--json")
    doc = json.loads(out)
    assert code == 1 and not doc["ok"] and [f["ok"] for f in doc["files"]] == [True, False]


@pytest.mark.parametrize("layout", ["cd", "dc"])
def test_export_round_trips_every_format(run_cli, artifact, tmp_path, layout):
    import torch

    v = protobank.read(artifact).vectors
    want = v if layout == "cd" else v.T
    for fmt, load in {
        "npy": np.load,
        "csv": lambda p: np.loadtxt(p, delimiter=","),
        "pt": lambda p: torch.load(p, weights_only=True).numpy(),
    }.items():
        out = tmp_path / f"w-{layout}.{fmt}"
        doc = _json(run_cli, "export", str(artifact), "--format", fmt, "--layout", layout, "--out", str(out))
        assert doc["path"] == str(out) and doc["shape"] == list(want.shape)
        np.testing.assert_array_equal(load(out), want)  # bitwise, csv included
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_default_name_and_no_overwrite(run_cli, artifact):
    code, _, err = run_cli("export", str(artifact), "--format", "npy")
    target = artifact.with_suffix(".npy")
    assert code == 0 and target.is_file(), err
    before = target.read_bytes()
    code, _, err = run_cli("export", str(artifact), "--format", "npy", "--layout", "dc")
    assert code == 1 and "exists" in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == before


def test_export_safetensors_or_a_one_line_hint(run_cli, artifact, tmp_path, monkeypatch):
    try:
        from safetensors.numpy import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        out = tmp_path / "w.safetensors"
        assert run_cli("export", str(artifact), "--format", "safetensors", "--out", str(out))[0] == 0
        np.testing.assert_array_equal(load_file(out)["prototypes"], protobank.read(artifact).vectors)
        from safetensors import safe_open

        with safe_open(out, "np") as f:
            assert f.metadata()["content_sha256"] == protobank.read(artifact).content_sha256
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    code, out, err = run_cli("export", str(artifact), "--format", "safetensors", "--out", str(tmp_path / "x.safetensors"))
    assert code == 1 and "pip install safetensors" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_methods_lists_the_real_parameters(run_cli):
    doc = _json(run_cli, "methods")
    assert doc["default"] == "minimax" and [m["name"] for m in doc["methods"]] == method_names()
    for m in doc["methods"]:
        method = get_method(m["name"])
        sig = inspect.signature(method.run).parameters
        options = {f.name: f.default for f in dataclasses.fields(method.options)} if method.options else {}
        for p in m["parameters"]:  # each a keyword of run() or a field of its options, same default
            assert (sig[p["name"]].default if p["name"] in sig else options[p["name"]]) == p["default"]
        assert "_" not in [p["name"] for p in m["parameters"]]
    gaussian = {p["name"]: p for p in next(m for m in doc["methods"] if m["name"] == "gaussian")["parameters"]}
    assert gaussian["t"] == {"name": "t", "type": "float", "default": 2.0}
    code, out, _ = run_cli("methods")
    assert code == 0 and "subset" in out and "beta_end" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--method", "etf", "-p", "scale=2"], "method 'etf' has no parameter 'scale'. Its parameters: none"),
        (["--method", "gaussian", "-p", "subset=abc"], "parameter 'subset' must be int, got 'abc'"),
        (["--method", "gaussian", "-p", "t=x"], "parameter 't' must be float, got 'x'"),
        (["--method", "gaussian", "-p", "self_pairs=1"], "parameter 'self_pairs' must be bool"),
    ],
)
def test_parameter_errors_name_the_real_parameter(run_cli, args, needle):
    code, out, err = run_cli("generate", "--d", "3", "--c", "4", *args)
    assert code == 1 and needle in err and "_'" not in err and len(err.strip().splitlines()) == 1


def test_cache_list_verify_clean(run_cli):
    first = _json(run_cli, "generate", "--d", "3", "--c", "4", "--method", "random")
    _json(run_cli, "generate", "--d", "3", "--c", "5", "--method", "random")
    listed = _json(run_cli, "cache", "list")
    assert {e["content_sha256"] for e in listed["entries"]} >= {first["content_sha256"]} and len(listed["entries"]) == 2
    assert _json(run_cli, "cache", "verify")["ok"]
    root = cache.cache_dir()
    stray = root / "d0003" / "d0003-c00009-random-00000000.h5"
    stray.write_bytes(b"")
    old_tmp, new_tmp = root / "d0003" / ".x.h5.a.tmp", root / "d0003" / ".x.h5.b.tmp"
    old_tmp.write_bytes(b""), new_tmp.write_bytes(b"")
    os.utime(old_tmp, (time.time() - 2 * cache.STALE_TMP_SECONDS,) * 2)
    code, out, _ = run_cli("cache", "verify")
    assert code == 1 and "not in the index" in out
    assert stray.exists() and _json(run_cli, "cache", "clean", "--dry-run")["files"] == sorted([str(old_tmp), str(stray)])
    assert run_cli("cache", "clean")[0] == 0
    assert not stray.exists() and not old_tmp.exists() and new_tmp.exists()  # a live writer's file stays
    assert _json(run_cli, "cache", "verify")["ok"]
    assert run_cli("cache", "clean", "--all")[0] == 0
    assert index.read_index(root) == [] and not list(root.glob("d*/*.h5"))


def test_dash_h_help_examples_and_completion(run_cli):
    for args in ([], ["generate"], ["cache"], ["bank"], ["export"]):
        code, out, _ = run_cli(*args, "-h")
        assert code == 0 and "Usage" in out and "--help" in out
    for command in ("generate", "inspect", "info", "verify", "export", "methods"):
        assert "Examples:" in run_cli(command, "--help")[1]
    code, out, _ = run_cli("--show-completion", "bash")
    assert code == 0 and "_PROTOBANK_COMPLETE" in out and "complete" in out


@pytest.mark.parametrize(
    "args",
    [
        ["generate", "--d", "3", "--c", "4", "--method", "random"],
        ["inspect", "--d", "3", "--c", "4", "--baselines", "none"],
        ["bank", "list", "--d", "3"],
        ["methods"],
        ["cache", "list"],
        ["cache", "verify"],
        ["cache", "clean"],
    ],
)
def test_every_json_document_carries_its_versions(run_cli, args):
    _json(run_cli, *args)
