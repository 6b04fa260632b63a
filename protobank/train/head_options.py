"""The prototype head's scale and loss options: one dataclass, its checks, and the head it builds.

Each field is one ``protobank train`` flag (named in the errors); :class:`HeadOptions` with its
defaults is the head and loss the training companion has always used (eq. 6). The loss that
goes with the options is :class:`protobank.train.loss.HeadLoss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from ..errors import InvalidInputError
from ..prototypes import Prototypes
from .head import NORM_SCALE, PrototypeHead, is_valid_scale

#: ``--scale adacos``: the fixed AdaCos scale sqrt(2) ln(c - 1) (Zhang et al. 2019).
ADACOS = "adacos"
LOSSES = ("ipm", "ce")
LONG_TAIL = ("none", "logit-adjust")

# The default head and loss, chosen by measurement on seven benchmarks (docs/benchmarks.md,
# "Choosing the default head and loss"); an option left at None takes these under its loss.
#: The loss when none is given.
DEFAULT_LOSS = "ce"
#: The cross-entropy's scale of the cosines when no ``--scale`` is given (its start when learned).
DEFAULT_CE_SCALE: float | str = ADACOS
#: Whether the cross-entropy's scale is learned when ``--learn-scale`` is not given (a ``norm``
#: scale is never learned).
DEFAULT_LEARN_SCALE = True
#: The long-tail correction of the cross-entropy (both heads) when ``--long-tail`` is not given.
#: Under balanced training classes it changes nothing: the priors are equal.
DEFAULT_LONG_TAIL = "logit-adjust"


def adacos_scale(num_classes: int) -> float:
    """The fixed AdaCos scale ``sqrt(2) * ln(c - 1)``: 5.59 for c = 53, 9.77 for c = 1000. The
    rule gives 0 at c = 2, no scale at all; there it takes c = 3's value, sqrt(2) ln 2 = 0.98
    (a learned scale, the default, grows from it)."""
    if num_classes < 2:
        raise InvalidInputError(f"a classifier needs at least 2 classes, got {num_classes}")
    return math.sqrt(2.0) * math.log(max(num_classes - 1, 2))


def parse_scale(text: str) -> float | str:
    """A ``--scale`` argument as :class:`HeadOptions` takes it: a number, ``adacos`` or ``norm``."""
    if text in (ADACOS, NORM_SCALE):
        return text
    try:
        return float(text)
    except ValueError:
        raise _bad_scale(text) from None


def _bad_scale(value: object) -> InvalidInputError:
    return InvalidInputError(f"--scale must be a positive number, {ADACOS} or {NORM_SCALE}, got {value!r}")


@dataclass(frozen=True)
class HeadOptions:
    """How the prototype head scores features and how it is trained. A field left at None takes
    the default of its loss (:meth:`resolved`): the ``DEFAULT_*`` values above under ``ce``,
    none of the scale settings under ``ipm``.

    - ``loss``: ``ce`` (cross-entropy on every label's logit, ``O(batch c d)``) or ``ipm``
      (eq. 6: only the assigned prototype, ``O(batch d)`` per step whatever c).
    - ``scale``: the logits' scale under ``ce``: a number, ``adacos`` (sqrt(2) ln(c - 1)) or
      ``norm`` (dot product with the unnormalised feature, whose norm is the scale).
    - ``learn_scale``: learn the scale (log-parametrised), starting from ``scale``, never below it.
    - ``bias``: a learned per-label bias, zero at the start.
    - ``margin``, ``margin_ramp_epochs``: an additive cosine margin on the true label's logit
      in training (CosFace), ramped linearly from 0 over that many epochs (HeadLoss.margin).
    - ``long_tail``: ``logit-adjust`` adds ``tau * log(prior)`` to the logits in the training
      loss (Menon et al. 2021); with ``tau`` = 1 this is the balanced softmax of Ren et al.
      (2020), whose ``log(count)`` differs from ``log(prior)`` by a constant the softmax
      ignores. Prediction stays the argmax of the unadjusted logits. ``none``: plain
      cross-entropy.

    Under ``ipm`` the head's logits serve prediction only (scale 1, no bias).
    """

    loss: str = DEFAULT_LOSS
    scale: float | str | None = None
    learn_scale: bool | None = None
    bias: bool = False
    margin: float = 0.0
    margin_ramp_epochs: float = 0.0
    long_tail: str | None = None
    tau: float = 1.0

    def resolved(self, head: str = "prototypes") -> "HeadOptions":
        """These options with every None replaced by its loss's default for ``head``
        (``prototypes`` or ``softmax``); given values are kept, so :meth:`check` still sees them."""
        if head == "softmax":  # a learned linear head: cross-entropy, only the long-tail correction
            return replace(self, learn_scale=bool(self.learn_scale), long_tail=_given(self.long_tail, DEFAULT_LONG_TAIL))
        if self.loss != "ce":
            return replace(self, learn_scale=bool(self.learn_scale), long_tail=_given(self.long_tail, "none"))
        scale = _given(self.scale, DEFAULT_CE_SCALE)
        learn = _given(self.learn_scale, DEFAULT_LEARN_SCALE and scale != NORM_SCALE)
        return replace(self, scale=scale, learn_scale=learn, long_tail=_given(self.long_tail, DEFAULT_LONG_TAIL))

    def check(self, head: str = "prototypes") -> None:
        """Refuse values out of range and combinations that make no sense, one line each.
        ``head="softmax"``: a learned linear head, always trained by cross-entropy; only the
        long-tail correction applies to it."""
        if head not in ("prototypes", "softmax"):
            raise InvalidInputError(f"--head must be prototypes or softmax, got {head!r}")
        if self.loss not in LOSSES:
            raise InvalidInputError(f"--loss must be ipm or ce, got {self.loss!r}")
        if not (self.scale is None or self.scale == ADACOS or is_valid_scale(self.scale)):
            raise _bad_scale(self.scale)
        if not (0.0 <= self.margin < 1.0):
            raise InvalidInputError(f"--margin must be a cosine margin in [0, 1), got {self.margin}")
        if not (self.margin_ramp_epochs >= 0.0 and math.isfinite(self.margin_ramp_epochs)):
            raise InvalidInputError(f"--margin-ramp-epochs must be a number of epochs >= 0, got {self.margin_ramp_epochs}")
        if self.long_tail is not None and self.long_tail not in LONG_TAIL:
            raise InvalidInputError(f"--long-tail must be none or logit-adjust, got {self.long_tail!r}")
        if not (self.tau > 0.0 and math.isfinite(self.tau)):
            raise InvalidInputError(f"--tau must be a positive number, got {self.tau}")
        if self.tau != 1.0 and self.resolved(head).long_tail == "none":
            raise InvalidInputError("--tau weighs the --long-tail logit-adjust correction: give --long-tail logit-adjust or drop --tau")
        if self.margin_ramp_epochs > 0.0 and self.margin == 0.0:
            raise InvalidInputError("--margin-ramp-epochs ramps a --margin: give --margin or drop --margin-ramp-epochs")
        if self.learn_scale and self.scale == NORM_SCALE:
            raise InvalidInputError("--learn-scale needs a number or adacos to start from, not --scale norm (the feature norm is no parameter)")
        prototype_only = self._set_flags(("--scale", "--learn-scale", "--bias", "--margin"))
        if head == "softmax" and prototype_only:
            raise InvalidInputError(f"{', '.join(prototype_only)} set the prototype head; --head softmax takes only --long-tail")
        if head == "prototypes" and self.loss == "ipm" and (used := self._set_flags()):
            raise InvalidInputError(f"--loss ipm (eq. 6) takes no {', '.join(used)}: it sees only the assigned prototype; use --loss ce")

    def head_scale(self, num_classes: int) -> float | str:
        """The ``scale`` a :class:`PrototypeHead` gets: a number, or ``norm``."""
        if self.loss == "ipm":
            return 1.0  # eq. 6 ignores the logits; they only rank the labels
        scale = self.resolved().scale
        return adacos_scale(num_classes) if scale == ADACOS else scale  # type: ignore[return-value]

    def check_head(self, head: PrototypeHead) -> None:
        """Refuse a head that :func:`build_prototype_head` would not build from these options
        (a learned scale or bias it lacks, or another scale under ``ce``)."""
        scale, learn = self.head_scale(head.num_classes), bool(self.resolved().learn_scale)
        start = None if scale == NORM_SCALE or self.loss != "ce" else float(scale)  # fixed, or a learned one's start
        wanted = (scale == NORM_SCALE, learn, self.bias, start)
        built = (head.uses_norm, head.log_scale is not None, head.bias is not None, None if self.loss != "ce" else (head.scale_floor if learn else head.fixed_scale))
        if built != wanted:
            raise InvalidInputError("the head does not have these options' scale and bias: build it with build_prototype_head(prototypes, options)")

    def _set_flags(self, flags: tuple[str, ...] = ("--scale", "--learn-scale", "--bias", "--margin", "--long-tail")) -> list[str]:
        """Which of ``flags`` differ from their defaults."""
        given = {
            "--scale": self.scale is not None,
            "--learn-scale": bool(self.learn_scale),
            "--bias": self.bias,
            "--margin": self.margin != 0.0,
            "--long-tail": self.long_tail not in (None, "none"),
        }
        return [flag for flag in flags if given[flag]]


def build_prototype_head(prototypes: Prototypes | torch.Tensor, options: HeadOptions) -> PrototypeHead:
    """A :class:`PrototypeHead` on ``prototypes`` (fixed buffers) with ``options``' scale and bias."""
    options.check()
    c = int(prototypes.c if isinstance(prototypes, Prototypes) else torch.as_tensor(prototypes).shape[0])
    return PrototypeHead(prototypes, scale=options.head_scale(c), learn_scale=bool(options.resolved().learn_scale), bias=options.bias)


def _given(value, default):
    return default if value is None else value
