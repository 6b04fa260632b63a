"""Exporting an artifact's matrix to other formats: .npy, .pt, .csv, .safetensors.

The export is written like an artifact: under a hidden temporary name in the destination
folder, then given its name by a link that never overwrites, so a reader never sees half a
file and an existing file is never replaced.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArtifactExistsError, InvalidInputError, OutputPathError
from .prototypes import Prototypes

FORMATS = {"npy": ".npy", "pt": ".pt", "csv": ".csv", "safetensors": ".safetensors"}
LAYOUTS = ("cd", "dc")


def export_path(source: Path, fmt: str) -> Path:
    """The default destination: the source's name with the format's suffix."""
    return source.with_suffix(FORMATS[fmt])


def export(p: Prototypes, path: str | os.PathLike, *, fmt: str, layout: str = "cd") -> Path:
    """Write the prototype matrix of ``p`` to ``path`` as ``fmt``.

    Parameters
    ----------
    p : Prototypes
        What to export; the matrix keeps its stored dtype.
    path : path
        Destination; must not exist.
    fmt : str
        ``npy``, ``pt`` (a torch tensor), ``csv`` (full precision) or ``safetensors`` (tensor
        ``prototypes``, the artifact's method, hash and layout as metadata; needs the
        ``safetensors`` package).
    layout : str
        ``cd`` (rows are prototypes, shape (c, d)) or ``dc`` (columns are, shape (d, c)).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise InvalidInputError(f"layout must be cd (rows = prototypes) or dc (columns = prototypes), got {layout!r}")
    if fmt == "safetensors":
        try:
            import safetensors.numpy  # noqa: F401
        except ImportError:
            raise InvalidInputError("--format safetensors needs the safetensors package: pip install safetensors") from None
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise ArtifactExistsError(f"{path} exists; remove it or choose another --out")
    if not path.parent.is_dir():
        raise OutputPathError(f"folder {path.parent} does not exist; create it first")
    matrix = np.ascontiguousarray(p.vectors if layout == "cd" else p.vectors.T)
    from .artifact import staged_file

    with staged_file(path, overwrite=False) as tmp:
        with open(tmp, "wb") as fh:
            _write(fh, matrix, fmt, p, layout)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def _write(fh: Any, matrix: np.ndarray, fmt: str, p: Prototypes, layout: str) -> None:
    if fmt == "npy":
        np.save(fh, matrix, allow_pickle=False)
    elif fmt == "pt":
        import torch

        torch.save(torch.from_numpy(matrix.copy()), fh)
    elif fmt == "csv":
        digits = 17 if matrix.dtype == np.float64 else 9  # enough to read back every float exactly
        np.savetxt(fh, matrix, delimiter=",", fmt=f"%.{digits}g")
    else:
        from safetensors.numpy import save

        meta = {"format": "protobank.prototypes", "method": p.method, "content_sha256": p.content_sha256, "layout": layout}
        fh.write(save({"prototypes": matrix}, metadata=meta))
