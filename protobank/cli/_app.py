"""The Typer application every command module registers on (below them all, so that no
command module imports the package that imports it)."""

from __future__ import annotations

import typer

from ._common import CONTEXT

app = typer.Typer(
    name="protobank",
    help="Fixed, equidistributed class prototypes on the hypersphere.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)


def _print_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"protobank {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version."),
) -> None:
    """Fixed, equidistributed class prototypes on the hypersphere."""
