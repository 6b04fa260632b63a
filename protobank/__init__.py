"""protobank: fixed, equidistributed class prototypes on the hypersphere.

Generate them (:func:`generate`), measure them (:func:`geometry`), store and load verified
HDF5 artifacts (:func:`save`, :func:`read`, :func:`load`), and train with the dynamic
label-to-prototype assignment (:mod:`protobank.train`).

Importing the package is cheap: torch, scipy and matplotlib load only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import (
    AmbiguousArtifactError,
    ArtifactAccessError,
    ArtifactExistsError,
    ChecksumMismatchError,
    InvalidArtifactError,
    InvalidInputError,
    MethodNotApplicableError,
    OutputPathError,
    ProtobankError,
    PrototypesNotFoundError,
    ResourceLimitError,
    SchemaVersionError,
    UnknownMethodError,
)
from .prototypes import Prototypes

_LAZY = {
    "generate": ("generation", "generate"),
    "geometry": ("measure", "geometry"),
    "GeometryReport": ("measure", "GeometryReport"),
    "max_cosine_bound": ("bounds", "max_cosine_bound"),
    "read": ("artifact", "read"),
    "verify": ("artifact", "verify"),
    "VerificationReport": ("artifact", "VerificationReport"),
    "save": ("artifact", "write"),
    "load": ("lookup", "load"),
    "list_available": ("lookup", "list_available"),
    "methods": ("optimize", "method_names"),
    "read_matrix": ("foreign", "read_matrix"),
}

__all__ = [
    "AmbiguousArtifactError",
    "ArtifactAccessError",
    "ArtifactExistsError",
    "ChecksumMismatchError",
    "InvalidArtifactError",
    "InvalidInputError",
    "MethodNotApplicableError",
    "OutputPathError",
    "ProtobankError",
    "Prototypes",
    "PrototypesNotFoundError",
    "ResourceLimitError",
    "SchemaVersionError",
    "UnknownMethodError",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'protobank' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
