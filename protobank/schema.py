"""Schema 1 of the protobank HDF5 artifact: names, version and the content hash recipe.

The normative description is ``docs/format.md``; this module is its executable form.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

FORMAT = "protobank.prototypes"
SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = 1

DATASET = "prototypes"
METRICS_GROUP = "metrics"
PROVENANCE_GROUP = "provenance"
HISTORY_GROUP = "history"

REQUIRED_ATTRS = (
    "format",
    "schema_version",
    "d",
    "c",
    "method",
    "method_params",
    "seed",
    "iterations",
    "content_sha256",
    "created_utc",
    "created_by",
)
REQUIRED_METRICS = ("max_cosine", "min_cosine", "mean_cosine", "min_angle_deg")

STORED_DTYPES = ("float32", "float64")
# A row's norm may differ from 1 by at most this much, by stored dtype.
UNIT_NORM_TOL = {"float32": 1e-5, "float64": 1e-10}

_HASH_PREFIX = b"protobank.prototypes.content.v1\x00"
HASH_BLOCK_BYTES = 64 * 2**20


def content_sha256(vectors: np.ndarray) -> str:
    """SHA-256 of an artifact's canonical content, independent of how HDF5 lays out bytes.

    The digest covers, in order: the ASCII prefix ``protobank.prototypes.content.v1`` and a NUL
    byte; the little-endian dtype code (``<f4`` or ``<f8``) and a NUL byte; ``c`` and ``d`` as
    little-endian int64; the matrix as little-endian floats of that dtype in C (row-major) order.
    """
    a = np.asarray(vectors)
    if a.ndim != 2 or a.dtype.name not in STORED_DTYPES:
        raise ValueError(f"content hash needs a 2-D float32/float64 array, got {a.dtype}{a.shape}")
    le = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    h = hashlib.sha256(_HASH_PREFIX)
    h.update(le.dtype.str.encode("ascii") + b"\x00")
    h.update(struct.pack("<qq", *a.shape))
    step = max(1, HASH_BLOCK_BYTES // max(1, le.itemsize * a.shape[1]))
    for start in range(0, a.shape[0], step):  # in row blocks: no second copy of a large matrix
        h.update(memoryview(le[start : start + step]).cast("B"))
    return h.hexdigest()


def parse_schema_major(version: str) -> int:
    """The major number of a ``"MAJOR.MINOR"`` schema version string."""
    return int(str(version).split(".", 1)[0])
