"""Where the neighbour-list optimizer starts: the best rows available before any step.

A catalogue plan's rows where one fits (a code, or the planner's spread subset of one), a
Fibonacci spiral in d = 3 (points about evenly spaced on the sphere, far better than random
at large c), seeded random rows otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import random_unit_rows


def fibonacci_sphere(c: int) -> np.ndarray:
    """c points on S^2 along the golden-angle spiral, z evenly spaced: (c, 3) float64 unit rows."""
    k = np.arange(c, dtype=np.float64)
    z = 1.0 - (2.0 * k + 1.0) / c
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    phi = k * math.pi * (3.0 - math.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def best_start(d: int, c: int, seed: int, plan: Any = None) -> tuple[np.ndarray, str]:
    """The start rows and what they are: ``plan`` (a :class:`protobank.codes.plan.Plan`) built,
    the spiral in d = 3, else random; float64 unit rows."""
    if plan is not None:
        return plan.build(), f"code {plan.name}"
    if d == 3:
        return fibonacci_sphere(c), "fibonacci-spiral"
    return random_unit_rows((c, d), seed), "random"
