"""The neighbour-list minimax optimizer: a step costs O(c k d), not O(c^2 d).

It minimises the same annealed smoothed maximum as :mod:`.minimax`,

      L_beta(W) = (1/beta) * log sum_{(i, j)} exp(beta * w_i . w_j),

but over the pairs of each point's k nearest neighbours only: once points are spread, the
pairs near the largest cosine are exactly those.

* The lists come from a blocked all-pairs pass (row blocks of the cosine matrix, top-k of
  each row; memory O(block * c), never c x c) at the start; between steps they are refreshed
  from the neighbours of the nearest neighbours (O(c k k' d)), which follows moving points.
* The gradient runs over the listed pairs in row blocks (memory O(c k + block)).
* A last all-pairs pass certifies the result's max cosine over every pair (the listed pairs
  recomputed in float64 from the returned rows). The result is the better of the start and
  the optimised rows by that certified value: never worse than its start.
* The start is given by the caller (:func:`.starts.best_start`): a catalogue code's rows, a
  Fibonacci spiral in d = 3, or seeded random rows.

Step counts follow from (d, c, device type, start) alone, never from a clock, so a seed gives
the same result on every machine of a device type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import MethodResult, ProgressCallback
from .minimax import SphereAdam
from .options import OptimizerOptions

# Elements of one gathered or computed block (64 MiB of float32) on each device type.
BLOCK_ELEMENTS = {"cpu": 2**24, "cuda": 2**27}
# Each list is refreshed from the neighbours of its NEAREST_OF_NEIGHBOURS nearest neighbours.
NEAREST_OF_NEIGHBOURS = 4
# Cost model, seconds: an all-pairs pass c^2 (per_pair + per_mac d); a step fixed + per_element
# c k d; a refresh (1 + NEAREST_OF_NEIGHBOURS) steps' worth plus its sort. CPU figures from the
# 2-core x86 VM (quiet); CUDA figures are estimates, unmeasured.
PASS_COST = {"cpu": (9e-9, 3.4e-11), "cuda": (2e-11, 1e-13)}
STEP_COST = {"cpu": (2e-3, 1e-8), "cuda": (1e-3, 2e-11)}
# Seconds of steps one run may spend, and the step counts it stays within.
STEP_SECONDS = {"cpu": 30.0, "cuda": 60.0}
MIN_STEPS, MAX_STEPS = 200, 3000


@dataclass(frozen=True)
class Cost:
    """An optimizer run's steps, predicted seconds and peak working memory in bytes."""

    steps: int
    seconds: float
    bytes: int


