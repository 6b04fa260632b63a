"""The user cache of generated artifacts: one folder, one index, one way in (:func:`publish`).

Everything that writes into the cache goes through :func:`publish`: ``load(..., generate=True)``
and ``protobank generate``. A file lock per (d, c, method) saves duplicate generation and a lock
on the index serialises its updates; correctness of the files themselves rests on the atomic,
no-clobber publish of :func:`protobank.artifact.write`, so where locks fail (some network file
systems) the files stay whole.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .errors import ArtifactExistsError, OutputPathError
from .index import BankEntry, artifact_name, entry_for, has_index, write_index
from .prototypes import Prototypes

# The settings of the artifact that ``load(d, c, generate=True)`` makes, marked ``default``.
DEFAULT_SEED = 0
DEFAULT_DTYPE = "float64"
# A temporary file this old was left by a killed writer, not one still writing.
STALE_TMP_SECONDS = 3600
_LOCKS = ".locks"


def cache_dir() -> Path:
    """The user cache of generated artifacts (``PROTOBANK_CACHE_DIR`` moves it)."""
    env = os.environ.get("PROTOBANK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("protobank")) / f"schema{schema.SCHEMA_MAJOR}"


def _usable(root: Path) -> None:
    try:
        (root / _LOCKS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"cannot create the cache folder {root} ({exc.strerror or exc}); set PROTOBANK_CACHE_DIR to a writable folder"
        ) from exc


@contextlib.contextmanager
def _locked(root: Path, name: str) -> Iterator[None]:
    """Hold ``root/.locks/NAME.lock``, or go on without it where locking fails."""
    import filelock

    lock = filelock.FileLock(str(root / _LOCKS / f"{name}.lock"))
    try:
        lock.acquire(timeout=3600)
    except (OSError, filelock.Timeout):
        lock = None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def cache_entries() -> list[BankEntry]:
    """What the cache holds: its index, or (a cache written before the index) its files."""
    from .lookup import folder_entries

    return folder_entries(cache_dir())


def is_default_run(*, seed: int, iters: int | None, params: dict, dtype: str) -> bool:
    """Whether a run used the settings of ``load(..., generate=True)``: its artifact is marked default."""
    return seed == DEFAULT_SEED and iters is None and not params and dtype == DEFAULT_DTYPE


def publish(p: Prototypes, *, default: bool = False) -> BankEntry:
    """Write ``p`` into the cache (atomic, never clobbering) and record it in the cache index.

    ``default`` marks it as the cache's choice for its (d, c, method), unless another artifact
    already holds that mark. Publishing content the cache already holds is not an error.
    """
    from .artifact import read, write
    from .lookup import folder_entries

    root = cache_dir()
    _usable(root)
    target = root / artifact_name(p)
    try:
        target.parent.mkdir(exist_ok=True)
        write(p, target)
    except ArtifactExistsError:
        held = read(target)
        if held.content_sha256 != p.content_sha256:
            raise ArtifactExistsError(
                f"{target} holds content {held.content_sha256[:16]}..., not {p.content_sha256[:16]}... "
                "(same 8-digit name); move it away or pass --out"
            ) from None
    except OutputPathError as exc:
        raise OutputPathError(f"{exc}; set PROTOBANK_CACHE_DIR to a writable folder") from exc
    except OSError as exc:
        raise OutputPathError(f"cannot write into the cache folder {root} ({exc}); set PROTOBANK_CACHE_DIR to a writable folder") from exc
    stored = read(target)  # the file is the truth: another writer may have published it first
    with _locked(root, "index"):
        current = folder_entries(root)
        path = target.relative_to(root).as_posix()
        others = [e for e in current if e.path != path]
        previous = next((e for e in current if e.path == path), None)
        taken = any(e.default for e in others if (e.d, e.c, e.method) == (p.d, p.c, p.method))
        mark = (default or (previous is not None and previous.default)) and not taken
        entry = entry_for(stored, root, target, default=mark)
        write_index(root, [*others, entry])
    return entry


def generate_into_cache(d: int, c: int, *, method: str | None = None) -> Prototypes:
    """Generate (d, c) with the default settings into the cache once, even when several
    processes ask at the same time, and return it."""
    from .generation import generate
    from .lookup import open_entry, select
    from .optimize import DEFAULT_METHOD

    method = method or DEFAULT_METHOD
    root = cache_dir()
    _usable(root)
    with _locked(root, f"d{d}-c{c}-{method}"):
        entry = select([root], d, c, method=method)
        if entry is None:
            entry = publish(generate(d, c, method=method, seed=DEFAULT_SEED), default=True)
        return open_entry(entry)


@dataclass(frozen=True)
class CleanReport:
    """What :func:`clean_cache` removed (or would remove, with ``dry_run``)."""

    files: tuple[Path, ...]
    entries: tuple[BankEntry, ...]


def clean_cache(*, everything: bool = False, dry_run: bool = False) -> CleanReport:
    """Remove what no lookup can use: temporary files of killed writers (older than an hour),
    artifacts the index does not know, and index entries whose file is gone. ``everything``
    empties the cache instead."""
    root = cache_dir()
    if not root.is_dir():
        return CleanReport((), ())
    _usable(root)
    with _locked(root, "index"):
        from .lookup import folder_entries

        entries = folder_entries(root)
        known = {e.file for e in entries if e.file is not None}
        old = time.time() - STALE_TMP_SECONDS
        files = [p for p in root.glob("d*/*.h5") if everything or p not in known]
        files += [p for p in root.glob("d*/.*.tmp") if everything or p.stat().st_mtime < old]
        gone = tuple(e for e in entries if everything or (e.file is not None and not e.file.is_file()))
        if not dry_run:
            for path in files:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if everything or has_index(root):
                write_index(root, [e for e in entries if e not in gone])
    return CleanReport(tuple(sorted(files)), gone)
