"""The minimax optimizer's options, declared once: the default method's ``-p KEY=VALUE``
parameters, the optimizers' keyword arguments and the forecast's inputs all come from here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError

ENGINES = ("auto", "all-pairs", "neighbours")


def _doc(text: str, default: Any) -> Any:
    """A field with its default and its one-line description (``metadata["help"]``)."""
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class OptimizerOptions:
    """How the optimizer runs; every field has a default that depends on nothing else."""

    engine: str = _doc("auto (all-pairs while it keeps to its own budget or is predicted sooner, else neighbours), all-pairs (O(c^2 d) a step, restarts and polish), or neighbours (near pairs only, O(c k d) a step)", "auto")
    restarts: int | None = _doc("all-pairs engine: restarts run as one batch (default from d, c and device)", None)
    polish: bool | None = _doc("all-pairs engine: LP polish of the best candidates (default: d <= 4, c d <= 1000)", None)
    beta_start: float = _doc("first sharpness of the smoothed maximum", 10.0)
    beta_mid: float = _doc("sharpness where annealing ends and sharpening starts (a warm start starts here)", 1000.0)
    beta_end: float = _doc("last sharpness", 1e5)
    lr: float | None = _doc("Adam step size (default 0.03 min(1, sqrt(32 / d)))", None)
    patience: int | None = _doc("all-pairs engine: sharpening steps without gain before it stops", None)
    tol: float = _doc("all-pairs engine: the least gain that counts for patience", 1e-7)
    neighbours: int = _doc("neighbours engine: near pairs per point, about k (the pair set's threshold is the median k-th largest cosine of 256 spread rows)", 256)
    rebuild_every: int | None = _doc("neighbours engine: fewest steps between all-pairs rebuilds of the pair set (default: as many as one rebuild costs)", None)
    warm_noise: float = _doc("neighbours engine: nudge of a code start off its zero padding and ties", 1e-3)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InvalidInputError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.restarts is not None and self.restarts < 1:
            raise InvalidInputError(f"restarts must be >= 1, got {self.restarts}")
        if not 0 < self.beta_start <= self.beta_mid <= self.beta_end:
            raise InvalidInputError("need 0 < beta_start <= beta_mid <= beta_end")
        for name in ("neighbours", "rebuild_every"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr is not None and not self.lr > 0:
            raise InvalidInputError(f"lr must be > 0, got {self.lr}")
        if not self.warm_noise >= 0:
            raise InvalidInputError(f"warm_noise must be >= 0, got {self.warm_noise}")

    def step_size(self, d: int) -> float:
        """The Adam step size for dimension d: ``lr``, or the default that shrinks with d."""
        return 0.03 * min(1.0, math.sqrt(32 / d)) if self.lr is None else self.lr
