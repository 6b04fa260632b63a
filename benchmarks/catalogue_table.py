"""The catalogue's families as the Markdown table of docs/method.md, read from the code table.

Usage: python benchmarks/catalogue_table.py
"""

from __future__ import annotations

from protobank.codes.plan import code_table


def main() -> None:
    families: dict[str, list] = {}
    for code in code_table():
        families.setdefault(code.family, []).append(code)
    print("| family | instances | n | N | max cosine | source |")
    print("|---|---|---|---|---|---|")
    for name, codes in families.items():
        lo, hi = min(codes, key=lambda k: k.n), max(codes, key=lambda k: k.n)
        span = lambda a, b: f"{a:,}" if a == b else f"{a:,} .. {b:,}"  # noqa: E731
        cos = f"{lo.max_cosine:.4g}" if lo is hi else f"{lo.max_cosine:.4g} .. {hi.max_cosine:.4g}"
        print(f"| `{name}` | {len(codes)} | {span(lo.n, hi.n)} | {span(lo.size, hi.size)} | {cos} | {codes[0].source} |")


if __name__ == "__main__":
    main()
