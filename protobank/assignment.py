"""Exact label-to-prototype assignment (eq. 9) that scales to 50,000+ classes.

The assignment maximises the total score ``sum_i S[i, perm[i]]`` over permutations. Small
problems go to scipy's dense Hungarian solver. Larger ones never build a float64 ``c x c``
matrix: score rows are produced in blocks, and

1. each row keeps its top-k columns and each column its top-k rows (plus the previous
   assignment when one is given), which almost always contain the optimum;
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
#: Candidate columns kept per row and rows per column in the first pass.
TOP_K = 8
#: Slack allowed in the certificate for float64 rounding of ``S[i, j] - b_j``.
TOLERANCE = 1e-10


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

    Cosines are computed block by block on the tensors' device, so memory stays
    ``O(block_rows x c)`` whatever c is. A zero class mean (a class never seen) scores 0
    against every prototype and takes whichever prototype is left over.
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
    return _solve(
        lambda lo, hi: means[lo:hi] @ protos.T,
        means.shape[0],
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
        self.blocks, self.c, self.previous = blocks, c, previous
        self.top_k, self.block_rows = top_k, block_rows
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
            vals, cols = block.topk(k, dim=1)
            best_col[lo:hi] = cols[:, 0].cpu().numpy()
            best_val[lo:hi] = vals[:, 0].cpu().numpy()
            self._remember(
                np.repeat(np.arange(lo, hi), k), cols.cpu().numpy().ravel(), vals.cpu().numpy()
            )
            if self.previous is not None:
                prev = torch.as_tensor(self.previous[lo:hi], device=block.device)
                prev_vals = block.gather(1, prev[:, None])[:, 0]
                self._remember(np.arange(lo, hi), self.previous[lo:hi], prev_vals.cpu().numpy())
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
        try:
            _, perm = min_weight_full_bipartite_matching(graph)
        except ValueError:  # candidates admit no perfect matching: widen them and retry
            self._widen_for_feasibility(rows, cols)
            return self._match()
        return perm.astype(np.int64)

    def _widen_for_feasibility(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Add the identity pairs, which make a perfect matching always exist."""
        diag = np.arange(self.c)
        missing = np.setdiff1d(diag, rows[rows == cols])
        for lo, hi in self._block_ranges():
            sel = missing[(missing >= lo) & (missing < hi)]
            if sel.size:
                block = self.blocks(lo, hi)
                idx = torch.as_tensor(sel - lo, device=block.device)
                vals = block[idx, torch.as_tensor(sel, device=block.device)]
                self._remember(sel, sel, vals.cpu().numpy())

    def _duals(self, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prices (a, b) with a_i + b_j >= S_ij on every candidate edge, equality on perm.

        In cost form (C = -S) the residual graph of an optimal matching has no negative
        cycle, so shortest-path distances from a source joined to every node exist and give
        potentials with non-negative reduced costs. They are found by relaxing all edges at
        once until nothing changes (Bellman-Ford in vectorised rounds; the number of rounds
        is the longest shortest path, short for the matchings met here).
        """
        c = self.c
        rows, cols, vals = self._edge_arrays()
        matched = perm[rows] == cols
        free_rows = torch.from_numpy(rows[~matched])
        free_cols = torch.from_numpy(cols[~matched])
        free_cost = torch.from_numpy(-vals[~matched])  # row -> column, cost -S
        matched_score = torch.empty(c, dtype=torch.float64)
        matched_score[torch.from_numpy(rows[matched])] = torch.from_numpy(vals[matched])
        perm_t = torch.from_numpy(perm)
        dist_row = torch.zeros(c, dtype=torch.float64)
        dist_col = torch.zeros(c, dtype=torch.float64)
        for _ in range(2 * c + 1):
            reach = dist_row[free_rows] + free_cost
            new_col = dist_col.scatter_reduce(0, free_cols, reach, "amin")
            new_row = torch.minimum(dist_row, new_col[perm_t] + matched_score)
            if torch.equal(new_col, dist_col) and torch.equal(new_row, dist_row):
                break
            dist_row, dist_col = new_row, new_col
        else:  # pragma: no cover - impossible for an optimal matching
            raise RuntimeError("negative cycle in the residual graph: the matching is not optimal")
        col_price = -dist_col.numpy()  # b_j
        row_price = matched_score.numpy() - col_price[perm]  # a_i: equality on the matching
        return row_price, col_price

    def _add_violations(self, row_price: np.ndarray, col_price: np.ndarray) -> bool:
        """Check a_i + b_j >= S_ij on all pairs; add each violating row's worst pairs."""
        found = False
        extra = self.top_k
        for lo, hi in self._block_ranges():
            block = self.blocks(lo, hi)
            b = torch.as_tensor(col_price, device=block.device)
            a = torch.as_tensor(row_price[lo:hi], device=block.device)
            slack = block.to(torch.float64) - b[None, :] - a[:, None]
            worst = slack.max(dim=1).values
            bad = torch.nonzero(worst > TOLERANCE)[:, 0]
            if bad.numel() == 0:
                continue
            found = True
            _, cols = slack[bad].topk(extra, dim=1)
            vals = block[bad[:, None], cols]
            rows = (bad[:, None] + lo).expand_as(cols)
            self._remember(rows.cpu().numpy().ravel(), cols.cpu().numpy().ravel(), vals.cpu().numpy())
        return found

    def _result(self, perm: np.ndarray, route: str, rounds: int) -> Assignment:
        rows, cols, vals = self._edge_arrays()
        on_perm = perm[rows] == cols  # every matched pair is a candidate edge
        return Assignment(perm, float(vals[on_perm].sum()), route, rounds, len(rows))
