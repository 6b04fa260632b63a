import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import h5py
import numpy as np
import pytest

import protobank
from protobank import bank, folders, index
from protobank.errors import ChecksumMismatchError, PrototypesNotFoundError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_bank(tmp_path):
    root = tmp_path / "bank"
    bank.build_bank(root, [(3, 4), (3, 8), (5, 12)], method="minimax", dtype="float32")
    return root


def test_build_writes_deterministic_index(small_bank):
    entries = index.read_index(small_bank)
    assert [(e.d, e.c) for e in entries] == [(3, 4), (3, 8), (5, 12)]
    assert all(e.default for e in entries)
    doc = json.loads((small_bank / "index.json").read_text())
    assert list(doc) == sorted(doc)
    text = (small_bank / "index.json").read_text()
    index.write_index(small_bank, reversed(entries))
    assert (small_bank / "index.json").read_text() == text
    for e in entries:
        assert e.path == f"d{e.d:04d}/d{e.d:04d}-c{e.c:05d}-minimax-{e.content_sha256[:8]}.h5"
        assert e.dtype == "float32" and e.size_bytes == e.file.stat().st_size


def test_build_is_resumable(small_bank):
    before = (small_bank / "index.json").read_text()
    seen = []
    bank.build_bank(small_bank, [(3, 4), (3, 8), (5, 12)], on_entry=lambda e, skipped: seen.append(skipped))
    assert seen == [True, True, True] and (small_bank / "index.json").read_text() == before


def test_load_from_bank_argument_and_env(small_bank, monkeypatch):
    p = protobank.load(3, 8, bank=small_bank)
    assert p.c == 8 and p.source.parent.parent == small_bank
    monkeypatch.setenv("PROTOBANK_BANK_PATH", str(small_bank))
    assert protobank.load(5, 12).content_sha256 == index.read_index(small_bank)[2].content_sha256
    sha = p.content_sha256
    assert protobank.load(3, 8, sha256=sha[:10]).content_sha256 == sha
    with pytest.raises(PrototypesNotFoundError):
        protobank.load(3, 8, sha256="deadbeef")


def test_not_found_names_locations_nearest_and_command(small_bank):
    with pytest.raises(PrototypesNotFoundError) as info:
        protobank.load(3, 9, bank=small_bank)
    msg = str(info.value)
    assert str(small_bank) in msg and "(d=3, c=8)" in msg and "protobank generate --d 3 --c 9" in msg


def test_tampered_file_refused_by_load_and_verify(small_bank, run_cli):
    entry = index.read_index(small_bank)[1]
    with h5py.File(entry.file, "r+") as f:
        v = f["prototypes"][()]
        v[0, 0] = np.nextafter(v[0, 0], np.float32(2))  # one float changed, still a unit row
        f["prototypes"][...] = v
    with pytest.raises(ChecksumMismatchError):
        protobank.load(3, 8, bank=small_bank)
    code, out, _ = run_cli("bank", "verify", str(small_bank))
    assert code == 1 and "FAIL" in out and entry.path in out


def test_verify_reports_extra_missing_and_defaults(small_bank, run_cli):
    assert run_cli("bank", "verify", str(small_bank))[0] == 0
    entries = index.read_index(small_bank)
    shutil.copy(entries[0].file, small_bank / "d0003" / "stray.h5")
    entries[2].file.unlink()
    other = protobank.generate(3, 8, seed=1, device="cpu").astype("float32")
    assert other.content_sha256 != entries[1].content_sha256
    second = index.entry_for(other, small_bank, protobank.save(other, small_bank / index.artifact_name(other)), default=True)
    index.write_index(small_bank, [*entries, second])
    problems = {c.path: c.problems for c in bank.verify_bank(small_bank) if not c.ok}
    assert problems["d0003/stray.h5"] == ("not in the index",)
    assert problems[entries[2].path] == ("missing file",)
    assert "2 default entries for 2 artifacts" in problems["(d=3, c=8, method=minimax)"][0]
    index.write_index(small_bank, [entries[0], dataclasses.replace(entries[1], default=False), entries[2], dataclasses.replace(second, default=False)])
    problems = {c.path: c.problems for c in bank.verify_bank(small_bank) if not c.ok}
    assert "0 default entries for 2 artifacts" in problems["(d=3, c=8, method=minimax)"][0]


def _load_generate(cache, q):
    os.environ["PROTOBANK_CACHE_DIR"] = cache
    import protobank as pb

    q.put(pb.load(4, 13, generate=True).content_sha256)


def test_two_processes_generate_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_load_generate, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)  # generous: both runs share the CPU with the rest of the machine
    assert [p.exitcode for p in procs] == [0, 0]
    a, b = q.get(), q.get()
    assert a == b
    files = list(tmp_path.glob("d*/*.h5"))
    assert len(files) == 1 and protobank.read(files[0]).content_sha256 == a
    assert not list(tmp_path.glob("d*/.*.tmp"))


def test_packaged_bank_is_valid():
    """Every shipped entry: hashes and schema always; metrics recomputed for a sample
    (PROTOBANK_FULL_BANK_CHECK=1 checks them all)."""
    root = folders.packaged_bank()
    if root is None or not index.read_index(root):
        pytest.skip("no bank shipped in this checkout")
    sample = None if os.environ.get("PROTOBANK_FULL_BANK_CHECK") == "1" else 8
    bad = [c for c in bank.verify_bank(root, sample=sample) if not c.ok]
    assert not bad, bad[:3]


@pytest.mark.slow
def test_wheel_ships_the_bank(tmp_path):
    """Build the wheel, install it into a fresh venv over this interpreter's packages, and load
    a bank entry from the installed copy outside the source tree."""
    root = folders.packaged_bank()
    if root is None or not index.read_index(root):
        pytest.skip("no bank shipped in this checkout")
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    # The dependencies come from this environment's site-packages, listed after the venv's own
    # (where the wheel goes); .pth files there are not processed, so a source checkout on this
    # environment's path stays invisible.
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "_dependencies.pth").write_text("\n".join(sorted(here)) + "\n")
    wheel = next(dist.glob("protobank-*.whl"))
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    entry = index.read_index(root)[0]
    code = (
        "import protobank, pathlib; p = protobank.load(%d, %d); "
        "assert 'site-packages' in str(p.source), p.source; print(p.content_sha256)" % (entry.d, entry.c)
    )
    out = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == entry.content_sha256


def test_upgrade_never_deletes_the_artifact_it_keeps(tmp_path):
    """A catalogue plan beats only the default method; another method's cell, rebuilt with
    --upgrade, keeps its file (the rebuilt artifact has the same content and the same path)."""
    from protobank import bank

    first = bank.build_bank(tmp_path, [(8, 16)], method="random", device="cpu")
    again = bank.build_bank(tmp_path, [(8, 16)], method="random", device="cpu", upgrade=True)
    assert [e.content_sha256 for e in again] == [e.content_sha256 for e in first]
    assert all(e.file.is_file() for e in again)
    assert bank.verify_bank(tmp_path)[0].ok
