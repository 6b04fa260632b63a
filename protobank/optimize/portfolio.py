"""The default method, ``minimax``: the best of everything protobank knows for (d, c).

1. A theorem's optimum when one applies (regular simplex, cross-polytope subset, polygon).
2. The best plan from the code catalogue (:mod:`protobank.codes.plan`): one exact code, a
   spread subset of it, zero padding, or an orthogonal union of codes. When its proven max
   cosine meets the bound it is optimal and is returned at once.
3. The minimax optimizer, run only where it can win: where no code fits, or where its
   predicted result (the cell's measurement, else a fit of the measurements), lowered by the
   prediction's measured error (:func:`optimizer_prediction`), beats the plan and
   its predicted time stays within :data:`PATIENT_SECONDS` (past that a code answers in
   seconds; ``known_codes=false`` runs the optimizer alone). Its engine (:func:`choose_engine`)
   is the all-pairs one (:mod:`.minimax`, restarts and polish) while it keeps to its own budget
   or is predicted sooner, up to a few thousand points, the near-pair engine
   (:mod:`.neighbours`, O(c k d) a step) above. The
   near-pair engine starts from the code's rows where the code is at least as good as the
   optimizer's predicted result, else from the spiral in d = 3 or random rows: a code far
   above the prediction is a poor local optimum (many pairs tied at its max cosine) that the
   steps cannot leave, and it stays a candidate anyway.

The lower max cosine wins; a tie goes to the more uniform set. ``method_params`` records
which construction won, the candidates, the bound and the gap to it; a winning plan is stored
whole, so the vectors rebuild exactly from it.
"""

from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bounds import Bound, max_cosine_bound
from ..errors import InvalidInputError
from .base import Method, MethodResult, ProgressCallback, register, require_memory, resolve_device
from .minimax import PHASE_SECONDS, exact_construction, exact_construction_name, optimize, schedule
from .neighbours import Cost, neighbour_schedule, optimize_neighbours
from .options import OptimizerOptions
from .starts import best_start

# The optimizer's max cosine (the engine the default runs at each cell, on a CPU) where it was
# measured: d, c, engine, max cosine and where it comes from, one cell a row.
MEASURED = Path(__file__).with_name("measured.csv")
# A cell's own measurement predicts a new run within run-to-run differences: seeds move it by
# 0.01% ((32, 10,000), seeds 0-2); the rest covers results recorded by earlier versions.
MEASURED_MARGIN = 0.03
# Elsewhere, a fit of those measurements for c >= 4d, d >= 8:
# log m = a + b log(bound) + e log d (benchmarks/optimizer_fit.py prints it).
OPTIMIZER_FIT = (-0.22798, 0.85863, 0.11209)
# The fit's measured error in the optimizer's favour: on no measured cell did the optimizer
# beat it by more than 12.2% ((100, 1000): 0.0959 against 0.1091). The optimizer runs only
# where its prediction, lowered by the margin, beats the best code: a run predicted to lose is
# never started, and a run that could win is not skipped.
FIT_MARGIN = 0.125
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


@dataclass(frozen=True)
class Prediction:
    """The optimizer's expected max cosine for a cell, and the margin it may beat it by."""

    value: float
    margin: float
    source: str  # "measured" or "fit"


@dataclass(frozen=True)
class MeasuredRun:
    """One row of :data:`MEASURED`: an optimizer run's max cosine, its seconds where recorded."""

    d: int
    c: int
    engine: str
    max_cosine: float
    seconds: float | None
    source: str


@functools.cache
def measured_runs() -> tuple[MeasuredRun, ...]:
    """Every run of :data:`MEASURED`, in file order."""
    with MEASURED.open(newline="") as f:
        return tuple(MeasuredRun(int(r["d"]), int(r["c"]), r["engine"], float(r["max_cosine"]),
                                 float(r["seconds"]) if r["seconds"] else None, r["source"]) for r in csv.DictReader(f))


@functools.cache
def default_engine_runs() -> tuple[MeasuredRun, ...]:
    """The runs made by the engine the default runs on their cell on a CPU: what predicts it."""
    return tuple(r for r in measured_runs() if r.engine == choose_engine(r.d, r.c, "cpu", OptimizerOptions(), None)[0])


@functools.cache
def _measured() -> dict[tuple[int, int], float]:
    return {(r.d, r.c): r.max_cosine for r in default_engine_runs()}


