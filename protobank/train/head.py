"""Classification heads: fixed prototypes with a label-to-prototype assignment, or softmax."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ..prototypes import Prototypes


class PrototypeHead(nn.Module):
    """Scores features against fixed unit prototypes, in label order.

    ``prototypes`` (c, d) and ``assignment`` (c,) are buffers, not parameters: they get no
    gradient, move with ``.to()`` and are saved in ``state_dict``. ``assignment[i]`` is the
    prototype row of label ``i``. ``forward`` returns ``scale * cos(z, w_A(i))`` for each
    label ``i``; the argmax is the prediction.
    """

    def __init__(self, prototypes: Prototypes | torch.Tensor, *, scale: float = 1.0) -> None:
        super().__init__()
        if isinstance(prototypes, Prototypes):
            self.prototype_sha256: str | None = prototypes.content_sha256
            vectors = torch.from_numpy(prototypes.vectors.copy())
        else:
            self.prototype_sha256 = None
            vectors = torch.as_tensor(prototypes).detach().clone()
        if vectors.ndim != 2 or vectors.shape[0] < 2:
            raise InvalidInputError(f"prototypes must be (c, d) with c >= 2, got {tuple(vectors.shape)}")
        vectors = nn.functional.normalize(vectors.to(torch.float32), dim=1)
        self.register_buffer("prototypes", vectors)
        self.register_buffer("assignment", torch.arange(vectors.shape[0]))
        self.scale = float(scale)

    @property
    def num_classes(self) -> int:
        return int(self.prototypes.shape[0])

    @property
    def dim(self) -> int:
        return int(self.prototypes.shape[1])

    def class_prototypes(self) -> torch.Tensor:
        """(c, d): row i is the prototype currently assigned to label i."""
        return self.prototypes[self.assignment]

    def set_assignment(self, perm: torch.Tensor | list[int]) -> int:
        """Install a new label-to-prototype permutation; returns how many labels moved."""
        perm = torch.as_tensor(perm, dtype=torch.long).to(self.assignment.device)
        c = self.num_classes
        if perm.shape != (c,) or not torch.equal(perm.sort().values, torch.arange(c, device=perm.device)):
            raise InvalidInputError(f"an assignment must be a permutation of range({c})")
        changed = int((perm != self.assignment).sum())
        self.assignment.copy_(perm)
        return changed

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = nn.functional.normalize(features, dim=1)
        return self.scale * z @ self.class_prototypes().to(z.dtype).T


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
