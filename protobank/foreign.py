"""Prototype matrices written by other projects: ``.npy``, ``.npz`` and ``.pt`` files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .errors import InvalidArtifactError, InvalidInputError, PrototypesNotFoundError

FOREIGN_SUFFIXES = (".npy", ".npz", ".pt", ".pth")


def read_matrix(path: str | Path, *, layout: str = "auto") -> np.ndarray:
    """A float64 (c, d) matrix of unit rows from another project's file.

    ``layout`` is ``cd`` (rows are prototypes), ``dc`` (columns are prototypes) or ``auto``,
    which takes the longer side as c and refuses square matrices. Rows that are not of unit
    length are normalised with a warning.
    """
    path = Path(path)
    if not path.is_file():
        raise PrototypesNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = [k for k in z.files if z[k].ndim == 2]
                if len(keys) != 1:
                    raise InvalidArtifactError(f"{path}: expected exactly one 2-D array, found {keys or 'none'}")
                arr = z[keys[0]]
        elif suffix in (".pt", ".pth"):
            import torch

            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                tensors = [v for v in obj.values() if hasattr(v, "ndim") and v.ndim == 2]
                if len(tensors) != 1:
                    raise InvalidArtifactError(f"{path}: expected one 2-D tensor in the saved dict, found {len(tensors)}")
                obj = tensors[0]
            if not hasattr(obj, "detach"):
                raise InvalidArtifactError(f"{path}: holds a {type(obj).__name__}, not a tensor")
            arr = obj.detach().to(dtype=torch.float64).numpy()
        else:
            raise InvalidArtifactError(f"{path}: unknown file type {suffix!r}; expected .h5, {', '.join(FOREIGN_SUFFIXES)}")
    except (InvalidArtifactError, PrototypesNotFoundError):
        raise
    except Exception as exc:  # numpy/torch raise many types on corrupt files
        raise InvalidArtifactError(f"{path}: cannot read ({exc})") from exc
    return as_prototype_rows(np.asarray(arr), layout=layout, name=str(path))


def as_prototype_rows(arr: np.ndarray, *, layout: str = "auto", name: str = "matrix") -> np.ndarray:
    """Orient and validate a 2-D array as (c, d) unit rows."""
    if layout not in ("auto", "cd", "dc"):
        raise InvalidInputError(f"layout must be auto, cd or dc, got {layout!r}")
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise InvalidArtifactError(f"{name}: expected a real 2-D matrix, got {arr.dtype} of shape {arr.shape}")
    if layout == "auto":
        if arr.shape[0] == arr.shape[1]:
            raise InvalidInputError(f"{name}: square {arr.shape} matrix; say --layout cd (rows are prototypes) or dc")
        layout = "cd" if arr.shape[0] > arr.shape[1] else "dc"
        if layout == "dc":
            warnings.warn(f"{name}: read {arr.shape} as (d, c) with columns as prototypes (longer side = c); use --layout to override", stacklevel=2)
    x = np.asarray(arr, dtype=np.float64)
    x = x.T if layout == "dc" else x
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise InvalidArtifactError(f"{name}: need at least 2 prototypes, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidArtifactError(f"{name}: contains NaN or inf")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise InvalidArtifactError(f"{name}: contains a zero row")
    if np.abs(norms - 1).max() > 1e-6:
        warnings.warn(f"{name}: rows are not unit length (norms {norms.min():.3g}..{norms.max():.3g}); normalised them", stacklevel=2)
    return np.ascontiguousarray(x / norms[:, None])
