"""The neighbour-list minimax optimizer: a step costs O(c k d), not O(c^2 d).

It minimises the same annealed smoothed maximum as :mod:`.minimax`,

      L_beta(W) = (1/beta) * log sum_{(i, j) in P} exp(beta * w_i . w_j),

over a sparse set P of near pairs instead of all of them.

* **The pair set** is every pair whose cosine is above a threshold tau, found by a blocked
  all-pairs pass (row blocks of the cosine matrix, memory O(block c), never c x c). tau is the
  median k-th largest cosine of :data:`THRESHOLD_ROWS` rows, so a row holds about k pairs. A threshold rather than
  each row's own k nearest: the set is symmetric, so a step is the exact gradient of the
  smoothed maximum over it, and one number bounds every pair left out.
* **A step** computes the listed cosines by a sampled dense product and the gradient by a
  sparse-dense product (CSR; O(|P| d), with no gathered (c, k, d) tensor). In moderate and
  high d a point has hundreds of neighbours near the largest cosine (in the (32, 10,000)
  result a row has a median of 228 within 0.05 of it), so k is hundreds, not a handful.
* **Exactness between rebuilds**: a pair left out had cosine at most tau at the rebuild, and
  each row has since moved by its displacement delta_i, so its cosine is now at most
  tau + delta_i + delta_j. While tau + 2 max delta stays at or below the largest listed cosine,
  that cosine is the max over every pair; only such steps may record the best rows. The set
  is rebuilt when this fails, no sooner than every :func:`rebuild_gap` steps (early steps move
  rows far, and their gradient needs no exactness).
* A last all-pairs pass certifies the returned rows' max cosine over every pair (each row's
  nearest found in float32, recomputed in float64). The result is the better of the start
  and the optimised rows by that certified value: never worse than its start.

Step counts follow from (d, c, device type, start) alone, never from a clock, so a seed gives
the same result on every machine of a device type.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .base import MethodResult, ProgressCallback
from .minimax import SphereAdam
from .options import OptimizerOptions

# Elements of one block of cosines of an all-pairs pass (64 MiB of float32) on each device type.
BLOCK_ELEMENTS = {"cpu": 2**24, "cuda": 2**27}
# Rows, spread evenly over the matrix, whose k-th largest cosines set a pair set's threshold.
THRESHOLD_ROWS = 256
# Cost model, seconds: an all-pairs pass c^2 (per_pair + per_mac d); a step
# fixed + c k (per_pair + per_mac d + per_mac2 d^2) (the sparse products slow down per
# multiply-add as rows outgrow the caches). CPU figures fitted on timings of the 2-core x86 VM
# (quiet; d = 10 to 768, c = 10,000 and 30,000); CUDA figures are estimates, unmeasured.
PASS_COST = {"cpu": (2.8e-9, 1.8e-11), "cuda": (2e-11, 1e-13)}
STEP_COST = {"cpu": (1e-3, 1.4e-8, 2.8e-10, 9e-13), "cuda": (1e-3, 1e-10, 2e-12, 0.0)}
# Seconds of steps one run may spend (its rebuilds cost about as much again), and the step
# counts it stays within.
STEP_SECONDS = {"cpu": 30.0, "cuda": 60.0}
MIN_STEPS, MAX_STEPS = 600, 4000
# Pairs certified per row in the last pass (the float64 recomputation of each row's nearest).
CERTIFY_NEIGHBOURS = 8


@dataclass(frozen=True)
class Cost:
    """An optimizer run's steps, predicted seconds and peak working memory in bytes."""

    steps: int
    seconds: float
    bytes: int


def _pass_seconds(d: int, c: int, device_type: str) -> float:
    per_pair, per_mac = PASS_COST[device_type]
    return c * c * (per_pair + per_mac * d)


def _step_seconds(d: int, c: int, k: int, device_type: str) -> float:
    fixed, per_pair, per_mac, per_mac2 = STEP_COST[device_type]
    return fixed + c * k * (per_pair + per_mac * d + per_mac2 * d * d)


def rebuild_gap(d: int, c: int, k: int, device_type: str, options: OptimizerOptions) -> int:
    """The fewest steps between two rebuilds of the pair set: the option, else as many steps
    as one all-pairs pass costs, so rebuilds take at most about half a run's time."""
    if options.rebuild_every is not None:
        return options.rebuild_every
    return max(1, math.ceil(_pass_seconds(d, c, device_type) / _step_seconds(d, c, k, device_type)))


