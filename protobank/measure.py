"""Geometry of a prototype matrix: pairwise-cosine statistics computed in row blocks.

Pure numpy, no I/O. Memory stays O(c * block): c = 100,000 is fine on a laptop.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .bounds import Bound, max_cosine_bound

UNIFORMITY_T = 2.0
# Bytes of one cosine block; bounds the working memory of every blocked pass.
BLOCK_BYTES = 64 * 2**20
# Above this many prototypes, blocks are float32 (2x faster; cosines good to ~1e-7).
FLOAT64_MAX_C = 20_000


@dataclass(frozen=True)
class GeometryReport:
    """Pairwise geometry of c unit vectors in R^d (rows are normalised before measuring).

    Cosine statistics are over ordered pairs i != j. ``uniformity`` is the empirical version of
    the paper's eq. 4 over distinct pairs, ``log mean_{i<j} exp(-t ||w_i - w_j||^2)``, t = 2
    (lower is more uniform). ``nn_*`` are statistics of each prototype's angle to its nearest
    neighbour; ``row_max_cosine`` is each prototype's largest cosine to another (Figure 3a).
    ``measured_rows`` < c means only the pairs touching that many evenly spaced rows were
    measured (see :func:`geometry`): then the pairwise statistics are over those pairs.
    """

    d: int
    c: int
    max_cosine: float
    min_cosine: float
    mean_cosine: float
    std_cosine: float
    min_angle_deg: float
    nn_angle_mean_deg: float
    nn_angle_std_deg: float
    nn_angle_max_deg: float
    centroid_norm: float
    uniformity: float
    max_norm_deviation: float
    measured_rows: int
    bound: Bound
    row_max_cosine: np.ndarray = field(repr=False)

    @property
    def gap_to_bound(self) -> float:
        """How far the max cosine sits above the best possible (0 means optimal)."""
        return self.max_cosine - self.bound.value

    def headline(self) -> dict[str, float]:
        """The scalar metrics stored in an artifact's ``/metrics`` group."""
        out = {k: v for k, v in asdict(self).items() if isinstance(v, float)}
        out.update(bound_max_cosine=self.bound.value, gap_to_bound=self.gap_to_bound)
        if self.measured_rows < self.c:
            out["measured_rows"] = float(self.measured_rows)
        return out

    def to_dict(self, *, per_prototype: bool = False) -> dict:
        """A JSON-ready dict; ``per_prototype`` adds the per-row largest cosines."""
        out: dict = {"d": self.d, "c": self.c, **self.headline()}
        out["bound"] = self.bound.to_dict()
        if per_prototype:
            out["row_max_cosine"] = self.row_max_cosine.tolist()
        return out


def _as_unit_rows(vectors: np.ndarray, dtype: type) -> tuple[np.ndarray, float]:
    """The rows normalised into one new array of ``dtype``, in blocks (no other full copy)."""
    x = np.asarray(vectors)
    if x.ndim != 2:
        raise ValueError(f"expected a (c, d) matrix, got shape {x.shape}")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"need at least 2 prototypes of dimension >= 1, got shape {x.shape}")
    out = np.empty(x.shape, dtype=dtype)
    max_dev = 0.0
    for start, stop in _spans(x.shape[0], _block_rows(x.shape[1], 8)):
        xb = np.asarray(x[start:stop], dtype=np.float64)
        if not np.isfinite(xb).all():
            raise ValueError("vectors contain NaN or inf")
        norms = np.sqrt(np.einsum("ij,ij->i", xb, xb))
        if (norms == 0).any():
            raise ValueError("vectors contain a zero row, which has no direction")
        out[start:stop] = xb / norms[:, None]
        max_dev = max(max_dev, float(np.abs(norms - 1).max()))
    return out, max_dev


