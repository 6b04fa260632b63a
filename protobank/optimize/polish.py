"""Sequential linear programming on the active pairs: takes a near-optimal code to the exact
local minimum of its largest cosine.

Each round linearises every pair within a margin of the current maximum,
``cos_ij + x_j.dx_i + x_i.dx_j <= s``, keeps steps tangent to the sphere inside a box of radius
r, minimises s with HiGHS, then re-normalises. A step is kept only if the true maximum falls;
otherwise r shrinks. Cost grows quickly with c * d: meant for small codes (d <= 4).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linprog


def _max_offdiag(x: np.ndarray) -> float:
    g = x @ x.T
    np.fill_diagonal(g, -2.0)
    return float(g.max())


def slp_polish(x: np.ndarray, *, rounds: int = 100, radius: float = 0.02) -> tuple[np.ndarray, float, int]:
    """Polish unit rows ``x`` (c, d); returns (rows, max cosine, rounds used).

    Bounded by a round count, never a clock, so results do not depend on machine load."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    c, d = x.shape
    n = c * d
    iu = np.triu_indices(c, 1)
    current = _max_offdiag(x)
    used = 0
    for used in range(1, rounds + 1):
        if radius < 1e-10:
            break
        g = x @ x.T
        active = np.nonzero(g[iu] > current - max(4 * radius, 1e-3))[0]
        i, j = iu[0][active], iu[1][active]
        na = len(active)
        cols = np.concatenate([i[:, None] * d + np.arange(d), j[:, None] * d + np.arange(d)], axis=1).ravel()
        vals = np.concatenate([x[j], x[i]], axis=1).ravel()
        a_ub = sparse.csr_matrix(
            (np.append(vals, -np.ones(na)), (np.append(np.repeat(np.arange(na), 2 * d), np.arange(na)), np.append(cols, np.full(na, n)))),
            shape=(na, n + 1),
        )
        a_eq = sparse.csr_matrix((x.ravel(), (np.repeat(np.arange(c), d), np.arange(n))), shape=(c, n + 1))
        cost = np.zeros(n + 1)
        cost[-1] = 1.0
        bounds = np.full((n + 1, 2), [-radius, radius])
        bounds[-1] = [-np.inf, np.inf]
        res = linprog(cost, A_ub=a_ub, b_ub=-g[i, j], A_eq=a_eq, b_eq=np.zeros(c), bounds=bounds, method="highs")
        if res.status != 0:
            radius /= 2
            continue
        trial = x + res.x[:-1].reshape(c, d)
        trial /= np.linalg.norm(trial, axis=1, keepdims=True)
        value = _max_offdiag(trial)
        if value < current - 1e-13:
            x, current = trial, value
            radius = min(radius * 2, 0.1)
        else:
            radius /= 4
    return x, current, used
