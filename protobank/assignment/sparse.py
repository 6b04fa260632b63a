"""The sparse route: candidate edges, exact sparse matching, dual certificate over all
pairs, repeated until the certificate adds nothing (steps 1 to 4 of the package docstring).

Used above ``DENSE_LIMIT`` classes, where a float64 ``c x c`` matrix would cost O(c^2)
memory; here memory stays O(block x c) plus the candidate edges.
"""

from __future__ import annotations

import numpy as np

from .candidates import CandidateEdges, first_pass
from .certificate import Certificate
from .matching import match_candidates
from .prices import lowest_prices
from .result import Assignment
from .scores import ScoreBlocks

#: Slack (in units of the largest |score|) below which prices and pairs count as feasible.
TOLERANCE = 1e-13


def solve_sparse(
    blocks: ScoreBlocks,
    c: int,
    previous: np.ndarray | None,
    top_k: int,
    block_rows: int,
    score_bound: float,
    recompute_error: float,
) -> Assignment:
    """The optimal permutation of the ``c x c`` scores that ``blocks`` yields.

    ``previous`` (a permutation, or None for the identity) joins the candidates, so a
    perfect matching exists among them; ``score_bound`` bounds every |S_ij| (for rounding
    margins); ``recompute_error`` bounds how much a score rescored later may differ from
    the same score computed before.
    """
    anchor = previous if previous is not None else np.arange(c)
    top_k = max(1, min(top_k, c))
    tolerance = TOLERANCE * score_bound
    edges = CandidateEdges(c)
    first = first_pass(blocks, anchor, top_k, block_rows, recompute_error, edges)
    if np.unique(first.best_col).size == c:  # every row gets its maximum: optimal
        return Assignment(first.best_col, float(first.best_val.sum()), "argmax")
    certificate = Certificate(blocks, first.bound, top_k, block_rows, score_bound, recompute_error, tolerance)
    col_price = np.zeros(c)  # b: never lowered, so each row's bound stays valid
    perm, rounds = match_candidates(edges.arrays(), c), 1
    while True:
        row_price, col_price = lowest_prices(edges.arrays(), perm, col_price, tolerance)
        if not certificate.add_violations(row_price, col_price, edges):
            break
        perm, rounds = match_candidates(edges.arrays(), c, (row_price, col_price), tolerance), rounds + 1
    rows, cols, vals = edges.arrays()
    on_perm = perm[rows] == cols  # every matched pair is a candidate edge
    return Assignment(perm, float(vals[on_perm].sum()), "sparse", rounds, len(rows), certificate.rescored)
