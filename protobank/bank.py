"""Maintaining a bank folder: build a grid of artifacts with its index, verify every entry.

Finding and loading artifacts lives in :mod:`protobank.lookup`, reading folders in
:mod:`protobank.folders`, the user cache in :mod:`protobank.cache`, the index format in
:mod:`protobank.index` and the default-artifact rule in :mod:`protobank.defaults`.

A bank keeps what it once shipped: when ``build --upgrade`` replaces a cell's artifact, the
old one stays as a non-default entry (its file kept), so a pin to it still loads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .defaults import mark_problems
from .errors import InvalidArtifactError, OutputPathError, PrototypesNotFoundError
from .folders import is_stale, place
from .index import INDEX_METRICS, INDEX_NAME, BankEntry, artifact_name, entry_for, has_index, read_index, write_index
from .lookup import open_entry
from .prototypes import Prototypes

DEFAULT_GRID: tuple[tuple[int, int], ...] = tuple(
    (d, c)
    for c in (10, 100, 200, 1000)
    for d in (2, 3, 4, 8, 10, 16, 25, 32, 50, 64, 100, 128, 200, 256, 512)
) + ((2048, 1000), (4096, 1000)) + tuple((d, c) for c in (10_000, 100_000) for d in (128, 256, 512, 1024))


def build_bank(
    root: str | os.PathLike,
    grid: Iterable[tuple[int, int]] = DEFAULT_GRID,
    *,
    method: str | None = None,
    dtype: str = "float32",
    seed: int = 0,
    device: str = "auto",
    on_entry: Callable[..., None] | None = None,
    upgrade: bool = False,
) -> list[BankEntry]:
    """Generate every missing (d, c) of ``grid`` into ``root`` and keep its index current.

    Resumable: entries already in the index are kept, and the index is rewritten after each
    new artifact, so an interrupted build continues where it stopped. The artifact built for a
    (d, c, method) is marked default. A result that is an exact construction becomes a
    *recipe entry* (its plan, shape and content hash; :func:`protobank.lookup.load` rebuilds
    it), costing no bytes. ``upgrade`` also regenerates the cells whose default entry a
    catalogue plan beats; the entry it replaces stays, unmarked, with its file.
    """
    from .generation import generate
    from .optimize import DEFAULT_METHOD

    method = method or DEFAULT_METHOD
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create bank folder {root}: {exc.strerror}") from exc
    entries = read_index(root) if has_index(root) else []
    for d, c in grid:
        have = [e for e in entries if (e.d, e.c, e.method) == (d, c, method)]
        current = next((e for e in have if e.default), have[0] if have else None)
        outdone = upgrade and current is not None and method == DEFAULT_METHOD and _code_wins(current, d, c)  # plans are the default's
        if current is not None and (current.file is None or current.file.is_file()) and not outdone:
            if on_entry:
                on_entry(current, skipped=True)
            continue
        p = generate(d, c, method=method, seed=seed, device=device)
        if "plan" in p.method_params:
            entry = recipe_entry(p, root)  # an exact construction: its recipe, no bytes
        else:
            p = p.astype(dtype) if p.dtype != dtype else p
            target = root / artifact_name(p)
            place(p, target)  # the same content may be there from an interrupted earlier run
            entry = entry_for(p, root, target, default=False)
        # what the cell held stays, unmarked, so that pins to it keep loading; the new entry answers
        entries = [replace(e, default=False) if e in have else e for e in entries if not (e in have and is_stale(e))]
        entries = [e for e in entries if (e.path, e.content_sha256) != (entry.path, entry.content_sha256)]
        entries.append(replace(entry, default=True))
        write_index(root, entries)
        if on_entry:
            on_entry(entries[-1], skipped=False)
    return entries


def _code_wins(current: BankEntry, d: int, c: int) -> bool:
    """True when the catalogue's best plan for (d, c) beats the cell's default entry."""
    from .codes.plan import best_plan

    plan = best_plan(d, c)
    return plan is not None and plan.max_cosine < current.metrics.get("max_cosine", float("inf")) - 1e-9


def recipe_entry(p: Prototypes, root: Path) -> BankEntry:
    """The index entry that rebuilds the exact construction ``p`` from its recorded plan."""
    metrics = {k: float(p.metrics[k]) for k in (*INDEX_METRICS, "measured_rows") if k in p.metrics}
    return BankEntry(d=p.d, c=p.c, method=p.method, content_sha256=p.content_sha256, kind="recipe", dtype=p.dtype,
                     seed=p.seed, method_params=dict(p.method_params), metrics=metrics, root=str(root))


@dataclass(frozen=True)
class FileCheck:
    """Result of checking one bank file (or one rule over the index)."""

    path: str
    ok: bool
    problems: tuple[str, ...] = ()


def verify_bank(root: str | os.PathLike, *, metrics_rtol: float = 1e-6, sample: int | None = None) -> list[FileCheck]:
    """Check the folder's index against its files: see :func:`verify_entries`."""
    root = Path(root)
    try:
        entries = read_index(root)
    except InvalidArtifactError as exc:
        return [FileCheck(str(root / INDEX_NAME), False, (str(exc),))]
    return verify_entries(root, entries, metrics_rtol=metrics_rtol, sample=sample, every_cell=True)


def verify_entries(
    root: Path, entries: list[BankEntry], *, metrics_rtol: float = 1e-6, sample: int | None = None, every_cell: bool = False
) -> list[FileCheck]:
    """Check every entry (hashes, schema, metrics recomputed), files the entries do not
    know, and the default marks: at most one per (d, c, method). ``sample``
    recomputes only that many entries' metrics (spread over the index); hashes are always
    checked for all. ``every_cell`` (a bank) also requires one default entry wherever a
    (d, c, method) has any: each cell of a bank answers ``load``; in the cache, runs with
    other settings may hold a cell alone (see :mod:`protobank.defaults`)."""
    from .measure import remeasure

    checks: list[FileCheck] = []
    step = max(1, len(entries) // sample) if sample else 1
    for k, e in enumerate(entries):
        name = e.path or e.where
        if e.file is not None and not e.file.is_file():
            checks.append(FileCheck(name, False, ("missing file",)))
            continue
        problems: list[str] = []
        if e.size_bytes is not None and e.file is not None and e.file.stat().st_size != e.size_bytes:
            problems.append("size differs from the index")
        try:
            p = open_entry(e)
        except (InvalidArtifactError, PrototypesNotFoundError, OSError) as exc:
            checks.append(FileCheck(name, False, (*problems, str(exc))))
            continue
        if e.path is not None and Path(e.path).name != Path(artifact_name(p)).name:
            problems.append(f"file name should be {Path(artifact_name(p)).name}")
        if k % step == 0:
            fresh = remeasure(p.vectors, p.metrics).headline()
            for metric, value in e.metrics.items():
                if metric in fresh and not math.isclose(value, fresh[metric], rel_tol=metrics_rtol, abs_tol=1e-9):
                    problems.append(f"metric {metric}: index {value!r}, recomputed {fresh[metric]!r}")
        checks.append(FileCheck(name, not problems, tuple(problems)))
    known = {e.path for e in entries if e.path is not None}
    for path in sorted(Path(root).rglob("*.h5")):
        rel = path.relative_to(root).as_posix()
        if rel not in known:
            checks.append(FileCheck(rel, False, ("not in the index",)))
    checks += [FileCheck(cell, False, (problem,)) for cell, problem in mark_problems(entries, every_cell=every_cell)]
    return checks
