"""The optimizer alone (`-p known_codes=false`) at scale: time, peak memory and max cosine for one (d, c).

Usage: python benchmarks/scale.py --d 128 --c 10000 [--device cpu]
       python benchmarks/scale.py --d 512 --c 100000 --device cuda
Peak memory is the process's peak resident set on CPU and torch's peak allocation on CUDA.
The max cosine is recomputed blockwise in float32 without TF32.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from protobank.optimize.base import resolve_device
from protobank.optimize.minimax import optimize, smoothed_max_gradient


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--c", type=int, required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    marks = []

    def progress(step: int, total: int, info: dict) -> None:
        if step % max(1, total // 10) == 0:
            marks.append((step, total, time.perf_counter() - start, info["max_cos"]))
            print(f"  step {step}/{total}  {marks[-1][2]:.0f} s  max cos {info['max_cos']:.5f}", flush=True)

    start = time.perf_counter()
    result = optimize(args.d, args.c, seed=args.seed, device=str(dev), progress=progress)
    seconds = time.perf_counter() - start
    x = torch.as_tensor(result.vectors, dtype=torch.float32, device=dev)[None]
    torch.backends.cuda.matmul.allow_tf32 = False
    _, top = smoothed_max_gradient(x, 1.0, max(1, (2**26 if dev.type == "cuda" else 2**22) // args.c))
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        name = torch.cuda.get_device_name(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        name = "cpu"
    print(f"minimax d={args.d} c={args.c} on {name}: {seconds:.1f} s, {result.iterations} steps, "
          f"restarts {result.params['restarts']}, max cosine {float(top):.5f}, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
