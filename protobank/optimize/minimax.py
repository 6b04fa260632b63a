"""The minimax optimizer: the smallest largest pairwise cosine it can reach for (d, c).

The default method (:mod:`.portfolio`) runs it beside the exact constructions and the code
catalogue, where it can win. It minimises the worst pair directly. The objective is the
smoothed maximum

      L_beta(W) = (1/beta) * log sum_{i != j} exp(beta * w_i . w_j),

  which tends to max_{i != j} w_i . w_j as beta grows. Phase 1 anneals beta from 10 to 1000
  with Adam steps on the sphere (lr decays geometrically); phase 2 sharpens beta up to 1e5 and
  stops when the best max cosine has not improved for a patience window. Several restarts
  run as one batch where that is cheap (small c * d), and in low dimension the best
  candidates are polished to their exact local optimum by linear programming on the active
  pairs (:mod:`.polish`).
* The gradient is computed in row blocks with a per-block log-sum-exp shift, so memory is
  O(restarts * block * c), never c x c: c = 100,000 fits on one GPU.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from ._torch import initial_rows, to_numpy_rows
from .base import MethodResult, ProgressCallback, resolve_device
from .constructions import cross_polytope_subset, polygon, simplex
from .options import OptimizerOptions
from .polish import slp_polish

# A deterministic cost model of one step, seconds = fixed + per_mac * R c^2 d + per_pair * R c^2
# (fitted on a 2-core x86 CPU; conservative for one data-centre GPU), and the seconds one phase
# may spend. Step and restart counts follow from (d, c, device type) alone, never from a clock,
# so a seed gives the same result on every machine of a device type.
STEP_COST = {"cpu": (9e-4, 7.8e-11, 1.6e-8), "cuda": (3e-4, 2e-14, 5e-12)}
PHASE_SECONDS = {"cpu": 6.0, "cuda": 60.0}
BLOCK_ELEMENTS = {"cpu": 2**23, "cuda": 2**28}
MIN_ITERS, MAX_ITERS = 100, 3000
# Low dimensions have many local optima: many restarts pay off there, few elsewhere.
MAX_RESTARTS = {"low": 32, "high": 8}
LOW_DIMENSION = 4
POLISH_MAX_CD = 1000
POLISH_CANDIDATES = 2


def exact_construction_name(d: int, c: int) -> str | None:
    """The theorem's optimum for (d, c) that needs no code table, by name (None: no theorem)."""
    if c <= d + 1:
        return "regular-simplex"
    if c <= 2 * d:
        return "cross-polytope-subset"
    if d == 2:
        return "regular-polygon"
    return None


def exact_construction(d: int, c: int) -> tuple[np.ndarray, str] | None:
    """The proven optimum for (d, c) by a theorem that needs no code table, with its name."""
    name = exact_construction_name(d, c)
    builders = {"regular-simplex": lambda: simplex(c, d), "cross-polytope-subset": lambda: cross_polytope_subset(c, d),
                "regular-polygon": lambda: polygon(c)}
    return None if name is None else (builders[name](), name)


@dataclass(frozen=True)
class Schedule:
    """Restarts and steps per phase of one run, fixed by (d, c, device type) alone, and what
    the cost model predicts the run takes."""

    restarts: int
    iters: int
    polish: bool
    seconds: float
    bytes: int


