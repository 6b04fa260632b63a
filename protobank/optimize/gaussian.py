"""The paper's prototype estimation (Saadabadi et al., CVPR 2024, sec. 3.2.1 and 4.1), as published.

Minimises the Gaussian-potential uniformity loss (eq. 3-5)

    L_uni = log( (1/c_hat) * sum_{i in S} sum_{j=1}^{c} exp(-t ||w_i - w_j||^2) ),

over a random subset S of c_hat prototypes per step, with plain SGD (lr 0.1) for 1000
iterations, re-normalising every prototype to the sphere after each step.

The j = i terms of eq. 5 are constants (exp(0) = 1) that carry no gradient but shrink the step
through the log; like the pairwise (``pdist``) form of the uniformity loss the method builds
on (Wang & Isola 2020), they are left out by default (``self_pairs=False``).
"""

from __future__ import annotations


from ..errors import InvalidInputError
from ._torch import Trace, initial_rows, max_offdiag_cosine, to_numpy_rows
from .base import Method, MethodResult, ProgressCallback, register, require_memory, resolve_device


def run_gaussian(
    d: int,
    c: int,
    *,
    seed: int = 0,
    iters: int | None = None,
    device: str | None = "auto",
    progress: ProgressCallback | None = None,
    t: float = 2.0,
    lr: float = 0.1,
    subset: int | None = None,
    momentum: float = 0.0,
    self_pairs: bool = False,
) -> MethodResult:
    import torch

    iters = 1000 if iters is None else iters
    subset = c if subset is None else int(subset)
    if t <= 0 or lr <= 0:
        raise InvalidInputError(f"gaussian needs t > 0 and lr > 0, got t={t}, lr={lr}")
    if not 1 <= subset <= c:
        raise InvalidInputError(f"subset must lie in [1, c={c}], got {subset}")
    dev = resolve_device(device)
    require_memory(4 * subset * c * 4, dev, f"the gaussian method's {subset} x {c} potential matrix")

    w = initial_rows((c, d), seed, dev, torch.float32).requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    trace = Trace(iters, progress)
    for it in range(iters):
        idx = torch.arange(c, device=dev) if subset == c else torch.randperm(c, generator=gen)[:subset].to(dev)
        rows = w[idx]
        sq = (rows.pow(2).sum(1, keepdim=True) + w.pow(2).sum(1) - 2 * rows @ w.T).clamp_min(0)
        potential = torch.exp(-t * sq)
        if not self_pairs:
            potential = potential.index_put((torch.arange(subset, device=dev), idx), torch.zeros((), device=dev))
        loss = torch.log(potential.sum() / subset)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            w /= w.norm(dim=1, keepdim=True)
            if trace.due(it):
                trace.record(it, float(loss.detach()), max_offdiag_cosine(w))
    params = {"t": t, "lr": lr, "subset": subset, "momentum": momentum, "self_pairs": self_pairs,
              "optimizer": "sgd", "dtype": "float32"}
    return MethodResult(to_numpy_rows(w), params, iters, trace.history())


register(Method("gaussian", "the paper's Gaussian-potential uniformity loss (eq. 3-5), SGD lr 0.1", run_gaussian, iterative=True))
