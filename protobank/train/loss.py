"""Training losses: eq. 6 and the cross-entropy family of the prototype head, as one callable
(:class:`HeadLoss`) configured by :class:`HeadOptions`.

Cost per step as c grows: eq. 6 (``ipm``) needs only each sample's assigned prototype,
``O(batch d)`` whatever c; the cross-entropy family needs every label's logit, ``O(batch c d)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..errors import InvalidInputError
from .head import PrototypeHead, SoftmaxHead
from .head_options import HeadOptions

__all__ = ["HeadLoss", "ipm_loss", "prototype_ce_loss"]


def ipm_loss(features: torch.Tensor, labels: torch.Tensor, head: PrototypeHead) -> torch.Tensor:
    """Eq. 6: ``0.5 * (z . w_A(y) - 1)^2`` with ``z`` the normalised feature, batch mean.

    It reads only the prototype assigned to each sample's label: ``O(batch d)``, no logits."""
    z = nn.functional.normalize(features, dim=1)
    cosine = (z * head.label_prototypes(labels).to(z.dtype)).sum(dim=1)
    return 0.5 * ((cosine - 1.0) ** 2).mean()


def prototype_ce_loss(
    features: torch.Tensor, labels: torch.Tensor, head: PrototypeHead, scale: float = 4.0
) -> torch.Tensor:
    """Cross-entropy on ``scale``-times the cosines to the (fixed) assigned prototypes, whatever
    the head's own scale: :class:`HeadLoss` with ``HeadOptions(loss="ce", scale=scale,
    learn_scale=False, long_tail="none")``, kept (with 0.2's scale of 4) for loops written
    against it.

    Unlike eq. 6 it pushes a feature away from the wrong prototypes, and its pull does not
    vanish for a feature far from its own."""
    z = nn.functional.normalize(features, dim=1)
    logits = scale * z @ head.class_prototypes().to(z.dtype).T
    return nn.functional.cross_entropy(logits, labels)


class HeadLoss:
    """The training loss of ``head`` under ``options``: ``loss(features, logits, labels)``.

    ``features`` are the backbone's (before normalisation), ``logits`` the head's output on
    them, or None to have them computed here when needed (``ipm`` never computes them: it costs
    ``O(batch d)``, the cross-entropy ``O(batch c d)``). Build the head with
    :func:`build_prototype_head` from the same options (another is refused). A
    :class:`SoftmaxHead` is trained by cross-entropy whatever ``options.loss``, with the
    long-tail correction if asked.

    Two things the loop tells it:

    - :meth:`set_progress` (epochs done, fractional): the margin ramp. At ``t`` epochs the
      margin is ``margin * min(1, t / margin_ramp_epochs)`` (the full margin from the first
      step when ``margin_ramp_epochs`` is 0); ``t`` is 0 until the first call. The Trainer's
      value before its step ``s`` of ``n`` per epoch is ``s / n``.
    - :meth:`set_class_counts` (training samples per label, label order): the priors of
      ``long_tail="logit-adjust"``, needed before the first call.

    It holds no state a checkpoint needs: the progress follows the step count, the counts the data.
    """

    def __init__(self, head: PrototypeHead | SoftmaxHead, options: HeadOptions | None = None) -> None:
        options = options or HeadOptions()
        kind = "softmax" if isinstance(head, SoftmaxHead) else "prototypes"
        options.check(kind)
        if kind == "prototypes":
            options.check_head(head)  # type: ignore[arg-type]
        self.options = options.resolved(kind)
        self.head = head
        self.kind = "ce" if kind == "softmax" else self.options.loss
        self.progress = 0.0
        self.log_prior: torch.Tensor | None = None

    def set_progress(self, epochs: float) -> None:
        """Training progress in epochs (steps done / steps per epoch), for the margin ramp."""
        if not (epochs >= 0 and math.isfinite(epochs)):
            raise InvalidInputError(f"training progress must be a number of epochs >= 0, got {epochs}")
        self.progress = float(epochs)

    def set_class_counts(self, counts: np.ndarray | torch.Tensor | list[int]) -> None:
        """The training class counts, in label order (the priors of the logit adjustment). A
        class without training samples has prior 0: the adjusted training softmax leaves it
        out (its logit gets -inf there, so no sample pushes it down); prediction still scores it."""
        counts = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
        c = self.head.num_classes
        if counts.shape != (c,):
            raise InvalidInputError(f"class counts must be one per label ({c}), got shape {tuple(counts.shape)}")
        if not bool((counts >= 0).all()) or not float(counts.sum()) > 0:
            raise InvalidInputError("class counts must be >= 0 with at least one sample")
        self.log_prior = (counts / counts.sum()).log().to(torch.float32)

    @property
    def margin(self) -> float:
        """The cosine margin at the current progress (0 without ``margin``)."""
        ramp, full = self.options.margin_ramp_epochs, self.options.margin
        return full * min(1.0, self.progress / ramp) if ramp > 0 else full

    def __call__(self, features: torch.Tensor, logits: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor:
        if self.kind == "ipm":
            return ipm_loss(features, labels, self.head)  # type: ignore[arg-type]
        if logits is None:
            logits = self.head(features)
        margin = self.margin
        if margin:  # s * (cos - m) for the true label: subtract s * m from its logit
            scale = self.head.sample_scale(features)  # type: ignore[union-attr]
            target = nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)
            logits = logits - margin * scale * target
        if self.options.long_tail == "logit-adjust":
            if self.log_prior is None:
                raise InvalidInputError("--long-tail logit-adjust needs the training class counts: call set_class_counts first")
            logits = logits + self.options.tau * self.log_prior.to(logits.device, logits.dtype)
        return nn.functional.cross_entropy(logits, labels)
