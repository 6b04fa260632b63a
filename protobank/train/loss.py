"""Training losses for the prototype head (eq. 6, or cross-entropy) and the softmax head."""

from __future__ import annotations

import torch
from torch import nn

from .head import PrototypeHead

#: The cross-entropy's scale of the cosines (inverse temperature). 4 beat 16 on the glyph and
#: synthetic benchmarks and on Fashion-MNIST at d = 3, not at d = 2 (docs/benchmarks.md).
DEFAULT_CE_SCALE = 4.0


def ipm_loss(features: torch.Tensor, labels: torch.Tensor, head: PrototypeHead) -> torch.Tensor:
    """Eq. 6: ``0.5 * (z . w_A(y) - 1)^2`` with ``z`` the normalised feature, batch mean."""
    z = nn.functional.normalize(features, dim=1)
    target = head.class_prototypes()[labels].to(z.dtype)
    cosine = (z * target).sum(dim=1)
    return 0.5 * ((cosine - 1.0) ** 2).mean()


def prototype_ce_loss(
    features: torch.Tensor, labels: torch.Tensor, head: PrototypeHead, scale: float = DEFAULT_CE_SCALE
) -> torch.Tensor:
    """Cross-entropy on ``scale``-times the cosines to the (fixed) assigned prototypes.

    Unlike eq. 6 it pushes a feature away from the wrong prototypes, and its pull does not
    vanish for a feature far from its own (``protobank train --loss ce``)."""
    z = nn.functional.normalize(features, dim=1)
    logits = scale * z @ head.class_prototypes().to(z.dtype).T
    return nn.functional.cross_entropy(logits, labels)