def schedule(
    d: int, c: int, device_type: str, *, restarts: int | None = None, iters: int | None = None,
    polish: bool | None = None,
) -> Schedule:
    """The run's restarts, steps per phase and polish, with its predicted seconds and memory."""
    fixed, per_mac, per_pair = STEP_COST[device_type]
    polish = (d <= LOW_DIMENSION and c * d <= POLISH_MAX_CD) if polish is None else polish
    # The LP polish finishes what the phases leave, so they may stop a little sooner.
    budget = PHASE_SECONDS[device_type] * (0.8 if polish else 1.0)

    def step_seconds(r: int) -> float:
        return fixed + per_mac * r * c * c * d + per_pair * r * c * c

    if restarts is None:
        restarts = MAX_RESTARTS["low" if d <= LOW_DIMENSION else "high"]
        while restarts > 1 and step_seconds(restarts) * 1000 > budget:
            restarts //= 2
    if iters is None:
        iters = int(min(MAX_ITERS, max(MIN_ITERS, budget / step_seconds(max(restarts, 1)))))
    # Rows, gradient, two Adam moments and the best rows (float64 at worst), one block of
    # cosines and its exponentials, and the float64 result measured afterwards.
    nbytes = 5 * 8 * max(restarts, 1) * c * d + 2 * 4 * BLOCK_ELEMENTS[device_type] + 3 * 8 * c * d
    return Schedule(restarts, iters, bool(polish), 2 * iters * step_seconds(max(restarts, 1)), nbytes)


def smoothed_max_gradient(x, beta: float, block_rows: int):
    """Gradient of (1/beta) log sum_{i != j} exp(beta x_i.x_j) for each batch of rows x (R, c, d),
    and each batch's largest off-diagonal cosine; computed in row blocks."""
    import torch

    r, c, _ = x.shape
    grad = torch.empty_like(x)
    starts = list(range(0, c, block_rows))
    shifts = torch.empty((r, len(starts)), dtype=x.dtype, device=x.device)
    sums = torch.empty_like(shifts)
    xt = x.transpose(1, 2)
    for b, start in enumerate(starts):
        stop = min(start + block_rows, c)
        g = torch.matmul(x[:, start:stop], xt)
        rows = torch.arange(stop - start, device=x.device)
        g[:, rows, rows + start] = -math.inf
        m = g.amax(dim=(1, 2))
        g.sub_(m[:, None, None]).mul_(beta).exp_()
        shifts[:, b] = m
        sums[:, b] = g.sum(dim=(1, 2))
        grad[:, start:stop] = torch.matmul(g, x)
    top = shifts.max(dim=1).values
    scale = torch.exp(beta * (shifts - top[:, None]))
    total = (sums * scale).sum(dim=1)
    for b, start in enumerate(starts):
        grad[:, start : start + block_rows] *= (scale[:, b] / total)[:, None, None]
    return grad, top


class SphereAdam:
    """Adam on rows constrained to the unit sphere (tangent gradients, re-normalised steps)."""

    def __init__(self, x):
        import torch

        self.m = torch.zeros_like(x)
        self.v = torch.zeros_like(x)
        self.t = 0

    def step(self, x, grad, lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-12):
        grad = grad - (grad * x).sum(-1, keepdim=True) * x
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        step = (self.m / (1 - b1**self.t)) / ((self.v / (1 - b2**self.t)).sqrt_().add_(eps))
        x = x - lr * step
        return x / x.norm(dim=-1, keepdim=True)


