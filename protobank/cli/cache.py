"""``protobank cache list | verify | clean``: the user cache of generated artifacts."""

from __future__ import annotations

import typer
from rich.table import Table

from ._app import app
from ._common import CONTEXT, fmt, out_console, print_json, report_checks

cache_app = typer.Typer(help="The cache of generated artifacts: list, verify, clean.", no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
def list_(json_output: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """What the cache holds, with method, seed, dtype and hash."""
    from ..cache import cache_dir, cache_entries

    entries = cache_entries()
    if json_output:
        print_json({"folder": str(cache_dir()), "entries": [{**e.to_index(), "file": str(e.file)} for e in entries]})
        return
    table = Table(title=f"{len(entries)} artifacts in {cache_dir()}")
    for col in ("d", "c", "method", "seed", "dtype", "default", "max cosine", "sha256"):
        table.add_column(col, justify="right" if col in ("d", "c", "seed") else "left")
    for e in entries:
        table.add_row(str(e.d), str(e.c), e.method, str(e.seed), e.dtype or "", "yes" if e.default else "",
                      fmt(e.metrics.get("max_cosine"), 5), e.content_sha256[:16])
    out_console().print(table)


@cache_app.command()
def verify(json_output: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Recompute every cached artifact's hashes and metrics against the index; exit 1 on a problem."""
    from ..bank import verify_entries
    from ..cache import cache_dir, cache_entries

    checks = verify_entries(cache_dir(), cache_entries())
    report_checks(checks, cache_dir(), json_output)


@cache_app.command()
def clean(
    all_: bool = typer.Option(False, "--all", help="Empty the cache, not only what no lookup can use."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Remove files the index does not know, entries whose file is gone and stale temporary files."""
    from ..cache import cache_dir, clean_cache

    report = clean_cache(everything=all_, dry_run=dry_run)
    if json_output:
        print_json({"folder": str(cache_dir()), "dry_run": dry_run, "files": [str(f) for f in report.files],
                    "entries": [e.content_sha256 for e in report.entries]})
        return
    verb = "would remove" if dry_run else "removed"
    for f in report.files:
        out_console().print(f"{verb} {f}", highlight=False)
    out_console().print(f"{verb} {len(report.files)} files and {len(report.entries)} index entries in {cache_dir()}")
