"""``protobank inspect``: the geometry report of a prototype file against baselines and the bound."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.table import Table

from ._app import app
from ._common import construction_line, err_console, examples, fmt, out_console, print_json


def _subject(path: Optional[Path], d: Optional[int], c: Optional[int], layout: str, allow_long: bool):
    """(label, vectors, artifact-or-None) for a file, or for the bank default of (d, c)."""
    from ..artifact import read
    from ..lookup import load
    from ..errors import InvalidInputError
    from ..foreign import read_matrix

    if path is not None:
        if d is not None or c is not None:
            raise InvalidInputError("give either PATH or --d/--c, not both")
        if path.suffix.lower() in (".h5", ".hdf5"):
            p = read(path)
            return f"{path.name}", p.vectors, p
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vectors = read_matrix(path, layout=layout)
        for w in caught:
            err_console().print(f"[yellow]warning:[/] {w.message}", highlight=False)
        return path.name, vectors, None
    if d is None or c is None:
        raise InvalidInputError("give a PATH to inspect, or both --d and --c for the bank's default")
    p = load(d, c, generate=True, allow_long=allow_long)
    return f"default ({p.method})", p.vectors, p


@app.command(epilog=examples(
    "protobank inspect p.h5 --plot geometry.png", "protobank inspect --d 50 --c 100", "protobank inspect W.npy --layout dc --json"
))
def inspect(
    path: Optional[Path] = typer.Argument(None, help="An artifact (.h5) or a .npy/.npz/.pt matrix."),
    d: Optional[int] = typer.Option(None, "--d", "--dim", min=1, help="With --c: inspect the bank's default."),
    c: Optional[int] = typer.Option(None, "--c", "--classes", min=2, help="With --d: inspect the bank's default."),
    baselines: str = typer.Option("etf,hpn,gaussian,random", help="Comma-separated baselines, or none."),
    seed: int = typer.Option(0, min=0, help="Seed of the baselines."),
    device: str = typer.Option("auto", help="Device for iterative baselines."),
    time_budget: float = typer.Option(120.0, min=0, help="Skip iterative baselines predicted to take longer (s)."),
    layout: str = typer.Option("auto", help="For foreign matrices: cd (rows = prototypes), dc, or auto."),
    plot: Optional[Path] = typer.Option(None, help="Write a PNG: cosine histograms and Figure-3a curves."),
    allow_long: bool = typer.Option(False, "--allow-long", help="With --d/--c: generate even where the run is predicted to be long."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Geometry of prototypes beside ETF, HPN, the paper's method, random and the limit."""
    from ..baselines import run_baselines, parse_baselines
    from ..measure import geometry, remeasure

    if layout not in ("auto", "cd", "dc"):
        from ..errors import InvalidInputError

        raise InvalidInputError(f"--layout must be auto, cd or dc, got {layout!r}")
    names = parse_baselines(baselines)
    label, vectors, artifact = _subject(path, d, c, layout, allow_long)
    report = remeasure(vectors, artifact.metrics) if artifact is not None else geometry(vectors)
    rows = [(label, vectors, report, artifact.iterations if artifact else None, None)]
    for b in run_baselines(report.d, report.c, names, seed=seed, device=device, time_budget=time_budget):
        rows.append((b.name, b.vectors, b.report, b.iterations, b.skipped))

    if plot is not None:
        from ..plot import geometry_figure

        geometry_figure({n: (v, r) for n, v, r, _, s in rows if s is None}, plot,
                        title=f"d={report.d}, c={report.c}")
    if json_output:
        print_json({
            "d": report.d,
            "c": report.c,
            "bound": report.bound.to_dict(),
            "subject": {"name": label, "iterations": rows[0][3], **report.to_dict(),
                        "construction": artifact.method_params.get("construction") if artifact else None},
            "baselines": {n: ({"skipped": s} if s else {"iterations": it, **r.to_dict()}) for n, _, r, it, s in rows[1:]},
            "plot": str(plot) if plot else None,
        })
        return
    _print_table(rows, report)
    if artifact is not None and "construction" in artifact.method_params:
        out_console().print(f"construction: {construction_line(artifact.method_params, report.headline())}", highlight=False)
    if plot is not None:
        err_console().print(f"plot written to {plot}")


def _print_table(rows, report) -> None:
    b = report.bound
    table = Table(title=f"geometry, d={report.d}, c={report.c}")
    table.add_column("metric", style="bold")
    for name, *_ in rows:
        table.add_column(name, justify="right")
    table.add_column(f"{'optimum' if b.exact else 'bound'}", justify="right")

    def cells(fn):
        return [("-" if s else fn(r, it)) for _, _, r, it, s in rows]

    table.add_row("max cosine", *cells(lambda r, it: fmt(r.max_cosine, 5)), fmt(b.value, 5))
    table.add_row("min cosine", *cells(lambda r, it: fmt(r.min_cosine, 5)), "")
    table.add_row("mean cosine", *cells(lambda r, it: fmt(r.mean_cosine, 5)), "")
    angle = float(np.degrees(np.arccos(np.clip(b.value, -1, 1))))
    table.add_row("min angle (deg)", *cells(lambda r, it: f"{r.min_angle_deg:.2f}"), f"{angle:.2f}")
    table.add_row("NN angle mean ± std", *cells(lambda r, it: f"{r.nn_angle_mean_deg:.2f} ± {r.nn_angle_std_deg:.2f}"), "")
    table.add_row("uniformity (t=2)", *cells(lambda r, it: fmt(r.uniformity, 4)), "")
    table.add_row("gap to bound", *cells(lambda r, it: fmt(r.gap_to_bound, 5)), "0")
    table.add_row("iterations", *cells(lambda r, it: "-" if it is None else str(it)), "")
    out_console().print(table)
    out_console().print(f"bound: {b.kind}{' (exact optimum)' if b.exact else ' (proved lower bound)'}")
    for name, _, _, _, skipped in rows:
        if skipped:
            out_console().print(f"{name}: skipped, {skipped}")