def neighbour_schedule(d: int, c: int, device_type: str, options: OptimizerOptions, *, iters: int | None = None) -> Cost:
    """Steps of a run for (d, c) on a device type (``iters``, else what fits
    :data:`STEP_SECONDS`), with its predicted seconds and memory."""
    k = min(options.neighbours, c - 1)
    step = _step_seconds(d, c, k, device_type)
    steps = iters if iters is not None else int(min(MAX_STEPS, max(MIN_STEPS, STEP_SECONDS[device_type] / step)))
    gap = rebuild_gap(d, c, k, device_type, options)
    # the start's certificate, the first set, the rebuilds after it, the last set, the certificate
    passes = 4 + (steps - 1) // gap
    seconds = steps * step + passes * _pass_seconds(d, c, device_type)
    # rows, start and certified rows in float64; rows, Adam's moments, gradient, best rows and
    # the last rebuild's rows in float32; the pair set (16 bytes a pair: an int32 column, the
    # cosine and the weight, and the columns twice while a rebuild concatenates them; about
    # 11 measured between c = 30,000 and 60,000 at d = 10, rows included); one block of cosines
    nbytes = 2 * 8 * c * d + 6 * 4 * c * d + 16 * c * k + 3 * 4 * BLOCK_ELEMENTS[device_type]
    return Cost(steps, seconds, nbytes)