def _block_rows(c: int, itemsize: int) -> int:
    return int(max(1, min(c, BLOCK_BYTES // (itemsize * c))))


def _spans(total: int, step: int):
    return ((start, min(start + step, total)) for start in range(0, total, step))


def sample_rows(c: int, rows: int | None) -> np.ndarray | None:
    """The ``rows`` evenly spaced row indices a sampled measurement uses (None: every row)."""
    if rows is None or rows >= c:
        return None
    if rows < 2:
        raise ValueError(f"a sampled measurement needs at least 2 rows, got {rows}")
    return np.unique(np.linspace(0, c - 1, rows).round().astype(np.int64))


def geometry(
    vectors: np.ndarray, *, t: float = UNIFORMITY_T, precision: str = "auto", rows: int | None = None
) -> GeometryReport:
    """Measure the pairwise geometry of a (c, d) prototype matrix.

    Parameters
    ----------
    vectors : array_like, shape (c, d)
        Prototypes as rows; they are normalised to unit length first (cosine geometry).
    t : float
        Kernel parameter of the Gaussian-potential uniformity (paper eq. 3-4).
    precision : {"auto", "float64", "float32"}
        Arithmetic of the blocked pass; "auto" is float64 up to c = 20,000.
    rows : int, optional
        Measure only the pairs that touch ``rows`` evenly spaced prototypes (each against all
        others) instead of every pair: for very large c, where a construction already proves
        the max cosine. Mean, spread and centroid stay exact; the max cosine becomes a lower
        bound (exact when it reaches the proven value). ``measured_rows`` records it.

    Returns
    -------
    GeometryReport

    Examples
    --------
    >>> import numpy as np
    >>> round(geometry(np.eye(3)).max_cosine, 12)
    0.0
    """
    if precision == "auto":
        precision = "float64" if np.shape(vectors)[0] <= FLOAT64_MAX_C else "float32"
    dtype = {"float64": np.float64, "float32": np.float32}[precision]
    x, max_norm_dev = _as_unit_rows(vectors, dtype)
    c, d = x.shape

    # Mean and spread of cosines need no pairwise pass: sum_{i != j} x_i.x_j = |sum x|^2 - c.
    s = np.zeros(d)
    gram = np.zeros((d, d))
    for start, stop in _spans(c, _block_rows(d, 8)):
        xb = x[start:stop].astype(np.float64, copy=False)
        s += xb.sum(axis=0)
        gram += xb.T @ xb
    pairs = c * (c - 1)
    mean = (float(s @ s) - c) / pairs
    mean_sq = (float(np.sum(gram * gram)) - c) / pairs
    std = math.sqrt(max(mean_sq - mean * mean, 0.0))

    sample = sample_rows(c, rows)
    if sample is None:
        row_max, overall_min, potential, count = _all_pairs(x, dtype(2 * t))
    else:
        row_max, overall_min, potential, count = _sampled_pairs(x, sample, dtype(2 * t))
    row_max = np.clip(row_max, -1.0, 1.0)
    nn_angles = np.degrees(np.arccos(row_max))
    max_cos = float(row_max.max())
    return GeometryReport(
        d=d,
        c=c,
        max_cosine=max_cos,
        min_cosine=float(overall_min),
        mean_cosine=mean,
        std_cosine=std,
        min_angle_deg=float(math.degrees(math.acos(min(max(max_cos, -1.0), 1.0)))),
        nn_angle_mean_deg=float(nn_angles.mean()),
        nn_angle_std_deg=float(nn_angles.std()),
        nn_angle_max_deg=float(nn_angles.max()),
        centroid_norm=float(np.linalg.norm(s) / c),
        uniformity=float(math.log(potential / count)) if potential > 0 else -math.inf,
        max_norm_deviation=max_norm_dev,
        measured_rows=c if sample is None else len(sample),
        bound=max_cosine_bound(d, c),
        row_max_cosine=row_max,
    )


def _all_pairs(x: np.ndarray, two_t) -> tuple[np.ndarray, float, float, int]:
    """Every row's largest cosine, the smallest cosine, and sum_{i<j} exp(2t (cos - 1))."""
    c = x.shape[0]
    row_max = np.full(c, -np.inf)
    overall_min = np.inf
    potential = 0.0  # sum over i < j of exp(2t (cos - 1)) = exp(-t |w_i - w_j|^2)
    block = _block_rows(c, x.itemsize)
    for start in range(0, c, block):
        stop = min(start + block, c)
        xb = x[start:stop]
        diag = xb @ xb.T
        iu = np.triu_indices(stop - start, 1)
        upper = diag[iu]
        if upper.size:
            overall_min = min(overall_min, float(upper.min()))
            potential += float(np.exp(two_t * (upper - 1), dtype=np.float64).sum())
        np.fill_diagonal(diag, -np.inf)
        np.maximum(row_max[start:stop], diag.max(axis=1), out=row_max[start:stop])
        if stop == c:
            continue
        off = xb @ x[stop:].T
        np.maximum(row_max[start:stop], off.max(axis=1), out=row_max[start:stop])
        np.maximum(row_max[stop:], off.max(axis=0), out=row_max[stop:])
        overall_min = min(overall_min, float(off.min()))
        off -= 1
        off *= two_t
        np.exp(off, out=off)
        potential += float(off.sum(dtype=np.float64))
    return row_max, overall_min, potential, c * (c - 1) // 2


def _sampled_pairs(x: np.ndarray, sample: np.ndarray, two_t) -> tuple[np.ndarray, float, float, int]:
    """The same statistics over the pairs (i, j), i in ``sample``, j != i: each sampled row's
    largest cosine, their smallest cosine, and the potential summed over those pairs."""
    c = x.shape[0]
    row_max = np.empty(len(sample))
    overall_min = np.inf
    potential = 0.0
    block = _block_rows(c, x.itemsize)
    for start in range(0, len(sample), block):
        idx = sample[start : start + block]
        g = x[idx] @ x.T
        g[np.arange(len(idx)), idx] = np.nan
        row_max[start : start + len(idx)] = np.nanmax(g, axis=1)
        overall_min = min(overall_min, float(np.nanmin(g)))
        g -= 1
        g *= two_t
        np.exp(g, out=g)
        potential += float(np.nansum(g, dtype=np.float64))
    return row_max, overall_min, potential, len(sample) * (c - 1)


def remeasure(vectors: np.ndarray, metrics: dict) -> GeometryReport:
    """The geometry measured the way the stored ``metrics`` were (sampled rows or all)."""
    rows = metrics.get("measured_rows")
    c = np.shape(vectors)[0]
    return geometry(vectors, rows=None if rows is None or int(rows) >= c else int(rows))


def pairwise_cosines(vectors: np.ndarray, *, max_rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Cosines of all distinct pairs (i < j), or of the pairs among a random subset of
    ``max_rows`` prototypes when c is larger (for histograms)."""
    x, _ = _as_unit_rows(vectors, np.float64)
    if x.shape[0] > max_rows:
        rows = np.random.default_rng(seed).choice(x.shape[0], size=max_rows, replace=False)
        x = x[np.sort(rows)]
    g = x @ x.T
    return g[np.triu_indices(x.shape[0], 1)]
