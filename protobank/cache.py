"""The user cache of generated artifacts: one folder, one index, one way in (:func:`publish`).

Everything that writes into the cache goes through :func:`publish`: ``load(..., generate=True)``
and ``protobank generate``. A file lock per (d, c, method) (:func:`cell_lock`) keeps two
processes from generating the same cell, and a lock on the index serialises its updates.
Neither is needed for correctness: the files are published atomically and never clobbered
(:func:`protobank.artifact.write`), and an artifact file whose index entry is missing (a
publisher killed before indexing, or an update lost where file locks silently fail) is read
from the file by :func:`protobank.folders.folder_entries` and written back into the index by
the next publish, so the cache never loses an artifact to a race.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputPathError
from .folders import cache_dir, folder_entries, is_stale, place
from .index import BankEntry, artifact_name, entry_for, has_index, write_index
from .prototypes import Prototypes

# A temporary file this old was left by a killed writer, not one still writing.
STALE_TMP_SECONDS = 3600
_LOCKS = ".locks"


def _usable(root: Path) -> None:
    try:
        (root / _LOCKS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"cannot create the cache folder {root} ({exc.strerror or exc}); set PROTOBANK_CACHE_DIR to a writable folder"
        ) from exc


@contextlib.contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    """Hold ``root/.locks/NAME.lock`` for as long as it takes, or go on without it where the
    file system refuses locks. The lock dies with its holder, so a waiter waits exactly while
    the holder lives (an hours-long generation included) and never starts the same work."""
    import filelock

    lock = filelock.FileLock(str(root / _LOCKS / f"{name}.lock"))
    try:
        lock.acquire()
    except OSError:
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


@contextlib.contextmanager
def cell_lock(d: int, c: int, method: str) -> Iterator[Path]:
    """Hold the cache's lock of one (d, c, method) cell; yields the cache folder."""
    root = cache_dir()
    _usable(root)
    with _locked(root, f"d{d}-c{c}-{method}"):
        yield root


def cache_entries() -> list[BankEntry]:
    """What the cache holds: its index with any artifact file it lacks, or (a cache written
    before the index) its files."""
    return folder_entries(cache_dir())


def publish(p: Prototypes, *, default: bool = False) -> BankEntry:
    """Write ``p`` into the cache (atomic, never clobbering) and record it in the cache index.

    ``default`` marks it as the cache's choice for its (d, c, method), unless another artifact
    already holds that mark. Publishing content the cache already holds is not an error.
    Entries whose file is gone are dropped from the index on the way.
    """
    from .artifact import read

    root = cache_dir()
    _usable(root)
    target = root / artifact_name(p)
    try:
        place(p, target)
    except OutputPathError as exc:
        raise OutputPathError(f"{exc}; set PROTOBANK_CACHE_DIR to a writable folder") from exc
    except OSError as exc:
        raise OutputPathError(f"cannot write into the cache folder {root} ({exc}); set PROTOBANK_CACHE_DIR to a writable folder") from exc
    stored = read(target)  # the file is the truth: another writer may have published it first
    with _locked(root, "index"):
        current = [e for e in folder_entries(root) if not is_stale(e)]
        path = target.relative_to(root).as_posix()
        others = [e for e in current if e.path != path]
        previous = next((e for e in current if e.path == path), None)
        taken = any(e.default for e in others if (e.d, e.c, e.method) == (p.d, p.c, p.method))
        mark = (default or (previous is not None and previous.default)) and not taken
        entry = entry_for(stored, root, target, default=mark)
        write_index(root, [*others, entry])
    return entry


@dataclass(frozen=True)
class CleanReport:
    """What :func:`clean_cache` removed (or would remove, with ``dry_run``)."""

    files: tuple[Path, ...]
    entries: tuple[BankEntry, ...]


def clean_cache(*, everything: bool = False, dry_run: bool = False) -> CleanReport:
    """Remove what no lookup can use: temporary files of killed writers (older than an hour),
    ``.h5`` files that are not readable artifacts under an artifact's name, and index entries
    whose file is gone. An artifact is never removed for want of an index entry (a publish may
    be between writing it and indexing it). ``everything`` empties the cache instead."""
    root = cache_dir()
    if not root.is_dir():
        return CleanReport((), ())
    _usable(root)
    with _locked(root, "index"):
        entries = folder_entries(root)  # the cache's: readable artifacts the index lacks included
        known = {e.file for e in entries if e.file is not None}
        files = [p for p in sorted(root.glob("d*/*.h5")) if everything or p not in known]
        gone = tuple(e for e in entries if everything or is_stale(e))
        old = time.time() - STALE_TMP_SECONDS
        files += [p for p in root.glob("d*/.*.tmp") if everything or p.stat().st_mtime < old]
        if not dry_run:
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if everything or has_index(root):
                write_index(root, [e for e in entries if e not in gone])
    return CleanReport(tuple(sorted(files)), gone)
