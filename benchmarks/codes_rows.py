"""Time and memory to build c rows of each exact code: protobank.codes, c rows by index.

Usage: python benchmarks/codes_rows.py --c 100000 --codes "gold(m=9)" "real_mub(m=9)"
Each code runs in a fresh process so that its peak resident memory is its own. Columns:
setup = first rows() call on one index (builds the field tables and the encoder);
rows = rows(np.arange(c)) (or all N rows when N < c); out = the float64 output; peak = the
process's peak resident memory (interpreter and numpy included).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

DEFAULT = ["gold(m=7)", "gold(m=9)", "gold(m=11)", "gold_ext(m=9)", "kasami_small(m=12)",
           "kasami_large(m=10)", "dual_bch3(m=9)", "real_mub(m=7)", "real_mub(m=9)",
           "real_mub(m=11)", "dg(m=9, r=1)"]


def measure(name: str, c: int) -> dict:
    import numpy as np

    from protobank.codes import catalogue

    code = next(k for k in catalogue() if k.name == name)
    t0 = time.perf_counter()
    code.rows(np.zeros(1, dtype=np.int64))
    t1 = time.perf_counter()
    out = code.rows(np.arange(min(c, code.size), dtype=np.int64))
    t2 = time.perf_counter()
    return {"code": name, "n": code.n, "rows": len(out), "setup_s": t1 - t0, "rows_s": t2 - t1,
            "out_mib": out.nbytes / 2**20,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=int, default=100_000)
    parser.add_argument("--codes", nargs="+", default=DEFAULT)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.c)))
        return
    print(f"{'code':22} {'n':>5} {'rows':>8} {'setup s':>8} {'rows s':>7} {'out MiB':>8} {'peak MiB':>9}")
    for name in args.codes:
        done = subprocess.run([sys.executable, __file__, "--c", str(args.c), "--one", name],
                              capture_output=True, text=True, check=True)
        r = json.loads(done.stdout)
        print(f"{r['code']:22} {r['n']:>5} {r['rows']:>8} {r['setup_s']:>8.2f} {r['rows_s']:>7.2f} "
              f"{r['out_mib']:>8.0f} {r['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
