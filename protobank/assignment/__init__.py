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

Where each part lives:

- ``solve``: the two entry points (input checks, the dense or sparse route, the objective);
- ``result``: ``Assignment``, what both routes return;
- ``dense``: scipy's dense solver, for c up to ``DENSE_LIMIT``;
- ``scores``: score rows in blocks, from a stored matrix or recomputed cosines;
- ``sparse``: the sparse route's loop (steps 1 to 4 above);
- ``candidates``: the candidate edges and the first pass that picks them (step 1);
- ``matching``: the exact matching on the candidates (step 3);
- ``prices``: the dual prices of that matching (step 3);
- ``certificate``: dual feasibility over all pairs, and the pairs it adds (step 4).
"""

from .result import Assignment
from .solve import DENSE_LIMIT, KEEP_SCORES_BYTES, TOP_K, match_to_prototypes, solve_assignment
from .sparse import TOLERANCE

__all__ = [
    "DENSE_LIMIT",
    "KEEP_SCORES_BYTES",
    "TOLERANCE",
    "TOP_K",
    "Assignment",
    "match_to_prototypes",
    "solve_assignment",
]
