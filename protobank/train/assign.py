"""The dynamic label-to-prototype assignment: class-mean tracking (eq. 8) and matching (eq. 9)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..assignment import match_to_prototypes
from ..errors import InvalidInputError

#: Sums a tensor across processes in place (torch.distributed.all_reduce under DDP).
AllReduce = Callable[[torch.Tensor], None]


def class_feature_sums(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(c, d + 1): per class, the sum of its normalised features and (last column) its count."""
    z = nn.functional.normalize(features.detach(), dim=1)
    stats = torch.zeros(num_classes, z.shape[1] + 1, dtype=z.dtype, device=z.device)
    stats[:, :-1].index_add_(0, labels, z)
    stats[:, -1].index_add_(0, labels, torch.ones_like(labels, dtype=z.dtype))
    return stats


class ClassMeanTracker(nn.Module):
    """Momentum average of each class's normalised features (the paper's eq. 8).

    Per batch, every class present gets ``mean <- momentum * mean + (1 - momentum) * m``, where
    ``m`` is the mean of *all* its normalised features in the batch; absent classes keep their
    mean. Means start at zero. Under data parallelism pass ``all_reduce`` so the per-class sums
    and counts of every rank's batch are added first: every rank then tracks the means of the
    global batch, exactly as one process would.
    """

    def __init__(self, num_classes: int, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise InvalidInputError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.register_buffer("means", torch.zeros(num_classes, dim))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor, all_reduce: AllReduce | None = None) -> None:
        c, d = self.means.shape
        stats = class_feature_sums(features.to(self.means.dtype), labels, c)
        if all_reduce is not None:
            all_reduce(stats)
        counts = stats[:, d]
        present = counts > 0
        batch_mean = stats[present, :d] / counts[present, None]
        self.means[present] = self.momentum * self.means[present] + (1 - self.momentum) * batch_mean
        self.seen |= present


def assign_labels(
    class_means: torch.Tensor, prototypes: torch.Tensor, *, previous: torch.Tensor | None = None
) -> torch.Tensor:
    """The label-to-prototype permutation maximising the total cosine (eq. 9), exactly.

    Entry ``i`` is the prototype row given to label ``i``. ``previous`` (the current
    assignment) adds its pairs to the candidates of the large-c solver; the result is optimal
    either way. Returns a CPU ``torch.long`` tensor.
    """
    prev = None if previous is None else previous.detach().cpu().numpy().astype(np.int64)
    result = match_to_prototypes(class_means.float(), prototypes.float(), previous=prev)
    return torch.from_numpy(result.perm)
