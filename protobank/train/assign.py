"""The dynamic label-to-prototype assignment: class-mean tracking (eq. 8) and matching (eq. 9)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..assignment import match_to_prototypes
from ..errors import InvalidInputError


def batch_class_sums(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The classes present in a batch, with the sum of their normalised features and their
    counts: ``(k,)`` labels, ``(k, d)`` float32 sums, ``(k,)`` counts; k <= batch size, so the
    cost follows the batch, not the number of classes.

    A sample whose feature is not finite (an overflow under fp16) is left out, and so is a
    class left without samples: one such step must not turn a class mean into NaN for good.
    """
    z = nn.functional.normalize(features.detach().float(), dim=1)
    finite = torch.isfinite(z).all(dim=1)
    z = torch.where(finite[:, None], z, torch.zeros((), dtype=z.dtype, device=z.device))
    classes, inverse = torch.unique(labels, return_inverse=True)
    sums = torch.zeros(len(classes), z.shape[1], dtype=z.dtype, device=z.device).index_add_(0, inverse, z)
    counts = torch.zeros(len(classes), dtype=z.dtype, device=z.device).index_add_(0, inverse, finite.to(z.dtype))
    present = counts > 0
    return classes[present], sums[present], counts[present]


class ClassMeanTracker(nn.Module):
    """Momentum average of each class's normalised features (the paper's eq. 8).

    Per batch, every class present gets ``mean <- momentum * mean + (1 - momentum) * m``, where
    ``m`` is the mean of *all* its normalised features in the batch; absent classes keep their
    mean. Means start at zero. Under data parallelism use :class:`DynamicAssigner`, which
    combines every rank's batch before updating, so all ranks track the global batch.
    """

    def __init__(self, num_classes: int, dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise InvalidInputError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.register_buffer("means", torch.zeros(num_classes, dim))
        self.register_buffer("seen", torch.zeros(num_classes, dtype=torch.bool))

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """One batch of eq. 8."""
        self.add_class_sums(*batch_class_sums(features, labels))

    @torch.no_grad()
    def add_class_sums(self, classes: torch.Tensor, sums: torch.Tensor, counts: torch.Tensor) -> None:
        """Eq. 8 from per-class sums and counts of one batch (``classes`` distinct, counts > 0)."""
        batch_mean = sums.to(self.means.dtype) / counts.to(self.means.dtype)[:, None]
        self.means[classes] = self.momentum * self.means[classes] + (1 - self.momentum) * batch_mean
        self.seen[classes] = True


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
