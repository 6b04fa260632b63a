"""Score rows in blocks, so the sparse route never holds a float64 ``c x c`` matrix.

A ``ScoreBlocks`` function returns the score rows for a slice or a tensor of row indices,
either from a stored matrix (scaled by a power of two) or as cosines recomputed on demand;
both write into one reused buffer, because a fresh block per call costs page faults
comparable to the arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

#: Score rows for a slice or a 1-D tensor of row indices. The result may be a view of a
#: buffer that the next call overwrites.
ScoreBlocks = Callable[[slice | torch.Tensor], torch.Tensor]


def rows_per_block(c: int, block_rows: int | None) -> int:
    """About 64 M scores per block, whatever c is, unless the caller says otherwise."""
    return block_rows if block_rows is not None else max(64, min(4096, 2**26 // c))


def unit_factor(peak: float, dtype: torch.dtype) -> float:
    """The power of two that brings ``peak`` (the largest |score|) into (1/2, 1]: exact."""
    if peak == 0.0:
        return 1.0
    _, exponent = math.frexp(peak)  # peak = m * 2**exponent with 1/2 <= m < 1
    largest = math.frexp(torch.finfo(dtype).max)[1] - 1  # the factor itself must be finite
    return math.ldexp(1.0, min(-exponent, largest))


def row_count(rows: slice | torch.Tensor) -> int:
    """How many rows a slice or an index tensor selects."""
    return rows.stop - rows.start if isinstance(rows, slice) else rows.numel()


def stored_rows(matrix: torch.Tensor, factor: float, block_rows: int) -> ScoreBlocks:
    """Rows of a stored matrix times ``factor``: views where possible, else one reused buffer
    (a fresh block per call costs page faults comparable to the arithmetic)."""
    buffer: list[torch.Tensor] = []

    def rows_of(rows: slice | torch.Tensor) -> torch.Tensor:
        if isinstance(rows, slice) and factor == 1.0:
            return matrix[rows]
        if not buffer:
            buffer.append(matrix.new_empty((block_rows, matrix.shape[1])))
        out = buffer[0][: row_count(rows)]
        if isinstance(rows, slice):
            return torch.mul(matrix[rows], factor, out=out)
        torch.index_select(matrix, 0, rows.to(matrix.device), out=out)
        return out.mul_(factor) if factor != 1.0 else out

    return rows_of


def cosine_rows(means: torch.Tensor, protos: torch.Tensor, block_rows: int) -> ScoreBlocks:
    """Rows of ``means @ protos.T``, computed on demand into one reused buffer."""
    buffer = means.new_empty((block_rows, protos.shape[0]))
    protos_t = protos.T.contiguous()
    return lambda rows: torch.matmul(means[rows], protos_t, out=buffer[: row_count(rows)])
