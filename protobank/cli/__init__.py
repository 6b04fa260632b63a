"""The ``protobank`` command line (Typer). Results go to stdout, progress and errors to stderr."""

from __future__ import annotations

import os
import sys

import typer

from ..errors import ProtobankError
from ._app import app
from ._common import err_console

__all__ = ["app", "main"]


def _register() -> None:
    from . import artifacts, bank, cache, evaluate, generate, inspect, methods, train  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one red line on stderr, never a traceback.

    Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.
    """
    debug = os.environ.get("PROTOBANK_DEBUG") == "1"
    try:
        _register()
        command = typer.main.get_command(app)
        code = command.main(args=argv, prog_name="protobank", standalone_mode=False)
    except ProtobankError as exc:
        if debug:
            raise
        _fail(str(exc), 1)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001
        if debug:
            raise
        usage = getattr(exc, "format_message", None)
        if usage is not None and hasattr(exc, "exit_code"):  # Typer's usage errors
            if not usage():  # a group called without a command: its help is already shown
                sys.exit(int(exc.exit_code))
            ctx = getattr(exc, "ctx", None)
            where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _fail(f"{usage()}{where}", int(exc.exit_code))
        _fail(f"{type(exc).__name__}: {exc} (set PROTOBANK_DEBUG=1 for the traceback)", 1)
    if code == 130:  # Typer turns Ctrl-C inside a command into a silent exit code 130
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    err_console().print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(code)
