"""Data-parallel training through torch.distributed (gloo on CPU): identical assignments on
every rank, equal to one process on the union of the batches; torchrun end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

import protobank
from protobank.train import Classifier, TrainConfig, Trainer, build_prototype_head, synthetic_mixture
from protobank.train.distributed import DistContext, shutdown

pytestmark = pytest.mark.distributed

EPOCHS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _RecordingTrainer(Trainer):
    """Keeps every permutation its assigner installs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.installed = []
        solve = self.assigner.assign

        def recording(*a, **k):
            changed = solve(*a, **k)
            self.installed.append(self.head.assignment.clone())
            return changed

        self.assigner.assign = recording


def _run(ctx: DistContext, cache: str) -> dict:
    os.environ["PROTOBANK_CACHE_DIR"] = cache
    data = synthetic_mixture(super_classes=3, classes_per_super=4, dim=16, train_per_class=48, test_per_class=10, seed=0)
    torch.manual_seed(0)
    # no batch norm: its per-rank statistics are the one thing DDP does not share
    backbone = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 6))
    cfg = TrainConfig(epochs=EPOCHS, batch_size=32, lr=0.05, assign_every=0.5, seed=0)
    head = build_prototype_head(protobank.load(d=6, c=12, generate=True), cfg.head_options())
    trainer = _RecordingTrainer(Classifier(backbone, head), cfg, ctx)
    trainer.fit(data)
    return {
        "installed": [p.tolist() for p in trainer.installed],
        "means": trainer.assigner.means.clone(),
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "top1": trainer.result.final["test_top1"],
    }