def rebuild_every(c: int, k: int, options: OptimizerOptions) -> int:
    """Steps between all-pairs rebuilds of the lists: the option, else about c / (4 k), so
    that the rebuilds (c^2 d each) cost about as much as the steps between them (c k d each)."""
    if options.rebuild_every is not None:
        return options.rebuild_every
    return max(options.refresh_every, -(-c // (4 * k)))


def neighbour_schedule(d: int, c: int, device_type: str, options: OptimizerOptions, *, iters: int | None = None,
                       warm: bool = False) -> Cost:
    """Steps of a run for (d, c) on a device type (``iters``, else what fits
    :data:`STEP_SECONDS`), with its predicted seconds and memory."""
    k = min(options.neighbours, c - 1)
    fixed, per_element = STEP_COST[device_type]
    per_pair, per_mac = PASS_COST[device_type]
    step = fixed + per_element * c * k * d
    step *= 1 + (2 + NEAREST_OF_NEIGHBOURS) / options.refresh_every
    steps = iters if iters is not None else int(min(MAX_STEPS, max(MIN_STEPS, STEP_SECONDS[device_type] / step)))
    passes = 2 + steps // rebuild_every(c, k, options)
    seconds = steps * step + passes * c * c * (per_pair + per_mac * d)
    # rows, start and certified rows in float64, Adam's moments, gradient, best rows in float32,
    # the lists, and one block of cosines (with its top-k work) or of gathered neighbours
    nbytes = 2 * 8 * c * d + 5 * 4 * c * d + 8 * c * k * 2 + 3 * 4 * BLOCK_ELEMENTS[device_type]
    return Cost(steps, seconds, nbytes)


@dataclass(frozen=True)
class Certified:
    """Rows with their max cosine over every pair, and each row's k nearest neighbours."""

    max_cosine: float
    neighbours: "object"  # torch.LongTensor (c, k)


def all_pairs_neighbours(x, k: int, block_elements: int):
    """Each row's k nearest other rows (largest cosines) by a blocked all-pairs pass, as a
    (c, k) index tensor: a block of rows against every row at a time."""
    import torch

    c = x.shape[0]
    rows = max(1, min(c, block_elements // c))
    out = torch.empty((c, k), dtype=torch.long, device=x.device)
    xt = x.T.contiguous()
    for start in range(0, c, rows):
        stop = min(start + rows, c)
        g = x[start:stop] @ xt
        own = torch.arange(stop - start, device=x.device)
        g[own, own + start] = -math.inf
        out[start:stop] = g.topk(k, dim=1).indices
    return out


def certify(rows: np.ndarray, k: int, device, block_elements: int) -> Certified:
    """The exact largest cosine of float64 unit ``rows`` over every pair: a float32 all-pairs
    pass finds each row's k nearest, which are recomputed in float64 (a pair that float32
    misranks lies within ~1e-6 of the listed ones, never above all k of them)."""
    import torch

    x64 = torch.as_tensor(rows if rows.flags.writeable else rows.copy(), device=device)
    nbr = all_pairs_neighbours(x64.to(torch.float32), k, block_elements)
    best = -math.inf
    step = max(1, block_elements // (k * rows.shape[1]))
    for start in range(0, len(nbr), step):
        idx = nbr[start : start + step]
        cos = (x64[start : start + len(idx), None, :] * x64[idx]).sum(-1)
        best = max(best, float(cos.max()))
    return Certified(best, nbr)


def refresh_neighbours(x, nbr, block_elements: int):
    """Each row's k nearest among its current list and the lists of its nearest few
    neighbours: an update in O(c k k' d) that follows points as they move."""
    import torch

    c, k = nbr.shape
    near = min(NEAREST_OF_NEIGHBOURS, k)
    width = k + near * k
    rows = max(1, block_elements // (width * x.shape[1]))
    out = torch.empty_like(nbr)
    for start in range(0, c, rows):
        stop = min(start + rows, c)
        own = nbr[start:stop]
        cand = torch.cat([own, nbr[own[:, :near]].reshape(stop - start, near * k)], dim=1)
        cand, _ = cand.sort(dim=1)
        cos = (x[start:stop, None, :] * x[cand]).sum(-1)
        self_or_repeat = cand == torch.arange(start, stop, device=x.device)[:, None]
        self_or_repeat[:, 1:] |= cand[:, 1:] == cand[:, :-1]
        cos[self_or_repeat] = -math.inf
        out[start:stop] = cand.gather(1, cos.topk(k, dim=1).indices)
    return out


def neighbour_gradient(x, nbr, beta: float, shift: float, rows: int):
    """Each row's pull toward its listed neighbours, sum_j w_ij x_j with w_ij the softmax
    weights of beta x_i.x_j over all listed pairs, and the largest listed cosine.

    A pair listed both ways (the near pairs) gets the gradient of the smoothed maximum on
    both of its points; a pair listed one way moves the point that lists it. ``shift`` (a
    recent largest cosine) keeps the exponentials finite; if a pair rose far above it the
    pass is repeated with the true largest."""
    import torch

    grad = torch.empty_like(x)
    total = torch.zeros((), dtype=x.dtype, device=x.device)
    top = torch.full((), -math.inf, dtype=x.dtype, device=x.device)
    for start in range(0, len(nbr), rows):
        near = x[nbr[start : start + rows]]
        cos = torch.matmul(near, x[start : start + rows, :, None])
        top = torch.maximum(top, cos.max())
        w = torch.exp(beta * (cos - shift))
        total += w.sum()
        grad[start : start + rows] = torch.matmul(near.transpose(1, 2), w)[..., 0]
    if not bool(torch.isfinite(total)) or float(top) > shift + 60.0 / beta:
        return neighbour_gradient(x, nbr, beta, float(top), rows)
    return grad / total, float(top)


def optimize_neighbours(
    start: np.ndarray,
    steps: int,
    options: OptimizerOptions,
    *,
    device,
    warm: bool,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> MethodResult:
    """Minimise the largest pairwise cosine of the float64 unit rows ``start`` over ``steps``
    neighbour-list steps; returns float64 rows whose max cosine is certified over all pairs.

    ``warm`` (a code's rows or another structured start) skips the coarse annealing phase:
    the steps sharpen beta from ``beta_mid`` with small step sizes, after the rows are nudged
    off any zero padding so every coordinate can move."""
    import torch

    from ._torch import to_numpy_rows

    c, d = start.shape
    k = min(options.neighbours, c - 1)
    block = BLOCK_ELEMENTS[device.type]
    begin = certify(start, k, device, block)
    x = torch.as_tensor(start, device=device, dtype=torch.float32)
    if warm:
        noise = torch.as_tensor(np.random.default_rng(seed).standard_normal((c, d)), device=device)
        x = x + options.warm_noise * noise.to(torch.float32)
        x = x / x.norm(dim=1, keepdim=True)
    nbr = begin.neighbours
    rows = max(1, block // (k * d))
    rebuild = rebuild_every(c, k, options)
    lr = options.step_size(d)
    lr_rows = lr * (0.05 if warm else 1.0)
    beta_from = options.beta_mid if warm else options.beta_start
    adam = SphereAdam(x)
    best_x, best, shift = x.clone(), math.inf, begin.max_cosine
    trace_step, trace_max, trace_beta = [], [], []
    for it in range(steps):
        frac = it / max(steps - 1, 1)
        beta = beta_from * (options.beta_end / beta_from) ** frac
        if it and it % rebuild == 0:
            nbr = all_pairs_neighbours(x, k, block)
        elif it and it % options.refresh_every == 0:
            nbr = refresh_neighbours(x, nbr, block)
        grad, top = neighbour_gradient(x, nbr, beta, shift, rows)
        shift = top
        fresh = it % options.refresh_every == 0
        if fresh and top < best:
            best, best_x = top, x.clone()
        if it % max(1, steps // 200) == 0:
            trace_step.append(it)
            trace_max.append(top)
            trace_beta.append(beta)
        if progress:
            progress(it + 1, steps + 1, {"max_cos": top, "beta": beta})
        x = adam.step(x, grad, lr_rows * (1e-2 if warm else 1e-3) ** frac)
    # the last rows are judged too (the lists were refreshed at most refresh_every steps ago)
    nbr = refresh_neighbours(x, nbr, block)
    last = _listed_max(x, nbr, block)
    if last < best:
        best_x = x
    rows = to_numpy_rows(best_x)
    end = certify(rows, k, device, block)
    if progress:
        progress(steps + 1, steps + 1, {"max_cos": min(end.max_cosine, begin.max_cosine), "beta": options.beta_end})
    improved = end.max_cosine < begin.max_cosine
    params = {"optimizer": "adam-on-sphere, neighbour lists", "neighbours": k, "steps": steps,
              "refresh_every": options.refresh_every, "rebuild_every": rebuild, "beta_start": beta_from, "beta_end": options.beta_end,
              "lr": lr_rows, "warm_start": warm, "start_max_cosine": begin.max_cosine,
              "certified_max_cosine": end.max_cosine if improved else begin.max_cosine, "kept_start": not improved}
    history = {"step": np.array(trace_step), "max_cosine": np.array(trace_max), "beta": np.array(trace_beta)}
    return MethodResult(rows if improved else np.asarray(start, dtype=np.float64), params, steps, history)


def _listed_max(x, nbr, block_elements: int) -> float:
    """The largest cosine over the rows' listed neighbours."""
    best = -math.inf
    step = max(1, block_elements // (nbr.shape[1] * x.shape[1]))
    for start in range(0, len(nbr), step):
        idx = nbr[start : start + step]
        best = max(best, float((x[start : start + len(idx), None, :] * x[idx]).sum(-1).max()))
    return best
