"""Finding an artifact: the searched folders, the selection rules and :func:`load`.

Folders are searched in order: the ``bank=`` argument, ``PROTOBANK_BANK_PATH``
(``os.pathsep``-separated), the bank shipped inside the installed package, then the cache
(:mod:`protobank.cache`). A folder is read through its ``index.json``; a folder without one is
scanned, reading each artifact. The selection rules (:func:`select`) live here and nowhere else:

* without ``method`` or ``sha256``: an artifact of the default method, never another method's;
* ``method=``: an artifact of exactly that method;
* ``sha256=`` (8 to 64 hex digits): exactly the artifact whose content hash starts with it,
  searched in every folder; a pin matching two different artifacts is refused, naming both.

Among several entries of the same (d, c, method) in one folder, the one marked ``default`` is
taken; several unmarked ones are refused as ambiguous rather than guessed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from .errors import AmbiguousArtifactError, ChecksumMismatchError, InvalidArtifactError, InvalidInputError, PrototypesNotFoundError
from .index import BankEntry, entry_for, file_sha256, has_index, read_index
from .prototypes import Prototypes

PIN_MIN_DIGITS, PIN_MAX_DIGITS = 8, 64
_PIN = re.compile(rf"[0-9a-fA-F]{{{PIN_MIN_DIGITS},{PIN_MAX_DIGITS}}}")


def check_pin(pin: str) -> str:
    """A content-hash pin, lower-cased; 8 to 64 hex digits or :class:`InvalidInputError`."""
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise InvalidInputError(f"a sha256 pin is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} hex digits of the content hash, got {pin!r}")
    return pin.lower()


def looks_like_pin(text: str) -> bool:
    """True for text made only of hex digits (at least four): meant as a pin, valid or not."""
    return re.fullmatch(r"[0-9a-fA-F]{4,}", text) is not None


def packaged_bank() -> Path | None:
    """The bank inside the installed package, or the repository's ``bank/`` in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "bank", here.parent / "bank"):
        if has_index(candidate):
            return candidate
    return None


