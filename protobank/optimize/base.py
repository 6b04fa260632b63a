"""What every prototype method shares: the result type, the registry, devices and seeding."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import InvalidInputError, ResourceLimitError, did_you_mean

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
    # A dataclass whose fields are further hyperparameters, passed to ``run`` as keywords.
    options: type | None = None

    def parameters(self) -> dict[str, "MethodParameter"]:
        """The method's own hyperparameters (``-p KEY=VALUE``): ``run``'s keyword arguments and
        the fields of its options dataclass."""
        hints = typing.get_type_hints(self.run)
        out = {
            name: MethodParameter(name, p.default, _type_name(hints.get(name)))
            for name, p in inspect.signature(self.run).parameters.items()
            if name not in RUN_ARGUMENTS and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        }
        if self.options is not None:
            hints = typing.get_type_hints(self.options)
            for f in fields(self.options):
                out[f.name] = MethodParameter(f.name, f.default, _type_name(hints.get(f.name)))
        return out

    def check_params(self, params: dict[str, Any]) -> None:
        """Refuse unknown keys and values of the wrong type, naming the parameter."""
        known = self.parameters()
        for key, value in params.items():
            if key not in known:
                raise InvalidInputError(
                    f"method {self.name!r} has no parameter {key!r}.{did_you_mean(key, known)} "
                    f"Its parameters: {', '.join(sorted(known)) or 'none'}"
                )
            known[key].check(self.name, value)


# Arguments every method's ``run`` takes, and ``decision``, the plan a method that decides
# ahead takes from ``generate``; the rest of its signature are its hyperparameters.
RUN_ARGUMENTS = ("d", "c", "seed", "iters", "device", "progress", "decision")
_TYPES: dict[str, tuple[type, ...]] = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,)}


def _type_name(hint: Any) -> str:
    """``int``, ``float``, ``bool`` or ``str`` from an annotation (``X | None`` gives X)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return getattr(args[0], "__name__", "str")


@dataclass(frozen=True)
class MethodParameter:
    """One hyperparameter of a method: its name, default and value type."""

    name: str
    default: Any
    type: str

    def check(self, method: str, value: Any) -> None:
        if value is None and self.default is None:
            return
        ok = isinstance(value, _TYPES.get(self.type, (object,)))
        if self.type in ("int", "float") and isinstance(value, bool):
            ok = False
        if not ok:
            raise InvalidInputError(f"method {method!r}: parameter {self.name!r} must be {self.type}, got {value!r}")


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry that :mod:`.registry` reads."""
    REGISTRY[method.name] = method
    return method


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


MEMINFO = "/proc/meminfo"


def _meminfo_available() -> int | None:
    """Linux's MemAvailable in bytes: free memory plus the page cache it can drop; None elsewhere."""
    try:
        with open(MEMINFO) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory(device: "torch.device") -> int:
    """Bytes free for working arrays on ``device`` (a conservative estimate).

    On Linux this is MemAvailable, not MemFree: on a long-running server the page cache keeps
    MemFree small although the kernel hands that memory out on demand.
    """
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    available = _meminfo_available()
    if available is not None:
        return available
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # neither /proc nor sysconf (Windows)
        return 8 * 2**30


MEMORY_SHARE = 0.8  # of the free memory a run may plan to use: the rest is the process's own and others'


def require_memory(nbytes: int, device: "torch.device", what: str,
                   hint: str = "use the default method (it works in blocks) or a smaller c") -> None:
    """Refuse up front, with a clear message, work that cannot fit in memory."""
    free = available_memory(device)
    if nbytes > MEMORY_SHARE * free:
        raise ResourceLimitError(
            f"{what} needs about {nbytes / 2**30:.1f} GiB, more than {MEMORY_SHARE:.0%} of the "
            f"{free / 2**30:.1f} GiB free on {device}; {hint}"
        )


def random_unit_rows(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Gaussian rows normalised to the sphere; the same on every platform for a given seed."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)
