"""The training loop: backbone + head, the dynamic assignment on its cadence, evaluation,
checkpoints; one process or data-parallel under torchrun."""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InvalidInputError, ProtobankError
from .assigner import DynamicAssigner
from .data import Dataset, Normalizer, steps_per_epoch
from .distributed import DistContext
from .head import PrototypeHead, SoftmaxHead
from .loss import DEFAULT_CE_SCALE, ipm_loss, prototype_ce_loss

CHECKPOINT_FORMAT = "protobank-train-checkpoint"
CHECKPOINT_VERSION = 2
#: Settings a resumed run may change: its length, and nothing that decides its numbers.
RESUMABLE_CHANGES = ("epochs",)
AMP_MODES = ("off", "bf16", "fp16")
MANY_SHOT, FEW_SHOT = 100, 20  # training-count thresholds of the long-tail literature


@dataclass
class TrainConfig:
    """Everything that decides a run's numbers (saved in the checkpoint and metrics)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    assign: str = "dynamic"  # dynamic | static (prototype head only)
    assign_every: float = 1.0  # epochs between assignment updates (0.25: four per epoch)
    assign_init: str = "means"  # means: first assignment from the untrained network; identity
    init_batches: int = 50  # batches of the untrained network's features for assign_init=means
    tracker_momentum: float = 0.9
    loss: str = "ipm"  # ipm (eq. 6) | ce (prototype head); the softmax head always uses ce
    ce_scale: float = DEFAULT_CE_SCALE
    warmup_epochs: float = 0.0  # linear learning-rate warm-up before the cosine decay
    feature_bn: bool = False  # batch norm (no affine) on the d features, before any head
    seed: int = 0
    amp: str = "off"  # off | bf16 (CPU, CUDA) | fp16 (CUDA, with a gradient scaler)

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InvalidInputError("--epochs and --batch-size must be positive")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InvalidInputError(f"--lr must be a positive number, got {self.lr}")
        if self.assign not in ("dynamic", "static"):
            raise InvalidInputError(f"--assign must be dynamic or static, got {self.assign!r}")
        if self.loss not in ("ipm", "ce"):
            raise InvalidInputError(f"--loss must be ipm or ce, got {self.loss!r}")
        if self.assign_init not in ("means", "identity"):
            raise InvalidInputError(f"--assign-init must be means or identity, got {self.assign_init!r}")
        if not (self.ce_scale > 0 and math.isfinite(self.ce_scale)):
            raise InvalidInputError(f"--ce-scale must be a positive number, got {self.ce_scale}")
        if not (self.warmup_epochs >= 0 and math.isfinite(self.warmup_epochs)):
            raise InvalidInputError(f"--warmup-epochs must be a number >= 0, got {self.warmup_epochs}")
        if not (self.assign_every > 0 and math.isfinite(self.assign_every)):
            raise InvalidInputError(f"--assign-every must be a positive number of epochs, got {self.assign_every}")
        if self.amp not in AMP_MODES:
            raise InvalidInputError(f"--amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")


class Classifier(nn.Module):
    """A backbone giving d-dimensional features and a head scoring them per label."""

    def __init__(self, backbone: nn.Module, head: PrototypeHead | SoftmaxHead) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        return features, self.head(features)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_top1: float
    test_top1: float
    test_balanced_top1: float
    assignment_changes: int
    train_seconds: float
    assignment_seconds: float


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Trains ``model`` (a :class:`Classifier`) on a :class:`Dataset`.

    With a :class:`PrototypeHead` and ``assign='dynamic'``, a :class:`DynamicAssigner` tracks
    the class means every step (eq. 8) and re-solves the assignment every ``assign_every``
    epochs (eq. 9). ``settings`` (the data and model options of the run) go into the
    checkpoint with the configuration; resuming refuses any change in either.
    """

    def __init__(
        self, model: Classifier, config: TrainConfig, ctx: DistContext | None = None, *, settings: dict[str, Any] | None = None
    ) -> None:
        config.check()
        self.config, self.ctx = config, ctx or DistContext()
        self.settings = dict(settings or {})
        self.autocast_dtype = _autocast_dtype(config.amp, self.ctx.device)
        self.model = model.to(self.ctx.device)
        self.head = model.head
        self.prototype_head = isinstance(self.head, PrototypeHead)
        if not self.prototype_head:  # a learned linear head: cross-entropy, nothing to assign
            config.assign, config.loss = "static", "ce"
        self.assigner: DynamicAssigner | None = None
        if self.prototype_head and config.assign == "dynamic":
            self.assigner = DynamicAssigner(self.head, every=None, momentum=config.tracker_momentum)
        self.net: nn.Module = model
        if self.ctx.enabled:
            ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(model, device_ids=ids, **_no_buffer_sync())
        self.optimizer = torch.optim.SGD(
            [p for p in model.parameters() if p.requires_grad],
            lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True,
        )  # fmt: skip
        # fp16 needs loss scaling against gradient underflow; bf16 has float32's exponent range
        self.scaler = torch.amp.GradScaler(self.ctx.device.type, enabled=config.amp == "fp16")
        self.epoch = 0
        self.step = 0
        self.result = TrainResult()
        self.normalize: Normalizer | None = None
        self.initial_changes = 0
        self.initial_seconds = 0.0
        self.test_counts: np.ndarray | None = None  # (2, c) correct and total of the last evaluation

    # -- the loop --------------------------------------------------------------------------

    def fit(self, data: Dataset, *, on_step: Callable[[int, int], None] | None = None,
            on_epoch: Callable[[EpochRecord], None] | None = None,
            checkpoint: Path | None = None) -> TrainResult:  # fmt: skip
        cfg, ctx = self.config, self.ctx
        if cfg.batch_size % ctx.world_size:
            raise InvalidInputError(f"--batch-size {cfg.batch_size} must be divisible by the {ctx.world_size} processes")
        n = len(data.y_train)
        steps = steps_per_epoch(n, cfg.batch_size)
        if steps == 0:
            raise InvalidInputError(f"--batch-size {cfg.batch_size} is larger than the {n} training samples")
        self.normalize = data.normalizer()
        total = cfg.epochs * steps
        warmup = round(cfg.warmup_epochs * steps)
        if self.assigner is not None:
            self.assigner.every = max(1, round(cfg.assign_every * steps))
            if self.step == 0 and cfg.assign_init == "means":
                t0 = time.perf_counter()
                self.initial_changes = self.initial_assignment(data)
                self.initial_seconds = time.perf_counter() - t0
        while self.epoch < cfg.epochs:
            self.net.train()
            start, assign_time, changes = time.perf_counter(), 0.0, 0
            loss_sum = torch.zeros(3, dtype=torch.float64, device=ctx.device)  # loss*n, correct, n
            for i, (x, y) in enumerate(self.batches(data, "train", epoch=self.epoch)):
                self._set_lr(self.step, total, warmup)
                features, logits, loss = self._forward_backward(x, y)
                if self.assigner is not None:
                    t0 = time.perf_counter()
                    moved = self.assigner.step(features, y)
                    if moved is not None:
                        changes += moved
                        assign_time += time.perf_counter() - t0
                loss_sum += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(), torch.tensor(len(y), dtype=torch.float64, device=ctx.device)])
                self.step += 1
                if on_step is not None:
                    on_step(i + 1, steps)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)
            train_seconds = time.perf_counter() - start
            ctx.all_reduce(loss_sum)
            self.test_counts = self.predict_counts(data)
            top1, balanced, _ = _accuracies(self.test_counts)
            record = EpochRecord(
                self.epoch + 1, float(loss_sum[0] / loss_sum[2]), float(100 * loss_sum[1] / loss_sum[2]),
                top1, balanced, changes, train_seconds, assign_time,
            )  # fmt: skip
            self.result.history.append(record)
            self.epoch += 1
            if checkpoint is not None:
                self.save(checkpoint)
            if on_epoch is not None:
                on_epoch(record)
        self.result.final = self.summary(data)
        return self.result

    def batches(self, data: Dataset, split: str, *, epoch: int = 0, augment: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's (inputs, labels) on the device, normalised: the one place the Trainer
        reads data. ``train``: this rank's share of each global batch of ``epoch`` (the same
        images for any world size); ``test``: batches of ``batch_size`` dealt to the ranks in turn
        (the training batch size bounds evaluation's activation memory too)."""
        assert self.normalize is not None
        cfg, ctx = self.config, self.ctx
        if split == "train":
            stored = data.train_batches(cfg.batch_size, seed=cfg.seed, epoch=epoch, rank=ctx.rank, world=ctx.world_size, augment=augment)
        else:
            stored = data.test_batches(cfg.batch_size, rank=ctx.rank, world=ctx.world_size)
        for x, y in stored:
            yield self.normalize(x.to(ctx.device, non_blocking=True)), y.to(ctx.device, non_blocking=True)

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimisation step, under autocast with ``amp``; the loss is taken in float32."""
        with torch.autocast(self.ctx.device.type, dtype=self.autocast_dtype or torch.float32, enabled=self.autocast_dtype is not None):
            features, logits = self.net(x)
        features = features.float()
        loss = self._loss(features, logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return features.detach(), logits.detach(), loss

    def _set_lr(self, step: int, total: int, warmup: int = 0) -> None:
        """Cosine decay from ``lr`` to 0 over ``total`` steps, scaled by a linear ramp over the
        first ``warmup`` steps."""
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        lr = ramp * 0.5 * self.config.lr * (1 + math.cos(math.pi * step / total))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _loss(self, features: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.prototype_head:
            return nn.functional.cross_entropy(logits, y)
        if self.config.loss == "ipm":
            return ipm_loss(features, y, self.head)
        return prototype_ce_loss(features, y, self.head, self.config.ce_scale)

    @torch.no_grad()
    def initial_assignment(self, data: Dataset) -> int:
        """Assign labels from the class means of the untrained network (eq. 9), instead of an
        arbitrary start: features of related inputs start out near each other, and the first
        epoch then pulls them to prototypes that are near each other too.

        The means are plain averages over the first ``init_batches`` global batches of epoch 0
        (no augmentation, no gradient, batch-norm statistics left untouched); the tracker starts
        from zero as eq. 8 says.
        """
        assert self.assigner is not None
        c, d = self.head.num_classes, self.head.dim
        stats = torch.zeros(c, d + 1, dtype=torch.float32, device=self.ctx.device)
        self.model.eval()
        for _, (x, y) in zip(range(self.config.init_batches), self.batches(data, "train", epoch=0, augment=False)):
            features, _ = self.model(x)
            classes, sums, counts = self.assigner.global_class_sums(features, y)
            stats[classes, :d] += sums
            stats[classes, d] += counts
        return self.assigner.assign(stats[:, :d] / stats[:, d:].clamp_min(1))

    @torch.no_grad()
    def predict_counts(self, data: Dataset) -> np.ndarray:
        """Per test class: (correct, total) of the saved model, summed over ranks (each scores
        a shard), in float32 whatever ``amp`` says.

        Under DDP the ranks' parameters are identical but batch-norm running statistics are
        each rank's own; rank 0's (those in the checkpoint) are first given to every rank, so
        the shards are scored by one model, the one saved.
        """
        self.model.eval()
        if self.ctx.enabled:
            for buffer in self.model.backbone.buffers():
                self.ctx.broadcast(buffer)
        c = self.head.num_classes
        counts = torch.zeros(2, c, dtype=torch.float64, device=self.ctx.device)
        for x, y in self.batches(data, "test"):
            _, logits = self.model(x)
            counts[0].index_add_(0, y, (logits.argmax(1) == y).double())
            counts[1].index_add_(0, y, torch.ones_like(y, dtype=torch.float64))
        self.ctx.all_reduce(counts)
        return counts.cpu().numpy()

    def summary(self, data: Dataset) -> dict[str, Any]:
        """Final test metrics: top-1, balanced top-1, and many/medium/few-shot when long-tailed
        (from the last epoch's evaluation; evaluated here only when no epoch ran)."""
        if self.test_counts is None:
            self.test_counts = self.predict_counts(data)
        top1, balanced, per_class = _accuracies(self.test_counts)
        present = ~np.isnan(per_class)
        out: dict[str, Any] = {
            "test_top1": top1,
            "test_balanced_top1": balanced,
            "assignment_changes": [r.assignment_changes for r in self.result.history],
            "initial_assignment_changes": self.initial_changes,
            "initial_assignment_seconds": self.initial_seconds,
            "train_seconds": float(sum(r.train_seconds for r in self.result.history)),
            "assignment_seconds": float(sum(r.assignment_seconds for r in self.result.history)),
        }
        counts = data.class_counts()
        if counts.max() > 1.5 * counts.min():
            for name, mask in (("many", counts > MANY_SHOT), ("medium", (counts <= MANY_SHOT) & (counts >= FEW_SHOT)), ("few", counts < FEW_SHOT)):
                sel = mask & present
                out[f"test_{name}_shot_top1"] = float(100 * np.mean(per_class[sel])) if sel.any() else None
        if data.super_classes is not None and self.prototype_head:
            out["related_prototype_cosine"] = related_prototype_cosine(self.head, data.super_classes)
        return out

    # -- checkpoints -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": asdict(self.config),
            "settings": self.settings,
            "prototype_sha256": getattr(self.head, "prototype_sha256", None),
            "model": self.model.state_dict(),
            "assigner": None if self.assigner is None else self.assigner.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": [asdict(r) for r in self.result.history],
        }

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically, from rank 0 only."""
        if not self.ctx.is_main:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            torch.save(self.state(), tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def load(self, path: Path) -> None:
        """Resume from ``path``; refuses a checkpoint made with other prototypes, or with any
        other data, model or optimisation setting (all but :data:`RESUMABLE_CHANGES`)."""
        state = read_checkpoint(path, self.ctx.device)
        mine = getattr(self.head, "prototype_sha256", None)
        if state["prototype_sha256"] != mine:
            raise ProtobankError(
                f"checkpoint {path} was trained with prototypes sha256 {str(state['prototype_sha256'])[:12]}, "
                f"but these prototypes are {str(mine)[:12]}: resume with the same --prototypes"
            )
        saved = {**state["settings"], **state["config"]}
        now = {**self.settings, **asdict(self.config)}
        differ = [k for k in sorted(saved.keys() | now.keys()) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k)]
        if differ:
            changes = ", ".join(f"{k}={saved.get(k)!r} (now {now.get(k)!r})" for k in differ)
            raise ProtobankError(
                f"checkpoint {path} was made with other settings: {changes}; resume with the same options, "
                "or start a new run in another --out"
            )
        try:
            self.model.load_state_dict(state["model"])
            if self.assigner is not None and state["assigner"] is not None:
                self.assigner.load_state_dict(state["assigner"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError) as e:
            # torch's first line is only "Error(s) in loading state_dict for ...": show the cause
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            cause = lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__
            raise ProtobankError(
                f"checkpoint {path} does not fit this model ({cause}); resume with the same --backbone and --dim"
            ) from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.result.history = [EpochRecord(**r) for r in state["history"]]


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A training checkpoint's contents, after checking that it is one this version reads."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise ProtobankError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ProtobankError(f"{path} is not a protobank training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ProtobankError(
            f"checkpoint {path} has format version {state.get('version')}, this protobank reads version "
            f"{CHECKPOINT_VERSION}: train it again with this version"
        )
    return state


def _autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``--amp`` on ``device`` (None: full precision)."""
    if amp == "fp16" and device.type != "cuda":
        raise InvalidInputError(f"--amp fp16 needs a CUDA device (this run is on {device}); use --amp bf16")
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def _accuracies(counts: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Top-1 and balanced top-1 in percent, and per-class accuracy (NaN for absent classes)."""
    correct, total = counts
    per_class = np.where(total > 0, correct / np.maximum(total, 1), np.nan)
    return float(100 * correct.sum() / total.sum()), float(100 * np.nanmean(per_class)), per_class


def _no_buffer_sync() -> dict[str, bool]:
    """DDP keyword for not re-broadcasting buffers every step: the assignment is broadcast
    when it changes, the prototypes never change, batch-norm statistics are given rank 0's
    before each evaluation (``forward_sync_buffers`` in newer torch, ``broadcast_buffers``
    before)."""
    import inspect

    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


def related_prototype_cosine(head: PrototypeHead, super_classes: list[int]) -> dict[str, float]:
    """Mean cosine between the prototypes of two labels of the same super-class, and of
    different ones: the dynamic assignment should place related classes nearer."""
    w = head.class_prototypes().double().cpu()
    cos = w @ w.T
    parent = torch.tensor(super_classes)
    same = parent[:, None] == parent[None, :]
    off = ~torch.eye(len(parent), dtype=torch.bool)
    return {"same_super_class": float(cos[same & off].mean()), "different_super_class": float(cos[~same].mean())}
