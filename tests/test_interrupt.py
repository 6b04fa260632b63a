"""Interruptions and concurrency: nothing partial under a final name, resumable state, one
valid file from two writers, clear errors for unusable folders."""

import errno
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import protobank
from protobank import artifact, bank, index
from protobank.errors import ArtifactExistsError, OutputPathError


def _hear_sigint():
    """A shell running the suite as a background job ignores SIGINT in it, and Python keeps an
    ignored SIGINT ignored: the child takes the default back, as a foreground command has it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "protobank", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, text=True, preexec_fn=_hear_sigint)


def _wait_for_start(proc, seconds=8.0):
    time.sleep(seconds)
    assert proc.poll() is None, proc.communicate()


def test_sigint_during_generate_leaves_nothing(tmp_path):
    out = tmp_path / "p.h5"
    proc = _cli("generate", "--d", "8", "--c", "400", "--method", "gaussian", "--iters", "1000000", "--out", str(out))
    try:
        _wait_for_start(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a run deaf to the signal must not outlive the test
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_sigkill_during_bank_build_then_resume(tmp_path):
    root = tmp_path / "bank"
    args = ["bank", "build", str(root), "--method", "gaussian", "--device", "cpu",
            "--d", "3", "--d", "5", "--c", "100", "--c", "200", "--c", "300"]
    proc = _cli(*args)
    deadline = time.monotonic() + 120
    while not (root / "index.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # kill as soon as the first artifact is published, mid-way through the next
    proc.kill()
    proc.communicate(timeout=30)
    for path in root.glob("d*/*.h5"):  # whatever was published is whole and valid
        protobank.read(path)
    done = index.read_index(root) if (root / "index.json").exists() else []
    assert len(done) < 6
    resumed = subprocess.run([sys.executable, "-m", "protobank", *args], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(index.read_index(root)) == 6
    assert all(check.ok for check in bank.verify_bank(root))


def test_two_writers_one_valid_file(tmp_path):
    a = protobank.generate(4, 9, method="random", seed=1)
    b = protobank.generate(4, 9, method="random", seed=2)
    target = tmp_path / "p.h5"
    results = []
    barrier = threading.Barrier(2)

    def writer(p):
        barrier.wait()
        try:
            protobank.save(p, target)
            results.append(p.content_sha256)
        except ArtifactExistsError:
            results.append(None)

    threads = [threading.Thread(target=writer, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r]
    assert len(winners) == 1
    assert protobank.read(target).content_sha256 == winners[0]
    assert [p.name for p in tmp_path.iterdir()] == ["p.h5"]


def test_unusable_cache_folder_names_folder_and_variable(tmp_path, monkeypatch, run_cli):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("PROTOBANK_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(OutputPathError) as info:
        protobank.load(3, 7, generate=True)
    assert str(blocker / "cache") in str(info.value) and "PROTOBANK_CACHE_DIR" in str(info.value)
    code, _, err = run_cli("generate", "--d", "3", "--c", "7")
    assert code == 1 and "PROTOBANK_CACHE_DIR" in err


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifact, "_write_open", full)
    with pytest.raises(OutputPathError, match="No space left"):
        protobank.save(protobank.generate(3, 5, method="random"), tmp_path / "p.h5")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("PROTOBANK_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(OutputPathError, match="PROTOBANK_CACHE_DIR"):
        protobank.load(3, 5, generate=True, method="random")
    assert not list((tmp_path / "cache").glob("d*/*"))
