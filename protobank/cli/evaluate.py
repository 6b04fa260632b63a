"""``protobank evaluate RUN_DIR``: re-score a training run's saved checkpoint on its test set."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from . import app
from ._common import fmt, out_console, print_json

#: Re-scored and recorded top-1 agree when they differ by less than this (percentage points).
AGREEMENT_POINTS = 0.01


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="The --out folder of a protobank train run (holds checkpoint.pt)."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Re-score the saved checkpoint on the test set; compare with metrics.json's top-1."""
    from ..errors import ProtobankError
    from ..train.run import evaluate_run

    result = evaluate_run(run_dir, device)
    recorded = result["recorded_test_top1"]
    if json_output:
        print_json(result)
    else:
        table = Table(title=f"protobank evaluate: {run_dir} (epoch {result['epoch']})", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("test top-1 (re-scored)", f"{fmt(result['test_top1'], 2)} %")
        table.add_row("balanced top-1 (re-scored)", f"{fmt(result['test_balanced_top1'], 2)} %")
        table.add_row("test top-1 (metrics.json)", f"{fmt(recorded, 2)} %" if recorded is not None else "- (no metrics.json)")
        table.add_row("test samples", str(result["test_samples"]))
        out_console().print(table)
    if recorded is not None and abs(result["test_top1"] - recorded) >= AGREEMENT_POINTS:
        raise ProtobankError(
            f"the checkpoint scores {result['test_top1']:.4f} % top-1, metrics.json records {recorded:.4f} %: "
            "not the model metrics.json describes, or scored on another device or with other data files"
        )