def _worker(rank: int, world: int, port: int, cache: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    ctx = DistContext(rank, world, torch.device("cpu"))
    try:
        torch.save(_run(ctx, cache), f"{out}/rank{rank}.pt")
    finally:
        shutdown(ctx)


def test_two_gloo_ranks_match_one_process(tmp_path):
    cache = str(tmp_path / "cache")
    os.environ["PROTOBANK_CACHE_DIR"] = cache
    single = _run(DistContext(), cache)  # generates the prototypes into the cache first
    mp.spawn(_worker, args=(2, _free_port(), cache, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert len(single["installed"]) == 1 + 2 * EPOCHS  # initial + two per epoch
    for r in ranks:
        assert r["installed"] == ranks[0]["installed"] == single["installed"]
        torch.testing.assert_close(r["means"], single["means"], rtol=1e-5, atol=1e-6)
        for key, value in single["model"].items():
            torch.testing.assert_close(r["model"][key], value, rtol=1e-4, atol=1e-5)
        assert r["top1"] == pytest.approx(single["top1"], abs=1.0)


def _torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def test_documented_torchrun_command_and_resume_on_another_world_size(tmp_path):
    """README: torchrun --standalone --nproc-per-node 2 -m protobank train --dim 8 ..."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROTOBANK_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    args = ["train", "--dim", "8", "--data", "synthetic", "--device", "cpu", "--batch-size", "64", "--out", str(out), "--json"]
    proc = subprocess.run(
        [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "protobank", *args, "--epochs", "2"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(proc.stdout)  # exactly one document: rank 0 alone prints
    assert metrics["world_size"] == 2 and metrics["test_top1"] > 30
    assert (out / "checkpoint.pt").is_file() and (out / "metrics.json").is_file()
    # the same checkpoint continues in one process
    proc = subprocess.run(
        [sys.executable, "-m", "protobank", *args, "--epochs", "3", "--resume"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = json.loads(proc.stdout)
    assert resumed["world_size"] == 1 and [h["epoch"] for h in resumed["history"]] == [1, 2, 3]


def test_nproc_per_node_launches_workers_itself(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROTOBANK_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "protobank", "train", "--nproc-per-node", "2", "--dim", "8", "--epochs", "1",
         "--device", "cpu", "--batch-size", "64", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
    assert proc.stdout.count("test top-1") == 1


def test_evaluate_reproduces_a_two_process_cnn_run(tmp_path):
    """Batch norm: the two ranks' running statistics differ; the reported accuracy must still
    be the saved model's. Test batches of 16 alternate between the ranks."""
    from test_run_semantics import fake_fashion_mnist

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROTOBANK_CACHE_DIR": str(tmp_path / "cache")}
    data = fake_fashion_mnist(tmp_path / "fm", n_train=128, n_test=400)
    out = tmp_path / "run"
    proc = subprocess.run(
        [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "protobank", "train", "--data", "fashion-mnist",
         "--data-path", str(data), "--backbone", "cnn", "--dim", "8", "--epochs", "1", "--batch-size", "16",
         "--device", "cpu", "--out", str(out), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    recorded = json.loads(proc.stdout)["test_top1"]
    proc = subprocess.run([sys.executable, "-m", "protobank", "evaluate", str(out), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["recorded_test_top1"] == recorded and abs(result["test_top1"] - recorded) < 0.01


def _start_training(command: list[str], env: dict[str, str], out: Path) -> subprocess.Popen:
    """Start an endless training job and return its launcher once the job has written its first
    checkpoint (training is under way); the launcher must not end before."""
    import time

    launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists():
        if launcher.poll() is not None or time.monotonic() > deadline:
            launcher.kill()
            pytest.fail("the run did not start")
        time.sleep(0.2)
    return launcher


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker processes from /proc")
def test_a_killed_worker_ends_the_whole_run_in_bounded_time(tmp_path):
    import signal
    import time

    from test_run_semantics import _features

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROTOBANK_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    launcher = _start_training(
        [*_torchrun(), "--standalone", "--nproc-per-node", "2", "-m", "protobank", "train", "--data", "features",
         "--data-path", _features(tmp_path / "a.npz"), "--dim", "8", "--epochs", "100000", "--batch-size", "16",
         "--device", "cpu", "--out", str(out), "--no-progress"], env, out,
    )  # fmt: skip
    try:
        workers = {int(dict(kv.split("=", 1) for kv in Path(f"/proc/{p}/environ").read_text().split("\0") if "=" in kv).get("RANK", -1)): p
                   for p in _children(launcher.pid)}  # fmt: skip
        assert set(workers) >= {0, 1}
        os.kill(workers[1], signal.SIGKILL)
        killed = time.monotonic()
        code = launcher.wait(timeout=60)
        assert time.monotonic() - killed < 60 and code != 0
        assert not Path(f"/proc/{workers[0]}").exists() or "zombie" in Path(f"/proc/{workers[0]}/status").read_text()
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def _job_processes(marker: str) -> dict[int, dict[str, str]]:
    """Live processes whose environment holds ``marker`` (pid -> environment)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = dict(kv.split("=", 1) for kv in (entry / "environ").read_text().split("\0") if "=" in kv)
            alive = "zombie" not in (entry / "status").read_text()
        except (OSError, UnicodeDecodeError):
            continue
        if alive and env.get("PROTOBANK_TEST_JOB") == marker:
            found[int(entry.name)] = env
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads the job's processes from /proc")
def test_no_process_of_a_job_outlives_a_killed_rank(tmp_path):
    """SIGKILL one rank of `protobank train --nproc-per-node 2` on an image folder read by data
    workers: the launcher fails, and every process of the job (ranks, workers) ends."""
    import signal
    import time
    import uuid

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, cls in enumerate(("ant", "bee")):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(20):
            Image.fromarray((rng.random((20, 20, 3)) * 120 + 100 * k).astype(np.uint8)).save(tmp_path / "img" / cls / f"{i}.png")
    marker = uuid.uuid4().hex
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROTOBANK_CACHE_DIR": str(tmp_path / "cache"), "PROTOBANK_TEST_JOB": marker}
    out = tmp_path / "run"
    launcher = _start_training(
        [sys.executable, "-m", "protobank", "train", "--nproc-per-node", "2", "--data", "imagefolder",
         "--data-path", str(tmp_path / "img"), "--image-size", "16", "--workers", "1", "--dim", "8",
         "--epochs", "100000", "--batch-size", "8", "--device", "cpu", "--out", str(out), "--no-progress"], env, out,
    )  # fmt: skip
    try:
        ranks = {env["RANK"]: pid for pid, env in _job_processes(marker).items() if _parent(pid) == launcher.pid}
        assert set(ranks) == {"0", "1"}
        os.kill(ranks["1"], signal.SIGKILL)
        assert launcher.wait(timeout=60) != 0
        deadline = time.monotonic() + 15
        while _job_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _job_processes(marker), "a process of the job outlived it"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in _job_processes(marker):
            os.kill(pid, signal.SIGKILL)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
