"""``protobank generate``: optimise prototypes for (d, c) and publish an artifact."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._app import app
from ._common import construction_line, err_console, examples, fmt, out_console, parse_params, print_json, show_progress


@app.command(epilog=examples(
    "protobank generate --d 50 --c 100", "protobank generate --d 64 --c 1000 --out p.h5 --json",
    "protobank generate --d 50 --c 100 --method gaussian -p t=2 -p subset=50"
))
def generate(
    d: int = typer.Option(..., "--d", "--dim", min=1, help="Embedding dimension."),
    c: int = typer.Option(..., "--c", "--classes", min=2, help="Number of prototypes (classes)."),
    method: str = typer.Option("minimax", help="minimax (default: the best of exact codes and the optimizer), gaussian, hpn, etf or random."),
    seed: int = typer.Option(0, min=0, help="Seed of the initialisation and sampling."),
    iters: Optional[int] = typer.Option(None, min=1, help="Optimisation steps (method default)."),
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu, cuda or cuda:N."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File or folder to write; default: the cache."),
    overwrite: bool = typer.Option(False, help="Replace an existing file at --out."),
    dtype: str = typer.Option("float64", help="Stored dtype: float64 or float32."),
    param: list[str] = typer.Option([], "--param", "-p", help="Method hyperparameter KEY=VALUE (repeatable)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr (TTY only)."),
) -> None:
    """Generate c prototypes in R^d and write them as a verified HDF5 artifact."""
    from ..artifact import read, write
    from ..cache import publish
    from ..defaults import is_default_run
    from ..errors import ArtifactExistsError, InvalidInputError, OutputPathError
    from ..generation import generate as run, plan_run
    from ..index import artifact_name

    if dtype not in ("float32", "float64"):
        raise InvalidInputError(f"--dtype must be float32 or float64, got {dtype!r}")
    if out is not None and not out.is_dir() and out.exists() and not overwrite:
        raise ArtifactExistsError(f"{out} exists; pass --overwrite to replace it")
    if out is not None and not out.is_dir() and not out.parent.is_dir():
        raise OutputPathError(f"folder {out.parent} does not exist; create it first")
    params = parse_params(param)
    decision = plan_run(d, c, method=method, device=device, iters=iters, **params)
    warning = decision.long_run_warning() if decision is not None else None
    if warning:
        err_console().print(f"[yellow]predicted:[/] {warning}", highlight=False)
    p = run(d, c, method=method, seed=seed, iters=iters, device=device, decision=decision,
            progress=show_progress(json_output, progress), **params)
    if dtype != p.dtype:
        p = p.astype(dtype)
    if out is None:
        try:
            target = publish(p, default=is_default_run(seed=seed, iters=iters, params=params, dtype=dtype)).file
        except OutputPathError as exc:
            raise OutputPathError(f"{exc} or pass --out") from exc
    else:
        target = out / Path(artifact_name(p)).name if out.is_dir() else out
        write(p, target, overwrite=overwrite)
    created = read(target, verify=False).created_utc  # the time in the file (an earlier publish's, for content the cache held)
    p = replace(p, created_utc=created)
    summary = {**p.summary(), "path": str(target), "device": p.provenance.get("device")}
    if json_output:
        print_json(summary)
        return
    m = p.metrics
    table = Table(title=f"protobank generate: d={p.d}, c={p.c}, method={p.method}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("path", str(target))
    table.add_row("sha256", p.content_sha256[:16])
    table.add_row("max cosine", f"{fmt(m['max_cosine'], 6)}  (best possible >= {fmt(m['bound_max_cosine'], 6)}, gap {fmt(m['gap_to_bound'], 6)})")
    if "construction" in p.method_params:
        table.add_row("construction", construction_line(p.method_params, m))
    table.add_row("min / mean cosine", f"{fmt(m['min_cosine'])} / {fmt(m['mean_cosine'], 6)}")
    table.add_row("min angle", f"{m['min_angle_deg']:.3f} deg")
    table.add_row("iterations", str(p.iterations))
    table.add_row("time", f"{m['seconds']:.2f} s on {p.provenance.get('device')}")
    out_console().print(table)
