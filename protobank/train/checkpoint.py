"""Training checkpoints: the format, an atomic write, reading with a version check, and the
rule for what a resumed run may change."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import ProtobankError

CHECKPOINT_FORMAT = "protobank-train-checkpoint"
CHECKPOINT_VERSION = 3  # 3: the head's scale options replace ce_scale
#: Settings a resumed run may change: its length, and nothing that decides its numbers.
RESUMABLE_CHANGES = ("epochs",)


def write_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` to ``path`` atomically: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A training checkpoint's contents, after checking that it is one this version reads."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:
        raise ProtobankError(f"cannot read checkpoint {path}: {e}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ProtobankError(f"{path} is not a protobank training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise ProtobankError(
            f"checkpoint {path} has format version {state.get('version')}, this protobank reads version "
            f"{CHECKPOINT_VERSION}: train it again with this version"
        )
    return state


def check_resumable(state: dict[str, Any], path: Path, *, prototype_sha256: str | None, settings: dict[str, Any]) -> None:
    """Refuse to resume from ``state`` with other prototypes, or with any other data, model or
    optimisation setting (``settings``: the run's settings and configuration, all but
    :data:`RESUMABLE_CHANGES`), naming each difference."""
    if state["prototype_sha256"] != prototype_sha256:
        raise ProtobankError(
            f"checkpoint {path} was trained with prototypes sha256 {str(state['prototype_sha256'])[:12]}, "
            f"but these prototypes are {str(prototype_sha256)[:12]}: resume with the same --prototypes"
        )
    saved = {**state["settings"], **state["config"]}
    differ = [k for k in sorted(saved.keys() | settings.keys()) if k not in RESUMABLE_CHANGES and saved.get(k) != settings.get(k)]
    if differ:
        changes = ", ".join(f"{k}={saved.get(k)!r} (now {settings.get(k)!r})" for k in differ)
        raise ProtobankError(
            f"checkpoint {path} was made with other settings: {changes}; resume with the same options, "
            "or start a new run in another --out"
        )


def state_dict_error(e: Exception) -> str:
    """The cause in a torch ``load_state_dict`` error (its first line only names the module)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__
