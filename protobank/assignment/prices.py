"""Dual prices for an optimal matching on the candidates (step 3), as small as possible.

The certificate needs prices that are feasible on every candidate edge and tight on the
matching; the smallest such column prices leave rows the most room, so the fewest pairs
outside the candidates look violated. Column prices never fall from one round to the next,
which keeps the first pass's per-row bounds valid.
"""

from __future__ import annotations

import numpy as np


def lowest_prices(
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    perm: np.ndarray,
    col_price: np.ndarray,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Row prices ``a`` and column prices ``b >= col_price`` with ``a_i + b_j >= S_ij`` on
    every candidate edge and equality on ``perm``; returns ``(a, b)``.

    ``b`` becomes the smallest prices, at least the previous round's, that make every
    row's matched column its best candidate at those prices: ``b_j = max(b_j, max over
    candidate (i, j) of S_ij - S_i,perm(i) + b_perm(i))``, a longest-path fixpoint that
    exists because the matching is optimal (no positive cycle). Then
    ``a_i = S_i,perm(i) - b_perm(i)``. The fixpoint is found by relaxing, in vectorised
    rounds, the edges out of the columns whose price rose in the last one (Bellman-Ford
    with a frontier) until nothing changes by more than ``tolerance``.
    """
    c = perm.size
    rows, cols, vals = edges
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
    price = col_price.copy()
    changed = np.arange(c)
    for _ in range(2 * c + 1):
        # relax only the edges out of columns whose price rose last time (Bellman-Ford
        # with a frontier); rounding cycles of ~1e-17 end within the tolerance
        n = count[changed]
        edges_out = np.arange(n.sum()) + np.repeat(first[changed] - np.cumsum(n) + n, n)
        offer = np.full(c, -np.inf)
        np.maximum.at(offer, target[edges_out], gain[edges_out] + price[source[edges_out]])
        changed = np.flatnonzero(offer > price + tolerance)
        if changed.size == 0:
            break
        price[changed] = offer[changed]
    else:  # pragma: no cover - impossible for an optimal matching
        raise RuntimeError("positive cycle among the candidates: the matching is not optimal")
    return matched_score - price[perm], price
