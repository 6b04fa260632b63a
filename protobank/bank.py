"""Maintaining a bank folder: build a grid of artifacts with its index, verify every entry.

Finding and loading artifacts lives in :mod:`protobank.lookup`, the user cache in
:mod:`protobank.cache`, the index format in :mod:`protobank.index`; their public names are
re-exported here so that ``protobank.bank.load`` and friends keep working.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .cache import cache_dir, generate_into_cache
from .errors import ArtifactExistsError, InvalidArtifactError, OutputPathError, PrototypesNotFoundError
from .index import INDEX_METRICS, INDEX_NAME, BankEntry, artifact_name, entry_for, file_sha256, has_index, read_index, write_index
from .prototypes import Prototypes
from .lookup import folder_entries, list_available, load, locations, open_entry, packaged_bank, scan_folder

__all__ = [
    "DEFAULT_GRID", "INDEX_METRICS", "INDEX_NAME", "BankEntry", "FileCheck", "artifact_name", "build_bank",
    "cache_dir", "entry_for", "file_sha256", "folder_entries", "generate_into_cache", "list_available", "load",
    "locations", "open_entry", "packaged_bank", "read_index", "recipe_entry", "scan_folder", "verify_bank",
    "verify_entries",
    "write_index",
]  # fmt: skip

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
    new artifact, so an interrupted build continues where it stopped. The first artifact of
    each (d, c, method) is marked default. A result that is an exact construction becomes a
    *recipe entry* (its plan, shape and content hash; :func:`protobank.lookup.load` rebuilds
    it), costing no bytes. ``upgrade`` also regenerates the cells whose stored max cosine a
    catalogue plan beats, replacing their entries.
    """
    from .artifact import write
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
        outdone = upgrade and method == DEFAULT_METHOD and _code_wins(have, d, c)  # plans are the default's
        if have and (have[0].file is None or have[0].file.is_file()) and not outdone:
            if on_entry:
                on_entry(have[0], skipped=True)
            continue
        p = generate(d, c, method=method, seed=seed, device=device)
        if "plan" in p.method_params:
            entry = recipe_entry(p, root)  # an exact construction: its recipe, no bytes
        else:
            p = p.astype(dtype) if p.dtype != dtype else p
            target = root / artifact_name(p)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                write(p, target)
            except ArtifactExistsError:
                pass  # the same content, published by an interrupted earlier run
            entry = entry_for(p, root, target, default=False)
        if upgrade and have:
            for old in have:  # the new entry replaces what the catalogue beat
                if old.file is not None and old.file.is_file() and old.content_sha256 != entry.content_sha256:
                    old.file.unlink()
            entries = [e for e in entries if (e.d, e.c, e.method) != (d, c, method)]
        is_default = not any(e.default for e in entries if (e.d, e.c, e.method) == (d, c, method))
        entry = replace(entry, default=is_default)
        entries = [e for e in entries if (e.path, e.content_sha256) != (entry.path, entry.content_sha256)] + [entry]
        write_index(root, entries)
        if on_entry:
            on_entry(entry, skipped=False)
    return entries


def _code_wins(have: list[BankEntry], d: int, c: int) -> bool:
    """True when the catalogue's best plan for (d, c) beats the stored max cosine."""
    from .codes.plan import best_plan

    plan = best_plan(d, c)
    stored = min(e.metrics.get("max_cosine", float("inf")) for e in have)
    return plan is not None and plan.max_cosine < stored - 1e-9


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
    return verify_entries(root, entries, metrics_rtol=metrics_rtol, sample=sample)


def verify_entries(root: Path, entries: list[BankEntry], *, metrics_rtol: float = 1e-6, sample: int | None = None) -> list[FileCheck]:
    """Check every entry (hashes, schema, metrics recomputed), files the entries do not
    know, and the default marks: at most one per (d, c, method), and one wherever a
    (d, c, method) has several artifacts (else ``load`` would have to guess). ``sample``
    recomputes only that many entries' metrics (spread over the index); hashes are always
    checked for all."""
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
    defaults = Counter((e.d, e.c, e.method) for e in entries if e.default)
    hashes: dict[tuple[int, int, str], set[str]] = {}
    for e in entries:
        hashes.setdefault((e.d, e.c, e.method), set()).add(e.content_sha256)
    for (d, c, method), found in sorted(hashes.items()):
        n = defaults[(d, c, method)]
        if n > 1 or (n == 0 and len(found) > 1):
            checks.append(FileCheck(f"(d={d}, c={c}, method={method})", False,
                                    (f"{n} default entries for {len(found)} artifacts; exactly one expected",)))
    return checks
