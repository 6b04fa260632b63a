"""Classification heads: fixed prototypes with a label-to-prototype assignment, or softmax."""

from __future__ import annotations

import math
import torch
from torch import nn

from ..errors import InvalidInputError
from ..prototypes import Prototypes

#: The ``scale`` of a head whose logits are dot products with the unnormalised feature.
NORM_SCALE = "norm"


def is_valid_scale(value: object) -> bool:
    """A positive finite number, or :data:`NORM_SCALE`."""
    if value == NORM_SCALE:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and math.isfinite(value)


class PrototypeHead(nn.Module):
    """Scores features against fixed unit prototypes, in label order.

    ``prototypes`` (c, d) and ``assignment`` (c,) are buffers, not parameters: they get no
    gradient under any option, move with ``.to()`` and are saved in ``state_dict``.
    ``assignment[i]`` is the prototype row of label ``i``. ``forward`` returns, for each label
    ``i``, ``scale * cos(z, w_A(i)) + bias[i]``; the argmax is the prediction.

    - ``scale``: a positive number, or ``"norm"`` for the dot product ``z . w_A(i)`` with the
      unnormalised feature (its norm acts as a per-sample scale).
    - ``learn_scale``: the scale is the parameter ``log_scale`` (``scale = exp(log_scale)``,
      starting at ``scale``), so the backbone's step size does not depend on the scale's value
      and the scale stays positive. It never goes below its start: each use first projects
      ``log_scale`` back onto ``log(start)`` (as the paper re-normalises its prototypes after
      each step). Free to shrink, it falls while the untrained features say nothing, and
      near 0 it starves the backbone of gradient for good (3 of 36 runs stuck at chance on
      the synthetic benchmark, docs/benchmarks.md). Keep weight decay off it
      (:func:`decay_groups`): decay would pull it towards 1.
    - ``bias``: a learned per-label bias ``bias`` (c,), zero at the start. It is indexed by
      label, not by prototype row, so a re-assignment (:meth:`set_assignment`,
      ``DynamicAssigner``) leaves each label's bias where it is.
    """

    def __init__(
        self,
        prototypes: Prototypes | torch.Tensor,
        *,
        scale: float | str = 1.0,
        learn_scale: bool = False,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(prototypes, Prototypes):
            self.prototype_sha256: str | None = prototypes.content_sha256
            vectors = torch.from_numpy(prototypes.vectors.copy())
        else:
            self.prototype_sha256 = None
            vectors = torch.as_tensor(prototypes).detach().clone()
        if vectors.ndim != 2 or vectors.shape[0] < 2:
            raise InvalidInputError(f"prototypes must be (c, d) with c >= 2, got {tuple(vectors.shape)}")
        if not is_valid_scale(scale):
            raise InvalidInputError(f"scale must be a positive number or {NORM_SCALE!r}, got {scale!r}")
        if learn_scale and scale == NORM_SCALE:
            raise InvalidInputError("learn_scale needs a numeric scale to start from: the feature norm is not a parameter")
        vectors = nn.functional.normalize(vectors.to(torch.float32), dim=1)
        self.register_buffer("prototypes", vectors)
        self.register_buffer("assignment", torch.arange(vectors.shape[0]))
        self.uses_norm = scale == NORM_SCALE
        self.fixed_scale: float | None = None if self.uses_norm or learn_scale else float(scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(float(scale)))) if learn_scale else None
        self.scale_floor: float | None = float(scale) if learn_scale else None
        self.bias = nn.Parameter(torch.zeros(vectors.shape[0])) if bias else None

    @property
    def num_classes(self) -> int:
        return int(self.prototypes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.prototypes.shape[1])

    @property
    def scale(self) -> torch.Tensor | float | None:
        """The scale of the cosines: a float (fixed), a 0-d tensor (learned), None (``"norm"``)."""
        if self.log_scale is None:
            return self.fixed_scale
        with torch.no_grad():  # the projection onto [start, inf); exp's gradient does not need the old value
            self.log_scale.clamp_(min=math.log(self.scale_floor))  # type: ignore[arg-type]
        return self.log_scale.exp()

    def class_prototypes(self) -> torch.Tensor:
        """(c, d): row i is the prototype currently assigned to label i."""
        return self.prototypes[self.assignment]

    def label_prototypes(self, labels: torch.Tensor) -> torch.Tensor:
        """(batch, d): the prototype assigned to each label, gathered without the (c, d) table."""
        return self.prototypes[self.assignment[labels]]

    def set_assignment(self, perm: torch.Tensor | list[int]) -> int:
        """Install a new label-to-prototype permutation; returns how many labels moved."""
        perm = torch.as_tensor(perm, dtype=torch.long).to(self.assignment.device)
        c = self.num_classes
        if perm.shape != (c,) or not torch.equal(perm.sort().values, torch.arange(c, device=perm.device)):
            raise InvalidInputError(f"an assignment must be a permutation of range({c})")
        changed = int((perm != self.assignment).sum())
        self.assignment.copy_(perm)
        return changed

    def sample_scale(self, features: torch.Tensor) -> torch.Tensor | float:
        """The factor multiplying each sample's cosines: the scale, or (batch, 1) feature norms."""
        return features.norm(dim=1, keepdim=True) if self.uses_norm else self.scale  # type: ignore[return-value]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = self.class_prototypes().to(features.dtype)
        if self.uses_norm:
            logits = features @ weights.T
        else:
            logits = self.scale * nn.functional.normalize(features, dim=1) @ weights.T
        return logits if self.bias is None else logits + self.bias.to(logits.dtype)


class SoftmaxHead(nn.Module):
    """The softmax baseline (PSC): a learnable linear layer on the features."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, num_classes)

    @property
    def num_classes(self) -> int:
        return int(self.linear.out_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """The trainable parameters of ``model`` as optimizer groups: every prototype head's learned
    scale and bias without weight decay, all else with ``weight_decay``."""
    exempt: set[int] = set()
    for module in model.modules():
        if isinstance(module, PrototypeHead):
            exempt.update(id(p) for p in module.parameters())  # its learned scale and bias
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in exempt], "weight_decay": weight_decay},
        {"params": [p for p in trainable if id(p) in exempt], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]