def locations(bank: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched by :func:`load`, in order."""
    from .cache import cache_dir

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


def scan_folder(root: Path) -> list[BankEntry]:
    """Entries of a folder without an index, read from its artifacts (unreadable files skipped)."""
    from .artifact import read

    out = []
    if not root.is_dir():
        return out
    for path in sorted(root.glob("d*/d*-c*-*.h5")):
        try:
            p = read(path, verify=False)
        except (InvalidArtifactError, PrototypesNotFoundError, OSError):
            continue
        out.append(entry_for(p, root, path, default=False))
    return out


def folder_entries(root: Path) -> list[BankEntry]:
    """Entries of one searched folder: its index, or a scan when it has none."""
    return read_index(root) if has_index(root) else scan_folder(root)


def list_available(
    *, d: int | None = None, c: int | None = None, method: str | None = None, bank: str | os.PathLike | None = None
) -> list[BankEntry]:
    """Every artifact in every searched location that matches the filters."""
    return [
        e
        for root in locations(bank)
        for e in folder_entries(root)
        if (d is None or e.d == d) and (c is None or e.c == c) and (method is None or e.method == method)
    ]


def _describe(e: BankEntry) -> str:
    return f"{e.content_sha256[:16]} ({e.method}, {e.dtype or '?'}, seed {e.seed if e.seed is not None else '?'}) at {e.where}"


def select(roots: list[Path], d: int, c: int, *, method: str | None = None, sha256: str | None = None) -> BankEntry | None:
    """The entry :func:`load` returns for these arguments, or None when nothing matches.

    Raises :class:`AmbiguousArtifactError` for a pin matching two different artifacts, or
    several unmarked entries of the wanted method in the first folder holding any.
    """
    from .optimize import DEFAULT_METHOD

    wanted = method or DEFAULT_METHOD
    if sha256 is not None:
        pin = check_pin(sha256)
        hits = [
            e
            for root in roots
            for e in folder_entries(root)
            if (e.d, e.c) == (d, c) and e.content_sha256.startswith(pin) and (method is None or e.method == method)
        ]
        distinct = {e.content_sha256: e for e in reversed(hits)}  # first location's copy of each
        if len(distinct) > 1:
            names = "; ".join(_describe(e) for e in distinct.values())
            raise AmbiguousArtifactError(f"sha256 pin {sha256!r} matches {len(distinct)} different artifacts: {names}; give more hex digits")
        return hits[0] if hits else None
    for root in roots:
        found = [e for e in folder_entries(root) if (e.d, e.c, e.method) == (d, c, wanted)]
        marked = [e for e in found if e.default]
        if marked:
            return marked[0]
        if len({e.content_sha256 for e in found}) > 1:
            names = "; ".join(_describe(e) for e in found)
            raise AmbiguousArtifactError(
                f"{root} holds {len(found)} {wanted} artifacts for d={d}, c={c} and none is marked default: {names}; "
                "pin one with sha256="
            )
        if found:
            return found[0]
    return None


def _open_file(entry: BankEntry, verify: bool) -> Prototypes:
    from .artifact import read

    path = entry.file
    assert path is not None
    if verify and entry.file_sha256 and file_sha256(path) != entry.file_sha256:
        raise ChecksumMismatchError(f"{path}: file hash differs from the bank index: the file was altered or replaced")
    return read(path, verify=verify)


def _open_recipe(entry: BankEntry, verify: bool) -> Prototypes:
    """Rebuild an exact construction from the plan its entry records (no file, no optimizer)."""
    from .codes.plan import Plan

    params = entry.method_params or {}
    try:
        vectors = Plan.from_dict(params["plan"]).build()
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArtifactError(f"{entry.where}: recipe for d={entry.d}, c={entry.c} cannot be rebuilt ({exc})") from exc
    vectors.setflags(write=False)
    return Prototypes(vectors=vectors, method=entry.method, method_params=dict(params),
                      seed=-1 if entry.seed is None else entry.seed, metrics=dict(entry.metrics),
                      provenance={"recipe": "rebuilt from the bank index"})


# How each entry kind yields its vectors; the content hash is checked after, for every kind.
OPENERS: dict[str, Callable[[BankEntry, bool], Prototypes]] = {"file": _open_file, "recipe": _open_recipe}


def open_entry(entry: BankEntry, *, verify: bool = True) -> Prototypes:
    """The prototypes of an index entry, checked against the entry's content hash."""
    opener = OPENERS.get(entry.kind)
    if opener is None:
        raise InvalidArtifactError(f"{entry.where}: entry kind {entry.kind!r} is unknown to this protobank; upgrade protobank")
    p = opener(entry, verify)
    if p.content_sha256 != entry.content_sha256 or (p.d, p.c, p.method) != (entry.d, entry.c, entry.method):
        raise ChecksumMismatchError(
            f"{entry.where}: holds {p.method} d={p.d}, c={p.c}, content {p.content_sha256[:12]}...; "
            f"the index says {entry.method} d={entry.d}, c={entry.c}, content {entry.content_sha256[:12]}..."
        )
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
        Only artifacts of this method. Without it (and without ``sha256``), only artifacts of
        the default method (``protobank.optimize.DEFAULT_METHOD``), never another method's.
    sha256 : str, optional
        Pin an exact artifact by 8 to 64 hex digits of its content hash, wherever it is.
    bank : path, optional
        A bank folder searched before all others.
    generate : bool
        When nothing matches (and no pin is given), generate with the default method (or
        ``method``) and default settings, publish into the cache and return it.
    verify : bool
        Check hashes (on by default).

    Raises
    ------
    PrototypesNotFoundError
        Nothing matches and ``generate`` is false; the message names where it looked, the
        nearest available (d, c), and the command that generates them.
    AmbiguousArtifactError
        A pin matches two different artifacts, or a folder holds several unmarked candidates.
    """
    from .generation import check_dimensions

    d, c = check_dimensions(d, c)
    if sha256 is not None:
        check_pin(sha256)
    searched = locations(bank)
    entry = select(searched, d, c, method=method, sha256=sha256)
    if entry is not None:
        return open_entry(entry, verify=verify)
    if generate and sha256 is None:
        from .cache import generate_into_cache

        return generate_into_cache(d, c, method=method)
    raise PrototypesNotFoundError(_not_found_message(d, c, method, sha256, searched))


def _not_found_message(d: int, c: int, method: str | None, sha256: str | None, searched: list[Path]) -> str:
    from .optimize import DEFAULT_METHOD

    what = f"d={d}, c={c}, method={method or DEFAULT_METHOD!r}" + (f", sha256={sha256!r}" if sha256 else "")
    held = [e for root in searched for e in folder_entries(root)]
    others = sorted({e.method for e in held if (e.d, e.c) == (d, c)} - {method or DEFAULT_METHOD})
    near = sorted(
        {(e.d, e.c) for e in held if (e.d, e.c) != (d, c)},
        key=lambda k: abs(math.log(k[0] / d)) + abs(math.log(k[1] / c)),
    )[:2]
    hint = f" Other methods held for d={d}, c={c}: {', '.join(others)} (choose with --method / method=)." if others else ""
    hint += f" Closest available: {', '.join(f'(d={a}, c={b})' for a, b in near)}." if near else ""
    cmd = f"protobank generate --d {d} --c {c}" + (f" --method {method}" if method else "")
    where = ", ".join(str(p) for p in searched)
    return f"no prototypes for {what} in {len(searched)} locations: {where}.{hint} Generate them with `{cmd}` (or load(..., generate=True))."