def _cosine_blocks(x, block_elements: int, rows=None):
    """The blocked all-pairs pass over ``rows`` (an index tensor, default every row): (start,
    stop, cosines of rows[start:stop] against every row, with each row's own entry at -inf),
    about ``block_elements`` cosines a block. Every block is written into one buffer
    (:func:`protobank.assignment.scores.cosine_rows`; the next block overwrites it): a fresh block each time pays its page faults again (a pass at
    (10, 100,000) took 40 s instead of 25), and smaller fresh blocks between the small tensors a
    pass keeps fragment the CPU heap (past 20 GB there)."""
    import torch

    from ..assignment.scores import cosine_rows

    c = x.shape[0]
    rows = torch.arange(c, device=x.device) if rows is None else rows
    per = max(1, min(len(rows), block_elements // c))
    block = cosine_rows(x, x, per)
    for start in range(0, len(rows), per):
        r = rows[start : start + per]
        g = block(r)
        g[torch.arange(len(r), device=x.device), r] = -math.inf
        yield start, start + len(r), g


def all_pairs_neighbours(x, k: int, block_elements: int):
    """Each row's k nearest other rows (largest cosines) by a blocked all-pairs pass, as a
    (c, k) index tensor."""
    import torch

    out = torch.empty((x.shape[0], k), dtype=torch.long, device=x.device)
    for start, stop, g in _cosine_blocks(x, block_elements):
        out[start:stop] = g.topk(k, dim=1).indices
    return out


def certify(rows: np.ndarray, device, block_elements: int, k: int = CERTIFY_NEIGHBOURS) -> float:
    """The exact largest cosine of float64 unit ``rows`` over every pair: a float32 all-pairs
    pass finds each row's k nearest, which are recomputed in float64 (a pair that float32
    misranks lies within ~1e-6 of the listed ones, never above all k of them)."""
    import torch

    x64 = torch.as_tensor(rows if rows.flags.writeable else rows.copy(), device=device)
    nbr = all_pairs_neighbours(x64.to(torch.float32), min(k, len(rows) - 1), block_elements)
    best = -math.inf
    step = max(1, block_elements // (nbr.shape[1] * rows.shape[1]))
    for start in range(0, len(nbr), step):
        idx = nbr[start : start + step]
        cos = (x64[start : start + len(idx), None, :] * x64[idx]).sum(-1)
        best = max(best, float(cos.max()))
    return best


def _csr(crow, col, values, c: int):
    """A c x c CSR matrix (torch marks sparse CSR as beta with a warning on every build)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=(c, c), check_invariants=False)


def threshold_pairs(x, k: int, block_elements: int):
    """Every ordered pair (i, j), i != j, whose cosine is above tau, as a c x c CSR pattern,
    and tau: the median over :data:`THRESHOLD_ROWS` evenly spread rows of their k-th largest
    cosine."""
    import torch

    c = x.shape[0]
    n = min(c, THRESHOLD_ROWS)
    sample = torch.arange(n, device=x.device) * c // n
    kth = [g.topk(min(k, c - 1), dim=1).values[:, -1] for _, _, g in _cosine_blocks(x, block_elements, sample)]
    tau = float(torch.cat(kth).median())
    counts = torch.zeros(c + 1, dtype=torch.long, device=x.device)
    tails, mask = [], None  # one comparison buffer too: 13% of a pass at (10, 100,000)
    for start, stop, g in _cosine_blocks(x, block_elements):
        mask = torch.empty_like(g, dtype=torch.bool) if mask is None else mask
        above = torch.gt(g, tau, out=mask[: len(g)]).nonzero()  # row by row, columns ascending
        counts[start + 1 : stop + 1] = torch.bincount(above[:, 0], minlength=stop - start)
        tails.append(above[:, 1].to(torch.int32))  # 4 bytes a pair, not 8
    tail = torch.cat(tails)
    crow = counts.cumsum(0)
    if len(tail) < 2**31:  # CSR takes one index type: int32 while the pair count fits it
        crow = crow.to(torch.int32)
    else:
        tail = tail.to(torch.int64)
    return _csr(crow, tail, torch.zeros(len(tail), dtype=x.dtype, device=x.device), c), tau


class PairGradient:
    """The gradient of the smoothed maximum over one pair set, sum_j w_ij x_j with w_ij the
    softmax weights of beta x_i.x_j, and the largest listed cosine. The listed cosines are
    written into the pattern's own values and the weights into one buffer, every step: fresh
    arrays of c k floats each step cost their page faults (40% of a step at (10, 100,000))."""

    def __init__(self, pairs) -> None:
        import torch

        self.cos = pairs
        self.w = torch.empty_like(pairs.values())
        self.weights = _csr(pairs.crow_indices(), pairs.col_indices(), self.w, pairs.shape[0])

    def __call__(self, x, beta: float):
        import torch

        if self.w.numel() == 0:
            return torch.zeros_like(x), -math.inf
        cos = torch.sparse.sampled_addmm(self.cos, x, x.T, beta=0.0, out=self.cos).values()
        top = float(cos.max())
        torch.sub(cos, top, out=self.w).mul_(beta).exp_()
        return (self.weights @ x) / self.w.sum(), top


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
    pair-set steps; returns float64 rows whose max cosine is certified over all pairs.

    ``warm`` (a code's rows or another structured start) skips the coarse annealing phase:
    the steps sharpen beta from ``beta_mid`` with small step sizes, after the rows are nudged
    off any zero padding so every coordinate can move."""
    import torch

    from ._torch import to_numpy_rows

    c, d = start.shape
    k = min(options.neighbours, c - 1)
    block = BLOCK_ELEMENTS[device.type]
    begin = certify(start, device, block)  # the start's max cosine
    x = torch.as_tensor(start, device=device, dtype=torch.float32)
    if warm:
        noise = torch.as_tensor(np.random.default_rng(seed).standard_normal((c, d)), device=device)
        x = x + options.warm_noise * noise.to(torch.float32)
        x = x / x.norm(dim=1, keepdim=True)
    gap = rebuild_gap(d, c, k, device.type, options)
    lr = options.step_size(d)
    lr_rows = lr * (0.05 if warm else 1.0)
    beta_from = options.beta_mid if warm else options.beta_start
    adam = SphereAdam(x)
    best_x, best = x.clone(), math.inf
    trace_step, trace_max, trace_beta = [], [], []
    rebuilds, since, reach, top = 0, 0, math.inf, math.inf
    for it in range(steps):
        frac = it / max(steps - 1, 1)
        beta = beta_from * (options.beta_end / beta_from) ** frac
        if it == 0 or (reach > top and since >= gap):
            gradient = pairs = None  # the old set is freed before the new one is built
            pairs, tau = threshold_pairs(x, k, block)
            gradient = PairGradient(pairs)
            anchor, rebuilds, since = x.clone(), rebuilds + 1, 0
        grad, top = gradient(x, beta)
        moved = float((x - anchor).norm(dim=1).max()) if since else 0.0
        reach = tau + 2 * moved  # no pair left out of the set is above this
        if reach <= top < best:
            best, best_x = top, x.clone()
        if it % max(1, steps // 200) == 0:
            trace_step.append(it)
            trace_max.append(top)
            trace_beta.append(beta)
        if progress:
            progress(it + 1, steps + 1, {"max_cos": top, "beta": beta})
        x = adam.step(x, grad, lr_rows * (1e-2 if warm else 1e-3) ** frac)
        since += 1
    gradient = pairs = None
    pairs, tau = threshold_pairs(x, k, block)  # the last rows, judged on a fresh set
    top = PairGradient(pairs)(x, options.beta_end)[1]
    if tau <= top < best:
        best_x = x
    rows = to_numpy_rows(best_x)
    end = certify(rows, device, block)
    if progress:
        progress(steps + 1, steps + 1, {"max_cos": min(end, begin), "beta": options.beta_end})
    improved = end < begin
    params = {"optimizer": "adam-on-sphere, near-pair set", "neighbours": k, "steps": steps, "rebuild_gap": gap,
              "rebuilds": rebuilds, "beta_start": beta_from, "beta_end": options.beta_end, "lr": lr_rows,
              "warm_start": warm, "start_max_cosine": begin,
              "certified_max_cosine": end if improved else begin, "kept_start": not improved}
    history = {"step": np.array(trace_step), "max_cosine": np.array(trace_max), "beta": np.array(trace_beta)}
    return MethodResult(rows if improved else np.asarray(start, dtype=np.float64), params, steps, history)
