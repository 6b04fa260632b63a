"""Finding an artifact: the selection rules, :func:`load` and generating into the cache.

Folders are searched in the order of :func:`protobank.folders.locations`: the ``bank=``
argument, ``PROTOBANK_BANK_PATH``, the installed bank, then the cache. Which artifact answers
a lookup is decided by :func:`select`:

* ``sha256=`` (8 to 64 hex digits): exactly the artifact whose content hash starts with it,
  marked default or not, searched in every folder; a pin matching two different artifacts is
  refused, naming both.
* otherwise the rule of :mod:`protobank.defaults`: the artifact marked default for (d, c) and
  the default method (or ``method``), never another method's, never an experiment run.

An index entry whose file is gone answers nothing; ``load`` names it, or regenerates the cell
with ``generate=True``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from .defaults import DEFAULT_SEED, choose, describe
from .errors import (
    AmbiguousArtifactError, ChecksumMismatchError, InvalidArtifactError, InvalidInputError, PrototypesNotFoundError,
    ResourceLimitError,
)
from .folders import folder_entries, is_stale, locations
from .index import BankEntry, file_sha256
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


def select(roots: list[Path], d: int, c: int, *, method: str | None = None, sha256: str | None = None) -> BankEntry | None:
    """The entry :func:`load` returns for these arguments, or None when nothing matches.

    Entries whose file is gone are passed over. Raises :class:`AmbiguousArtifactError` for a
    pin matching two different artifacts, or (see :func:`protobank.defaults.choose`) several
    unmarked artifacts of a named method in the first folder holding any.
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
            and not is_stale(e)
        ]
        distinct = {e.content_sha256: e for e in reversed(hits)}  # first location's copy of each
        if len(distinct) > 1:
            names = "; ".join(describe(e) for e in distinct.values())
            raise AmbiguousArtifactError(f"sha256 pin {sha256!r} matches {len(distinct)} different artifacts: {names}; give more hex digits")
        return hits[0] if hits else None
    for root in roots:
        found = [e for e in folder_entries(root) if (e.d, e.c, e.method) == (d, c, wanted) and not is_stale(e)]
        chosen = choose(found, method_named=method is not None, root=root)
        if chosen is not None:
            return chosen
    return None


def _open_file(entry: BankEntry, verify: bool) -> Prototypes:
    from .artifact import read

    path = entry.file
    assert path is not None
    if not path.is_file():
        raise PrototypesNotFoundError(f"{path}: listed in the index of {entry.root} but the file is gone; "
                                      "`protobank cache clean` drops such entries")
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
    allow_long: bool = False,
    verify: bool = True,
) -> Prototypes:
    """Load verified prototypes for (d, c) from the bank or cache.

    Parameters
    ----------
    d, c : int
        Dimension and number of classes.
    method : str, optional
        Only artifacts of this method. Without it (and without ``sha256``), only the default
        artifact of the default method (``protobank.optimize.DEFAULT_METHOD``): never another
        method's, never a run with other settings (see :mod:`protobank.defaults`).
    sha256 : str, optional
        Pin an exact artifact by 8 to 64 hex digits of its content hash, wherever it is.
    bank : path, optional
        A bank folder searched before all others.
    generate : bool
        When nothing matches (and no pin is given), generate with the default method (or
        ``method``) and default settings, publish into the cache and return it.
    allow_long : bool
        With ``generate``: start a run that ``protobank generate`` would announce as long
        (:func:`protobank.generation.plan_run`'s forecast); without it such a run is refused.
    verify : bool
        Check hashes (on by default).

    Raises
    ------
    PrototypesNotFoundError
        Nothing matches and ``generate`` is false; the message names where it looked and
        what is held for (d, c) or nearby, and how to generate them.
    AmbiguousArtifactError
        A pin matches two different artifacts, or a folder holds several unmarked artifacts
        of the named method.
    ResourceLimitError
        ``generate`` would start a long run and ``allow_long`` is false.
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
        return generate_into_cache(d, c, method=method, allow_long=allow_long)
    raise PrototypesNotFoundError(_not_found_message(d, c, method, sha256, searched))


def generate_into_cache(d: int, c: int, *, method: str | None = None, allow_long: bool = False) -> Prototypes:
    """Generate (d, c) with the default settings into the cache once, even when several
    processes ask at the same time, and return it.

    The first process takes the cell's lock and generates; the others wait on the lock as
    long as its holder lives and then find its artifact. The default method decides once
    (:func:`protobank.generation.plan_run`): a run its forecast calls long (what ``protobank
    generate`` announces) is refused unless ``allow_long``, and the run started is the one
    forecast.
    """
    from .cache import cell_lock, publish
    from .generation import generate, plan_run
    from .optimize import DEFAULT_METHOD

    wanted = method or DEFAULT_METHOD
    decision = plan_run(d, c, method=wanted)
    warning = None if decision is None or allow_long else decision.long_run_warning()
    with cell_lock(d, c, wanted) as root:
        entry = select([root], d, c, method=method)  # the caller's rule: a method named or not
        if entry is not None:
            return open_entry(entry)
        if warning is not None:
            raise ResourceLimitError(
                f"not generating: {warning}; run `protobank generate --d {d} --c {c}` once to make it, "
                "or pass allow_long=True (train/inspect --allow-long) to wait for it here"
            )
        return open_entry(publish(generate(d, c, method=wanted, seed=DEFAULT_SEED, decision=decision), default=True))


def _not_found_message(d: int, c: int, method: str | None, sha256: str | None, searched: list[Path]) -> str:
    from .optimize import DEFAULT_METHOD

    where = ", ".join(str(p) for p in searched)
    held = [e for root in searched for e in folder_entries(root)]
    here = [e for e in held if (e.d, e.c) == (d, c)]
    stale = [e for e in here if is_stale(e)]
    gone = f" The index lists {', '.join(str(e.file) for e in stale)}, whose file is gone (`protobank cache clean` drops it)." if stale else ""
    if sha256 is not None:
        live = [e for e in here if not is_stale(e)]
        listed = "; ".join(describe(e) for e in live) if live else "nothing"
        return (f"no artifact with sha256 {sha256!r} for d={d}, c={c}" + (f", method={method!r}" if method else "")
                + f" in {len(searched)} locations: {where}. Held for d={d}, c={c}: {listed}.{gone}")
    wanted = method or DEFAULT_METHOD
    what = f"d={d}, c={c}, method={wanted!r}"
    others = sorted({e.method for e in here if not is_stale(e)} - {wanted})
    runs = [e for e in here if e.method == wanted and not is_stale(e)]
    near = sorted(
        {(e.d, e.c) for e in held if (e.d, e.c) != (d, c)},
        key=lambda k: abs(math.log(k[0] / d)) + abs(math.log(k[1] / c)),
    )[:2]
    hint = gone
    if runs:
        shown = "; ".join(describe(e) for e in runs[:3]) + (f"; and {len(runs) - 3} more" if len(runs) > 3 else "")
        hint += f" Runs with other settings, which answer only to a pin (sha256=): {shown}."
    hint += f" Other methods held for d={d}, c={c}: {', '.join(others)} (choose with --method / method=)." if others else ""
    hint += f" Closest available: {', '.join(f'(d={a}, c={b})' for a, b in near)}." if near else ""
    cmd = f"protobank generate --d {d} --c {c}" + (f" --method {method}" if method else "")
    return f"no prototypes for {what} in {len(searched)} locations: {where}.{hint} Generate them with `{cmd}` (or load(..., generate=True))."
