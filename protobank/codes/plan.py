"""Plans: the best catalogue construction for (d, c), as a small record that rebuilds exactly.

A plan takes rows from one code, or from an orthogonal (block-diagonal) union of codes whose
dimensions add up to at most d, and zero-pads the rest. Rows of different blocks are
orthogonal, so a union's largest cosine is the largest of its parts' (and 0 once there are two
parts). Which ``count`` of a code's N points a part takes is the *spread prefix*: the first
``count`` indices of the catalogue's order, whose leading power-of-two blocks are whole
subgroups or cosets of the code (or antipodal pairs), so the centroid stays near 0; a union
takes the same fraction of every part. ``Plan.to_dict`` is JSON; ``Plan.from_dict(...).build()``
gives bitwise the same matrix.

No torch here: planning is integer bookkeeping over the catalogue's table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .catalogue import Code, catalogue, get_code
from .lattices import dn

# Rows built per block: bounds the working memory of a build to a few MB beyond the output.
BUILD_BLOCK_ROWS = 8192
# The one selection rule so far; a plan records it, so a later rule cannot change old recipes.
SELECTION = "prefix"
# The cross-polytope on the dimensions a union leaves over: 2 points a dimension, cosine 0.
AXES = "axes"


@dataclass(frozen=True)
class Part:
    """``count`` rows of one code, placed in the coordinates ``offset .. offset + n``."""

    family: str
    params: tuple[tuple[str, int], ...]
    n: int
    size: int
    max_cosine: float
    count: int
    offset: int

    @property
    def name(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.family}({inner})"

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "params": dict(self.params), "count": self.count, "offset": self.offset}


@dataclass(frozen=True)
class Plan:
    """c unit vectors in R^d from catalogue codes: what they are and how to rebuild them."""

    d: int
    c: int
    parts: tuple[Part, ...]
    selection: str = SELECTION

    @property
    def max_cosine(self) -> float:
        """The proven largest cosine: the worst part's, and at least 0 for a union."""
        worst = max(p.max_cosine for p in self.parts)
        return max(worst, 0.0) if len(self.parts) > 1 else worst

    @property
    def name(self) -> str:
        body = " + ".join(f"{p.name}[{p.count}]" for p in self.parts)
        used = sum(p.n for p in self.parts)
        return body + (f", zero-padded {used} -> {self.d}" if used < self.d else "")

    def to_dict(self) -> dict[str, Any]:
        return {"d": self.d, "c": self.c, "selection": self.selection, "parts": [p.to_dict() for p in self.parts]}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "Plan":
        """The plan a :meth:`to_dict` record describes (the codes are looked up again)."""
        if doc.get("selection") != SELECTION:
            raise ValueError(f"unknown selection rule {doc.get('selection')!r}; this protobank knows {SELECTION!r}")
        parts = []
        for p in doc["parts"]:
            part = _part(p["family"], {k: int(v) for k, v in p["params"].items()}, int(p["count"]), int(p["offset"]))
            parts.append(part)
        plan = cls(int(doc["d"]), int(doc["c"]), tuple(parts))
        _check(plan)
        return plan

    def blocks(self, rows: int = BUILD_BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float64 block of up to ``rows`` full rows), in order: a streaming build."""
        start = 0
        for part in self.parts:
            rows_of = _rows_function(part)
            for lo in range(0, part.count, rows):
                hi = min(lo + rows, part.count)
                block = np.zeros((hi - lo, self.d))
                block[:, part.offset : part.offset + part.n] = rows_of(np.arange(lo, hi, dtype=np.int64))
                yield start + lo, block
            start += part.count

    def build(self) -> np.ndarray:
        """The (c, d) float64 unit rows, written block by block into one array."""
        out = np.empty((self.c, self.d))
        for start, block in self.blocks():
            out[start : start + len(block)] = block
        return out

    def centroid(self) -> np.ndarray:
        """The mean of the rows, streamed (to judge a selection without keeping the rows)."""
        total = np.zeros(self.d)
        for _, block in self.blocks():
            total += block.sum(axis=0)
        return total / self.c


@lru_cache(maxsize=1)
def code_table() -> tuple[Code, ...]:
    """Every code a plan may use: the catalogue, and D_4 (the 24-cell, optimal in R^4 by
    Musin 2008), which the catalogue's D_n rows start above."""
    return catalogue() + (dn(4),)


def find_code(family: str, **params: int) -> Code:
    """The code of ``family`` with these parameters from :func:`code_table`."""
    for code in code_table():
        if code.family == family and dict(code.params) == params:
            return code
    return get_code(family, **params)  # raises the catalogue's clear error


def _rows_function(part: Part):
    if part.family == AXES:
        return lambda idx: _axes_rows(idx, part.n)
    return find_code(part.family, **dict(part.params)).rows


