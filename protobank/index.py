"""The index of a bank or cache folder: what each artifact is, where it lives, its hashes.

One entry per artifact, written as ``index.json`` (deterministic: sorted entries and keys).
An entry's ``kind`` says how its vectors are obtained: ``"file"`` entries name an HDF5 file
(``path``, relative to the folder); other kinds may carry no file, and
:func:`protobank.lookup.open_entry` dispatches on the kind. Every kind records the content
hash, which is checked on every load whatever produced the vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidArtifactError
from .prototypes import Prototypes

INDEX_NAME = "index.json"
INDEX_FORMAT = "protobank.bank-index"
INDEX_VERSION = 1
INDEX_METRICS = ("max_cosine", "min_cosine", "mean_cosine", "min_angle_deg", "bound_max_cosine", "gap_to_bound")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BankEntry:
    """One artifact known to a bank or cache folder.

    ``default`` marks the entry :func:`protobank.load` prefers among those of its (d, c, method)
    in its folder. ``root`` is the folder the entry was read from (not stored in the index).
    """

    d: int
    c: int
    method: str
    content_sha256: str
    path: str | None = None
    kind: str = "file"
    default: bool = False
    file_sha256: str | None = None
    size_bytes: int | None = None
    dtype: str | None = None
    seed: int | None = None
    method_params: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    root: str = ""

    @property
    def file(self) -> Path | None:
        """The artifact file, or None for an entry kind without one."""
        return None if self.path is None else Path(self.root) / self.path

    @property
    def where(self) -> str:
        """The file, or the folder and kind of a file-less entry, for messages."""
        return str(self.file) if self.file is not None else f"{self.root} ({self.kind} entry)"

    def to_index(self) -> dict[str, Any]:
        """The entry as stored in ``index.json`` (fields that are None are left out)."""
        return {k: v for k, v in asdict(self).items() if k != "root" and v is not None}


def artifact_name(p: Prototypes) -> str:
    """Relative path of an artifact inside a folder: ``d0050/d0050-c00100-minimax-3f9a2c1e.h5``."""
    return f"d{p.d:04d}/d{p.d:04d}-c{p.c:05d}-{p.method}-{p.content_sha256[:8]}.h5"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def entry_for(p: Prototypes, root: Path, path: Path, *, default: bool) -> BankEntry:
    """The index entry of the artifact ``p`` published at ``path`` inside ``root``."""
    return BankEntry(
        d=p.d,
        c=p.c,
        method=p.method,
        content_sha256=p.content_sha256,
        path=path.relative_to(root).as_posix(),
        default=default,
        file_sha256=file_sha256(path),
        size_bytes=path.stat().st_size,
        dtype=p.dtype,
        seed=p.seed,
        method_params=dict(p.method_params),
        metrics={k: float(p.metrics[k]) for k in INDEX_METRICS if k in p.metrics},
        root=str(root),
    )


def has_index(root: Path) -> bool:
    return (root / INDEX_NAME).is_file()


def read_index(root: Path) -> list[BankEntry]:
    """Entries of the ``index.json`` in ``root``."""
    root = Path(root)
    path = root / INDEX_NAME
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArtifactError(f"{path}: unreadable bank index ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != INDEX_FORMAT:
        raise InvalidArtifactError(f"{path}: not a protobank bank index")
    if int(doc.get("index_version", 0)) > INDEX_VERSION:
        raise InvalidArtifactError(f"{path}: index version {doc['index_version']} is newer than this protobank reads; upgrade protobank")
    try:
        entries = [BankEntry(**e, root=str(root)) for e in doc["entries"]]
    except (KeyError, TypeError) as exc:
        raise InvalidArtifactError(f"{path}: malformed entry ({exc})") from exc
    for e in entries:
        if not _SHA256.fullmatch(str(e.content_sha256)) or (e.kind == "file" and not e.path):
            raise InvalidArtifactError(f"{path}: malformed entry for d={e.d}, c={e.c}, method={e.method!r}")
    return entries


def write_index(root: Path, entries: Iterable[BankEntry]) -> Path:
    """Write ``index.json`` deterministically (sorted entries and keys) and atomically."""
    root = Path(root)
    ordered = sorted(entries, key=lambda e: (e.d, e.c, e.method, e.content_sha256, e.path or ""))
    doc = {"format": INDEX_FORMAT, "index_version": INDEX_VERSION, "entries": [e.to_index() for e in ordered]}
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    path = root / INDEX_NAME
    tmp = root / f".{INDEX_NAME}.{os.getpid()}.{id(doc):x}.tmp"
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
