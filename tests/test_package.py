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
