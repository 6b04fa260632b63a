"""The drop-in assigner: eq. 8 on the global batch, the cadence, checkpoints, traffic that
follows the batch under torch.distributed, and the own-loop example in one and two processes."""

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

from protobank.errors import ProtobankError
from protobank.train import ClassMeanTracker, DistContext, DynamicAssigner, PrototypeHead, assign_labels
from protobank.train.assign import batch_class_sums

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "own_loop.py"


def _head(c: int, d: int, seed: int = 0) -> PrototypeHead:
    g = torch.Generator().manual_seed(seed)
    return PrototypeHead(torch.nn.functional.normalize(torch.randn(c, d, generator=g), dim=1))


def _batches(c: int, d: int, n: int, size: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, d, generator=g), torch.randint(0, c, (size,), generator=g)) for _ in range(n)]


def test_batch_class_sums_hold_only_the_classes_present():
    z = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    classes, sums, counts = batch_class_sums(z, torch.tensor([7, 7, 2]))
    assert classes.tolist() == [2, 7] and counts.tolist() == [1.0, 2.0]
    torch.testing.assert_close(sums, torch.tensor([[0.0, 1.0], [1.6, 0.8]]))


def test_assigner_tracks_eq8_and_solves_on_its_cadence():
    head = _head(6, 3)
    assigner = DynamicAssigner(head, every=3, momentum=0.8)
    reference = ClassMeanTracker(6, 3, momentum=0.8)
    results = []
    for z, y in _batches(6, 3, 7, 16):
        reference.update(z, y)
        results.append(assigner.step(z, y))
        if len(results) % 3 == 0:  # the solve saw exactly the tracked means
            assert torch.equal(head.assignment, assign_labels(reference.means, head.prototypes))
    assert [r is None for r in results] == [True, True, False, True, True, False, True]
    torch.testing.assert_close(assigner.means, reference.means)
    assert assigner.steps == 7


def test_assigner_state_round_trip_continues_identically():
    batches = _batches(8, 4, 9, 12)
    straight = DynamicAssigner(_head(8, 4), every=2)
    for z, y in batches:
        straight.step(z, y)
    first = DynamicAssigner(_head(8, 4), every=2)
    for z, y in batches[:5]:
        first.step(z, y)
    state = first.state_dict()
    resumed = DynamicAssigner(_head(8, 4), every=2)
    resumed.load_state_dict(state)
    assert resumed.steps == 5 and torch.equal(resumed.head.assignment, first.head.assignment)
    for z, y in batches[5:]:
        resumed.step(z, y)
    assert torch.equal(resumed.means, straight.means)
    assert torch.equal(resumed.head.assignment, straight.head.assignment)
    with pytest.raises(ProtobankError, match=r"\(c, d\) = \(8, 4\)"):
        DynamicAssigner(_head(9, 4), every=2).load_state_dict(state)


def test_non_finite_features_stay_out_of_the_class_means():
    """An fp16 step that overflowed (the gradient scaler skips it) must not poison the means."""
    (z, y), (z2, y2) = _batches(6, 4, 2, 16)
    bad = z2.clone()
    bad[0] = float("inf")
    bad[3, 1] = float("nan")
    clean = torch.ones(16, dtype=torch.bool)
    clean[[0, 3]] = False
    poisoned, reference = DynamicAssigner(_head(6, 4), every=2), DynamicAssigner(_head(6, 4), every=2)
    poisoned.step(z, y)
    reference.step(z, y)
    assert poisoned.step(bad, y2) is not None  # the solve runs on finite means
    reference.step(z2[clean], y2[clean])
    assert torch.isfinite(poisoned.means).all()
    assert torch.equal(poisoned.means, reference.means)
    assert torch.equal(poisoned.head.assignment, reference.head.assignment)
    all_bad = torch.full((4, 4), float("nan"))  # a class whose every sample is non-finite keeps its mean
    before = poisoned.means.clone()
    poisoned.observe(all_bad, torch.tensor([0, 0, 1, 1]))
    assert torch.equal(poisoned.means, before)


def test_assigner_built_before_the_head_moves_follows_it():
    """Built before ``model.cuda()``: the tracker goes where the head is when it is used (the
    meta device stands in for a GPU here)."""
    head = _head(6, 4)
    assigner = DynamicAssigner(head, every=1)
    z, y = _batches(6, 4, 1, 16)[0]
    assigner.step(z, y)
    head.to("meta")  # the head moves after the assigner was built and used
    assert assigner.means.device.type == "meta"
    assert assigner.tracker.seen.device.type == "meta"


# -- two gloo processes -----------------------------------------------------------------------

