"""Others can read the format: the HDF5 command-line tools (h5ls, h5dump) see exactly what
h5py sees. Debian/Ubuntu: apt-get install hdf5-tools; skipped where the tools are absent."""

import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest

import protobank

pytestmark = pytest.mark.skipif(not (shutil.which("h5dump") and shutil.which("h5ls")), reason="hdf5-tools not installed")


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def _dumped_attributes(text: str) -> dict[str, str]:
    """``name -> value`` of scalar attributes in h5dump's DDL (strings keep their quotes)."""
    return dict(re.findall(r'ATTRIBUTE "(\w+)" \{.*?DATA \{\s*\(0\): (.*?)\n\s*\}', text, flags=re.S))


def _same(dumped: str, value) -> bool:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return dumped == f'"{value}"'
    if isinstance(value, (np.integer, int)):
        return int(dumped) == int(value)
    return float(dumped) == float(value)  # printed with 17 significant digits: exact


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hdf5_tools_read_what_h5py_reads(tmp_path, dtype):
    p = protobank.generate(4, 11, method="random", seed=5).astype(dtype)
    path = protobank.save(p, tmp_path / "p.h5")

    listing = _run("h5ls", "-r", str(path))
    assert re.search(r"^/prototypes\s+Dataset \{11, 4\}$", listing, flags=re.M), listing
    assert {"/metrics", "/provenance"} <= set(re.findall(r"^(/\w+)\s+Group", listing, flags=re.M))

    raw = tmp_path / "prototypes.bin"
    _run("h5dump", "-d", "/prototypes", "-b", "LE", "-o", str(raw), str(path))
    with h5py.File(path, "r", locking=False) as f:
        stored = f["prototypes"][()]
        assert stored.dtype == np.dtype(dtype)
        assert raw.read_bytes() == stored.astype(stored.dtype.newbyteorder("<")).tobytes()
        assert protobank.schema.content_sha256(np.frombuffer(raw.read_bytes(), f"<f{stored.itemsize}").reshape(11, 4)) == p.content_sha256

        attrs = {name: value for group in ("/", "/metrics", "/provenance") for name, value in f[group].attrs.items()}
        assert len(attrs) == sum(len(f[g].attrs) for g in ("/", "/metrics", "/provenance"))  # names are unique
    dumped = _dumped_attributes(_run("h5dump", "-A", "-m", "%.17g", str(path)))
    assert set(dumped) == set(attrs)
    for name, value in attrs.items():
        assert _same(dumped[name], value), (name, dumped[name], value)
    header = _run("h5dump", "-H", "-d", "/prototypes", str(path))
    assert ("H5T_IEEE_F64LE" if dtype == "float64" else "H5T_IEEE_F32LE") in header
