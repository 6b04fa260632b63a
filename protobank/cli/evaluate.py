"""``protobank evaluate RUN_DIR``: re-score a training run's saved checkpoint on its test set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._app import app
from ._common import err_console, fmt, out_console, print_json


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="The --out folder of a protobank train run (holds checkpoint.pt)."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda or cuda:N; default: the device the run trained on when this machine has it, else cpu."),
    json_output: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Re-score the saved checkpoint on the test set; compare with metrics.json's top-1."""
    from ..errors import ProtobankError
    from ..train.rescore import disagreement, evaluate_run

    result = evaluate_run(run_dir, device)
    recorded = result["recorded_test_top1"]
    trained = result["trained_device"]
    elsewhere = device is None and trained is not None and result["device"] != trained
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
        table.add_row("device", result["device"] + (f" (trained on {trained})" if trained and trained != result["device"] else ""))
        out_console().print(table)
    if elsewhere:
        err_console().print(f"scored on {result['device']}: the run trained on {trained}, which this machine does not have")
    problem = disagreement(result)
    if problem is not None:
        raise ProtobankError(problem)
