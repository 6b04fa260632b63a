"""What the font-rendered benchmark builders (build_glyphs.py, build_ideographs.py) share:
asking fontconfig for fonts, and writing the image tree whole or not at all."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def fc_list(pattern: str, fmt: str, hint: str) -> str:
    """``fc-list PATTERN --format FMT``'s output; stops with one line and ``hint`` (what to
    install) where fontconfig is missing."""
    try:
        return subprocess.run(["fc-list", pattern, "--format", fmt], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"error: fc-list not found; {hint}")


def refuse_existing(out: Path, force: bool) -> None:
    """Stop with one line when ``out`` exists and ``--force`` was not given."""
    if out.exists() and not force:
        sys.exit(f"error: {out} exists; pass --force to replace it")


def publish_tree(out: Path, build: Callable[[Path], dict]) -> dict:
    """Run ``build(folder)`` in a hidden sibling of ``out``, write its manifest there, then put
    the folder in place of ``out``: an interrupted build never leaves a partial tree under the
    final name. Returns the manifest."""
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        manifest = build(tmp)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest
