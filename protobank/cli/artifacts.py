"""``protobank info | verify | export``: handle artifact files from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._app import app
from ._common import examples, fmt, out_console, print_json


@app.command(epilog=examples("protobank info p.h5", "protobank info p.h5 --json"))
def info(
    file: Path = typer.Argument(..., help="An artifact (.h5)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Shape, method, parameters, hash, metrics and provenance of an artifact (verified)."""
    from ..artifact import read

    s = read(file).summary()
    if json_output:
        print_json(s)
        return
    table = Table(title=f"{file}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("shape", f"c={s['c']} x d={s['d']} ({s['dtype']})")
    table.add_row("method", f"{s['method']}  seed {s['seed']}, {s['iterations']} iterations")
    table.add_row("parameters", ", ".join(f"{k}={v}" for k, v in sorted(s["method_params"].items())) or "-")
    table.add_row("sha256", s["content_sha256"])
    for name, value in sorted(s["metrics"].items()):
        table.add_row(name, fmt(value, 6))
    table.add_row("created", f"{s['created_utc']} by {s['created_by']}")
    table.add_row("provenance", ", ".join(f"{k} {v}" for k, v in sorted(s["provenance"].items())) or "-")
    out_console().print(table)


@app.command(epilog=examples("protobank verify p.h5", "protobank verify runs/*.h5 --json"))
def verify(
    files: list[Path] = typer.Argument(..., help="Artifacts (.h5) to check."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Check each file's format, hash and stored metrics; exit 1 if any fails."""
    from ..artifact import verify as check

    reports = [check(f) for f in files]
    if json_output:
        print_json({"ok": all(r.ok for r in reports), "files": [r.to_dict() for r in reports]})
    else:
        for r in reports:
            status = "[green]ok[/]" if r.ok else "[red]FAIL[/]"
            out_console().print(f"{status} {r.path}" + ("" if r.ok else f": {'; '.join(r.problems)}"), highlight=False)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@app.command(epilog=examples("protobank export p.h5 --format npy", "protobank export p.h5 --format csv --layout dc --out W.csv"))
def export(
    file: Path = typer.Argument(..., help="An artifact (.h5)."),
    format: str = typer.Option(..., "--format", "-f", help="npy, pt, csv or safetensors (needs the safetensors package)."),
    layout: str = typer.Option("cd", help="cd: rows are prototypes, shape (c, d); dc: columns are, shape (d, c)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Destination (default: FILE with the format's suffix); never overwritten."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Write an artifact's matrix as .npy, .pt, .csv or .safetensors, atomically."""
    from ..artifact import read
    from ..export import FORMATS, export as write, export_path
    from ..errors import InvalidInputError

    if format not in FORMATS:
        raise InvalidInputError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    p = read(file)
    target = write(p, out if out is not None else export_path(file, format), fmt=format, layout=layout)
    shape = [p.c, p.d] if layout == "cd" else [p.d, p.c]
    if json_output:
        print_json({"path": str(target), "format": format, "layout": layout, "shape": shape, "content_sha256": p.content_sha256})
    else:
        out_console().print(f"wrote {target} ({format}, shape {tuple(shape)}, {p.dtype})", highlight=False)
