"""``Assignment``: the permutation both routes return, with how it was found."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
