"""The dense route: scipy's Hungarian solver on the full float64 matrix.

Used up to ``DENSE_LIMIT`` classes, where the ``c x c`` matrix is small and scipy takes
milliseconds; the sparse route pays off only beyond.
"""

from __future__ import annotations

import numpy as np
import torch

from .result import Assignment


def solve_dense(scores: torch.Tensor) -> Assignment:
    """Maximise the total score with ``linear_sum_assignment`` on a float64 CPU copy."""
    from scipy.optimize import linear_sum_assignment

    dense = scores.detach().to("cpu", torch.float64).numpy()
    _, perm = linear_sum_assignment(dense, maximize=True)
    objective = float(dense[np.arange(len(perm)), perm].sum())
    return Assignment(perm.astype(np.int64), objective, "dense")
