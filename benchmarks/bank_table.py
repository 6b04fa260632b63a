"""Print the bank's headline metrics as a Markdown table (max cosine and gap to the bound).

Usage: python benchmarks/bank_table.py [BANK_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from protobank.index import read_index
from protobank.folders import packaged_bank


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else packaged_bank()
    entries = read_index(root)
    cs = sorted({e.c for e in entries})
    ds = sorted({e.d for e in entries})
    cell = {(e.d, e.c): e for e in entries if e.default}
    print("| d | " + " | ".join(f"c={c}: max cos (gap)" for c in cs) + " |")
    print("|---|" + "---|" * len(cs))
    for d in ds:
        row = []
        for c in cs:
            e = cell.get((d, c))
            row.append("" if e is None else f"{e.metrics['max_cosine']:.4f} ({e.metrics['gap_to_bound']:.4f})")
        print(f"| {d} | " + " | ".join(row) + " |")
    total = sum(e.size_bytes or 0 for e in entries)
    print(f"\n{len(entries)} artifacts, {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
