"""The candidate edges of the sparse route, and the first pass that picks them (step 1).

Only candidate pairs reach the matching, so the graph holds each row's top-k columns and
one permutation (a perfect matching must exist among them); the certificate adds the pairs
it finds violated. The first pass also leaves, per row, a bound on every score it left out,
which spares the certificate from rescoring most rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .scores import ScoreBlocks


class CandidateEdges:
    """(row, column, score) pairs, each pair once, read back sorted by row then column.

    Pairs are added in batches and merged on the next read; where a pair is added twice,
    the score added first is kept.
    """

    def __init__(self, c: int) -> None:
        self.c = c
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (keys row*c+col, scores)
        self._keys = np.empty(0, dtype=np.int64)
        self._vals = np.empty(0, dtype=np.float64)

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        """Add pairs ``(rows[n], cols[n])`` with scores ``vals[n]`` (arrays of one shape)."""
        keys = rows.astype(np.int64).ravel() * self.c + cols.astype(np.int64).ravel()
        self._pending.append((keys, vals.astype(np.float64).ravel()))

    @property
    def has_unread(self) -> bool:
        """Whether pairs were added since the last ``arrays()``."""
        return bool(self._pending)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate edges as (rows, cols, scores), each pair once, sorted by row."""
        if self._pending:
            keys = np.concatenate([self._keys, *(k for k, _ in self._pending)])
            vals = np.concatenate([self._vals, *(v for _, v in self._pending)])
            self._keys, first = np.unique(keys, return_index=True)
            self._vals = vals[first]
            self._pending.clear()
        return self._keys // self.c, self._keys % self.c, self._vals


@dataclass(frozen=True)
class FirstPass:
    """Each row's best column and score, and ``bound[i] >= S_ij`` for every pair (i, j) the
    pass left out of the candidates (prices start at 0, so this bounds ``S_ij - b_j`` too)."""

    best_col: np.ndarray
    best_val: np.ndarray
    bound: np.ndarray


def first_pass(
    blocks: ScoreBlocks,
    anchor: np.ndarray,
    top_k: int,
    block_rows: int,
    recompute_error: float,
    edges: CandidateEdges,
) -> FirstPass:
    """Add each row's top-k and its ``anchor`` pair to ``edges`` in one blocked pass; the
    (k+1)-th score, plus ``recompute_error``, is the row's bound."""
    k, c = top_k, anchor.size
    best_col = np.empty(c, dtype=np.int64)
    best_val = np.empty(c, dtype=np.float64)
    bound = np.full(c, np.inf)
    for lo in range(0, c, block_rows):
        hi = min(lo + block_rows, c)
        block = blocks(slice(lo, hi))
        vals, cols = block.topk(min(k + 1, c), dim=1)
        vals, cols = vals.cpu().to(torch.float64).numpy(), cols.cpu().numpy()
        best_col[lo:hi], best_val[lo:hi] = cols[:, 0], vals[:, 0]
        edges.add(np.repeat(np.arange(lo, hi), k), cols[:, :k], vals[:, :k])
        if k < c:
            bound[lo:hi] = vals[:, k] + recompute_error
        else:
            bound[lo:hi] = -np.inf
        anchor_block = torch.as_tensor(anchor[lo:hi], device=block.device)
        anchor_vals = block.gather(1, anchor_block[:, None]).cpu().numpy()
        edges.add(np.arange(lo, hi), anchor[lo:hi], anchor_vals)
    return FirstPass(best_col, best_val, bound)
