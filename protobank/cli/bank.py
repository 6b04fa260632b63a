"""``protobank bank list | verify | build``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._app import app
from ._common import CONTEXT, err_console, examples, fmt, out_console, print_json, report_checks

bank_app = typer.Typer(help="The precomputed bank: list, verify, build.", no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(bank_app, name="bank")


@bank_app.command("list", epilog=examples("protobank bank list --c 1000", "protobank bank list --d 64 --json"))
def list_(
    d: Optional[int] = typer.Option(None, "--d", "--dim", min=1),
    c: Optional[int] = typer.Option(None, "--c", "--classes", min=2),
    method: Optional[str] = typer.Option(None),
    bank: Optional[Path] = typer.Option(None, help="A bank folder searched first."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """What the bank, PROTOBANK_BANK_PATH and the cache hold."""
    from ..lookup import list_available

    entries = list_available(d=d, c=c, method=method, bank=bank)
    if json_output:
        print_json({"entries": [{**e.to_index(), "file": str(e.file) if e.file else None} for e in entries]})
        return
    table = Table(title=f"{len(entries)} artifacts")
    for col in ("d", "c", "method", "default", "max cosine", "gap to bound", "sha256", "where"):
        table.add_column(col, justify="right" if col in ("d", "c") else "left")
    for e in entries:
        table.add_row(str(e.d), str(e.c), e.method, "yes" if e.default else "", fmt(e.metrics.get("max_cosine"), 5),
                      fmt(e.metrics.get("gap_to_bound"), 5), e.content_sha256[:8], e.root)
    out_console().print(table)


@bank_app.command()
def verify(
    folder: Optional[Path] = typer.Argument(None, help="Bank folder (default: the installed bank)."),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Check every file's hashes, schema, metrics and index entry; exit 1 on any problem."""
    from ..bank import verify_bank
    from ..folders import packaged_bank
    from ..errors import PrototypesNotFoundError

    folder = folder or packaged_bank()
    if folder is None or not folder.is_dir():
        raise PrototypesNotFoundError(f"no bank folder {folder}" if folder else "no bank is installed")
    checks = verify_bank(folder)
    report_checks(checks, folder, json_output)


@bank_app.command()
def build(
    folder: Path = typer.Argument(..., help="Bank folder to fill (created if missing)."),
    d: list[int] = typer.Option([], "--d", "--dim", help="Dimensions (repeatable); default: the standard grid."),
    c: list[int] = typer.Option([], "--c", "--classes", help="Class counts (repeatable); default: the standard grid."),
    method: Optional[str] = typer.Option(None, help="Method (default: the default method)."),
    dtype: str = typer.Option("float32", help="Stored dtype."),
    seed: int = typer.Option(0, min=0),
    device: str = typer.Option("auto"),
    upgrade: bool = typer.Option(False, help="Also regenerate cells whose stored max cosine a catalogue code beats."),
) -> None:
    """Maintainers: generate a grid into FOLDER and write its index (resumable)."""
    from ..bank import DEFAULT_GRID, build_bank
    from ..errors import InvalidInputError

    if dtype not in ("float32", "float64"):
        raise InvalidInputError(f"--dtype must be float32 or float64, got {dtype!r}")
    if bool(d) != bool(c):
        raise InvalidInputError("give both --d and --c (their product is the grid), or neither for the standard grid")
    grid = [(a, b) for b in c for a in d] if d else list(DEFAULT_GRID)

    def report(entry, skipped: bool) -> None:
        what = "kept" if skipped else f"max cos {entry.metrics.get('max_cosine', float('nan')):.5f}"
        err_console().print(f"d={entry.d:<5} c={entry.c:<6} {entry.method}: {what}", highlight=False)

    entries = build_bank(folder, grid, method=method, dtype=dtype, seed=seed, device=device, on_entry=report,
                         upgrade=upgrade)
    out_console().print(f"{len(entries)} entries in {folder / 'index.json'}")
