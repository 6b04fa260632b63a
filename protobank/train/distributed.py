"""torch.distributed glue: the process group under torchrun, a single-process stand-in, and
the lifetime of a job's processes."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ProtobankError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, world size and the device its tensors live on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce(self, tensor: torch.Tensor) -> None:
        """Sum ``tensor`` over all ranks, in place (nothing to do in one process)."""
        if self.enabled:
            torch.distributed.all_reduce(tensor)

    def broadcast(self, tensor: torch.Tensor, src: int = 0) -> None:
        if self.enabled:
            torch.distributed.broadcast(tensor, src)


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def init_distributed(device: str | torch.device | None = None) -> DistContext:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU).

    Outside torchrun (no RANK / WORLD_SIZE in the environment) this returns a one-process
    context and touches nothing. ``device`` ``None``/``auto`` picks this rank's GPU when CUDA
    is present.
    """
    want = None if device in (None, "auto") else torch.device(device)
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        if want is None:
            want = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return DistContext(0, 1, want)
    local_rank = int(os.environ["LOCAL_RANK"])
    if want is None:
        want = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if want.type == "cuda":
        want = torch.device("cuda", local_rank)
        torch.cuda.set_device(want)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if want.type == "cuda" else "gloo", device_id=want if want.type == "cuda" else None)
    return DistContext(torch.distributed.get_rank(), torch.distributed.get_world_size(), want)


def shutdown(ctx: DistContext, *, failed: bool = False) -> None:
    """Leave the process group. After success the ranks leave together (a rank tearing down
    gloo while its peer still talks to it can abort the peer); after a failure at once, with no
    barrier, since the other ranks may never arrive and the launcher stops them anyway."""
    if ctx.enabled and torch.distributed.is_initialized():
        if not failed:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def check_same_everywhere(ctx: DistContext, value: str, what: str) -> None:
    """Fail on every rank, together, unless all ranks hold the same ``value`` (a hex digest)."""
    if not ctx.enabled:
        return
    mine = torch.tensor(list(bytes.fromhex(value)), dtype=torch.float64, device=ctx.device)
    reference = mine.clone()
    ctx.broadcast(reference)
    mismatch = torch.tensor([float(not torch.equal(mine, reference))], device=ctx.device)
    ctx.all_reduce(mismatch)
    if mismatch.item() > 0:
        raise ProtobankError(f"{what} differs between ranks ({int(mismatch.item())} rank(s) disagree with rank 0)")


#: Set by ``protobank train --nproc-per-node`` for its ranks: the launcher's process id.
LAUNCHER_PID_VARIABLE = "PROTOBANK_LAUNCHER_PID"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_forking_parent: int | None = None
_children_bound = False


def _kill_me_when_parent_dies(parent: int) -> bool:
    """Ask Linux to SIGKILL this process when its parent ends; False where that is not
    possible (another system) or the parent ``parent`` has already gone."""
    prctl = _prctl()
    if prctl is None:
        return True
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    return os.getppid() == parent  # checked after the request: a parent gone before it counts too


@functools.cache
def _prctl() -> Any:
    """libc's prctl on Linux (looked up in the parent: a forked child must not load libraries
    while another thread of its parent may have held the loader's lock), else None."""
    return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def end_with_launcher() -> None:
    """For a rank of a data-parallel job: end (SIGKILL from the kernel) when the launcher that
    started it ends, however it ends, so no rank outlives its job. The launcher's pid comes
    from :data:`LAUNCHER_PID_VARIABLE`, else this process's parent (torchrun)."""
    parent = int(os.environ.get(LAUNCHER_PID_VARIABLE, os.getppid()))
    if not _kill_me_when_parent_dies(parent):
        os._exit(1)  # the launcher ended before this rank got going: nothing to report to


def end_children_with_this_process() -> None:
    """Every process this one forks from now on (DataLoader workers) is SIGKILLed by the
    kernel when this one ends. A worker forked while another thread held a lock can block
    forever, never reaching the check of its parent that DataLoader workers make; this ends
    it anyway. Idempotent."""
    global _children_bound
    if _children_bound or not hasattr(os, "register_at_fork"):
        return
    _children_bound = True
    _prctl()
    os.register_at_fork(before=_note_forking_parent, after_in_child=_bind_child)


def _note_forking_parent() -> None:
    global _forking_parent
    _forking_parent = os.getpid()


def _bind_child() -> None:
    if _forking_parent is not None and not _kill_me_when_parent_dies(_forking_parent):
        os._exit(1)
