"""Exact label-to-prototype assignment (eq. 9) that scales to 100,000 classes.

The assignment maximises the total score ``sum_i S[i, perm[i]]`` over permutations. Small
problems go to scipy's dense Hungarian solver. Larger ones never build a float64 ``c x c``
matrix: score rows are produced in blocks, and

1. each row keeps its top-k columns, plus one permutation (the previous assignment when
   given, else the identity) so a perfect matching exists; the (k+1)-th score of each row
   bounds every pair left out;
2. if every row's best column is a different column, that permutation is optimal outright;
3. otherwise scipy's sparse Jonker-Volgenant solver (LAPJVsp) matches the candidate edges
   exactly, and dual prices for that matching come from longest paths in its residual graph;
4. a certificate checks dual feasibility ``a_i + b_j >= S[i, j]`` over *all* pairs. Column
   prices only rise from one round to the next, so a row whose bound on ``S_ij - b_j`` over
   its left-out pairs is at most ``a_i`` is certified without recomputing it; only the other
   rows are rescored. Violating pairs join the candidates and the sparse problem is solved
   again, so the answer is optimal for the full problem, never only for the candidates
   (LP duality: a feasible dual whose value equals the matching's proves it).

Scores of any finite magnitude work: ``solve_assignment`` scales them by a power of two
(exact) into [-1, 1], and the matching costs are shifted per row to be positive.
Everything here is numpy, scipy and torch on the CPU or the device the scores live on.
"""

from __future__ import annotations

import dataclasses
import math
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
#: Candidate columns kept per row in the first pass.
TOP_K = 32
#: Slack (in units of the largest |score|) below which prices and pairs count as feasible.
TOLERANCE = 1e-13


@dataclass(frozen=True)
class Assignment:
    """An optimal permutation with a record of how it was found.

    ``perm[i]`` is the column (prototype) given to row (label) ``i``; ``objective`` is
    ``sum_i S[i, perm[i]]`` in float64; ``route`` is ``dense``, ``argmax`` or ``sparse``;
    ``rounds`` counts sparse solves; ``candidates`` the edges of the last one;
    ``rescored_rows`` the score rows the certificate recomputed after the first pass.
    """

    perm: np.ndarray
    objective: float
    route: str
    rounds: int = 0
    candidates: int = 0
    rescored_rows: int = 0


#: Score rows for a slice or a 1-D tensor of row indices. The result may be a view of a
#: buffer that the next call overwrites.
ScoreBlocks = Callable[[slice | torch.Tensor], torch.Tensor]


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
        result = _solve_dense(matrix)
    else:
        rows = _rows_per_block(c, block_rows)
        blocks = _stored_rows(matrix, _unit_factor(max(-low, high), matrix.dtype), rows)
        result = _SparseSolver(blocks, c, perm, top_k, rows, 1.0, 0.0).run()
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
        return _solve_dense(means @ protos.T)
    rows = _rows_per_block(c, block_rows)
    bound = max(float(protos.norm(dim=1).max()), torch.finfo(dtype).tiny)  # >= every |cosine|
    if c * c * means.element_size() <= KEEP_SCORES_BYTES:
        blocks = _stored_rows(means @ protos.T, 1.0, rows)
        return _SparseSolver(blocks, c, perm, top_k, rows, bound, 0.0).run()
    # a row rescored in another block shape may round differently: bound that difference
    error = 2 * d * torch.finfo(dtype).eps * bound
    return _SparseSolver(_cosine_rows(means, protos, rows), c, perm, top_k, rows, bound, error).run()


