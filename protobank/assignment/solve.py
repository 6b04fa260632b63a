"""The two entry points: check the input, pick the dense or the sparse route, and report
the objective of the caller's own scores.

``solve_assignment`` takes a score matrix; ``match_to_prototypes`` takes class means and
prototypes and scores them by cosine, kept while they fit in memory and recomputed block by
block beyond, so no ``c x c`` matrix is ever needed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..errors import InvalidInputError
from .dense import solve_dense
from .result import Assignment
from .scores import cosine_rows, rows_per_block, stored_rows, unit_factor
from .sparse import solve_sparse

#: Up to this many classes the dense scipy solver is used directly.
DENSE_LIMIT = 2048
#: Up to this size the cosine matrix is computed once and kept (float32 at 16,384 classes);
#: beyond, every pass recomputes its blocks so memory stays O(block x c).
KEEP_SCORES_BYTES = 2**30
#: Candidate columns kept per row in the first pass.
TOP_K = 32


def solve_assignment(
    scores: np.ndarray | torch.Tensor,
    *,
    previous: np.ndarray | None = None,
    dense_limit: int = DENSE_LIMIT,
    top_k: int = TOP_K,
    block_rows: int | None = None,
) -> Assignment:
    """Maximise ``sum_i scores[i, perm[i]]`` over permutations of a square score matrix.

    Exact for any finite scores: they are scaled by a power of two into [-1, 1] (no rounding),
    and the objective is summed from the scores as given.
    """
    matrix = torch.as_tensor(scores)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise InvalidInputError(
            f"scores must be a non-empty square matrix, got shape {tuple(matrix.shape)}"
        )
    if matrix.dtype not in (torch.float32, torch.float64):
        matrix = matrix.to(torch.float64)
    low, high = (float(v) for v in torch.aminmax(matrix))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InvalidInputError("scores contain NaN or infinite values")
    c = matrix.shape[0]
    perm = _check_previous(previous, c)
    if c <= dense_limit:
        result = solve_dense(matrix)
    else:
        rows = rows_per_block(c, block_rows)
        blocks = stored_rows(matrix, unit_factor(max(-low, high), matrix.dtype), rows)
        result = solve_sparse(blocks, c, perm, top_k, rows, 1.0, 0.0)
    # the objective of the caller's own scores, not of the scaled ones
    picked = matrix[torch.arange(c, device=matrix.device), torch.from_numpy(result.perm).to(matrix.device)]
    return dataclasses.replace(result, objective=float(picked.to(torch.float64).sum()))


def match_to_prototypes(
    class_means: torch.Tensor,
    prototypes: torch.Tensor,
    *,
    previous: np.ndarray | None = None,
    dense_limit: int = DENSE_LIMIT,
    top_k: int = TOP_K,
    block_rows: int | None = None,
) -> Assignment:
    """Assign each class mean (row) its own prototype, maximising the total cosine (eq. 9).

    Cosines are computed on the tensors' device and kept while they fit in
    ``KEEP_SCORES_BYTES``; beyond that they are recomputed block by block, so memory stays
    ``O(block_rows x c)`` whatever c is. A zero class mean (a class never seen) scores 0
    against every prototype and takes whichever prototype is left over.
    """
    if class_means.ndim != 2 or class_means.shape != prototypes.shape:
        raise InvalidInputError(
            "class means and prototypes must both be (c, d) with the same shape, got "
            f"{tuple(class_means.shape)} and {tuple(prototypes.shape)}"
        )
    dtype = torch.float64 if class_means.dtype == torch.float64 else torch.float32
    means = torch.nn.functional.normalize(class_means.detach().to(dtype), dim=1)
    protos = prototypes.detach().to(dtype)
    if not (_all_finite(means) and _all_finite(protos)):
        raise InvalidInputError("class means or prototypes contain NaN or infinite values")
    c, d = means.shape
    perm = _check_previous(previous, c)
    if c <= dense_limit:
        return solve_dense(means @ protos.T)
    rows = rows_per_block(c, block_rows)
    bound = max(float(protos.norm(dim=1).max()), torch.finfo(dtype).tiny)  # >= every |cosine|
    if c * c * means.element_size() <= KEEP_SCORES_BYTES:
        blocks = stored_rows(means @ protos.T, 1.0, rows)
        return solve_sparse(blocks, c, perm, top_k, rows, bound, 0.0)
    # a row rescored in another block shape may round differently: bound that difference
    error = 2 * d * torch.finfo(dtype).eps * bound
    return solve_sparse(cosine_rows(means, protos, rows), c, perm, top_k, rows, bound, error)


def _all_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or infinite (one cheap sum; the full test only if it fails)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _check_previous(previous: np.ndarray | None, c: int) -> np.ndarray | None:
    """``previous`` as int64 when it is a permutation of range(c); None stays None."""
    if previous is None:
        return None
    previous = np.asarray(previous, dtype=np.int64)
    if previous.shape != (c,) or not np.array_equal(np.sort(previous), np.arange(c)):
        raise InvalidInputError(f"previous must be a permutation of range({c})")
    return previous
