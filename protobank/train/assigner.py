"""The dynamic assignment as one component for any training loop, one process or many."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import torch

from ..errors import InvalidInputError, ProtobankError
from .assign import ClassMeanTracker, assign_labels, batch_class_sums
from .distributed import DistContext
from .head import PrototypeHead

#: Class ids travel as float32 next to the sums; float32 holds every integer below 2**24.
MAX_CLASSES = 2**24


class DynamicAssigner:
    """Tracks class means (eq. 8) and re-solves the label-to-prototype assignment (eq. 9) on a
    cadence, installing it in ``head``; under torch.distributed it keeps every rank identical.

    Call :meth:`step` once per optimisation step with the features (before normalisation) and
    labels of this rank's batch, on every rank. Every ``every`` steps (``None``: only when you
    call :meth:`assign`) rank 0 solves eq. 9 exactly and every rank installs the same
    permutation. :meth:`state_dict` / :meth:`load_state_dict` checkpoint the tracker, the step
    count and the assignment.

    ``ctx`` says which processes share the assignment: ``None`` (the default) is one process,
    whatever torch.distributed holds; under torchrun pass the training loop's context
    (:func:`init_distributed`'s), on every rank. Then a step gathers, per rank, only the
    classes present in its batch (their feature sums and counts: ``O(batch x d)`` bytes, not
    ``O(c x d)``), so every rank updates its tracker from the global batch, exactly as one
    process would. The solved permutation is broadcast over a gloo group of its own whose
    timeout is ``solve_timeout``: the ranks waiting for rank 0's solve sit in that collective,
    never in the training group's (NCCL's default is 10 minutes), and a rank that dies still
    fails them at once (its connections close).

    The tracker follows the head's device at every step, so the assigner may be built before
    the model moves to its GPU. Non-finite features (a step that overflowed under fp16, which
    the gradient scaler skips) are left out of the means.
    """

    def __init__(
        self,
        head: PrototypeHead,
        *,
        every: int | None,
        momentum: float = 0.9,
        ctx: DistContext | None = None,
        solve_timeout: timedelta = timedelta(hours=2),
    ) -> None:
        if every is not None and every < 1:
            raise InvalidInputError(f"every must be a positive number of steps or None, got {every}")
        if head.num_classes >= MAX_CLASSES:
            raise InvalidInputError(f"at most {MAX_CLASSES - 1} classes, got {head.num_classes}")
        self.head = head
        self.every = every
        self.tracker = ClassMeanTracker(head.num_classes, head.dim, momentum).to(head.prototypes.device)
        self.steps = 0
        if ctx is None:
            _warn_if_inside_a_process_group()
            ctx = DistContext()
        self.world_size, self.rank = ctx.world_size, ctx.rank
        self._solve_group = torch.distributed.new_group(backend="gloo", timeout=solve_timeout) if ctx.enabled else None

    @torch.no_grad()
    def step(self, features: torch.Tensor, labels: torch.Tensor) -> int | None:
        """Track this step's batch; on the cadence, re-assign. Returns the number of labels that
        moved when it re-assigned, else ``None``."""
        self.observe(features, labels)
        self.steps += 1
        if self.every is None or self.steps % self.every:
            return None
        return self.assign()

    @torch.no_grad()
    def observe(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Eq. 8 on the global batch (this rank's, combined with every other rank's)."""
        self.tracker.to(self.head.prototypes.device)  # follow the head (a no-op once there)
        self.tracker.add_class_sums(*self.global_class_sums(features, labels))

    @torch.no_grad()
    def assign_from_batches(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> int:
        """Assign labels from the plain class means of ``batches`` (features, labels) of the
        global batch (eq. 9 on averages, not on the tracker); returns how many labels moved."""
        c, d = self.head.num_classes, self.head.dim
        stats = torch.zeros(c, d + 1, dtype=torch.float32, device=self.head.prototypes.device)  # sums, counts
        for features, labels in batches:
            classes, sums, counts = self.global_class_sums(features, labels)
            stats[classes, :d] += sums
            stats[classes, d] += counts
        return self.assign(stats[:, :d] / stats[:, d:].clamp_min(1))

    @torch.no_grad()
    def global_class_sums(
        self, features: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Classes present in the global batch, their normalised-feature sums and counts.

        In one process this is :func:`batch_class_sums`. Across processes each rank
        contributes a ``(k, d + 2)`` float32 block (class id, count, sums) for the k classes in
        its batch, padded to the largest k: two all-gathers per step.
        """
        classes, sums, counts = batch_class_sums(features, labels.to(features.device))
        if self.world_size == 1:
            return classes, sums, counts
        dist = torch.distributed
        block = torch.cat([classes[:, None].to(sums.dtype), counts[:, None], sums], dim=1)
        sizes = [torch.zeros(1, dtype=torch.long, device=block.device) for _ in range(self.world_size)]
        dist.all_gather(sizes, torch.tensor([len(block)], device=block.device))
        widest = int(max(s.item() for s in sizes))
        if widest == 0:  # no finite feature on any rank: nothing to track this step
            return classes, sums, counts
        padded = torch.zeros(widest, block.shape[1], dtype=block.dtype, device=block.device)
        padded[: len(block)] = block
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        rows = torch.cat(parts)
        rows = rows[rows[:, 1] > 0]
        merged, inverse = torch.unique(rows[:, 0].long(), return_inverse=True)
        totals = torch.zeros(len(merged), rows.shape[1] - 1, dtype=rows.dtype, device=rows.device)
        totals.index_add_(0, inverse, rows[:, 1:])
        return merged, totals[:, 1:], totals[:, 0]

    @torch.no_grad()
    def assign(self, class_means: torch.Tensor | None = None) -> int:
        """Solve eq. 9 on rank 0 (from the tracked means, or ``class_means``), give every rank
        the same permutation and install it in the head; returns how many labels moved."""
        means = self.tracker.means if class_means is None else class_means
        perm = torch.empty(self.head.num_classes, dtype=torch.long)
        if self.rank == 0:
            perm = assign_labels(means, self.head.prototypes, previous=self.head.assignment)
        if self._solve_group is not None:
            torch.distributed.broadcast(perm, src=0, group=self._solve_group)
        return self.head.set_assignment(perm)

    @property
    def means(self) -> torch.Tensor:
        """(c, d): the tracked class means (eq. 8), on the head's device."""
        return self.tracker.to(self.head.prototypes.device).means

    def state_dict(self) -> dict[str, Any]:
        return {
            "means": self.tracker.means.detach().cpu().clone(),
            "seen": self.tracker.seen.detach().cpu().clone(),
            "steps": self.steps,
            "assignment": self.head.assignment.detach().cpu().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the tracker, the step count and the assignment (installed in the head)."""
        try:
            means, seen, steps, assignment = (state[k] for k in ("means", "seen", "steps", "assignment"))
        except (KeyError, TypeError):
            raise ProtobankError("not a DynamicAssigner state: expected means, seen, steps, assignment") from None
        if tuple(means.shape) != tuple(self.tracker.means.shape):
            raise ProtobankError(
                f"assigner state holds means for (c, d) = {tuple(means.shape)}, this head has {tuple(self.tracker.means.shape)}"
            )
        self.tracker.to(self.head.prototypes.device)
        self.tracker.means.copy_(means)
        self.tracker.seen.copy_(seen)
        self.steps = int(steps)
        self.head.set_assignment(assignment)


def _warn_if_inside_a_process_group() -> None:
    """An assigner given no context is one process's; say so where ranks exist, since ranks
    that each track only their own batch drift apart."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        warnings.warn(
            f"DynamicAssigner without ctx serves this process alone, although a process group of "
            f"{dist.get_world_size()} exists: pass ctx=init_distributed() on every rank to share the "
            "assignment, or ctx=DistContext() to keep it one process's on purpose",
            stacklevel=3,
        )
