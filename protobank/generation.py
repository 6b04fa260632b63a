"""``generate``: run a method for (d, c) and return measured, self-describing ``Prototypes``."""

from __future__ import annotations

import numbers
import platform
import sys
import time
from typing import Any

from ._version import __version__
from .errors import InvalidInputError
from .measure import geometry
from .optimize import DEFAULT_METHOD, get_method
from .optimize.base import ProgressCallback, require_memory, resolve_device
from .prototypes import Prototypes


def check_dimensions(d: Any, c: Any) -> tuple[int, int]:
    """Validate (d, c): integers with d >= 1 and c >= 2."""
    for name, value, low in (("d", d, 1), ("c", c, 2)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidInputError(f"{name} must be an integer, got {value!r}")
        if int(value) < low:
            raise InvalidInputError(f"{name} must be >= {low}, got {int(value)}")
    return int(d), int(c)


def provenance(device: str) -> dict[str, str]:
    """Library versions and device of a run, stored in every artifact."""
    import h5py
    import numpy
    import scipy
    import torch

    out = {
        "protobank": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "h5py": h5py.__version__,
        "platform": f"{sys.platform}-{platform.machine()}",
        "device": device,
    }
    if device.startswith("cuda"):
        out["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return out


def generate(
    d: int,
    c: int,
    *,
    method: str = DEFAULT_METHOD,
    seed: int = 0,
    iters: int | None = None,
    device: str = "auto",
    progress: bool | ProgressCallback | None = None,
    decision: Any = None,
    **method_params: Any,
) -> Prototypes:
    """Place ``c`` prototypes on the unit sphere in ``R^d`` with ``method``.

    Parameters
    ----------
    d, c : int
        Dimension (>= 1) and number of prototypes (>= 2).
    method : str
        A name from :func:`protobank.methods` (default ``"minimax"``).
    seed : int
        Seed of the initialisation and of any sampling; the same seed on the same device type
        gives bitwise the same result on CPU.
    iters : int, optional
        Optimisation steps (method default when None).
    device : str
        ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
    progress : bool or callable, optional
        True draws a progress bar on stderr; a callable receives ``(step, total, info)``.
    decision : Decision, optional
        The default method's :func:`decide` for the same inputs, from :func:`plan_run` (so a
        command that forecasts first decides once); None decides inside the run.
    **method_params
        The method's own hyperparameters (e.g. ``t``, ``lr``, ``subset`` for ``gaussian``).

    Returns
    -------
    Prototypes
        float64 unit rows with metrics, the parameters used and provenance.
    """
    d, c = check_dimensions(d, c)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    if iters is not None and (isinstance(iters, bool) or not isinstance(iters, int) or iters < 1):
        raise InvalidInputError(f"iters must be a positive integer, got {iters!r}")
    spec = get_method(method)
    spec.check_params(method_params)
    dev = resolve_device(device)
    # the float64 rows and the copies every method makes of them
    require_memory(6 * c * d * 8, dev, f"holding {c} x {d} prototypes", hint="a smaller c or d")

    start = time.perf_counter()
    with _progress_bar(progress, spec.iterative, f"{spec.name} d={d} c={c}") as callback:
        planned = {} if decision is None else {"decision": decision}
        result = spec.run(d, c, seed=seed, iters=iters, device=str(dev), progress=callback, **planned, **method_params)
    seconds = time.perf_counter() - start
    report = geometry(result.vectors, rows=result.measure_rows)
    metrics = report.headline()
    metrics["seconds"] = seconds
    return Prototypes(
        vectors=result.vectors,
        method=spec.name,
        method_params=result.params,
        seed=seed if spec.seeded else -1,
        iterations=result.iterations,
        metrics=metrics,
        provenance=provenance(str(dev)),
        history=result.history,
    )


def plan_run(d: int, c: int, *, method: str = DEFAULT_METHOD, device: str = "auto", iters: int | None = None,
             **method_params: Any):
    """The default method's decision for (d, c) on ``device`` with these parameters (a
    :class:`protobank.optimize.portfolio.Decision`, to hand to :func:`generate`); None for
    any other method. Cheap: nothing is built."""
    if method != DEFAULT_METHOD:
        return None
    from .optimize.options import OptimizerOptions
    from .optimize.portfolio import decide

    d, c = check_dimensions(d, c)
    get_method(method).check_params(method_params)
    options = {k: v for k, v in method_params.items() if k != "known_codes"}
    return decide(d, c, resolve_device(device).type, known_codes=method_params.get("known_codes", True), iters=iters,
                  options=OptimizerOptions(**options))


def forecast(d: int, c: int, *, method: str = DEFAULT_METHOD, device: str = "auto", **method_params: Any) -> str | None:
    """A one-line warning when the default method is predicted to run long (an optimizer run
    that no catalogue code makes unnecessary), with its predicted time and memory; else None."""
    decision = plan_run(d, c, method=method, device=device, **method_params)
    return None if decision is None else decision.long_run_warning()


class _progress_bar:
    """A rich progress bar on stderr for iterative methods, or a pass-through callback."""

    def __init__(self, progress: bool | ProgressCallback | None, iterative: bool, label: str):
        self.progress, self.iterative, self.label = progress, iterative, label
        self.bar = None

    def __enter__(self) -> ProgressCallback | None:
        if callable(self.progress):
            return self.progress
        if not (self.progress and self.iterative):
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("max cos {task.fields[max_cos]:.5f}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(self.label, total=None, max_cos=float("nan"))
        bar = self.bar

        def update(step: int, total: int, info: dict[str, float]) -> None:
            bar.update(task, completed=step, total=total, max_cos=info.get("max_cos", float("nan")))

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


