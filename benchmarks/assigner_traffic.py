"""Bytes per training step that keeping every rank's class means (eq. 8) costs under DDP.

Usage: python benchmarks/assigner_traffic.py --c 100000 --d 512 --batch 128 --world 2 --steps 5
Starts ``--world`` gloo processes on this machine. Each feeds random features of random labels
(``--batch`` per rank) to two ways of tracking the global batch's class means:

- dense all-reduce: the per-class (c, d + 1) sums and counts of every rank are added with
  one all-reduce per step (how the tracker worked before the DynamicAssigner);
- DynamicAssigner: each rank all-gathers only the classes present in its batch.

Every tensor handed to a collective is counted (bytes per rank and step), and the step is
timed; both ways must give the same means.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _counting(sent: list[int]):
    """Wrap all_reduce and all_gather so that every tensor they are handed is counted."""
    dist = torch.distributed
    reduce, gather = dist.all_reduce, dist.all_gather

    def all_reduce(tensor, *a, **k):
        sent.append(tensor.numel() * tensor.element_size())
        return reduce(tensor, *a, **k)

    def all_gather(tensors, tensor, *a, **k):
        sent.append(tensor.numel() * tensor.element_size())
        return gather(tensors, tensor, *a, **k)

    dist.all_reduce, dist.all_gather = all_reduce, all_gather


def _dense_step(tracker, features, labels) -> None:
    """The tracker before: a dense per-class table, summed over ranks every step."""
    c, d = tracker.means.shape
    z = torch.nn.functional.normalize(features, dim=1)
    stats = torch.zeros(c, d + 1)
    stats[:, :d].index_add_(0, labels, z)
    stats[:, d].index_add_(0, labels, torch.ones(len(labels)))
    torch.distributed.all_reduce(stats)
    present = torch.nonzero(stats[:, d] > 0)[:, 0]
    tracker.add_class_sums(present, stats[present, :d], stats[present, d])


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, out: dict) -> None:
    from protobank.train import ClassMeanTracker, DynamicAssigner, PrototypeHead

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    sent: list[int] = []
    _counting(sent)
    g = torch.Generator().manual_seed(rank)
    batches = [(torch.randn(args.batch, args.d, generator=g), torch.randint(0, args.c, (args.batch,), generator=g))
               for _ in range(args.steps)]  # fmt: skip
    head = PrototypeHead(torch.nn.functional.normalize(torch.randn(args.c, args.d), dim=1))
    dense = ClassMeanTracker(args.c, args.d)
    assigner = DynamicAssigner(head, every=None)
    results = {}
    for name, step in (("dense all-reduce", lambda z, y: _dense_step(dense, z, y)), ("DynamicAssigner", assigner.observe)):
        sent.clear()
        times = []
        for z, y in batches:
            torch.distributed.barrier()
            t0 = time.perf_counter()
            step(z, y)
            times.append(time.perf_counter() - t0)
        results[name] = (sum(sent) / args.steps, len(sent) / args.steps, statistics.median(times))
    if rank == 0:
        out.update(results)
        out["max_difference"] = float((dense.means - assigner.means).abs().max())
    torch.distributed.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--c", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128, help="samples per rank and step")
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(args.world, _free_port(), args, out), nprocs=args.world, join=True)
    print(f"c = {args.c:,}, d = {args.d}, {args.batch} samples per rank and step, {args.world} gloo ranks, {args.steps} steps")
    print("| tracking | collectives per step | bytes per rank and step | ms per step (median) |")
    print("|---|---|---|---|")
    for name in ("dense all-reduce", "DynamicAssigner"):
        nbytes, calls, seconds = out[name]
        print(f"| {name} | {calls:.0f} | {nbytes:,.0f} ({nbytes / 1e6:.3f} MB) | {1000 * seconds:.1f} |")
    ratio = out["dense all-reduce"][0] / out["DynamicAssigner"][0]
    print(f"bytes ratio {ratio:,.0f}x; largest difference between the two trackers' means: {out['max_difference']:.2e}")


if __name__ == "__main__":
    main()
