"""The training configuration: what decides a run's numbers, its checks, and the settings a
head actually trains with."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ..errors import InvalidInputError
from .head_options import HeadOptions

AMP_MODES = ("off", "bf16", "fp16")


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
    # the head's scale and loss: HeadOptions documents each and holds the defaults (the
    # softmax head always uses ce)
    loss: str = HeadOptions.loss  # ipm (eq. 6) | ce
    scale: float | str | None = HeadOptions.scale  # a number, adacos or norm; None: the loss's default
    learn_scale: bool | None = HeadOptions.learn_scale
    bias: bool = HeadOptions.bias
    margin: float = HeadOptions.margin
    margin_ramp_epochs: float = HeadOptions.margin_ramp_epochs
    long_tail: str | None = HeadOptions.long_tail  # none | logit-adjust
    tau: float = HeadOptions.tau
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
        if self.assign_init not in ("means", "identity"):
            raise InvalidInputError(f"--assign-init must be means or identity, got {self.assign_init!r}")
        if not (self.warmup_epochs >= 0 and math.isfinite(self.warmup_epochs)):
            raise InvalidInputError(f"--warmup-epochs must be a number >= 0, got {self.warmup_epochs}")
        if not (self.assign_every > 0 and math.isfinite(self.assign_every)):
            raise InvalidInputError(f"--assign-every must be a positive number of epochs, got {self.assign_every}")
        if self.amp not in AMP_MODES:
            raise InvalidInputError(f"--amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        # each value in its range (which combinations a head takes is effective_config's check)
        dataclasses.replace(self.head_options(), loss="ce").check("prototypes")
        if self.loss not in ("ipm", "ce"):
            raise InvalidInputError(f"--loss must be ipm or ce, got {self.loss!r}")

    def head_options(self) -> HeadOptions:
        """The head's scale and loss settings of this configuration."""
        return HeadOptions(
            loss=self.loss, scale=self.scale, learn_scale=self.learn_scale, bias=self.bias, margin=self.margin,
            margin_ramp_epochs=self.margin_ramp_epochs, long_tail=self.long_tail, tau=self.tau,
        )  # fmt: skip


#: The settings only a prototype head under the cross-entropy uses (benchmarks compare runs without them).
PROTOTYPE_ONLY = ("scale", "learn_scale", "bias", "margin", "margin_ramp_epochs")


def effective_config(config: TrainConfig, *, prototype_head: bool) -> TrainConfig:
    """The settings a head trains with, as a new object (the caller's is left as it is): a
    learned linear head has nothing to assign and always trains with cross-entropy; the head
    options left at None take their loss's defaults, so a run records what it used. Which of
    the head's options a head takes is :class:`HeadLoss`'s check (a softmax head refuses the
    prototype head's scale settings)."""
    config.check()
    if not prototype_head:
        config = dataclasses.replace(config, assign="static", loss="ce")
    head = config.head_options().resolved("prototypes" if prototype_head else "softmax")
    return dataclasses.replace(config, scale=head.scale, learn_scale=head.learn_scale, long_tail=head.long_tail)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``--amp`` on ``device`` (None: full precision)."""
    if amp == "fp16" and device.type != "cuda":
        raise InvalidInputError(f"--amp fp16 needs a CUDA device (this run is on {device}); use --amp bf16")
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
