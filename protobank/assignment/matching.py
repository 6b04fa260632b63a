"""The exact maximum-score perfect matching on the candidate edges (step 3), by LAPJVsp.

scipy's ``min_weight_full_bipartite_matching`` is exact and sparse, so it never sees more
than the candidates; after the first round it sees only the edges that can still enter a
better matching.
"""

from __future__ import annotations

import math

import numpy as np


def pow2_at_least(x: float) -> float:
    """The smallest power of two >= x (1 for x = 0): dividing by it is exact."""
    return 1.0 if x == 0.0 else math.ldexp(1.0, math.frexp(x)[1])


def match_candidates(
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    c: int,
    prices: tuple[np.ndarray, np.ndarray] | None = None,
    tolerance: float = 0.0,
) -> np.ndarray:
    """Exact maximum-score perfect matching on ``edges`` (rows, cols, scores sorted by row).

    Given the last round's ``prices`` (row prices ``a``, column prices ``b``: tight on its
    matching, feasible on its candidates), a better matching differs from it by alternating
    cycles that gain, and each cycle pays its negative slacks ``S_ij - a_i - b_j`` out of the
    positive slacks of the pairs just added: at most ``P``, the sum over rows of their
    largest positive slack. So edges with slack below ``-P`` (less ``tolerance``) can be
    left out of the solve without losing the optimum.
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    rows, cols, vals = edges
    if prices is not None:
        row_price, col_price = prices
        slack = vals - row_price[rows] - col_price[cols]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        gain = float(np.maximum.reduceat(np.maximum(slack, 0.0), starts).sum())
        keep = slack >= -(gain + tolerance)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    # LAPJVsp treats zero weights as missing edges, so costs must be positive: each row's
    # gap to its best candidate, scaled into [0, 1] by a power of two, plus 1. A constant
    # shift per row leaves the optimal permutation unchanged.
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # every row has one
    gap = np.maximum.reduceat(vals, starts)[rows] - vals
    graph = csr_array((1.0 + gap / pow2_at_least(gap.max()), (rows, cols)), shape=(c, c))
    _, perm = min_weight_full_bipartite_matching(graph)
    return perm.astype(np.int64)