def optimize(
    d: int,
    c: int,
    *,
    seed: int = 0,
    iters: int | None = None,
    device: str | None = "auto",
    progress: ProgressCallback | None = None,
    options: OptimizerOptions = OptimizerOptions(),
) -> MethodResult:
    """Minimise the largest pairwise cosine of c points in R^d from a seeded random start,
    measuring every pair at every step (the all-pairs engine)."""
    import torch

    o = options
    dev = resolve_device(device)
    plan = schedule(d, c, dev.type, restarts=o.restarts, iters=iters, polish=o.polish)
    restarts, iters, polish = plan.restarts, plan.iters, plan.polish
    if iters < 1:
        raise InvalidInputError(f"iters must be >= 1, got {iters}")
    beta_start, beta_mid, beta_end, tol = o.beta_start, o.beta_mid, o.beta_end, o.tol
    lr = o.step_size(d)
    patience = max(50, iters // 5) if o.patience is None else o.patience
    precise = restarts * c * d <= 200_000  # phase 2 in float64 where it costs little
    block = max(1, min(c, BLOCK_ELEMENTS[dev.type] // (restarts * c)))

    # Each restart gets its own step size, spread over [lr/2, 2.8 lr]: a portfolio that is
    # robust to the landscape of the particular (d, c).
    spread = torch.logspace(-1, 1.5, restarts, base=2.0) if restarts > 1 else torch.ones(1)
    lr_rows = (lr * spread).to(dev).view(-1, 1, 1)
    x = initial_rows((restarts, c, d), seed, dev, torch.float32)
    best = torch.full((restarts,), math.inf, dtype=torch.float64, device=dev)
    best_x = x.clone()
    steps, trace_max, trace_beta = [], [], []
    total = 2 * iters

    def record(step: int, x, top, beta: float) -> None:
        nonlocal best_x
        top = top.to(torch.float64)
        better = top < best
        if bool(better.any()):
            best.copy_(torch.where(better, top, best))
            best_x = best_x.to(x.dtype)
            best_x[better] = x[better]
        if step % max(1, total // 200) == 0:
            steps.append(step)
            trace_max.append(float(best.min()))
            trace_beta.append(beta)
        if progress:
            progress(step + 1, total, {"max_cos": float(best.min()), "beta": beta})

    with _tf32(dev):
        adam = SphereAdam(x)
        for it in range(iters):
            frac = it / max(iters - 1, 1)
            beta = beta_start * (beta_mid / beta_start) ** frac
            grad, top = smoothed_max_gradient(x, beta, block)
            record(it, x, top, beta)
            x = adam.step(x, grad, lr_rows.to(x.dtype) * 0.1**frac)

        # Sharpening: TF32's ~1e-4 cosine error times beta (up to 1e5) is noise in the exponent.
        torch.backends.cuda.matmul.allow_tf32 = False
        x = best_x.clone().to(torch.float64 if precise else torch.float32)
        best_x = x.clone()
        adam = SphereAdam(x)
        lr2, lr2_end = lr_rows.to(x.dtype) / 20, lr_rows.to(x.dtype) / 2000
        last_gain, reference = 0, float(best.min())
        done = iters
        for it in range(iters):
            frac = it / max(iters - 1, 1)
            beta = beta_mid * (beta_end / beta_mid) ** frac
            grad, top = smoothed_max_gradient(x, beta, block)
            record(iters + it, x, top, beta)
            done = iters + it + 1
            if float(best.min()) < reference - tol:
                reference, last_gain = float(best.min()), it
            elif it - last_gain >= patience:
                break
            x = adam.step(x, grad, lr2 * (lr2_end / lr2) ** frac)
    if progress:
        progress(total, total, {"max_cos": float(best.min()), "beta": beta_end})

    order = torch.argsort(best).tolist()
    candidates = [to_numpy_rows(best_x[i]) for i in order]
    polished = 0
    if polish:
        results = []
        for cand in candidates[:POLISH_CANDIDATES]:
            rows, value, _ = slp_polish(cand)
            results.append((value, rows))
            polished += 1
        vectors = min(results, key=lambda r: r[0])[1]
    else:
        vectors = candidates[0]
    params = {
        "restarts": restarts,
        "beta_start": beta_start,
        "beta_mid": beta_mid,
        "beta_end": beta_end,
        "lr": lr,
        "phase_iters": iters,
        "patience": patience,
        "tol": tol,
        "polish": bool(polish),
        "polished_candidates": polished,
        "phase2_dtype": "float64" if precise else "float32",
        "optimizer": "adam-on-sphere",
    }
    history = {"step": np.array(steps), "max_cosine": np.array(trace_max), "beta": np.array(trace_beta)}
    return MethodResult(vectors, params, done, history)


@contextlib.contextmanager
def _tf32(dev):
    """Allow TF32 matrix products on CUDA for the annealing phase (the sharpening phase turns
    them off); the caller's setting is restored after, and the reported geometry is recomputed
    in full precision."""
    import torch

    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = previous or dev.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
