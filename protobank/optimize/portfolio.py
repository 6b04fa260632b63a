"""The default method, ``minimax``: the best of everything protobank knows for (d, c).

1. A theorem's optimum when one applies (regular simplex, cross-polytope subset, polygon).
2. The best plan from the code catalogue (:mod:`protobank.codes.plan`): one exact code, a
   spread subset of it, zero padding, or an orthogonal union of codes. When its proven max
   cosine meets the bound it is optimal and is returned at once.
3. The minimax optimizer (:mod:`.minimax`), run where it can win: always when its predicted
   time is small, otherwise only when a model fitted to its measured results predicts it
   beats the plan and its predicted time stays within :data:`PATIENT_SECONDS` (past that a
   code answers in seconds; ``known_codes=false`` runs the optimizer alone).

The lower max cosine wins; a tie goes to the more uniform set. ``method_params`` records
which construction won, the candidates, the bound and the gap to it; a winning plan is stored
whole, so the vectors rebuild exactly from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..bounds import Bound, max_cosine_bound
from .base import Method, MethodResult, ProgressCallback, register, resolve_device
from .minimax import Schedule, exact_construction, exact_construction_name, optimize, schedule

# The optimizer's max cosine, fitted on its measured results for c >= 4d, d >= 8 (the bank's
# cells and the scale runs of docs/benchmarks.md): log m = a + b log(bound) + e log d, within
# about 10% on every fitted cell.
OPTIMIZER_FIT = (-0.18276, 0.82122, 0.07143)
# The optimizer is run past its cheap range only if the fit, lowered by this much, beats the plan.
FIT_MARGIN = 0.15
# Below this predicted time the optimizer simply runs and the measured values decide.
CHEAP_SECONDS = {"cpu": 60.0, "cuda": 120.0}
# Past this predicted time an exact code is kept even where the fit expects the optimizer to
# beat it: a default that can answer in seconds never starts an hours-long run on its own.
# ``-p known_codes=false`` runs the optimizer alone, however long it takes.
PATIENT_SECONDS = {"cpu": 600.0, "cuda": 1800.0}
# Multiply-adds (c^2 d) up to which a construction's result is measured over every pair; above,
# over the pairs of MEASURE_WORK / (c d) evenly spaced rows, about the same work (the plan
# proves the max cosine). One budget, so the row count has no jump at the switch.
MEASURE_WORK = 2e10
TIE = 1e-9
# ``protobank generate`` announces a run predicted to take longer than this before starting it.
LONG_RUN_SECONDS = 60.0


def predicted_optimizer_max_cosine(d: int, c: int) -> float | None:
    """The optimizer's expected max cosine from :data:`OPTIMIZER_FIT` (None where the bound
    gives nothing to fit on)."""
    bound = max_cosine_bound(d, c)
    if bound.exact or bound.value <= 0:
        return None
    a, b, e = OPTIMIZER_FIT
    return math.exp(a + b * math.log(bound.value) + e * math.log(d))


def measured_rows(d: int, c: int) -> int | None:
    """Rows a construction's result is measured on (None: every pair is measured)."""
    if c * c * d <= MEASURE_WORK:
        return None
    return int(max(2, min(c, MEASURE_WORK // (c * d))))


@dataclass(frozen=True)
class Decision:
    """What the default method will do for (d, c) on a device type, decided before any work."""

    d: int
    c: int
    bound: Bound
    exact: str | None
    plan: Any  # protobank.codes.plan.Plan | None
    optimizer: Schedule
    predicted_optimizer: float | None
    run_optimizer: bool

    def summary(self) -> str:
        """One line: what runs, and the optimizer's predicted time and memory when it runs."""
        if self.exact:
            return f"{self.exact} (a proven optimum)"
        code = f"code {self.plan.name} (max cosine {self.plan.max_cosine:.5f})" if self.plan else "no catalogue code fits"
        if not self.run_optimizer:
            hint = "; -p known_codes=false runs it" if self.plan.max_cosine > self.bound.value + TIE else ""
            return f"{code}; optimizer not run (predicted {_duration(self.optimizer.seconds)}{hint})"
        return (f"{code}; optimizer predicted to take {_duration(self.optimizer.seconds)} and "
                f"{self.optimizer.bytes / 2**30:.1f} GiB")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def decide(
    d: int, c: int, device_type: str, *, known_codes: bool = True, restarts: int | None = None,
    iters: int | None = None, polish: bool | None = None,
) -> Decision:
    """Which candidates the default method builds for (d, c): cheap, and nothing is built."""
    bound = max_cosine_bound(d, c)
    sched = schedule(d, c, device_type, restarts=restarts, iters=iters, polish=polish)
    theorem = exact_construction_name(d, c)
    if theorem:
        return Decision(d, c, bound, theorem, None, sched, None, False)
    plan = None
    if known_codes:
        from ..codes.plan import best_plan

        plan = best_plan(d, c)
    predicted = predicted_optimizer_max_cosine(d, c)
    if plan is None:
        run = True
    elif plan.max_cosine <= bound.value + TIE:
        run = False  # the plan meets the bound: nothing can do better
    elif sched.seconds <= CHEAP_SECONDS[device_type]:
        run = True
    elif sched.seconds > PATIENT_SECONDS[device_type]:
        run = False
    else:
        run = predicted is None or predicted * (1 - FIT_MARGIN) < plan.max_cosine
    return Decision(d, c, bound, None, plan, sched, predicted, run)


def run_minimax(
    d: int,
    c: int,
    *,
    seed: int = 0,
    iters: int | None = None,
    device: str | None = "auto",
    progress: ProgressCallback | None = None,
    known_codes: bool = True,
    restarts: int | None = None,
    polish: bool | None = None,
    beta_start: float = 10.0,
    beta_mid: float = 1000.0,
    beta_end: float = 1e5,
    lr: float | None = None,
    patience: int | None = None,
    tol: float = 1e-7,
) -> MethodResult:
    """The default method: theorem, catalogue plan and optimizer, the best of those that run.

    ``known_codes=False`` leaves the catalogue out, so the optimizer alone is measurable.
    """
    from ..measure import geometry

    dev = resolve_device(device)
    dec = decide(d, c, dev.type, known_codes=known_codes, restarts=restarts, iters=iters, polish=polish)
    record: dict[str, Any] = {"known_codes": known_codes, "bound": dec.bound.value, "bound_kind": dec.bound.kind}
    if dec.exact:
        vectors, name = exact_construction(d, c)
        return MethodResult(vectors, {"construction": name, **record, "gap_to_bound": 0.0})

    candidates: dict[str, dict[str, Any]] = {}
    code = opt = None
    if dec.plan is not None:
        code = dec.plan.build()
        code.setflags(write=False)
        candidates["catalogue"] = {"plan": dec.plan.name, "proven_max_cosine": dec.plan.max_cosine}
    if dec.run_optimizer:
        opt = optimize(d, c, seed=seed, iters=iters, device=str(dev), progress=progress, restarts=restarts,
                       polish=polish, beta_start=beta_start, beta_mid=beta_mid, beta_end=beta_end, lr=lr,
                       patience=patience, tol=tol)
        opt_report = geometry(opt.vectors)
        candidates["optimizer"] = {"max_cosine": opt_report.max_cosine, "uniformity": opt_report.uniformity}
    elif dec.plan is not None:
        candidates["optimizer"] = {"not_run": dec.summary(), "predicted_seconds": dec.optimizer.seconds,
                                   "predicted_max_cosine": dec.predicted_optimizer}

    code_wins = opt is None
    if code is not None and opt is not None:
        if measured_rows(d, c) is None:
            code_report = geometry(code)
            candidates["catalogue"].update(max_cosine=code_report.max_cosine, uniformity=code_report.uniformity)
            key_code = (code_report.max_cosine, code_report.uniformity)
        else:
            key_code = (dec.plan.max_cosine, -math.inf)
        key_opt = (opt_report.max_cosine, opt_report.uniformity)
        code_wins = key_code[0] < key_opt[0] - TIE or (abs(key_code[0] - key_opt[0]) <= TIE and key_code[1] <= key_opt[1])

    if code_wins:
        plan = dec.plan
        params = {"construction": plan.name, "plan": plan.to_dict(), "proven_max_cosine": plan.max_cosine,
                  "gap_to_bound": plan.max_cosine - dec.bound.value, **record, "candidates": candidates}
        return MethodResult(code, params, measure_rows=measured_rows(d, c))
    params = {**opt.params, "construction": "optimizer", **record, "candidates": candidates,
              "gap_to_bound": opt_report.max_cosine - dec.bound.value}
    return MethodResult(opt.vectors, params, opt.iterations, opt.history)


register(
    Method(
        "minimax",
        "default: the best of the proven optima, the exact code catalogue and the minimax optimizer",
        run_minimax,
        iterative=True,
    )
)
