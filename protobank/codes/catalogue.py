"""The one table of exact spherical codes: every family, its instances, their exact max cosine.

Each module named in ``FAMILY_MODULES`` defines ``FAMILIES``: family name -> a function
returning that family's instances as :class:`Code` objects. Listing them builds nothing; a
code's vectors are built by ``rows`` only for the indices asked for, because N can be 10^9.
The planner, ``bounds``/``inspect`` and the docs all read this table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from ..errors import InvalidInputError, ResourceLimitError, did_you_mean

FAMILY_MODULES = ("binary", "z4", "complex_phases", "lattices", "graphs")

MAX_VECTOR_ELEMENTS = 1 << 28  # vectors() refuses above 2 GiB of float64


@dataclass(frozen=True)
class Code:
    """One instance of a code family: N unit vectors in R^n with a known exact max cosine.

    ``rows(index)`` maps int64 indices in [0, size) to the float64 (k, n) unit rows with those
    indices, building only those rows, identically on every platform. Each family documents its
    index order (which index ranges are subgroups, simplices or cross-polytopes).
    """

    family: str
    params: Mapping[str, int]
    n: int
    size: int
    max_cosine: float
    exact: str
    source: str
    rows: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "rows", _checked(self, self.rows))

    def __hash__(self) -> int:
        return hash((self.family, tuple(self.params.items())))

    @property
    def name(self) -> str:
        """``family(k=v, ...)``, e.g. ``gold(m=7)``."""
        return f"{self.family}({', '.join(f'{k}={v}' for k, v in self.params.items())})"

    def vectors(self) -> np.ndarray:
        """All N rows; refused when N x n is too large to hold (use ``rows`` on a subset)."""
        if self.size * self.n > MAX_VECTOR_ELEMENTS:
            raise ResourceLimitError(
                f"{self.name} has {self.size:,} vectors of dimension {self.n}: too many to build "
                f"at once ({self.size * self.n * 8 / 2**30:.1f} GiB); build a subset with rows(index)"
            )
        return self.rows(np.arange(self.size, dtype=np.int64))


def _checked(code: Code, build: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a family's row builder with one clear check of the indices."""

    def rows(index: np.ndarray) -> np.ndarray:
        index = np.asarray(index)
        if index.ndim != 1 or not (index.dtype.kind in "iu" or index.size == 0):
            raise InvalidInputError(
                f"{code.name}: indices must be a 1-D integer array, got shape {index.shape} "
                f"of {index.dtype}"
            )
        index = index.astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= code.size):
            raise InvalidInputError(
                f"{code.name}: indices must lie in [0, {code.size:,}), got "
                f"{int(index.min())}..{int(index.max())}"
            )
        return build(index)

    return rows


@lru_cache(maxsize=1)
def _families() -> dict[str, Callable[[], list[Code]]]:
    families: dict[str, Callable[[], list[Code]]] = {}
    for module in FAMILY_MODULES:
        families.update(importlib.import_module(f"{__package__}.{module}").FAMILIES)
    return families


@lru_cache(maxsize=1)
def catalogue() -> tuple[Code, ...]:
    """Every instance of every family, in a stable order; cheap, nothing is built."""
    return tuple(code for make in _families().values() for code in make())


def family_names() -> tuple[str, ...]:
    """The family names, in catalogue order."""
    return tuple(_families())


def get_code(family: str, **params: int) -> Code:
    """The instance of ``family`` with exactly these parameters, e.g. ``get_code("gold", m=7)``."""
    names = family_names()
    if family not in names:
        raise InvalidInputError(
            f"unknown code family {family!r}.{did_you_mean(family, names)} "
            f"Choose one of {', '.join(names)}"
        )
    instances = [c for c in catalogue() if c.family == family]
    for code in instances:
        if dict(code.params) == params:
            return code
    shown = "; ".join(", ".join(f"{k}={v}" for k, v in c.params.items()) for c in instances)
    asked = ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"
    raise InvalidInputError(f"code family {family!r} has no instance with {asked}; it has: {shown}")