def _axes_rows(idx: np.ndarray, n: int) -> np.ndarray:
    """+-e_i in antipodal pairs: row 2i is e_i, row 2i + 1 is -e_i."""
    out = np.zeros((len(idx), n))
    out[np.arange(len(idx)), idx // 2] = np.where(idx % 2 == 0, 1.0, -1.0)
    return out


def _part(family: str, params: Mapping[str, int], count: int, offset: int) -> Part:
    if family == AXES:
        n = int(params["n"])
        return Part(AXES, (("n", n),), n, 2 * n, 0.0, count, offset)
    code = find_code(family, **params)
    return Part(code.family, tuple(sorted(code.params.items())), code.n, code.size, float(code.max_cosine), count, offset)


def _check(plan: Plan) -> None:
    if sum(p.count for p in plan.parts) != plan.c:
        raise ValueError(f"plan parts hold {sum(p.count for p in plan.parts)} rows, not c = {plan.c}")
    if any(not 0 < p.count <= p.size for p in plan.parts):
        raise ValueError("a plan part takes more rows than its code has, or none")
    end = 0
    for p in plan.parts:
        if p.offset < end:
            raise ValueError("plan parts overlap")
        end = p.offset + p.n
    if end > plan.d:
        raise ValueError(f"plan parts need {end} dimensions, more than d = {plan.d}")


# ----------------------------------------------------------------------------------------------
# Planning: the smallest proven max cosine reachable with c points in d dimensions.
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[float, int, int, str, tuple[tuple[str, int], ...]], ...]:
    """(max cosine, n, N, family, params) of every catalogue code, sorted by max cosine."""
    rows = [(float(k.max_cosine), k.n, k.size, k.family, tuple(sorted(k.params.items()))) for k in code_table()]
    return tuple(sorted(rows))


def _best_single(d: int, c: int):
    """The single code with the lowest max cosine that holds c points in <= d dimensions;
    ties go to the larger code (a smaller fraction of it is taken), then the smaller n."""
    fits = [r for r in _table() if r[1] <= d and r[2] >= c]
    return min(fits, key=lambda r: (r[0], -r[2], r[1])) if fits else None


def _union_capacity(d: int, items: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Unbounded knapsack over (n, N, item id): the most points in j <= d dimensions, and the
    last item of an optimal packing for each j (-1: none)."""
    best = np.zeros(d + 1, dtype=np.int64)
    last = np.full(d + 1, -1, dtype=np.int64)
    ns = np.array([n for n, _, _ in items], dtype=np.int64)
    sizes = np.array([s for _, s, _ in items], dtype=np.int64)
    for j in range(1, d + 1):
        ok = ns <= j
        best[j], last[j] = best[j - 1], -1
        if ok.any():
            cand = np.where(ok, best[np.maximum(j - ns, 0)] + sizes, -1)
            k = int(np.argmax(cand))
            if cand[k] > best[j]:
                best[j], last[j] = cand[k], k
    return best, last


def _best_union(d: int, c: int, below: float):
    """The union of codes (at least two parts) with the lowest max cosine under ``below``."""
    table = [r for r in _table() if r[1] <= d and r[0] < below]
    thresholds = sorted({max(r[0], 0.0) for r in table} | {0.0})
    thresholds = [t for t in thresholds if t < below]

    def packing(t: float):
        per_n: dict[int, tuple] = {1: (0.0, 1, 2, AXES, (("n", 1),))}
        for r in table:
            if r[0] <= t and (r[1] not in per_n or r[2] > per_n[r[1]][2]):
                per_n[r[1]] = r
        items = list(per_n.values())
        best, last = _union_capacity(d, [(r[1], r[2], i) for i, r in enumerate(items)])
        if best[d] < c:
            return None
        chosen, j = [], d
        while j > 0:
            if last[j] < 0:
                j -= 1
                continue
            chosen.append(items[int(last[j])])
            j -= chosen[-1][1]
        return chosen

    lo, hi, found = 0, len(thresholds) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        chosen = packing(thresholds[mid])
        if chosen is None:
            lo = mid + 1
        else:
            found, hi = chosen, mid - 1
    return found


def _trim(chosen: list[tuple], c: int) -> list[tuple]:
    """Drop the smallest parts while the rest still hold c points; merge the axes."""
    chosen = sorted(chosen, key=lambda r: -r[2])
    while len(chosen) > 1 and sum(r[2] for r in chosen[:-1]) >= c:
        chosen.pop()
    axes = sum(r[1] for r in chosen if r[3] == AXES)
    codes = [r for r in chosen if r[3] != AXES]
    return codes + ([(0.0, axes, 2 * axes, AXES, (("n", axes),))] if axes else [])


def _shares(sizes: list[int], c: int) -> list[int]:
    """c split over parts in proportion to their sizes (largest remainders), each <= its size."""
    total = sum(sizes)
    raw = [c * s / total for s in sizes]
    out = [min(int(r), s) for r, s in zip(raw, sizes)]
    order = sorted(range(len(sizes)), key=lambda i: -(raw[i] - int(raw[i])))
    k = 0
    while sum(out) < c:
        i = order[k % len(order)]
        if out[i] < sizes[i]:
            out[i] += 1
        k += 1
    return out


@lru_cache(maxsize=256)
def best_plan(d: int, c: int) -> Plan | None:
    """The catalogue plan for (d, c) with the lowest proven max cosine, or None if no code
    or union of codes holds c points in d dimensions. A single code wins ties."""
    single = _best_single(d, c)
    below = single[0] if single else float("inf")
    union = _best_union(d, c, below)
    if union is not None and len(union) > 1:
        chosen = _trim(union, c)
    elif single is not None:
        chosen = [single]
    else:
        return None
    counts = _shares([r[2] for r in chosen], c)
    parts, offset = [], 0
    for r, count in zip(chosen, counts):
        if count == 0:
            continue
        parts.append(_part(r[3], dict(r[4]), count, offset))
        offset += r[1]
    plan = Plan(d, c, tuple(parts))
    _check(plan)
    return plan

