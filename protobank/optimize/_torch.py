"""Torch helpers shared by the iterative methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .base import random_unit_rows

if TYPE_CHECKING:  # pragma: no cover
    import torch


def initial_rows(shape: tuple[int, ...], seed: int, device: "torch.device", dtype: "torch.dtype") -> "torch.Tensor":
    """Seeded random unit rows, drawn on the CPU so every device starts from the same point."""
    import torch

    return torch.as_tensor(random_unit_rows(shape, seed), device=device).to(dtype)


def to_numpy_rows(x: "torch.Tensor") -> np.ndarray:
    """A torch matrix as float64 numpy unit rows."""
    import torch

    v = x.detach().to("cpu", dtype=torch.float64).numpy()
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# Elements of one block of cosines in :func:`max_offdiag_cosine` (64 MiB of float32).
TRACE_BLOCK_ELEMENTS = 2**24


def max_offdiag_cosine(w: "torch.Tensor") -> float:
    """Largest cosine between two different unit rows, computed in row blocks so that a
    progress trace never builds the c x c matrix its method's memory check did not count."""
    import torch

    c = w.shape[0]
    step = max(1, TRACE_BLOCK_ELEMENTS // c)
    best = -2.0
    for start in range(0, c, step):
        g = w[start : start + step] @ w.T
        rows = torch.arange(g.shape[0], device=w.device)
        g[rows, rows + start] = -2.0
        best = max(best, float(g.max()))
    return best


class Trace:
    """About 200 points of a run's loss and max cosine, reported to the progress callback."""

    def __init__(self, iters: int, progress: Any) -> None:
        self.iters, self.progress = iters, progress
        self.every = max(1, iters // 200)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.max_cos: list[float] = []

    def due(self, it: int) -> bool:
        return it % self.every == 0 or it == self.iters - 1

    def record(self, it: int, loss: float, max_cos: float) -> None:
        self.steps.append(it)
        self.losses.append(loss)
        self.max_cos.append(max_cos)
        if self.progress:
            self.progress(it + 1, self.iters, {"loss": loss, "max_cos": max_cos})

    def history(self) -> dict[str, np.ndarray]:
        return {"step": np.array(self.steps), "loss": np.array(self.losses), "max_cosine": np.array(self.max_cos)}
