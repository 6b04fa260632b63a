"""What every prototype method shares: the result type, the registry, devices and seeding."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import InvalidInputError, ResourceLimitError, UnknownMethodError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import torch


class ProgressCallback(Protocol):
    """Called after each optimisation step with the step count, total and a status dict."""

    def __call__(self, step: int, total: int, info: dict[str, float]) -> None: ...


@dataclass
class MethodResult:
    """What a method returns: float64 unit rows and an exact record of how they were made."""

    vectors: np.ndarray
    params: dict[str, Any]
    iterations: int = 0
    history: dict[str, np.ndarray] = field(default_factory=dict)
    # Measure the result on the pairs of this many sampled rows (a construction that proves its
    # max cosine, at very large c); None measures every pair.
    measure_rows: int | None = None


@dataclass(frozen=True)
class Method:
    """A registered way of placing c prototypes on S^(d-1)."""

    name: str
    summary: str
    run: Callable[..., MethodResult]
    iterative: bool
    seeded: bool = True


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    _REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method ``name``; an :class:`UnknownMethodError` suggests close names."""
    from . import _load_all

    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown method {name!r}.{did_you_mean(name, _REGISTRY)} "
            f"Available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def method_names() -> list[str]:
    """Names of all registered methods, sorted."""
    from . import _load_all

    _load_all()
    return sorted(_REGISTRY)


def resolve_device(device: str | None) -> "torch.device":
    """``auto``/None -> CUDA when available, else CPU; anything else must exist."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"device type {dev.type!r} is not supported; use cpu or cuda")
    return dev


def available_memory(device: "torch.device") -> int:
    """Bytes free for working arrays on ``device`` (a conservative estimate)."""
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # non-Linux
        return 8 * 2**30


def require_memory(nbytes: int, device: "torch.device", what: str) -> None:
    """Refuse up front, with a clear message, work that cannot fit in memory."""
    free = available_memory(device)
    if nbytes > 0.8 * free:
        raise ResourceLimitError(
            f"{what} needs about {nbytes / 2**30:.1f} GiB but only {free / 2**30:.1f} GiB is free "
            f"on {device}; use the default method (it works in blocks) or a smaller c"
        )


def random_unit_rows(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Gaussian rows normalised to the sphere; the same on every platform for a given seed."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)
