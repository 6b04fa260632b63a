"""Bank and cache folders: where they are, what each holds, and placing an artifact in one.

This module sits below both :mod:`protobank.cache` (which writes the cache) and
:mod:`protobank.lookup` (which searches the folders), so neither needs the other to read a
folder. A folder is read through its ``index.json``; a folder without one is scanned.

The cache's index is a record of its files, not their owner: an artifact file the index
lacks (its publisher was killed before indexing, or its entry was lost to a concurrent writer
where file locks do not work) is read from the file and listed with the indexed ones, so no
published artifact is ever lost or deleted for want of an index entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import schema
from .errors import ArtifactExistsError, InvalidArtifactError, PrototypesNotFoundError
from .index import BankEntry, entry_for, has_index, read_index
from .prototypes import Prototypes

ARTIFACT_GLOB = "d*/d*-c*-*.h5"


def cache_dir() -> Path:
    """The user cache of generated artifacts (``PROTOBANK_CACHE_DIR`` moves it)."""
    env = os.environ.get("PROTOBANK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("protobank")) / f"schema{schema.SCHEMA_MAJOR}"


def packaged_bank() -> Path | None:
    """The bank inside the installed package, or the repository's ``bank/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "bank", here.parent / "bank"):
        if has_index(candidate):
            return candidate
    return None


def locations(bank: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched by :func:`protobank.load`, in order: ``bank``, ``PROTOBANK_BANK_PATH``
    (``os.pathsep``-separated), the installed bank, the cache."""
    out: list[Path] = []
    if bank is not None:
        out.append(Path(bank))
    env = os.environ.get("PROTOBANK_BANK_PATH")
    if env:
        out.extend(Path(p) for p in env.split(os.pathsep) if p)
    packaged = packaged_bank()
    if packaged is not None:
        out.append(packaged)
    out.append(cache_dir())
    return out


def _read_entry(root: Path, path: Path) -> BankEntry | None:
    """The (unmarked) entry of one artifact file, or None when it is not a readable artifact."""
    from .artifact import read

    try:
        p = read(path, verify=False)
    except (InvalidArtifactError, PrototypesNotFoundError, OSError):
        return None
    return entry_for(p, root, path, default=False)


def scan_folder(root: Path) -> list[BankEntry]:
    """Entries of a folder without an index, read from its artifacts (unreadable files skipped)."""
    if not root.is_dir():
        return []
    return [e for path in sorted(root.glob(ARTIFACT_GLOB)) if (e := _read_entry(root, path)) is not None]


def unindexed_files(root: Path, entries: list[BankEntry]) -> list[Path]:
    """Artifact-named files of ``root`` that no entry names."""
    known = {e.file for e in entries if e.file is not None}
    return [p for p in sorted(root.glob(ARTIFACT_GLOB)) if p not in known]


def folder_entries(root: Path) -> list[BankEntry]:
    """Entries of one searched folder: its index (for the cache, with the artifact files the
    index lacks), or a scan when it has none."""
    root = Path(root)
    if not has_index(root):
        return scan_folder(root)
    entries = read_index(root)
    if root == cache_dir():
        entries += [e for path in unindexed_files(root, entries) if (e := _read_entry(root, path)) is not None]
    return entries


def is_stale(entry: BankEntry) -> bool:
    """True for a file entry whose file is gone (deleted by hand, or by another tool)."""
    return entry.file is not None and not entry.file.is_file()


def place(p: Prototypes, target: Path) -> None:
    """Write ``p`` at ``target`` (atomic, never clobbering); a file already there must hold the
    same content, else :class:`ArtifactExistsError` names both (the 8-digit names collide)."""
    from .artifact import read, write

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        write(p, target)
    except ArtifactExistsError:
        held = read(target)
        if held.content_sha256 != p.content_sha256:
            raise ArtifactExistsError(
                f"{target} holds content {held.content_sha256[:16]}..., not {p.content_sha256[:16]}... "
                "(same 8-digit name); move it away or pass --out"
            ) from None
