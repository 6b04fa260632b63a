"""Hyperspherical Prototype Networks' prototypes (Mettes et al., NeurIPS 2019).

Minimises the mean over prototypes of the largest cosine to another prototype,
``mean_i max_{j != i} w_i . w_j``, with SGD (lr 0.1, momentum 0.9), re-normalising each step.
"""

from __future__ import annotations


from ..errors import InvalidInputError
from ._torch import Trace, initial_rows, to_numpy_rows
from .base import Method, MethodResult, ProgressCallback, register, require_memory, resolve_device


def run_hpn(
    d: int,
    c: int,
    *,
    seed: int = 0,
    iters: int | None = None,
    device: str | None = "auto",
    progress: ProgressCallback | None = None,
    lr: float = 0.1,
    momentum: float = 0.9,
) -> MethodResult:
    import torch

    iters = 1000 if iters is None else iters
    if lr <= 0 or not 0 <= momentum < 1:
        raise InvalidInputError(f"hpn needs lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
    dev = resolve_device(device)
    require_memory(3 * c * c * 4, dev, f"the hpn method's {c} x {c} cosine matrix")

    w = initial_rows((c, d), seed, dev, torch.float32).requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr, momentum=momentum)
    eye = torch.eye(c, dtype=torch.bool, device=dev)
    trace = Trace(iters, progress)
    for it in range(iters):
        cos = (w @ w.T).masked_fill(eye, -2.0)
        row_max = cos.max(dim=1).values
        loss = row_max.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            w /= w.norm(dim=1, keepdim=True)
        if trace.due(it):
            trace.record(it, float(loss.detach()), float(row_max.detach().max()))
    params = {"lr": lr, "momentum": momentum, "optimizer": "sgd", "dtype": "float32"}
    return MethodResult(to_numpy_rows(w), params, iters, trace.history())


register(Method("hpn", "Mettes et al. 2019: minimise the mean of each prototype's largest cosine", run_hpn, iterative=True))
