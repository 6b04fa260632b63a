"""The package's exceptions: every error protobank raises derives from ``ProtobankError``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProtobankError(Exception):
    """Root of all protobank errors; the CLI prints these as one line and exits 1."""


class InvalidInputError(ProtobankError, ValueError):
    """An argument is out of range or of the wrong kind."""


class UnknownMethodError(ProtobankError, ValueError):
    """A method name that is not registered."""


class MethodNotApplicableError(InvalidInputError):
    """A method cannot produce prototypes for this (d, c), e.g. ETF with c > d + 1."""


class ResourceLimitError(ProtobankError, MemoryError):
    """The request would need more memory than the method can use."""


class InvalidArtifactError(ProtobankError, ValueError):
    """A file is not a valid protobank artifact (truncated, wrong format, bad values)."""


class SchemaVersionError(InvalidArtifactError):
    """The artifact was written with a newer, incompatible schema."""


class ChecksumMismatchError(InvalidArtifactError):
    """The stored content hash does not match the data: the file was altered."""


class ArtifactAccessError(ProtobankError, OSError):
    """A file cannot be opened, locked or read (permissions, file system); its bytes may be fine."""


class ArtifactExistsError(ProtobankError, FileExistsError):
    """The destination exists and overwriting was not asked for."""


class OutputPathError(ProtobankError, OSError):
    """The destination cannot be written (missing folder, read-only, disk full)."""


class PrototypesNotFoundError(ProtobankError, LookupError):
    """No artifact matches the requested (d, c, method, sha256)."""


class AmbiguousArtifactError(ProtobankError, LookupError):
    """A request matches several different artifacts; the message names them."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest choices, or '' when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
