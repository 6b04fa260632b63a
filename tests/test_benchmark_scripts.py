"""The training benchmark scripts run as docs/benchmarks.md shows them (on a tiny budget)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip


def test_train_compare_records_each_run_once_and_plots_them(tmp_path):
    results = tmp_path / "syn.json"
    grid = ["--data", "synthetic", "--dims", "4", "--seeds", "0", "--epochs", "1", "--json", str(results)]
    first = _script("train_compare.py", *grid, "--modes", "softmax")
    assert first.returncode == 0, first.stderr[-3000:]
    second = _script("train_compare.py", *grid, "--modes", "softmax", "dynamic-ce", "--set", "scale=8")
    assert second.returncode == 0, second.stderr[-3000:]
    runs = json.loads(results.read_text())
    # the softmax head has no use for the CE scale: its run is neither repeated nor relabelled
    assert [(r["mode"], r["config"]["scale"]) for r in runs] == [("softmax", None), ("dynamic-ce", 8.0)]
    assert "| 4 | dynamic-ce scale=8.0 |" in second.stdout and "| 4 | softmax |" in second.stdout
    again = _script("train_compare.py", *grid, "--modes", "dynamic-ce", "--set", "scale=8")
    assert again.returncode == 0 and "seed=0" not in again.stdout  # recorded runs are not repeated
    assert len(json.loads(results.read_text())) == 2

    png = tmp_path / "acc.png"
    plot = _script("plot_accuracy_vs_d.py", str(results), "--epochs", "1", "--out", str(png),
                   "--curve", "softmax=softmax", "--curve", "fixed=dynamic-ce scale=8.0")  # fmt: skip
    assert plot.returncode == 0, plot.stderr[-3000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_compare_refuses_an_unknown_setting(tmp_path):
    done = _script("train_compare.py", "--data", "synthetic", "--set", "ce_scael=4")
    assert done.returncode != 0 and "unknown TrainConfig field" in done.stderr


@pytest.mark.parametrize("script", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_every_benchmark_script_imports(script, monkeypatch):
    """A renamed library function breaks a benchmark at import; catch it here, not in a user's hands."""
    monkeypatch.syspath_prepend(str(script.parent))
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
