"""The optimizer alone (`-p known_codes=false`) at scale: time, peak memory and max cosine for one (d, c).

Usage: python benchmarks/scale.py --d 128 --c 10000 [--device cpu] [--engine neighbours|all-pairs]
       python benchmarks/scale.py --d 512 --c 100000 --device cuda
       python benchmarks/scale.py --d 128 --c 100000 --start code   (the neighbour engine from the code)
Peak memory is the process's peak resident set on CPU and torch's peak allocation on CUDA.
The max cosine is the certified all-pairs value (neighbour engine) or recomputed blockwise in
float64 (all-pairs engine). The run's predicted seconds and memory are printed first.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from protobank.codes.plan import best_plan
from protobank.optimize.base import resolve_device
from protobank.optimize.minimax import optimize
from protobank.optimize.neighbours import BLOCK_ELEMENTS, certify, optimize_neighbours
from protobank.optimize.options import OptimizerOptions
from protobank.optimize.portfolio import optimizer_cost
from protobank.optimize.starts import best_start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--c", type=int, required=True)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engine", default="all-pairs", choices=["all-pairs", "neighbours"])
    ap.add_argument("--start", default="best", choices=["best", "code"], help="code: the catalogue plan's rows")
    ap.add_argument("--iters", type=int, default=None)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    options = OptimizerOptions(engine=args.engine)
    engine = options.engine
    plan = best_plan(args.d, args.c) if args.start == "code" else None
    cost = optimizer_cost(args.d, args.c, dev.type, engine, options, args.iters)
    print(f"{engine} engine d={args.d} c={args.c}: predicted {cost.seconds:.0f} s, {cost.bytes / 2**20:.0f} MB, "
          f"{cost.steps} steps", flush=True)

    def progress(step: int, total: int, info: dict) -> None:
        if step % max(1, total // 10) == 0:
            print(f"  step {step}/{total}  {time.perf_counter() - start:.0f} s  max cos {info['max_cos']:.5f}", flush=True)

    start = time.perf_counter()
    if engine == "all-pairs":
        result = optimize(args.d, args.c, seed=args.seed, iters=args.iters, device=str(dev), progress=progress,
                          options=options)
        value = certify(result.vectors, dev, BLOCK_ELEMENTS[dev.type])
    else:
        rows, kind = (plan.build(), f"code {plan.name}") if plan is not None else best_start(args.d, args.c, args.seed)
        result = optimize_neighbours(rows, cost.steps, options, device=dev, warm=kind != "random", seed=args.seed,
                                     progress=progress)
        value = result.params["certified_max_cosine"]
        print(f"  start {kind}: max cosine {result.params['start_max_cosine']:.5f}")
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        name = torch.cuda.get_device_name(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        name = "cpu"
    print(f"{engine} d={args.d} c={args.c} on {name}: {seconds:.1f} s, {result.iterations} steps, "
          f"max cosine {value:.5f}, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
