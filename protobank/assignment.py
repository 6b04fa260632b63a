"""Exact label-to-prototype assignment (eq. 9) that scales to 50,000+ classes.

The assignment maximises the total score ``sum_i S[i, perm[i]]`` over permutations. Small
problems go to scipy's dense Hungarian solver. Larger ones never build a float64 ``c x c``
matrix: score rows are produced in blocks, and

1. each row keeps its top-k columns and each column its top-k rows, plus one permutation
   (the previous assignment when given, else the identity) so a perfect matching exists;
2. if every row's best column is a different column, that permutation is optimal outright;
3. otherwise scipy's sparse Jonker-Volgenant solver (LAPJVsp) matches the candidate edges
   exactly, and dual prices for that matching come from shortest paths in its residual graph;
4. a certificate pass checks dual feasibility ``a_i + b_j >= S[i, j]`` over *all* pairs,
   block by block. Where it fails, the violating pairs join the candidates and the sparse
   problem is solved again, so the answer is optimal for the full problem, never only for
   the candidates (LP duality: a feasible dual whose value equals the matching's proves it).

Everything here is numpy, scipy and torch on the CPU or the device the scores live on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InvalidInputError

#: Up to this many classes the dense scipy solver is used directly.
DENSE_LIMIT = 2048
#: Up to this size the cosine matrix is computed once and kept (float32 at 16,384 classes);
#: beyond, every pass recomputes its blocks so memory stays O(block x c).
KEEP_SCORES_BYTES = 2**30
#: Candidate columns kept per row and rows per column in the first pass.
TOP_K = 16
#: Price changes below this end the dual fixpoint iteration.
RELAX_TOLERANCE = 1e-13


@dataclass(frozen=True)
class Assignment:
    """An optimal permutation with a record of how it was found.

    ``perm[i]`` is the column (prototype) given to row (label) ``i``; ``objective`` is
    ``sum_i S[i, perm[i]]`` in float64; ``route`` is ``dense``, ``argmax`` or ``sparse``;
    ``rounds`` counts sparse solves; ``candidates`` the edges of the last one.
    """

    perm: np.ndarray
    objective: float
    route: str
    rounds: int = 0
    candidates: int = 0


ScoreBlocks = Callable[[int, int], torch.Tensor]


def solve_assignment(
    scores: np.ndarray | torch.Tensor,
    *,
    previous: np.ndarray | None = None,
    dense_limit: int = DENSE_LIMIT,
    top_k: int = TOP_K,
    block_rows: int | None = None,
) -> Assignment:
    """Maximise ``sum_i scores[i, perm[i]]`` over permutations of a square score matrix."""
    matrix = torch.as_tensor(scores)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise InvalidInputError(
            f"scores must be a non-empty square matrix, got shape {tuple(matrix.shape)}"
        )
    if not _all_finite(matrix):
        raise InvalidInputError("scores contain NaN or infinite values")
    return _solve(
        lambda lo, hi: matrix[lo:hi],
        matrix.shape[0],
        previous=previous,
        dense_limit=dense_limit,
        top_k=top_k,
        block_rows=block_rows,
    )


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
    ``KEEP_SCORES_BYTES``; beyond that they are recomputed block by block in each pass, so
    memory stays ``O(block_rows x c)`` whatever c is. A zero class mean (a class never seen)
    scores 0 against every prototype and takes whichever prototype is left over.
    """
    if class_means.ndim != 2 or class_means.shape != prototypes.shape:
        raise InvalidInputError(
            "class means and prototypes must both be (c, d) with the same shape, got "
            f"{tuple(class_means.shape)} and {tuple(prototypes.shape)}"
        )
    means = torch.nn.functional.normalize(class_means.detach(), dim=1)
    protos = prototypes.detach().to(means.dtype)
    if not (_all_finite(means) and _all_finite(protos)):
        raise InvalidInputError("class means or prototypes contain NaN or infinite values")
    c = means.shape[0]
    if c * c * means.element_size() <= KEEP_SCORES_BYTES:
        scores = means @ protos.T
        blocks: ScoreBlocks = lambda lo, hi: scores[lo:hi]  # noqa: E731
    else:
        blocks = lambda lo, hi: means[lo:hi] @ protos.T  # noqa: E731
    return _solve(
        blocks,
        c,
        previous=previous,
        dense_limit=dense_limit,
        top_k=top_k,
        block_rows=block_rows,
    )


