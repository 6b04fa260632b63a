"""Torch helpers shared by the iterative methods."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    v = x.detach().to("cpu", dtype=__import__("torch").float64).numpy()
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def max_offdiag_cosine(w: "torch.Tensor") -> float:
    """Largest cosine between two different unit rows of a small dense matrix."""
    g = w @ w.T
    g.fill_diagonal_(-2.0)
    return float(g.max())


def trace_every(iters: int) -> int:
    """Record about 200 points of a run's history."""
    return max(1, iters // 200)