def _all_finite(x: torch.Tensor) -> bool:
    """True when no entry is NaN or infinite (one cheap sum; the full test only if it fails)."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _check_previous(previous: np.ndarray | None, c: int) -> np.ndarray | None:
    if previous is None:
        return None
    previous = np.asarray(previous, dtype=np.int64)
    if previous.shape != (c,) or not np.array_equal(np.sort(previous), np.arange(c)):
        raise InvalidInputError(f"previous must be a permutation of range({c})")
    return previous


def _rows_per_block(c: int, block_rows: int | None) -> int:
    """About 64 M scores per block, whatever c is, unless the caller says otherwise."""
    return block_rows if block_rows is not None else max(64, min(4096, 2**26 // c))


def _unit_factor(peak: float, dtype: torch.dtype) -> float:
    """The power of two that brings ``peak`` (the largest |score|) into (1/2, 1]: exact."""
    if peak == 0.0:
        return 1.0
    _, exponent = math.frexp(peak)  # peak = m * 2**exponent with 1/2 <= m < 1
    largest = math.frexp(torch.finfo(dtype).max)[1] - 1  # the factor itself must be finite
    return math.ldexp(1.0, min(-exponent, largest))


def _pow2_at_least(x: float) -> float:
    """The smallest power of two >= x (1 for x = 0): dividing by it is exact."""
    return 1.0 if x == 0.0 else math.ldexp(1.0, math.frexp(x)[1])


def _count(rows: slice | torch.Tensor) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else rows.numel()


def _stored_rows(matrix: torch.Tensor, factor: float, block_rows: int) -> ScoreBlocks:
    """Rows of a stored matrix times ``factor``: views where possible, else one reused buffer
    (a fresh block per call costs page faults comparable to the arithmetic)."""
    buffer: list[torch.Tensor] = []

    def rows_of(rows: slice | torch.Tensor) -> torch.Tensor:
        if isinstance(rows, slice) and factor == 1.0:
            return matrix[rows]
        if not buffer:
            buffer.append(matrix.new_empty((block_rows, matrix.shape[1])))
        out = buffer[0][: _count(rows)]
        if isinstance(rows, slice):
            return torch.mul(matrix[rows], factor, out=out)
        torch.index_select(matrix, 0, rows.to(matrix.device), out=out)
        return out.mul_(factor) if factor != 1.0 else out

    return rows_of


def _cosine_rows(means: torch.Tensor, protos: torch.Tensor, block_rows: int) -> ScoreBlocks:
    """Rows of ``means @ protos.T``, computed on demand into one reused buffer."""
    buffer = means.new_empty((block_rows, protos.shape[0]))
    protos_t = protos.T.contiguous()
    return lambda rows: torch.matmul(means[rows], protos_t, out=buffer[: _count(rows)])


def _solve_dense(scores: torch.Tensor) -> Assignment:
    from scipy.optimize import linear_sum_assignment

    dense = scores.detach().to("cpu", torch.float64).numpy()
    _, perm = linear_sum_assignment(dense, maximize=True)
    objective = float(dense[np.arange(len(perm)), perm].sum())
    return Assignment(perm.astype(np.int64), objective, "dense")


class _SparseSolver:
    """Candidate edges, exact sparse matching, dual certificate over all pairs, repeat.

    ``score_bound`` bounds every |S_ij| (for rounding margins); ``recompute_error`` bounds how
    much a score rescored later may differ from the same score computed before.
    """

    def __init__(
        self,
        blocks: ScoreBlocks,
        c: int,
        previous: np.ndarray | None,
        top_k: int,
        block_rows: int,
        score_bound: float,
        recompute_error: float,
    ) -> None:
        self.blocks, self.c = blocks, c
        # a permutation among the candidates guarantees a perfect matching exists
        self.anchor = previous if previous is not None else np.arange(c)
        self.top_k, self.block_rows = max(1, min(top_k, c)), block_rows
        self.score_bound, self.recompute_error = score_bound, recompute_error
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (keys row*c+col, scores)
        self._keys = np.empty(0, dtype=np.int64)
        self._vals = np.empty(0, dtype=np.float64)
        self.col_price = np.zeros(c)  # b: never lowered, so each row's bound below stays valid
        self.bound = np.full(c, np.inf)  # >= S_ij - b_j for every pair (i, j) left out
        self.rescored = 0
        self._workspace: torch.Tensor | None = None  # slack of one block, reused

    def run(self) -> Assignment:
        best_col, best_val = self._first_pass()
        if np.unique(best_col).size == self.c:  # every row gets its maximum: optimal
            return Assignment(best_col, float(best_val.sum()), "argmax")
        perm, rounds = self._match(), 1
        while True:
            row_price = self._duals(perm)
            if not self._add_violations(row_price):
                return self._result(perm, "sparse", rounds)
            perm, rounds = self._match(row_price), rounds + 1

    def _first_pass(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's top-k (and the anchor pair) in one blocked pass; the (k+1)-th score is
        the row's bound (prices start at 0)."""
        k, c = self.top_k, self.c
        best_col = np.empty(c, dtype=np.int64)
        best_val = np.empty(c, dtype=np.float64)
        for lo in range(0, c, self.block_rows):
            hi = min(lo + self.block_rows, c)
            block = self.blocks(slice(lo, hi))
            vals, cols = block.topk(min(k + 1, c), dim=1)
            vals, cols = vals.cpu().to(torch.float64).numpy(), cols.cpu().numpy()
            best_col[lo:hi], best_val[lo:hi] = cols[:, 0], vals[:, 0]
            self._remember(np.repeat(np.arange(lo, hi), k), cols[:, :k], vals[:, :k])
            if k < c:
                self.bound[lo:hi] = vals[:, k] + self.recompute_error
            else:
                self.bound[lo:hi] = -np.inf
            anchor = torch.as_tensor(self.anchor[lo:hi], device=block.device)
            anchor_vals = block.gather(1, anchor[:, None]).cpu().numpy()
            self._remember(np.arange(lo, hi), self.anchor[lo:hi], anchor_vals)
        return best_col, best_val

    def _remember(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        keys = rows.astype(np.int64).ravel() * self.c + cols.astype(np.int64).ravel()
        self._pending.append((keys, vals.astype(np.float64).ravel()))

    def _edge_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate edges as (rows, cols, scores), each pair once, sorted by row."""
        if self._pending:
            keys = np.concatenate([self._keys, *(k for k, _ in self._pending)])
            vals = np.concatenate([self._vals, *(v for _, v in self._pending)])
            self._keys, first = np.unique(keys, return_index=True)
            self._vals = vals[first]
            self._pending.clear()
        return self._keys // self.c, self._keys % self.c, self._vals

    def _match(self, row_price: np.ndarray | None = None) -> np.ndarray:
        """Exact maximum-score perfect matching on the candidate edges (LAPJVsp).

        Given the last round's prices (tight on its matching, feasible on its candidates), a
        better matching differs from it by alternating cycles that gain, and each cycle pays
        its negative slacks ``S_ij - a_i - b_j`` out of the positive slacks of the pairs just
        added: at most ``P``, the sum over rows of their largest positive slack. So edges
        with slack below ``-P`` can be left out of the solve without losing the optimum.
        """
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import min_weight_full_bipartite_matching

        rows, cols, vals = self._edge_arrays()
        if row_price is not None:
            slack = vals - row_price[rows] - self.col_price[cols]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            gain = float(np.maximum.reduceat(np.maximum(slack, 0.0), starts).sum())
            keep = slack >= -(gain + TOLERANCE * self.score_bound)
            rows, cols, vals = rows[keep], cols[keep], vals[keep]
        # LAPJVsp treats zero weights as missing edges, so costs must be positive: each row's
        # gap to its best candidate, scaled into [0, 1] by a power of two, plus 1. A constant
        # shift per row leaves the optimal permutation unchanged.
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # every row has one
        gap = np.maximum.reduceat(vals, starts)[rows] - vals
        graph = csr_array((1.0 + gap / _pow2_at_least(gap.max()), (rows, cols)), shape=(self.c, self.c))
        _, perm = min_weight_full_bipartite_matching(graph)
        return perm.astype(np.int64)

    def _duals(self, perm: np.ndarray) -> np.ndarray:
        """Row prices ``a``; raises column prices ``b`` so that ``a_i + b_j >= S_ij`` on every
        candidate edge, with equality on perm.

        ``b`` becomes the smallest prices, at least the previous round's, that make every
        row's matched column its best candidate at those prices: ``b_j = max(b_j, max over
        candidate (i, j) of S_ij - S_i,perm(i) + b_perm(i))``, a longest-path fixpoint that
        exists because the matching is optimal (no positive cycle). Then
        ``a_i = S_i,perm(i) - b_perm(i)``. Small prices leave rows the most utility, which is
        what the certificate over the pairs outside the candidates needs; never lowering them
        keeps every row's bound valid. The fixpoint is found by relaxing, in vectorised
        rounds, the edges out of the columns whose price rose in the last one (Bellman-Ford
        with a frontier) until nothing changes.
        """
        c = self.c
        tolerance = TOLERANCE * self.score_bound
        rows, cols, vals = self._edge_arrays()
        matched = perm[rows] == cols
        matched_score = np.empty(c)
        matched_score[rows[matched]] = vals[matched]
        # free edges grouped by the column whose price feeds their offer (the row's own)
        free = np.flatnonzero(~matched)
        source = perm[rows[free]]
        free = free[np.argsort(source, kind="stable")]
        source, target = perm[rows[free]], cols[free]
        gain = vals[free] - matched_score[rows[free]]  # S_ij - S_i,perm(i)
        count = np.bincount(source, minlength=c)
        first = np.cumsum(count) - count
        price = self.col_price.copy()
        changed = np.arange(c)
        for _ in range(2 * c + 1):
            # relax only the edges out of columns whose price rose last time (Bellman-Ford
            # with a frontier); rounding cycles of ~1e-17 end within the tolerance
            n = count[changed]
            edges = np.arange(n.sum()) + np.repeat(first[changed] - np.cumsum(n) + n, n)
            offer = np.full(c, -np.inf)
            np.maximum.at(offer, target[edges], gain[edges] + price[source[edges]])
            changed = np.flatnonzero(offer > price + tolerance)
            if changed.size == 0:
                break
            price[changed] = offer[changed]
        else:  # pragma: no cover - impossible for an optimal matching
            raise RuntimeError("positive cycle among the candidates: the matching is not optimal")
        self.col_price = price
        return matched_score - price[perm]

    def _add_violations(self, row_price: np.ndarray) -> bool:
        """Check ``a_i + b_j >= S_ij`` on every pair outside the candidates; add offenders.

        Rows whose bound already proves it are skipped; the others are rescored in blocks and
        scanned (``_scan``). Returns whether any pair was added.
        """
        check = np.flatnonzero(self.bound - row_price > TOLERANCE * self.score_bound)
        self.rescored += check.size
        edges = self._edge_arrays()  # pairs added below belong to rows already scanned
        for start in range(0, check.size, self.block_rows):
            rows = check[start : start + self.block_rows]
            contiguous = rows[-1] - rows[0] + 1 == rows.size
            block = self.blocks(slice(rows[0], rows[-1] + 1) if contiguous else torch.as_tensor(rows))
            undecided = self._scan(rows, block, row_price, edges, block.dtype)
            if undecided.any():  # too many near-ties for the block's precision: redo in float64
                pick = torch.as_tensor(np.flatnonzero(undecided), device=block.device)
                self._scan(rows[undecided], block[pick], row_price, edges, torch.float64)
        return bool(self._pending)

    def _scan(
        self,
        rows: np.ndarray,
        block: torch.Tensor,
        row_price: np.ndarray,
        edges: tuple[np.ndarray, np.ndarray, np.ndarray],
        dt: torch.dtype,
    ) -> np.ndarray:
        """Add the pairs of ``rows`` (scores ``block``) with ``S_ij - b_j - a_i > tolerance``;
        update those rows' bounds; return which rows this precision cannot decide.

        The slack is computed in ``dt``; each row's largest ``4k + 1`` slacks outside the
        candidates are recomputed in float64 and decide. Pairs beyond them are at most the
        last one plus the rounding ``margin`` of ``dt``; a row is undecided when that could
        still exceed the tolerance while none of its pairs was added.
        """
        c, device = self.c, block.device
        tolerance = TOLERANCE * self.score_bound
        a = row_price[rows]
        margin = 0.0  # float64 rounding is well inside the tolerance
        if dt != torch.float64:
            magnitude = float(np.abs(a).max()) + float(self.col_price.max()) + self.score_bound
            margin = 16 * torch.finfo(dt).eps * magnitude
        b_dt = torch.as_tensor(self.col_price, device=device, dtype=dt)
        out = None
        if dt == block.dtype:  # every pass but the rare float64 redo
            if self._workspace is None:
                self._workspace = block.new_empty((self.block_rows, c))
            out = self._workspace[: rows.size]
        slack = torch.sub(block.to(dt), b_dt[None, :], out=out)
        slack -= torch.as_tensor(a, device=device, dtype=dt)[:, None]
        edge_rows, edge_cols, _ = edges
        first = np.searchsorted(edge_rows, rows)
        count = np.searchsorted(edge_rows, rows, side="right") - first
        where = np.repeat(np.arange(rows.size), count)
        taken = edge_cols[np.arange(count.sum()) + np.repeat(first - np.cumsum(count) + count, count)]
        slack[torch.as_tensor(where, device=device), torch.as_tensor(taken, device=device)] = -torch.inf
        top, cols = slack.topk(min(4 * self.top_k + 1, c), dim=1)
        del slack
        scores = block.gather(1, cols).cpu().to(torch.float64).numpy()
        top, cols = top.cpu().to(torch.float64).numpy(), cols.cpu().numpy()
        exact = scores - self.col_price[cols] - a[:, None]
        exact[np.isneginf(top)] = -np.inf  # candidates (rows with few pairs left out)
        add = exact > tolerance
        hit = add.any(axis=1)
        if hit.any():
            self._remember(np.broadcast_to(rows[:, None], add.shape)[add], cols[add], scores[add])
        beyond = top[:, -1] + margin
        rest = np.maximum(np.where(add, -np.inf, exact).max(axis=1), beyond)
        self.bound[rows] = a + rest + self.recompute_error
        return ~hit & (beyond > tolerance)

    def _result(self, perm: np.ndarray, route: str, rounds: int) -> Assignment:
        rows, cols, vals = self._edge_arrays()
        on_perm = perm[rows] == cols  # every matched pair is a candidate edge
        return Assignment(perm, float(vals[on_perm].sum()), route, rounds, len(rows), self.rescored)
