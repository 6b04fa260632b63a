"""The certificate (step 4): dual feasibility ``a_i + b_j >= S_ij`` over all ``c x c`` pairs.

Prices that are feasible on every pair and tight on the matching prove it optimal for the
full problem (LP duality), not only for the candidates. Checking every pair each round
would rescore the whole matrix, so each row keeps a bound on ``S_ij - b_j`` over its pairs
outside the candidates; column prices only rise, so the bound stays valid, and a row whose
bound is at most its own price ``a_i`` is certified without being rescored. The others are
rescored in blocks, and their violated pairs join the candidates.
"""

from __future__ import annotations

import numpy as np
import torch

from .candidates import CandidateEdges
from .scores import ScoreBlocks


class Certificate:
    """Per-row bounds and the rescoring that checks and tightens them.

    ``bound[i] >= S_ij - b_j`` for every pair (i, j) outside the candidates (the first
    pass's); ``score_bound`` bounds every |S_ij| (for rounding margins); ``recompute_error``
    bounds how much a score rescored now may differ from the same score computed before;
    ``tolerance`` is the slack below which a pair counts as feasible. ``rescored`` counts
    the score rows recomputed so far.
    """

    def __init__(
        self,
        blocks: ScoreBlocks,
        bound: np.ndarray,
        top_k: int,
        block_rows: int,
        score_bound: float,
        recompute_error: float,
        tolerance: float,
    ) -> None:
        self.blocks, self.c, self.bound = blocks, bound.size, bound
        self.top_k, self.block_rows = top_k, block_rows
        self.score_bound, self.recompute_error, self.tolerance = score_bound, recompute_error, tolerance
        self.rescored = 0
        self._workspace: torch.Tensor | None = None  # slack of one block, reused

    def add_violations(self, row_price: np.ndarray, col_price: np.ndarray, edges: CandidateEdges) -> bool:
        """Check ``a_i + b_j >= S_ij`` on every pair outside ``edges``; add offenders to it.

        Rows whose bound already proves it are skipped; the others are rescored in blocks and
        scanned (``_scan``). Returns whether any pair was added.
        """
        check = np.flatnonzero(self.bound - row_price > self.tolerance)
        self.rescored += check.size
        pairs = edges.arrays()  # pairs added below belong to rows already scanned
        for start in range(0, check.size, self.block_rows):
            rows = check[start : start + self.block_rows]
            contiguous = rows[-1] - rows[0] + 1 == rows.size
            block = self.blocks(slice(rows[0], rows[-1] + 1) if contiguous else torch.as_tensor(rows))
            undecided = self._scan(rows, block, row_price, col_price, pairs, edges, block.dtype)
            if undecided.any():  # too many near-ties for the block's precision: redo in float64
                pick = torch.as_tensor(np.flatnonzero(undecided), device=block.device)
                self._scan(rows[undecided], block[pick], row_price, col_price, pairs, edges, torch.float64)
        return edges.has_unread

    def _scan(
        self,
        rows: np.ndarray,
        block: torch.Tensor,
        row_price: np.ndarray,
        col_price: np.ndarray,
        pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
        edges: CandidateEdges,
        dt: torch.dtype,
    ) -> np.ndarray:
        """Add to ``edges`` the pairs of ``rows`` (scores ``block``; ``pairs`` are the
        candidates before this round) with ``S_ij - b_j - a_i > tolerance``; update those
        rows' bounds; return which rows this precision cannot decide.

        The slack is computed in ``dt``; each row's largest ``4k + 1`` slacks outside the
        candidates are recomputed in float64 and decide. Pairs beyond them are at most the
        last one plus the rounding ``margin`` of ``dt``; a row is undecided when that could
        still exceed the tolerance while none of its pairs was added.
        """
        c, device = self.c, block.device
        tolerance = self.tolerance
        a = row_price[rows]
        margin = 0.0  # float64 rounding is well inside the tolerance
        if dt != torch.float64:
            magnitude = float(np.abs(a).max()) + float(col_price.max()) + self.score_bound
            margin = 16 * torch.finfo(dt).eps * magnitude
        b_dt = torch.as_tensor(col_price, device=device, dtype=dt)
        out = None
        if dt == block.dtype:  # every pass but the rare float64 redo
            if self._workspace is None:
                self._workspace = block.new_empty((self.block_rows, c))
            out = self._workspace[: rows.size]
        slack = torch.sub(block.to(dt), b_dt[None, :], out=out)
        slack -= torch.as_tensor(a, device=device, dtype=dt)[:, None]
        edge_rows, edge_cols, _ = pairs
        first = np.searchsorted(edge_rows, rows)
        count = np.searchsorted(edge_rows, rows, side="right") - first
        where = np.repeat(np.arange(rows.size), count)
        taken = edge_cols[np.arange(count.sum()) + np.repeat(first - np.cumsum(count) + count, count)]
        slack[torch.as_tensor(where, device=device), torch.as_tensor(taken, device=device)] = -torch.inf
        top, cols = slack.topk(min(4 * self.top_k + 1, c), dim=1)
        del slack
        scores = block.gather(1, cols).cpu().to(torch.float64).numpy()
        top, cols = top.cpu().to(torch.float64).numpy(), cols.cpu().numpy()
        exact = scores - col_price[cols] - a[:, None]
        exact[np.isneginf(top)] = -np.inf  # candidates (rows with few pairs left out)
        add = exact > tolerance
        hit = add.any(axis=1)
        if hit.any():
            edges.add(np.broadcast_to(rows[:, None], add.shape)[add], cols[add], scores[add])
        beyond = top[:, -1] + margin
        rest = np.maximum(np.where(add, -np.inf, exact).max(axis=1), beyond)
        self.bound[rows] = a + rest + self.recompute_error
        return ~hit & (beyond > tolerance)
