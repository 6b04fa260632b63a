"""Figures (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .measure import GeometryReport, pairwise_cosines


def geometry_figure(
    configs: Mapping[str, tuple[np.ndarray, GeometryReport]], path: str | Path, *, title: str = ""
) -> Path:
    """(a) histogram of pairwise cosines per configuration; (b) each prototype's largest cosine
    to another, sorted (the paper's Figure 3a), with the bound on the best max cosine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_hist, ax_curve) = plt.subplots(1, 2, figsize=(12, 4.5))
    bound = None
    for name, (vectors, report) in configs.items():
        cos = pairwise_cosines(vectors)
        ax_hist.hist(cos, bins=120, range=(-1, 1), histtype="step", density=True, label=name, linewidth=1.4)
        curve = np.sort(report.row_max_cosine)[::-1]
        ax_curve.plot(np.arange(1, len(curve) + 1), curve, label=f"{name} (max {report.max_cosine:.3f})", linewidth=1.4)
        bound = report.bound
    ax_hist.set_xlabel("pairwise cosine")
    ax_hist.set_ylabel("density")
    ax_hist.set_title("(a) pairwise cosines")
    ax_hist.legend(fontsize=8)
    if bound is not None:
        label = f"{'optimum' if bound.exact else 'lower bound'}: {bound.value:.3f} ({bound.kind})"
        ax_curve.axhline(bound.value, color="black", linestyle="--", linewidth=1, label=label)
    ax_curve.set_xlabel("prototype (sorted)")
    ax_curve.set_ylabel("largest cosine to another prototype")
    ax_curve.set_title("(b) each prototype's nearest neighbour")
    ax_curve.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curves(history: Sequence[Any], path: str | Path, *, title: str = "") -> Path:
    """(a) train and test top-1 per epoch; (b) labels whose prototype changed per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r.epoch for r in history]
    fig, (ax_acc, ax_changes) = plt.subplots(1, 2, figsize=(11, 4))
    ax_acc.plot(epochs, [r.train_top1 for r in history], marker="o", label="train top-1")
    ax_acc.plot(epochs, [r.test_top1 for r in history], marker="o", label="test top-1")
    ax_acc.plot(epochs, [r.test_balanced_top1 for r in history], marker=".", linestyle="--", label="test balanced top-1")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("(a) accuracy")
    ax_acc.legend(fontsize=8)
    ax_changes.bar(epochs, [r.assignment_changes for r in history], color="tab:purple")
    ax_changes.set_xlabel("epoch")
    ax_changes.set_ylabel("labels moved to another prototype")
    ax_changes.set_title("(b) assignment changes (paper's Fig. 4b)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
