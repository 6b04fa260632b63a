"""torch.distributed glue: the process group under torchrun, and a single-process stand-in."""

from __future__ import annotations

import os
from dataclasses import dataclass

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