BIG_C, D, LOCAL_BATCH = 100_000, 8, 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gather_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    sent = []
    original = torch.distributed.all_gather

    def counting(tensors, tensor, *args, **kwargs):
        sent.append(tensor.numel() * tensor.element_size())
        return original(tensors, tensor, *args, **kwargs)

    torch.distributed.all_gather = counting
    try:
        ctx = DistContext(rank, world)
        big = DynamicAssigner(_head(BIG_C, D), every=None, ctx=ctx)
        small = DynamicAssigner(_head(12, D), every=2, ctx=ctx)
        installed = []
        for z, y in _batches(BIG_C, D, 3, world * LOCAL_BATCH):
            big.observe(z[rank::world], y[rank::world])
        sent_big = list(sent)
        for z, y in _batches(12, D, 4, world * LOCAL_BATCH, seed=2):
            if small.step(z[rank::world], y[rank::world]) is not None:
                installed.append(small.head.assignment.tolist())
        torch.save({"big": big.means, "sent": sent_big, "installed": installed, "small": small.means}, f"{out}/rank{rank}.pt")
    finally:
        torch.distributed.all_gather = original
        torch.distributed.destroy_process_group()


def test_two_ranks_track_the_global_batch_with_traffic_that_follows_the_batch(tmp_path):
    mp.spawn(_gather_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    single_big, single_small = ClassMeanTracker(BIG_C, D), DynamicAssigner(_head(12, D), every=2)
    for z, y in _batches(BIG_C, D, 3, 2 * LOCAL_BATCH):
        single_big.update(z, y)
    installed = []
    for z, y in _batches(12, D, 4, 2 * LOCAL_BATCH, seed=2):
        if single_small.step(z, y) is not None:
            installed.append(single_small.head.assignment.tolist())
    for r in ranks:
        torch.testing.assert_close(r["big"], single_big.means, rtol=0, atol=1e-6)
        torch.testing.assert_close(r["small"], single_small.means, rtol=0, atol=1e-6)
        assert r["installed"] == installed and len(installed) == 2
        # per step: one size (8 bytes) and at most one row of (id, count, d sums) per sample
        assert len(r["sent"]) == 2 * 3
        assert sum(r["sent"]) <= 3 * (8 + LOCAL_BATCH * (D + 2) * 4)


def _one_process_inside_a_group_worker(rank: int, world: int, port: int, out: str) -> None:
    from datetime import timedelta

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=20))
    try:
        if rank == 0:  # an evaluation in one process of a torchrun job: the other rank never joins
            import warnings

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assigner = DynamicAssigner(_head(6, 4), every=1)
            z, y = _batches(6, 4, 1, 16)[0]
            assigner.step(z, y)
            torch.save({"means": assigner.means, "warned": [str(w.message) for w in caught]}, f"{out}/rank0.pt")
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def test_an_assigner_without_a_context_is_one_process_inside_a_torchrun_job(tmp_path):
    mp.spawn(_one_process_inside_a_group_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    single = DynamicAssigner(_head(6, 4), every=1)
    single.step(*_batches(6, 4, 1, 16)[0])
    saved = torch.load(tmp_path / "rank0.pt")
    assert torch.equal(saved["means"], single.means)
    assert any("pass ctx=init_distributed()" in w for w in saved["warned"])  # a forgotten ctx is said


# -- the own-loop example -------------------------------------------------------------------


def _torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def test_own_loop_example_runs_in_one_and_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    one = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(tmp_path / "one"), "--epochs", "2"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    report = json.loads(one.stdout.strip().splitlines()[-1])
    assert report["test_top1"] > 20 and report["steps"] == 2 * (1000 // 32)
    assert (tmp_path / "one" / "checkpoint.pt").is_file()
    again = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(tmp_path / "one"), "--epochs", "3"],
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["steps"] == 3 * (1000 // 32)  # resumed
    two = subprocess.run([*_torchrun(), "--standalone", "--nproc-per-node", "2", str(EXAMPLE), "--out", str(tmp_path / "two"), "--epochs", "2"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    reports = json.loads(two.stdout.strip().splitlines()[-1])["ranks"]
    assert len(reports) == 2
    assert reports[0]["assignment"] == reports[1]["assignment"]  # the ranks never desynchronise
    assert reports[0]["test_top1"] == reports[1]["test_top1"] > 20  # chance is 10 %
    assert (tmp_path / "two" / "checkpoint.pt").is_file()


def _slow_solve_worker(rank: int, world: int, port: int, out: str) -> None:
    from datetime import timedelta

    import protobank.train.assigner as assigner_module

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    # the training group gives up on a collective after 2 s; rank 0's solve takes 5 s
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=2))
    solve = assigner_module.assign_labels

    def slow(*args, **kwargs):
        import time

        time.sleep(5)
        return solve(*args, **kwargs)

    assigner_module.assign_labels = slow
    try:
        assigner = DynamicAssigner(_head(6, 4), every=1, ctx=DistContext(rank, world))
        z, y = _batches(6, 4, 1, 2 * LOCAL_BATCH)[0]
        assigner.step(z[rank::world], y[rank::world])
        torch.distributed.barrier()  # the training group is still healthy afterwards
        torch.save(assigner.head.assignment, f"{out}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_ranks_wait_out_a_solve_longer_than_the_training_groups_timeout(tmp_path):
    mp.spawn(_slow_solve_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    assert torch.equal(torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt"))
