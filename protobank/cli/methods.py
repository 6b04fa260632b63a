"""``protobank methods``: each method and the ``-p`` keys it takes, with their defaults."""

from __future__ import annotations

import typer
from rich.table import Table

from ._app import app
from ._common import examples, out_console, print_json


@app.command(epilog=examples("protobank methods --json", "protobank generate --d 8 --c 40 --method gaussian -p t=3"))
def methods(json_output: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """The methods and their -p KEY=VALUE parameters, read from the code itself."""
    from ..optimize import DEFAULT_METHOD, get_method, method_names

    specs = [get_method(name) for name in method_names()]
    if json_output:
        print_json({
            "default": DEFAULT_METHOD,
            "methods": [
                {"name": s.name, "summary": s.summary, "iterative": s.iterative,
                 "parameters": [{"name": p.name, "type": p.type, "default": p.default} for p in s.parameters().values()]}
                for s in specs
            ],
        })  # fmt: skip
        return
    table = Table(title="protobank methods (-p KEY=VALUE)")
    for col in ("method", "what it does", "parameters (default)"):
        table.add_column(col)
    for s in specs:
        params = ", ".join(f"{p.name}={p.default!r} ({p.type})" for p in s.parameters().values()) or "-"
        table.add_row(s.name + (" (default)" if s.name == DEFAULT_METHOD else ""), s.summary, params)
    out_console().print(table)
