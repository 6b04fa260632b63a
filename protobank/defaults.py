"""The one rule for "the default artifact" of a (d, c, method): which artifact answers a lookup
that names no exact artifact.

* An artifact is marked ``default`` in its folder's index when it is the bank's choice for its
  cell (``bank build``) or when it was produced with the default settings
  (:func:`is_default_run`: seed 0, the method's own iterations and parameters, float64), which
  is what ``load(..., generate=True)`` makes. At most one per (d, c, method) and folder.
* ``load(d, c)`` without ``method`` or ``sha256`` is answered only by the marked artifact of
  the default method. A run with other settings (``--iters 1``, ``-p polish=false``,
  another seed) never answers it, however many or few such runs the folder holds.
* ``load(d, c, method=M)``: the marked artifact of ``M``; where a folder holds none, its only
  artifact of ``M`` (the caller named the method), and several are refused as ambiguous.
* ``sha256=``: exactly the pinned artifact, marked or not (see :mod:`protobank.lookup`).

Several experiment runs of one cell are normal: they verify clean and answer to their pins.
:mod:`protobank.lookup`, :mod:`protobank.cache` and :mod:`protobank.bank` all ask here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .errors import AmbiguousArtifactError
from .index import BankEntry

# The settings of the artifact that ``load(d, c, generate=True)`` makes, marked ``default``.
DEFAULT_SEED = 0
DEFAULT_DTYPE = "float64"


def is_default_run(*, seed: int, iters: int | None, params: dict, dtype: str) -> bool:
    """Whether a run used the settings of ``load(..., generate=True)``: its artifact is marked default."""
    return seed == DEFAULT_SEED and iters is None and not params and dtype == DEFAULT_DTYPE


def describe(e: BankEntry) -> str:
    """One entry for messages: hash, method, dtype, seed and place."""
    return f"{e.content_sha256[:16]} ({e.method}, {e.dtype or '?'}, seed {e.seed if e.seed is not None else '?'}) at {e.where}"


def choose(found: list[BankEntry], *, method_named: bool, root: Path) -> BankEntry | None:
    """The entry of one folder that answers an unpinned lookup, from that folder's entries of
    the wanted (d, c, method); None when none answers there.

    ``method_named``: the caller passed ``method=``, so an unmarked artifact answers where it
    is the folder's only one of that method.
    """
    marked = [e for e in found if e.default]
    if marked:
        return marked[0]
    if not method_named or not found:
        return None
    if len({e.content_sha256 for e in found}) > 1:
        e = found[0]
        raise AmbiguousArtifactError(
            f"{root} holds {len(found)} {e.method} artifacts for d={e.d}, c={e.c} and none is marked default: "
            f"{'; '.join(describe(x) for x in found)}; pin one with sha256="
        )
    return found[0]


def mark_problems(entries: list[BankEntry], *, every_cell: bool) -> list[tuple[str, str]]:
    """(cell, problem) for each (d, c, method) holding more than one default mark, and with
    ``every_cell`` (a bank, whose every cell must answer) for each holding none."""
    marks = Counter((e.d, e.c, e.method) for e in entries if e.default)
    cells = Counter((e.d, e.c, e.method) for e in {(e.d, e.c, e.method, e.content_sha256): e for e in entries}.values())
    out = []
    for (d, c, method), n in sorted(cells.items()):
        marked = marks[(d, c, method)]
        if marked > 1 or (every_cell and marked == 0):
            out.append((f"(d={d}, c={c}, method={method})", f"{marked} default entries for {n} artifacts; exactly one expected"))
    return out
