"""Pieces shared by the CLI commands."""

from __future__ import annotations

import json
import math
import sys
from functools import lru_cache
from typing import Any

from rich.console import Console

from ..errors import InvalidInputError


@lru_cache(maxsize=1)
def err_console() -> Console:
    return Console(stderr=True)


@lru_cache(maxsize=1)
def out_console() -> Console:
    """stdout; tables keep at least 120 columns when piped (rich's default there is 80)."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=max(probe.width, 120))


def show_progress(json_output: bool, wanted: bool) -> bool:
    """Progress bars only for a person watching: stderr is a terminal and no --json."""
    return wanted and not json_output and sys.stderr.isatty()


# Version of the layout of the CLI's --json documents; raised when a key changes meaning or goes.
JSON_SCHEMA_VERSION = 1
def examples(*lines: str) -> str:
    """A help epilog listing example command lines, one per line."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)


# Every command and group accepts -h for --help.
CONTEXT = {"help_option_names": ["-h", "--help"]}


def print_json(doc: dict[str, Any]) -> None:
    """Exactly one JSON object on stdout, stamped with ``protobank_version`` and
    ``schema_version`` (non-finite floats become null)."""
    from .._version import __version__

    stamped = {**doc, "protobank_version": __version__, "schema_version": JSON_SCHEMA_VERSION}
    sys.stdout.write(json.dumps(_finite(stamped), indent=2, sort_keys=True) + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def parse_params(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; values parsed as JSON when they are (numbers, true/false, null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--param expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def construction_line(params: dict[str, Any], metrics: dict[str, float]) -> str:
    """Which construction the default method kept, and what the others reached."""
    line = str(params["construction"])
    for name, cand in params.get("candidates", {}).items():
        if "max_cosine" in cand:
            line += f"; {name} {cand['max_cosine']:.5f}"
        elif "not_run" in cand:
            line += f"; {name} not run"
    rows = metrics.get("measured_rows")
    if rows:
        line += f"; measured on the pairs of {int(rows):,} sampled rows, proven max cosine {params.get('proven_max_cosine', float('nan')):.6f}"
    return line


def report_checks(checks: list, where: Any, json_output: bool) -> None:
    """Render file checks (``bank verify``, ``cache verify``): one line per file and a count,
    or one JSON document; exit 1 when any check failed."""
    import typer

    bad = [ch for ch in checks if not ch.ok]
    if json_output:
        print_json({"folder": str(where), "ok": not bad,
                    "files": [ch.__dict__ | {"problems": list(ch.problems)} for ch in checks]})
    else:
        for ch in checks:
            status = "[green]ok[/]" if ch.ok else "[red]FAIL[/]"
            out_console().print(f"{status} {ch.path}" + ("" if ch.ok else f": {'; '.join(ch.problems)}"), highlight=False)
        out_console().print(f"{len(checks) - len(bad)} ok, {len(bad)} failed in {where}")
    if bad:
        raise typer.Exit(1)

