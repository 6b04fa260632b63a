"""The bank: precomputed artifacts, where protobank looks for them, and ``load``.

Lookup order for ``load(d, c)``: the ``bank=`` argument, the folders in ``PROTOBANK_BANK_PATH``
(``os.pathsep``-separated), the bank shipped inside the installed package, then the user cache
(``PROTOBANK_CACHE_DIR``, else the platform cache folder, in a ``schema1`` subfolder).
A folder with an ``index.json`` is read through it; a folder without one (the cache) is
searched by file name, which carries d, c, method and a content-hash prefix.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import schema
from .errors import (
    ArtifactExistsError,
    ChecksumMismatchError,
    InvalidArtifactError,
    InvalidInputError,
    OutputPathError,
    PrototypesNotFoundError,
)
from .prototypes import Prototypes

INDEX_NAME = "index.json"
INDEX_FORMAT = "protobank.bank-index"
INDEX_VERSION = 1
INDEX_METRICS = ("max_cosine", "min_cosine", "mean_cosine", "min_angle_deg", "bound_max_cosine", "gap_to_bound")
_NAME = re.compile(r"^d(\d{4,})-c(\d{5,})-([a-z0-9_.-]+?)-([0-9a-f]{8})\.h5$")


@dataclass(frozen=True)
class BankEntry:
    """One artifact known to a bank or cache."""

    d: int
    c: int
    method: str
    path: str
    content_sha256: str
    default: bool = False
    file_sha256: str | None = None
    size_bytes: int | None = None
    dtype: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    root: str = ""

    @property
    def file(self) -> Path:
        return Path(self.root) / self.path

    def to_index(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("root")
        return out


def artifact_name(p: Prototypes) -> str:
    """Relative path of an artifact inside a bank: ``d0050/d0050-c00100-minimax-3f9a2c1e.h5``."""
    return f"d{p.d:04d}/d{p.d:04d}-c{p.c:05d}-{p.method}-{p.content_sha256[:8]}.h5"


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
        if (candidate / INDEX_NAME).is_file():
            return candidate
    return None


def locations(bank: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched by :func:`load`, in order."""
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


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_index(root: Path) -> list[BankEntry]:
    """Entries of the ``index.json`` in ``root``."""
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
        return [BankEntry(**e, root=str(root)) for e in doc["entries"]]
    except (KeyError, TypeError) as exc:
        raise InvalidArtifactError(f"{path}: malformed entry ({exc})") from exc


def write_index(root: Path, entries: Iterable[BankEntry]) -> Path:
    """Write ``index.json`` deterministically (sorted entries and keys) and atomically."""
    ordered = sorted(entries, key=lambda e: (e.d, e.c, e.method, e.content_sha256))
    doc = {"format": INDEX_FORMAT, "index_version": INDEX_VERSION, "entries": [e.to_index() for e in ordered]}
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    path = root / INDEX_NAME
    tmp = root / f".{INDEX_NAME}.{os.getpid()}.tmp"
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def scan_folder(root: Path) -> list[BankEntry]:
    """Entries of a folder without an index, from the artifact file names."""
    out = []
    if not root.is_dir():
        return out
    for path in sorted(root.glob("d*/d*-c*-*.h5")):
        m = _NAME.match(path.name)
        if m:
            out.append(BankEntry(int(m[1]), int(m[2]), m[3], str(path.relative_to(root)), m[4], root=str(root)))
    return out


def folder_entries(root: Path) -> list[BankEntry]:
    return read_index(root) if (root / INDEX_NAME).is_file() else scan_folder(root)


def _matches(e: BankEntry, d: int | None, c: int | None, method: str | None, sha256: str | None) -> bool:
    return (
        (d is None or e.d == d)
        and (c is None or e.c == c)
        and (method is None or e.method == method)
        and (sha256 is None or e.content_sha256.startswith(sha256.lower()))
    )


def list_available(
    *, d: int | None = None, c: int | None = None, method: str | None = None, bank: str | os.PathLike | None = None
) -> list[BankEntry]:
    """Every artifact in every searched location that matches the filters."""
    return [e for root in locations(bank) for e in folder_entries(root) if _matches(e, d, c, method, None)]


def _pick(entries: list[BankEntry], method: str | None, sha256: str | None) -> BankEntry | None:
    if not entries:
        return None
    if method is None and sha256 is None:
        defaults = [e for e in entries if e.default]
        if defaults:
            return defaults[0]
        from .optimize import DEFAULT_METHOD

        preferred = [e for e in entries if e.method == DEFAULT_METHOD]
        return (preferred or entries)[0]
    return entries[0]


