"""Print the tables of the glyph grid (benchmarks/glyph_grid.sh) from its JSON lines.

Usage: python benchmarks/glyph_table.py RESULTS.jsonl [MORE.jsonl ...]
One row per (epochs, d, setting): test top-1 of each seed and their mean, the last epoch's
training top-1 (seed 0) and the labels the assignment moved in the first epochs (seed 0).
Several files (say, runs on two machines) are merged; the last column names each row's files.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main(paths: list[str]) -> None:
    groups: dict[tuple[int, int, str], dict[int, dict]] = defaultdict(dict)
    for path in paths:
        with open(path) as f:
            for line in f:
                run = {**json.loads(line), "file": Path(path).name}
                epochs, dim, seed, setting = run["name"].split("-", 3)
                groups[(int(epochs[1:]), int(dim[1:]), setting)][int(seed[1:])] = run
    print("| epochs | d | setting | top-1 seed 0 | seed 1 | mean | train top-1 | moved, epochs 1-4 | runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (epochs, dim, setting), seeds in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1], kv[0][2])):
        top = [seeds[s]["top1"] if s in seeds else None for s in (0, 1)]
        mean = statistics.mean(t for t in top if t is not None)
        first = seeds[min(seeds)]
        moved = ", ".join(map(str, (first.get("changes") or [])[:4])) if "dynamic" in setting else "-"
        cells = [f"{t:.2f}" if t is not None else "-" for t in top]
        files = ", ".join(dict.fromkeys(run["file"] for run in seeds.values()))
        print(f"| {epochs} | {dim} | {setting} | {cells[0]} | {cells[1]} | {mean:.2f} | {first['train_top1']:.1f} | {moved} | {files} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
