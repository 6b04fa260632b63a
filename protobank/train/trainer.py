"""The training loop: backbone + head, the dynamic assignment on its cadence, evaluation after
each epoch, checkpoints; one process or data-parallel under torchrun.

The configuration lives in :mod:`.config`, the checkpoint format in :mod:`.checkpoint`, test
scoring and metrics in :mod:`.evaluation`."""

from __future__ import annotations

import inspect
import math
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
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, check_resumable, read_checkpoint, state_dict_error, write_checkpoint
from .config import TrainConfig, autocast_dtype, effective_config
from .data import Dataset, Normalizer, steps_per_epoch
from .distributed import DistContext
from .evaluation import accuracies, predict_counts, summary_metrics
from .head import PrototypeHead, SoftmaxHead, decay_groups
from .loss import HeadLoss

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
    epochs (eq. 9). ``self.config`` holds the settings the head trains with (a copy: the
    caller's ``config`` is never changed). ``settings`` (the data and model options of the
    run) go into the checkpoint with the configuration; resuming refuses any change in either.
    """

    def __init__(
        self, model: Classifier, config: TrainConfig, ctx: DistContext | None = None, *, settings: dict[str, Any] | None = None
    ) -> None:
        self.head = model.head
        self.prototype_head = isinstance(self.head, PrototypeHead)
        self.config = config = effective_config(config, prototype_head=self.prototype_head)
        self.ctx = ctx or DistContext()
        self.settings = dict(settings or {})
        self.autocast_dtype = autocast_dtype(config.amp, self.ctx.device)
        self.model = model.to(self.ctx.device)
        self.assigner: DynamicAssigner | None = None
        if self.prototype_head and config.assign == "dynamic":
            self.assigner = DynamicAssigner(self.head, every=None, momentum=config.tracker_momentum, ctx=self.ctx)
        self.net: nn.Module = model
        if self.ctx.enabled:
            ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(model, device_ids=ids, **_no_buffer_sync())
        self.loss = HeadLoss(self.head, config.head_options())
        self.optimizer = torch.optim.SGD(
            decay_groups(model, config.weight_decay), lr=config.lr, momentum=config.momentum, nesterov=True
        )  # a learned scale and bias get no weight decay
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
        self.loss.set_class_counts(data.class_counts())
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
                self.loss.set_progress(self.step / steps)
                features, logits, loss = self._forward_backward(x, y)
                if self.assigner is not None:
                    t0 = time.perf_counter()
                    moved = self.assigner.step(features, y)
                    if moved is not None:
                        changes += moved
                        assign_time += time.perf_counter() - t0
                step_sums = torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(), torch.tensor(len(y), dtype=torch.float64, device=ctx.device)])
                loss_sum += torch.where(torch.isfinite(loss.detach()), step_sums, 0.0)  # an overflowed fp16 step is skipped
                self.step += 1
                if on_step is not None:
                    on_step(i + 1, steps)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)
            train_seconds = time.perf_counter() - start
            ctx.all_reduce(loss_sum)
            self.test_counts = self.predict_counts(data)
            top1, balanced, _ = accuracies(self.test_counts)
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
        """The head's training loss (:class:`HeadLoss`: eq. 6, or the cross-entropy with the
        configured scale, margin and long-tail correction)."""
        return self.loss(features, logits, y)

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
        self.model.eval()
        batches = zip(range(self.config.init_batches), self.batches(data, "train", epoch=0, augment=False))
        return self.assigner.assign_from_batches((self.model(x)[0], y) for _, (x, y) in batches)

    def predict_counts(self, data: Dataset) -> np.ndarray:
        """Per test class: (correct, total) of the saved model, summed over ranks (each scores
        a shard), in float32 whatever ``amp`` says."""
        return predict_counts(self.model, self.batches(data, "test"), self.head.num_classes, self.ctx)

    def summary(self, data: Dataset) -> dict[str, Any]:
        """Final test metrics (from the last epoch's evaluation; evaluated here only when no
        epoch ran), the assignment's changes and the time spent."""
        if self.test_counts is None:
            self.test_counts = self.predict_counts(data)
        history = self.result.history
        return {
            **summary_metrics(self.test_counts, data, self.head),
            "assignment_changes": [r.assignment_changes for r in history],
            "initial_assignment_changes": self.initial_changes,
            "initial_assignment_seconds": self.initial_seconds,
            "train_seconds": float(sum(r.train_seconds for r in history)),
            "assignment_seconds": float(sum(r.assignment_seconds for r in history)),
        }

    # -- checkpoints -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": asdict(self.config),
            "settings": self.settings,
            "device": str(self.ctx.device),
            "prototype_sha256": getattr(self.head, "prototype_sha256", None),
            "model": self.model.state_dict(),
            "assigner": None if self.assigner is None else self.assigner.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "history": [asdict(r) for r in self.result.history],
            "initial_assignment": {"changes": self.initial_changes, "seconds": self.initial_seconds},
        }

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically, from rank 0 only."""
        if self.ctx.is_main:
            write_checkpoint(self.state(), path)

    def load(self, path: Path) -> None:
        """Resume from ``path``; refuses a checkpoint made with other prototypes, or with any
        other data, model or optimisation setting (all but the run's length)."""
        state = read_checkpoint(path, self.ctx.device)
        mine = getattr(self.head, "prototype_sha256", None)
        check_resumable(state, path, prototype_sha256=mine, settings={**self.settings, **asdict(self.config)})
        try:
            self.model.load_state_dict(state["model"])
            if self.assigner is not None and state["assigner"] is not None:
                self.assigner.load_state_dict(state["assigner"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise ProtobankError(
                f"checkpoint {path} does not fit this model ({state_dict_error(e)}); resume with the same --backbone and --dim"
            ) from None
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.result.history = [EpochRecord(**r) for r in state["history"]]
        initial = state.get("initial_assignment") or {}  # absent in checkpoints of earlier versions
        self.initial_changes = int(initial.get("changes", 0))
        self.initial_seconds = float(initial.get("seconds", 0.0))


def _no_buffer_sync() -> dict[str, bool]:
    """DDP keyword for not re-broadcasting buffers every step: the assignment is broadcast
    when it changes, the prototypes never change, batch-norm statistics are given rank 0's
    before each evaluation (``forward_sync_buffers`` in newer torch, ``broadcast_buffers``
    before)."""
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
