"""The ``Prototypes`` result object: a (c, d) matrix of unit rows and what made it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .schema import content_sha256

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True, eq=False)
class Prototypes:
    """c fixed class prototypes on the unit sphere S^(d-1).

    Attributes
    ----------
    vectors : numpy.ndarray, shape (c, d)
        Read-only unit rows (row i = prototype i), float32 or float64 exactly as stored.
    method : str
        Name of the method that made them.
    method_params : dict
        Every hyperparameter the method actually used.
    seed : int
        Seed of the run (-1 when the method takes none).
    iterations : int
        Optimisation steps taken (0 for constructions).
    metrics : dict
        Headline geometry (max/min/mean cosine, min angle, ...).
    provenance : dict
        Library versions and device of the run.
    history : dict
        Optional per-step traces (``loss``, ``max_cosine``) for plots.
    source : pathlib.Path or None
        File the prototypes were read from, if any.
    """

    vectors: np.ndarray
    method: str
    method_params: dict[str, Any] = field(default_factory=dict)
    seed: int = -1
    iterations: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    source: Path | None = None
    created_utc: str | None = None
    created_by: str | None = None

    def __post_init__(self) -> None:
        v = np.array(self.vectors, copy=True) if self.vectors.flags.writeable else self.vectors
        v.setflags(write=False)
        object.__setattr__(self, "vectors", v)
        object.__setattr__(self, "_sha", content_sha256(v))

    @property
    def c(self) -> int:
        """Number of prototypes (classes)."""
        return int(self.vectors.shape[0])

    @property
    def d(self) -> int:
        """Dimension of the embedding space."""
        return int(self.vectors.shape[1])

    @property
    def dtype(self) -> str:
        """Stored dtype name, ``float32`` or ``float64``."""
        return self.vectors.dtype.name

    @property
    def content_sha256(self) -> str:
        """SHA-256 of the canonical content (see ``docs/format.md``)."""
        return self._sha  # type: ignore[attr-defined]

    def to_numpy(self, dtype: str | np.dtype | None = None) -> np.ndarray:
        """A writable copy of the (c, d) matrix, optionally cast."""
        return np.array(self.vectors, dtype=dtype, copy=True)

    def to_torch(self, device: Any = "cpu", dtype: "torch.dtype | None" = None) -> "torch.Tensor":
        """The (c, d) matrix as a torch tensor (float32 unless ``dtype`` says otherwise)."""
        import torch

        return torch.as_tensor(self.to_numpy(), dtype=dtype or torch.float32, device=device)

    def astype(self, dtype: str) -> "Prototypes":
        """The same prototypes stored as ``float32`` or ``float64``; rows re-normalised, the
        geometry re-measured (on the same pairs as before), other metrics (the run's
        ``seconds``) kept."""
        from .measure import remeasure

        v = np.asarray(self.vectors, dtype=np.float64)
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(dtype)
        return self.replace(vectors=v, metrics={**self.metrics, **remeasure(v, self.metrics).headline()})

    def replace(self, **changes: Any) -> "Prototypes":
        """A copy with some fields changed (the content hash follows the vectors)."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        fields.update(changes)
        return Prototypes(**fields)

    def summary(self) -> dict[str, Any]:
        """Everything but the vectors, as plain JSON-ready values (for reports and ``--json``)."""
        return {
            "d": self.d,
            "c": self.c,
            "method": self.method,
            "method_params": self.method_params,
            "seed": self.seed,
            "iterations": self.iterations,
            "dtype": self.dtype,
            "content_sha256": self.content_sha256,
            "metrics": self.metrics,
            "provenance": self.provenance,
            "created_utc": self.created_utc,
            "created_by": self.created_by,
            "path": str(self.source) if self.source is not None else None,
        }

    def params_json(self) -> str:
        """``method_params`` as canonical JSON (sorted keys)."""
        return json.dumps(self.method_params, sort_keys=True)

    def __repr__(self) -> str:
        max_cos = self.metrics.get("max_cosine")
        tail = f", max_cos={max_cos:.4f}" if max_cos is not None else ""
        return (
            f"Prototypes(d={self.d}, c={self.c}, method={self.method!r}, "
            f"sha256={self.content_sha256[:8]!r}{tail})"
        )
