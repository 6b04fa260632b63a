import importlib
import pkgutil
import subprocess
import sys

import protobank


def test_public_names_stay_callable_after_every_submodule_is_imported():
    """A submodule named like a public function would shadow it once imported."""
    for mod in pkgutil.walk_packages(protobank.__path__, "protobank."):
        importlib.import_module(mod.name)
    for name in ("generate", "geometry", "read", "save", "verify", "load", "list_available", "methods", "max_cosine_bound"):
        assert callable(getattr(protobank, name)), name
    assert protobank.methods() == ["etf", "gaussian", "hpn", "minimax", "random"]


def test_import_is_cheap():
    code = "import sys, protobank; print(sorted(m for m in ('torch', 'scipy', 'matplotlib', 'h5py') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_torch_range_is_stated_once_and_holds_here():
    """pyproject and README state the same torch range, and the torch running the tests is in it."""
    import re
    from pathlib import Path

    import pytest
    import torch

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    root = Path(__file__).resolve().parents[1]
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("torch")]
    assert f"`{spec}`" in (root / "README.md").read_text()
    low, high = re.fullmatch(r"torch>=([\d.]+),<([\d.]+)", spec).groups()
    have = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", torch.__version__).groups())
    assert tuple(int(x) for x in low.split(".")[:2]) <= have < (int(high), 0)