def optimizer_prediction(d: int, c: int) -> Prediction | None:
    """The optimizer's expected max cosine: the cell's measurement where there is one, else
    :data:`OPTIMIZER_FIT` never below the bound (None where the bound gives nothing to fit on)."""
    if (d, c) in _measured():
        return Prediction(_measured()[(d, c)], MEASURED_MARGIN, "measured")
    bound = max_cosine_bound(d, c)
    if bound.exact or bound.value <= 0:
        return None
    a, b, e = OPTIMIZER_FIT
    return Prediction(max(bound.value, math.exp(a + b * math.log(bound.value) + e * math.log(d))), FIT_MARGIN, "fit")


def predicted_optimizer_max_cosine(d: int, c: int) -> float | None:
    """The value of :func:`optimizer_prediction` (None where there is none)."""
    p = optimizer_prediction(d, c)
    return None if p is None else p.value


def measured_rows(d: int, c: int) -> int | None:
    """Rows a construction's result is measured on (None: every pair is measured)."""
    if c * c * d <= MEASURE_WORK:
        return None
    return int(max(2, min(c, MEASURE_WORK // (c * d))))


@dataclass(frozen=True)
class Decision:
    """What the default method will do for (d, c) on a device type, decided once before any
    work: ``generate`` forecasts from it and then runs it."""

    d: int
    c: int
    device_type: str
    known_codes: bool
    iters: int | None
    options: OptimizerOptions
    bound: Bound
    exact: str | None
    plan: Any  # protobank.codes.plan.Plan | None
    engine: str
    optimizer: Cost
    predicted_optimizer: float | None
    run_optimizer: bool

    def matches(self, d: int, c: int, device_type: str, known_codes: bool, iters: int | None,
                options: OptimizerOptions) -> bool:
        """Whether this decision was made for exactly these inputs."""
        return (self.d, self.c, self.device_type, self.known_codes, self.iters, self.options) == (
            d, c, device_type, known_codes, iters, options)

    def summary(self) -> str:
        """One line: what runs, and the optimizer's predicted time and memory when it runs."""
        if self.exact:
            return f"{self.exact} (a proven optimum)"
        code = f"code {self.plan.name} (max cosine {self.plan.max_cosine:.5f})" if self.plan else "no catalogue code fits"
        if not self.run_optimizer:
            why = (f"predicted {_duration(self.optimizer.seconds)}" if self.optimizer.seconds > PATIENT_SECONDS[self.device_type]
                   else f"predicted max cosine {self.predicted_optimizer:.4f}" if self.predicted_optimizer else "nothing to gain")
            hint = "; -p known_codes=false runs it" if self.plan.max_cosine > self.bound.value + TIE else ""
            return f"{code}; optimizer not run ({why}{hint})"
        return (f"{code}; {self.engine} optimizer predicted to take {_duration(self.optimizer.seconds)} and "
                f"{self.optimizer.bytes / 2**30:.1f} GiB")

    def long_run_warning(self) -> str | None:
        """The one-line warning ``generate`` prints before a run predicted past
        :data:`LONG_RUN_SECONDS`; None otherwise."""
        if self.run_optimizer and self.optimizer.seconds > LONG_RUN_SECONDS:
            return f"d={self.d}, c={self.c}: {self.summary()}"
        return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"



def optimizer_cost(d: int, c: int, device_type: str, engine: str, options: OptimizerOptions,
                   iters: int | None) -> Cost:
    """The chosen engine's steps, predicted seconds and memory for (d, c) on a device type."""
    if engine == "neighbours":
        return neighbour_schedule(d, c, device_type, options, iters=iters)
    sched = schedule(d, c, device_type, restarts=options.restarts, iters=iters, polish=options.polish)
    return Cost(2 * sched.iters, sched.seconds, sched.bytes)


def _starts_from_code(plan: Any, predicted: float | None) -> bool:
    """Whether the near-pair engine starts from the plan's rows: where the code is at least as
    good as the optimizer's predicted result (random rows would be predicted to end worse)."""
    return plan is not None and (predicted is None or plan.max_cosine <= predicted)


def choose_engine(d: int, c: int, device_type: str, options: OptimizerOptions, iters: int | None) -> tuple[str, Cost]:
    """The engine ``options.engine`` names, or under ``auto`` the all-pairs engine while it
    stays within its own phase budget or is predicted sooner (its restarts and polish serve
    small c), else the near-pair engine; with its cost."""
    if options.engine != "auto":
        return options.engine, optimizer_cost(d, c, device_type, options.engine, options, iters)
    all_pairs = optimizer_cost(d, c, device_type, "all-pairs", options, iters)
    near = optimizer_cost(d, c, device_type, "neighbours", options, iters)
    if all_pairs.seconds <= max(near.seconds, 2 * PHASE_SECONDS[device_type]):
        return "all-pairs", all_pairs
    return "neighbours", near


def decide(
    d: int, c: int, device_type: str, *, known_codes: bool = True, iters: int | None = None,
    options: OptimizerOptions = OptimizerOptions(),
) -> Decision:
    """Which candidates the default method builds for (d, c): cheap, and nothing is built.

    The optimizer runs where nothing else answers (no code), or where its predicted max cosine,
    lowered by the prediction's margin, beats the code's and its predicted time
    is within :data:`PATIENT_SECONDS`: never a run that is predicted to lose."""
    bound = max_cosine_bound(d, c)
    theorem = exact_construction_name(d, c)
    plan = None
    if known_codes and not theorem:
        from ..codes.plan import best_plan

        plan = best_plan(d, c)
    prediction = optimizer_prediction(d, c)
    predicted = None if prediction is None else prediction.value
    engine, cost = choose_engine(d, c, device_type, options, iters)
    args = (d, c, device_type, known_codes, iters, options, bound)
    if theorem:
        return Decision(*args, theorem, None, engine, cost, None, False)
    if plan is None:
        run = True
    elif plan.max_cosine <= bound.value + TIE or cost.seconds > PATIENT_SECONDS[device_type]:
        run = False  # the plan meets the bound, or the run is past patience
    else:
        run = prediction is None or prediction.value * (1 - prediction.margin) < plan.max_cosine
    return Decision(*args, None, plan, engine, cost, predicted, run)


def run_minimax(
    d: int,
    c: int,
    *,
    seed: int = 0,
    iters: int | None = None,
    device: str | None = "auto",
    progress: ProgressCallback | None = None,
    decision: Decision | None = None,
    known_codes: bool = True,
    **options: Any,
) -> MethodResult:
    """The default method: theorem, catalogue plan and optimizer, the best of those that run.

    ``known_codes=False`` leaves the catalogue out, so the optimizer alone is measurable;
    ``options`` are the fields of :class:`OptimizerOptions`. ``decision`` is the
    :func:`decide` made for the same inputs (``generate`` forecasts from it first); None
    decides here.
    """
    from ..measure import geometry

    opts = OptimizerOptions(**options)
    dev = resolve_device(device)
    dec = decision
    if dec is None:
        dec = decide(d, c, dev.type, known_codes=known_codes, iters=iters, options=opts)
    elif not dec.matches(d, c, dev.type, known_codes, iters, opts):
        raise InvalidInputError(f"the decision given was made for other inputs than d={d}, c={c} on {dev.type}")
    record: dict[str, Any] = {"known_codes": known_codes, "bound": dec.bound.value, "bound_kind": dec.bound.kind}
    if dec.exact:
        vectors, name = exact_construction(d, c)
        return MethodResult(vectors, {"construction": name, **record, "gap_to_bound": 0.0})

    if dec.run_optimizer:  # refused before anything is built, not when memory runs out hours in
        require_memory(dec.optimizer.bytes, dev, f"the {dec.engine} optimizer at d={d}, c={c}",
                       hint="a smaller c, or a machine with more memory")
    candidates: dict[str, dict[str, Any]] = {}
    code = opt = None
    if dec.plan is not None:
        code = dec.plan.build()
        code.setflags(write=False)
        candidates["catalogue"] = {"plan": dec.plan.name, "proven_max_cosine": dec.plan.max_cosine}
    if dec.run_optimizer:
        opt = _run_engine(dec, seed, iters, dev, progress, opts, code)
        opt_report = geometry(opt.vectors)
        candidates["optimizer"] = {"max_cosine": opt_report.max_cosine, "uniformity": opt_report.uniformity,
                                   "engine": dec.engine}
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


def _run_engine(dec: Decision, seed: int, iters: int | None, dev, progress, opts: OptimizerOptions, code) -> MethodResult:
    """The decided optimizer engine; the near-pair engine starts from the code where the code is
    predicted at least as good as the optimizer, else from :func:`.starts.best_start`."""
    if dec.engine == "all-pairs":
        return optimize(dec.d, dec.c, seed=seed, iters=iters, device=str(dev), progress=progress, options=opts)
    if _starts_from_code(dec.plan, dec.predicted_optimizer):
        start, kind = code, f"code {dec.plan.name}"
    else:
        start, kind = best_start(dec.d, dec.c, seed)
    result = optimize_neighbours(start, dec.optimizer.steps, opts, device=dev, warm=kind != "random", seed=seed,
                                 progress=progress)
    result.params["start"] = kind
    return result


register(
    Method(
        "minimax",
        "default: the best of the proven optima, the exact code catalogue and the minimax optimizer",
        run_minimax,
        iterative=True,
        options=OptimizerOptions,
    )
)