def open_entry(entry: BankEntry, *, verify: bool = True) -> Prototypes:
    """Read an entry's artifact, checking the file and content hashes the index records."""
    from .artifact import read

    path = entry.file
    if verify and entry.file_sha256 and file_sha256(path) != entry.file_sha256:
        raise ChecksumMismatchError(f"{path}: file hash differs from the bank index: the file was altered or replaced")
    p = read(path, verify=verify)
    if not p.content_sha256.startswith(entry.content_sha256):
        raise ChecksumMismatchError(f"{path}: content hash {p.content_sha256[:12]}... differs from the index's {entry.content_sha256[:12]}...")
    return p


def load(
    d: int,
    c: int,
    *,
    method: str | None = None,
    sha256: str | None = None,
    bank: str | os.PathLike | None = None,
    generate: bool = False,
    verify: bool = True,
) -> Prototypes:
    """Load verified prototypes for (d, c) from the bank or cache.

    Parameters
    ----------
    d, c : int
        Dimension and number of classes.
    method : str, optional
        Only artifacts of this method (default: the bank's default for (d, c)).
    sha256 : str, optional
        Pin an exact artifact by a prefix of its content hash (for reproducible papers).
    bank : path, optional
        A bank folder searched before all others.
    generate : bool
        When nothing matches, generate with the default method (or ``method``), publish into the
        cache atomically and return it.
    verify : bool
        Check hashes (on by default).

    Raises
    ------
    PrototypesNotFoundError
        Nothing matches and ``generate`` is false; the message names where it looked, the
        nearest available (d, c), and the command that generates them.
    """
    from .generation import check_dimensions

    d, c = check_dimensions(d, c)
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{4,64}", sha256):
        raise InvalidInputError(f"sha256 must be 4 to 64 hex digits, got {sha256!r}")
    searched = locations(bank)
    for root in searched:
        entry = _pick([e for e in folder_entries(root) if _matches(e, d, c, method, sha256)], method, sha256)
        if entry is not None:
            return open_entry(entry, verify=verify)
    if generate and sha256 is None:
        return generate_into_cache(d, c, method=method)
    raise PrototypesNotFoundError(_not_found_message(d, c, method, sha256, searched))


def generate_into_cache(d: int, c: int, *, method: str | None = None, **kwargs: Any) -> Prototypes:
    """Generate (d, c) into the cache once, even when several processes ask at the same time.

    A file lock saves duplicate work; correctness rests on the atomic, no-clobber publish.
    """
    import filelock

    from .artifact import write
    from .generation import generate
    from .optimize import DEFAULT_METHOD

    method = method or DEFAULT_METHOD
    root = cache_dir()
    try:
        (root / ".locks").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"cannot create the cache folder {root} ({exc.strerror}); set PROTOBANK_CACHE_DIR to a writable folder"
        ) from exc
    lock = filelock.FileLock(str(root / ".locks" / f"d{d}-c{c}-{method}.lock"))
    try:
        lock.acquire(timeout=3600)
    except (OSError, filelock.Timeout):
        lock = None  # locks can fail on network file systems; the publish below stays atomic
    try:
        found = [e for e in scan_folder(root) if _matches(e, d, c, method, None)]
        if found:
            return open_entry(found[0])
        p = generate(d, c, method=method, **kwargs)
        target = root / artifact_name(p)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write(p, target)
        except ArtifactExistsError:
            pass  # another process published the same content first
        except OSError as exc:
            raise OutputPathError(
                f"cannot write into the cache folder {root} ({exc}); set PROTOBANK_CACHE_DIR to a writable folder"
            ) from exc
        from .artifact import read

        return read(target)
    finally:
        if lock is not None:
            lock.release()


def _not_found_message(d: int, c: int, method: str | None, sha256: str | None, searched: list[Path]) -> str:
    what = f"d={d}, c={c}" + (f", method={method!r}" if method else "") + (f", sha256={sha256!r}" if sha256 else "")
    near = sorted(
        {(e.d, e.c) for root in searched for e in folder_entries(root)},
        key=lambda k: abs(math.log(k[0] / d)) + abs(math.log(k[1] / c)),
    )[:2]
    hint = f" Closest available: {', '.join(f'(d={a}, c={b})' for a, b in near)}." if near else ""
    cmd = f"protobank generate --d {d} --c {c}" + (f" --method {method}" if method else "")
    where = ", ".join(str(p) for p in searched)
    return f"no prototypes for {what} in {len(searched)} locations: {where}.{hint} Generate them with `{cmd}` (or load(..., generate=True))."


# ----------------------------------------------------------------------------------------------
# Maintaining a bank: build a grid, verify every file against the index.
# ----------------------------------------------------------------------------------------------

DEFAULT_GRID: tuple[tuple[int, int], ...] = tuple(
    (d, c)
    for c in (10, 100, 200, 1000)
    for d in (2, 3, 4, 8, 10, 16, 25, 32, 50, 64, 100, 128, 200, 256, 512)
) + ((2048, 1000), (4096, 1000))


