"""No process of a training job outlives it: a rank ends with its launcher, a data worker
forked by a rank ends with the rank, even when blocked for good (as a worker forked while
another thread held a lock is)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")

ROOT = Path(__file__).resolve().parents[1]

#: A "rank": binds itself to its launcher and its children to itself, forks one "worker" that
#: blocks forever without ever checking its parent, prints both pids, and waits.
RANK = """
import os, sys, time
from protobank.train.distributed import end_children_with_this_process, end_with_launcher
if sys.argv[1] == "rank":
    end_with_launcher()
end_children_with_this_process()
child = os.fork()
if child == 0:
    while True:
        time.sleep(3600)
print(os.getpid(), child, flush=True)
time.sleep(3600)
"""

#: A "launcher": starts one rank the way ``protobank train --nproc-per-node`` does and waits.
LAUNCHER = """
import os, subprocess, sys, time
env = {**os.environ, "PROTOBANK_LAUNCHER_PID": str(os.getpid())}
subprocess.Popen([sys.executable, "-c", sys.argv[1], "rank"], env=env, start_new_session=True)
time.sleep(3600)
"""


def _pids(proc: subprocess.Popen, seconds: float = 60) -> tuple[int, int]:
    """The two pids the rank prints, or a failure (not a hang) when it prints none."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        pytest.fail("the rank did not start")
    rank, worker = (int(v) for v in line.split())
    return rank, worker


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "zombie" not in status


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_a_blocked_worker_ends_when_its_rank_is_killed():
    proc = subprocess.Popen([sys.executable, "-c", RANK, "alone"], stdout=subprocess.PIPE, text=True, env=_env())
    rank, worker = _pids(proc)
    try:
        assert _alive(worker)
        os.kill(rank, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _gone_within([worker], 10), "the worker outlived its rank"
    finally:
        _kill_all([rank, worker])


def test_a_rank_and_its_worker_end_when_the_launcher_is_killed(tmp_path):
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, RANK], stdout=subprocess.PIPE, text=True, env=_env())
    rank, worker = _pids(launcher)
    try:
        assert _alive(rank) and _alive(worker)
        launcher.kill()
        launcher.wait(timeout=30)
        assert _gone_within([rank, worker], 10), "a rank or its worker outlived the launcher"
    finally:
        _kill_all([rank, worker])
