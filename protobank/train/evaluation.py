"""Scoring a model on the test set: per-class counts over all ranks, and the metrics made of
them (top-1, balanced top-1, many/medium/few-shot, related-prototype cosines)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from .data import Dataset
from .distributed import DistContext
from .head import PrototypeHead

MANY_SHOT, FEW_SHOT = 100, 20  # training-count thresholds of the long-tail literature


@torch.no_grad()
def predict_counts(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], num_classes: int, ctx: DistContext
) -> np.ndarray:
    """Per class: (correct, total) of ``model`` (a Classifier) on ``batches``, summed over ranks.

    Under DDP the ranks' parameters are identical but batch-norm running statistics are each
    rank's own; rank 0's (those in the checkpoint) are first given to every rank, so the
    shards are scored by one model, the one saved.
    """
    model.eval()
    if ctx.enabled:
        for buffer in model.backbone.buffers():
            ctx.broadcast(buffer)
    counts = torch.zeros(2, num_classes, dtype=torch.float64, device=ctx.device)
    for x, y in batches:
        _, logits = model(x)
        counts[0].index_add_(0, y, (logits.argmax(1) == y).double())
        counts[1].index_add_(0, y, torch.ones_like(y, dtype=torch.float64))
    ctx.all_reduce(counts)
    return counts.cpu().numpy()


def accuracies(counts: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Top-1 and balanced top-1 in percent, and per-class accuracy (NaN for absent classes)."""
    correct, total = counts
    per_class = np.where(total > 0, correct / np.maximum(total, 1), np.nan)
    return float(100 * correct.sum() / total.sum()), float(100 * np.nanmean(per_class)), per_class


def summary_metrics(counts: np.ndarray, data: Dataset, head: nn.Module) -> dict[str, Any]:
    """Top-1, balanced top-1, many/medium/few-shot top-1 when the training set is long-tailed,
    and the related-prototype cosines when the data have super-classes."""
    top1, balanced, per_class = accuracies(counts)
    out: dict[str, Any] = {"test_top1": top1, "test_balanced_top1": balanced}
    present = ~np.isnan(per_class)
    train_counts = data.class_counts()
    if train_counts.max() > 1.5 * train_counts.min():
        parts = (
            ("many", train_counts > MANY_SHOT),
            ("medium", (train_counts <= MANY_SHOT) & (train_counts >= FEW_SHOT)),
            ("few", train_counts < FEW_SHOT),
        )
        for name, mask in parts:
            sel = mask & present
            out[f"test_{name}_shot_top1"] = float(100 * np.mean(per_class[sel])) if sel.any() else None
    if data.super_classes is not None and isinstance(head, PrototypeHead):
        out["related_prototype_cosine"] = related_prototype_cosine(head, data.super_classes)
    return out


def related_prototype_cosine(head: PrototypeHead, super_classes: list[int]) -> dict[str, float]:
    """Mean cosine between the prototypes of two labels of the same super-class, and of
    different ones: the dynamic assignment should place related classes nearer."""
    w = head.class_prototypes().double().cpu()
    cos = w @ w.T
    parent = torch.tensor(super_classes)
    same = parent[:, None] == parent[None, :]
    off = ~torch.eye(len(parent), dtype=torch.bool)
    return {"same_super_class": float(cos[same & off].mean()), "different_super_class": float(cos[~same].mean())}