def entry_for(p: Prototypes, root: Path, path: Path, default: bool) -> BankEntry:
    """The index entry of an artifact published at ``path`` inside ``root``."""
    return BankEntry(
        d=p.d,
        c=p.c,
        method=p.method,
        path=path.relative_to(root).as_posix(),
        content_sha256=p.content_sha256,
        default=default,
        file_sha256=file_sha256(path),
        size_bytes=path.stat().st_size,
        dtype=p.dtype,
        metrics={k: float(p.metrics[k]) for k in INDEX_METRICS if k in p.metrics},
        root=str(root),
    )


def build_bank(
    root: str | os.PathLike,
    grid: Iterable[tuple[int, int]] = DEFAULT_GRID,
    *,
    method: str | None = None,
    dtype: str = "float32",
    seed: int = 0,
    device: str = "auto",
    on_entry: Any = None,
) -> list[BankEntry]:
    """Generate every missing (d, c) of ``grid`` into ``root`` and keep its index current.

    Resumable: entries already in the index are kept, and the index is rewritten after each
    new artifact, so an interrupted build continues where it stopped.
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
    entries = read_index(root) if (root / INDEX_NAME).is_file() else []
    for d, c in grid:
        have = [e for e in entries if (e.d, e.c, e.method) == (d, c, method)]
        if have and have[0].file.is_file():
            if on_entry:
                on_entry(have[0], skipped=True)
            continue
        p = generate(d, c, method=method, seed=seed, device=device)
        p = p.astype(dtype) if p.dtype != dtype else p
        target = root / artifact_name(p)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(p, target)
        except ArtifactExistsError:
            pass  # the same content, published by an interrupted earlier run
        is_default = not any(e.default for e in entries if (e.d, e.c) == (d, c))
        entry = entry_for(p, root, target, is_default)
        entries = [e for e in entries if e.path != entry.path] + [entry]
        write_index(root, entries)
        if on_entry:
            on_entry(entry, skipped=False)
    return entries


@dataclass(frozen=True)
class FileCheck:
    """Result of checking one bank file."""

    path: str
    ok: bool
    problems: tuple[str, ...] = ()


def verify_bank(root: str | os.PathLike, *, metrics_rtol: float = 1e-6, sample: int | None = None) -> list[FileCheck]:
    """Check every indexed file (hashes, schema, metrics recomputed), files the index does not
    know, and exactly one default per (d, c). ``sample`` checks only that many entries' metrics
    (spread over the index); hashes are always checked for all."""
    from .artifact import read
    from .measure import remeasure

    root = Path(root)
    checks: list[FileCheck] = []
    try:
        entries = read_index(root)
    except InvalidArtifactError as exc:
        return [FileCheck(str(root / INDEX_NAME), False, (str(exc),))]
    step = max(1, len(entries) // sample) if sample else 1
    for k, e in enumerate(entries):
        problems: list[str] = []
        if not e.file.is_file():
            checks.append(FileCheck(e.path, False, ("missing file",)))
            continue
        if e.file_sha256 and file_sha256(e.file) != e.file_sha256:
            problems.append("file sha256 differs from the index")
        if e.size_bytes is not None and e.file.stat().st_size != e.size_bytes:
            problems.append("size differs from the index")
        try:
            p = read(e.file)
        except (InvalidArtifactError, PrototypesNotFoundError) as exc:
            checks.append(FileCheck(e.path, False, tuple(problems) + (str(exc),)))
            continue
        if p.content_sha256 != e.content_sha256:
            problems.append("content sha256 differs from the index")
        if (p.d, p.c, p.method) != (e.d, e.c, e.method):
            problems.append(f"holds d={p.d}, c={p.c}, method={p.method}; the index says d={e.d}, c={e.c}, method={e.method}")
        if Path(e.path).name != Path(artifact_name(p)).name:
            problems.append(f"file name should be {Path(artifact_name(p)).name}")
        if k % step == 0:
            fresh = remeasure(p.vectors, p.metrics).headline()
            for name, value in e.metrics.items():
                if name in fresh and not math.isclose(value, fresh[name], rel_tol=metrics_rtol, abs_tol=1e-9):
                    problems.append(f"metric {name}: index {value!r}, recomputed {fresh[name]!r}")
        checks.append(FileCheck(e.path, not problems, tuple(problems)))
    known = {Path(e.path).as_posix() for e in entries}
    for path in sorted(root.rglob("*.h5")):
        rel = path.relative_to(root).as_posix()
        if rel not in known:
            checks.append(FileCheck(rel, False, ("not in the index",)))
    keys = sorted({(e.d, e.c) for e in entries})
    for d, c in keys:
        n = sum(e.default for e in entries if (e.d, e.c) == (d, c))
        if n != 1:
            checks.append(FileCheck(f"(d={d}, c={c})", False, (f"{n} default entries; exactly one expected",)))
    return checks
