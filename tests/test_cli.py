import json

import pytest

import protobank


def test_generate_json_is_one_document(run_cli, tmp_path):
    out = tmp_path / "p.h5"
    code, stdout, stderr = run_cli("generate", "--d", "6", "--c", "10", "--out", str(out), "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["path"] == str(out) and doc["method"] == "minimax" and doc["d"] == 6 and doc["c"] == 10
    assert doc["metrics"]["max_cosine"] == pytest.approx(0.0)
    assert protobank.read(out).content_sha256 == doc["content_sha256"]


def test_generate_default_writes_into_cache(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PROTOBANK_CACHE_DIR", str(tmp_path / "cache"))
    code, stdout, _ = run_cli("generate", "--d", "3", "--c", "4", "--json")
    path = json.loads(stdout)["path"]
    assert code == 0 and path.startswith(str(tmp_path / "cache"))
    # the same content again is not an error: the cache is content-addressed
    assert run_cli("generate", "--d", "3", "--c", "4", "--json")[0] == 0


def test_generate_into_folder_and_float32(run_cli, tmp_path):
    code, stdout, _ = run_cli("generate", "--d", "4", "--c", "6", "--out", str(tmp_path), "--dtype", "float32", "--json")
    assert code == 0
    p = protobank.read(json.loads(stdout)["path"])
    assert p.dtype == "float32"


def test_generate_human_summary(run_cli, tmp_path):
    code, stdout, _ = run_cli("generate", "--d", "5", "--c", "8", "--method", "gaussian", "--iters", "10", "--out", str(tmp_path / "g.h5"))
    assert code == 0 and "max cosine" in stdout and "gaussian" in stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_generate_human_summary_in_either_dtype(run_cli, tmp_path, dtype):
    code, stdout, err = run_cli("generate", "--d", "4", "--c", "6", "--dtype", dtype, "--out", str(tmp_path / "p.h5"))
    assert code == 0, err
    assert "time" in stdout and protobank.read(tmp_path / "p.h5").dtype == dtype


def test_existing_output_needs_overwrite(run_cli, tmp_path):
    out = tmp_path / "p.h5"
    assert run_cli("generate", "--d", "3", "--c", "4", "--out", str(out))[0] == 0
    before = out.read_bytes()
    code, _, err = run_cli("generate", "--d", "3", "--c", "4", "--out", str(out), "--method", "random")
    assert code == 1 and "--overwrite" in err and out.read_bytes() == before
    assert run_cli("generate", "--d", "3", "--c", "4", "--out", str(out), "--method", "random", "--overwrite")[0] == 0


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["generate", "--d", "0", "--c", "10"], 2, "--d"),
        (["generate", "--d", "x", "--c", "10"], 2, "--d"),
        (["generate", "--d", "3"], 2, "--c"),
        (["generate", "--d", "3", "--c", "10", "--bogus"], 2, "--bogus"),
        (["generate", "--d", "3", "--c", "10", "--method", "hpm"], 1, "Did you mean 'hpn'"),
        (["generate", "--d", "3", "--c", "10", "--method", "etf"], 1, "c <= d + 1"),
        (["generate", "--d", "3", "--c", "10", "--out", "/nonexistent/dir/p.h5"], 1, "does not exist"),
        (["generate", "--d", "3", "--c", "10", "--dtype", "float16"], 1, "float32 or float64"),
        (["generate", "--d", "3", "--c", "10", "--param", "nokey"], 1, "KEY=VALUE"),
        (["generate", "--d", "3", "--c", "10", "--device", "cuda:7"], 1, "device"),
        (["nosuchcommand"], 2, "nosuchcommand"),
    ],
)
def test_bad_input_one_line_no_traceback(run_cli, args, code, needle):
    got, out, err = run_cli(*args)
    assert got == code
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and protobank.__version__ in out


@pytest.mark.parametrize(
    "args,code",
    [
        (["inspect", "--d", "three", "--c", "8"], 2),
        (["inspect", "--d", "3", "--c", "1"], 2),
        (["inspect", "--time-budget", "-1", "--d", "3", "--c", "8"], 2),
        (["inspect", "--unknown"], 2),
        (["inspect", "/no/such.h5"], 1),
        (["bank"], 2),
        (["bank", "list", "--d", "0"], 2),
        (["bank", "list", "--frobnicate"], 2),
        (["bank", "verify", "/no/such/folder"], 1),
        (["bank", "build"], 2),
        (["bank", "build", "/tmp/x", "--d", "3"], 1),
        (["bank", "build", "/tmp/x", "--dtype", "int8"], 1),
        (["generate", "--d", "3", "--c", "10", "--seed", "-2"], 2),
        (["generate", "--d", "3", "--c", "10", "--iters", "0"], 2),
        (["generate", "--d", "3", "--c", "10", "--iters", "1.5"], 2),
        (["generate", "--d", "3", "--c", "10", "--method", "gaussian", "--param", "lr=-1"], 1),
        (["generate", "--d", "3", "--c", "10", "--method", "gaussian", "--param", "sbset=3"], 1),
    ],
)
def test_every_command_rejects_bad_input_cleanly(run_cli, args, code):
    got, _, err = run_cli(*args)
    assert got == code and "Traceback" not in err
    if args != ["bank"]:  # a bare group prints its help instead
        assert len(err.strip().splitlines()) == 1