def _all_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or infinite (one cheap sum; the full test only if it fails)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _solve(
    blocks: ScoreBlocks,
    c: int,
    *,
    previous: np.ndarray | None,
    dense_limit: int,
    top_k: int,
    block_rows: int | None,
) -> Assignment:
    if block_rows is None:  # about 64 M scores per block, whatever c is
        block_rows = max(64, min(4096, 2**26 // c))
    if previous is not None:
        previous = np.asarray(previous, dtype=np.int64)
        if previous.shape != (c,) or not np.array_equal(np.sort(previous), np.arange(c)):
            raise InvalidInputError(f"previous must be a permutation of range({c})")
    if c <= dense_limit:
        return _solve_dense(blocks(0, c))
    return _SparseSolver(blocks, c, previous, max(1, min(top_k, c)), block_rows).run()


def _solve_dense(scores: torch.Tensor) -> Assignment:
    from scipy.optimize import linear_sum_assignment

    dense = scores.detach().to("cpu", torch.float64).numpy()
    _, perm = linear_sum_assignment(dense, maximize=True)
    objective = float(dense[np.arange(len(perm)), perm].sum())
    return Assignment(perm.astype(np.int64), objective, "dense")


class _SparseSolver:
    """Candidate edges, exact sparse matching, dual certificate over all pairs, repeat."""

    def __init__(
        self,
        blocks: ScoreBlocks,
        c: int,
        previous: np.ndarray | None,
        top_k: int,
        block_rows: int,
    ) -> None:
        self.blocks, self.c = blocks, c
        # a permutation among the candidates guarantees a perfect matching exists
        self.anchor = previous if previous is not None else np.arange(c)
        self.top_k, self.block_rows = top_k, block_rows
        self.score_bound = 0.0  # largest |S_ij|, for the certificate's rounding margin
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (keys row*c+col, scores)
        self._keys = np.empty(0, dtype=np.int64)
        self._vals = np.empty(0, dtype=np.float64)

    def run(self) -> Assignment:
        best_col, best_val = self._first_pass()
        if np.unique(best_col).size == self.c:  # every row gets its maximum: optimal
            return Assignment(best_col, float(best_val.sum()), "argmax")
        rounds = 0
        while True:
            rounds += 1
            perm = self._match()
            row_price, col_price = self._duals(perm)
            if not self._add_violations(row_price, col_price):
                return self._result(perm, "sparse", rounds)

    def _block_ranges(self):
        for lo in range(0, self.c, self.block_rows):
            yield lo, min(lo + self.block_rows, self.c)

    def _first_pass(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column top-k candidates (and the previous pairs) in one blocked pass."""
        k, c = self.top_k, self.c
        col_vals: torch.Tensor | None = None
        col_rows: torch.Tensor | None = None
        best_col = np.empty(c, dtype=np.int64)
        best_val = np.empty(c, dtype=np.float64)
        for lo, hi in self._block_ranges():
            block = self.blocks(lo, hi)
            low, high = torch.aminmax(block)
            self.score_bound = max(self.score_bound, float(high), -float(low))
            vals, cols = block.topk(k, dim=1)
            best_col[lo:hi] = cols[:, 0].cpu().numpy()
            best_val[lo:hi] = vals[:, 0].cpu().numpy()
            self._remember(
                np.repeat(np.arange(lo, hi), k), cols.cpu().numpy().ravel(), vals.cpu().numpy()
            )
            anchor = self.anchor[lo:hi]
            anchor_vals = block.gather(1, torch.as_tensor(anchor, device=block.device)[:, None])
            self._remember(np.arange(lo, hi), anchor, anchor_vals.cpu().numpy())
            bv, br = block.topk(min(k, hi - lo), dim=0)
            br = br + lo
            if col_vals is None:
                col_vals, col_rows = bv, br
            else:
                merged_vals = torch.cat([col_vals, bv])
                merged_rows = torch.cat([col_rows, br])
                col_vals, pick = merged_vals.topk(min(k, merged_vals.shape[0]), dim=0)
                col_rows = merged_rows.gather(0, pick)
        assert col_vals is not None and col_rows is not None
        cols = np.broadcast_to(np.arange(c), col_rows.shape)
        self._remember(col_rows.cpu().numpy().ravel(), cols.ravel(), col_vals.cpu().numpy())
        return best_col, best_val

    def _remember(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        keys = rows.astype(np.int64).ravel() * self.c + cols.astype(np.int64).ravel()
        self._pending.append((keys, vals.astype(np.float64).ravel()))

    def _edge_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate edges as (rows, cols, scores), each pair once."""
        if self._pending:
            keys = np.concatenate([self._keys, *(k for k, _ in self._pending)])
            vals = np.concatenate([self._vals, *(v for _, v in self._pending)])
            self._keys, first = np.unique(keys, return_index=True)
            self._vals = vals[first]
            self._pending.clear()
        return self._keys // self.c, self._keys % self.c, self._vals

    def _match(self) -> np.ndarray:
        """Exact maximum-score perfect matching on the candidate edges (LAPJVsp)."""
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import min_weight_full_bipartite_matching

        rows, cols, vals = self._edge_arrays()
        # Costs 2 - S >= 1 > 0: LAPJVsp treats zero weights as missing edges, and a constant
        # shift per row leaves the optimal permutation unchanged.
        graph = csr_array((2.0 - vals, (rows, cols)), shape=(self.c, self.c))
        _, perm = min_weight_full_bipartite_matching(graph)
        return perm.astype(np.int64)

    def _duals(self, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prices (a, b) with a_i + b_j >= S_ij on every candidate edge, equality on perm.

        The smallest column prices b >= 0 that make every row's matched column its best
        candidate at those prices: ``b_j = max(0, max over candidate (i, j) of
        S_ij - S_i,perm(i) + b_perm(i))``, a longest-path fixpoint that exists because the
        matching is optimal (no positive cycle). Row utilities are then
        ``a_i = S_i,perm(i) - b_perm(i)``. Minimal prices leave rows the most utility, which
        is what the certificate over the pairs outside the candidates needs. The fixpoint is
        found by relaxing all edges at once until nothing changes (Bellman-Ford in
        vectorised rounds).
        """
        c = self.c
        rows, cols, vals = self._edge_arrays()
        matched = perm[rows] == cols
        matched_score = np.empty(c)
        matched_score[rows[matched]] = vals[matched]
        # free edges grouped by column, for one vectorised max per column and round
        free = np.flatnonzero(~matched)
        free = free[np.argsort(cols[free], kind="stable")]
        free_cols = cols[free]
        starts = np.flatnonzero(np.r_[True, free_cols[1:] != free_cols[:-1]])
        target = free_cols[starts]
        gain = vals[free] - matched_score[rows[free]]  # S_ij - S_i,perm(i)
        own_col = perm[rows[free]]
        price = np.zeros(c)
        for _ in range(2 * c + 1):
            offer = np.maximum.reduceat(gain + price[own_col], starts)
            raise_by = offer - price[target]
            # rounding can leave cycles of weight ~1e-17 that would creep up forever
            if raise_by.size == 0 or raise_by.max() <= RELAX_TOLERANCE:
                break
            price[target] = np.maximum(price[target], offer)
        else:  # pragma: no cover - impossible for an optimal matching
            raise RuntimeError("positive cycle among the candidates: the matching is not optimal")
        return matched_score - price[perm], price

    def _add_violations(self, row_price: np.ndarray, col_price: np.ndarray) -> bool:
        """Check ``a_i + b_j >= S_ij`` on every pair outside the candidates; add offenders.

        Candidate pairs satisfy it by construction (the price fixpoint), so each block masks
        them and computes the slack ``S_ij - b_j - a_i`` in the scores' own precision. A pair
        passes when its slack is below ``-margin``, where ``margin`` bounds the rounding of
        that computation; every other pair joins the candidates (up to ``extra`` per row,
        the largest first) and is then handled exactly. Returns whether any pair was added.
        """
        rows_all, cols_all, _ = self._edge_arrays()  # sorted by row
        found = False
        extra = 4 * self.top_k
        scale = float(np.abs(row_price).max() + np.abs(col_price).max()) + 1.0
        for lo, hi in self._block_ranges():
            block = self.blocks(lo, hi)
            dt = block.dtype if block.dtype in (torch.float32, torch.float64) else torch.float64
            margin = 16 * torch.finfo(dt).eps * (scale + self.score_bound)
            b = torch.as_tensor(col_price, device=block.device, dtype=dt)
            a = torch.as_tensor(row_price[lo:hi], device=block.device, dtype=dt)
            slack = block.to(dt) - b[None, :]
            slack -= a[:, None]
            first, last = np.searchsorted(rows_all, [lo, hi])
            slack[
                torch.as_tensor(rows_all[first:last] - lo, device=block.device),
                torch.as_tensor(cols_all[first:last], device=block.device),
            ] = -torch.inf
            worst = slack.max(dim=1).values
            bad = torch.nonzero(worst > -margin)[:, 0]
            if bad.numel() == 0:
                continue
            found = True
            top, cols = slack[bad].topk(min(extra, self.c), dim=1)
            keep = top > -margin
            rows = (bad[:, None] + lo).expand_as(cols)[keep]
            cols = cols[keep]
            self._remember(rows.cpu().numpy(), cols.cpu().numpy(), block[rows - lo, cols].cpu().numpy())
        return found

    def _result(self, perm: np.ndarray, route: str, rounds: int) -> Assignment:
        rows, cols, vals = self._edge_arrays()
        on_perm = perm[rows] == cols  # every matched pair is a candidate edge
        return Assignment(perm, float(vals[on_perm].sum()), route, rounds, len(rows))
