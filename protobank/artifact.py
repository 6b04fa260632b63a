"""Reading and writing protobank HDF5 artifacts (schema 1). The only module that opens HDF5.

Writes are atomic: the file is written under a unique hidden temporary name in the destination
folder, closed, re-opened and validated, then published with a hard link (no overwrite) or
``os.replace`` (overwrite). A crash, an error or Ctrl-C never leaves a partial file under the
final name, and a published file is never opened for writing again.

It is longer than the package's other modules on purpose: being the only module that opens
HDF5, it holds the whole schema's reading and its checks in one place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import schema
from ._version import __version__
from .errors import (
    ArtifactAccessError,
    ArtifactExistsError,
    ChecksumMismatchError,
    InvalidArtifactError,
    OutputPathError,
    PrototypesNotFoundError,
    SchemaVersionError,
)
from .prototypes import Prototypes

# Refuse to read a declared matrix larger than this (a hostile header must not make us allocate).
MAX_MATRIX_BYTES = 8 * 2**30
# More attributes than this on one object means a corrupt header, not an artifact.
MAX_ATTRIBUTES = 256


def _read_attrs(obj: Any, path: Path) -> dict[str, Any]:
    """An object's attributes, refusing variable-length strings before reading any value.

    Variable-length strings live in HDF5's global heap, and a corrupt heap reference can make
    the HDF5 library loop; schema 1 stores every string as a fixed-length UTF-8 attribute.
    """
    import h5py

    names = list(obj.attrs)
    if len(names) > MAX_ATTRIBUTES:
        raise InvalidArtifactError(f"{path}: {len(names)} attributes on {obj.name}; corrupt header")
    out = {}
    for name in names:
        dtype = obj.attrs.get_id(name).dtype
        info = h5py.check_string_dtype(dtype)
        if dtype.kind == "O" and (info is None or info.length is None):
            raise InvalidArtifactError(
                f"{path}: attribute {obj.name.rstrip('/')}/{name} is a variable-length value; "
                "schema 1 stores strings as fixed-length UTF-8"
            )
        out[name] = _attr(obj.attrs[name])
    return out


def _str_attr(value: str) -> Any:
    """A fixed-length UTF-8 string attribute value (see :func:`_read_attrs`)."""
    import h5py

    raw = value.encode("utf-8")
    return np.array(raw, dtype=h5py.string_dtype("utf-8", max(1, len(raw))))


def _attr(value: Any) -> Any:
    """HDF5 attribute values as plain Python objects."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _as_int(name: str, value: Any, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArtifactError(f"{path}: attribute {name!r} must be an integer, got {value!r}")
    return int(value)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise PrototypesNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise InvalidArtifactError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ArtifactAccessError(f"{path}: cannot open or read the file ({exc.strerror or exc})") from exc
    if head != b"\x89HDF\r\n\x1a\n":
        raise InvalidArtifactError(
            f"{path}: not an HDF5 file (for .npy/.npz/.pt matrices use `protobank inspect`)"
        )


def read(path: str | os.PathLike, *, verify: bool = True) -> Prototypes:
    """Read and validate an artifact.

    Checks, in order: the file is HDF5; ``format``; ``schema_version`` (a newer major raises
    :class:`SchemaVersionError`); required attributes; the dataset's shape and dtype against
    ``c`` and ``d``; that the data is fully stored; finiteness and unit norms; and, with
    ``verify``, the content hash (:class:`ChecksumMismatchError` on mismatch).
    """
    import h5py

    path = Path(path)
    _check_file(path)
    try:
        # Artifacts are immutable, so no lock is needed, and locks fail on Lustre, GPFS and NFS.
        with h5py.File(path, "r", locking=False) as f:
            return _read_open(f, path, verify)
    except InvalidArtifactError:
        raise
    except OSError as exc:
        if _is_access_error(exc):
            raise ArtifactAccessError(f"{path}: cannot open or read the file ({exc}); check its permissions and the file system") from exc
        raise InvalidArtifactError(f"{path}: corrupt or truncated HDF5 file ({exc})") from exc
    except Exception as exc:  # h5py raises KeyError, ValueError, ... on corrupt files
        raise InvalidArtifactError(f"{path}: corrupt or truncated HDF5 file ({exc})") from exc


_ACCESS_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOLCK, errno.EAGAIN, errno.EBUSY, errno.EIO, errno.EROFS}
# h5py reports HDF5's own failures as OSError with the errno only in the message.
_ACCESS_TEXT = re.compile(r"unable to lock|permission denied|errno = (%s)\b" % "|".join(str(e) for e in sorted(_ACCESS_ERRNOS)), re.I)


def _is_access_error(exc: OSError) -> bool:
    """Whether an OSError means "cannot open, lock or read" rather than "the bytes are bad"."""
    return exc.errno in _ACCESS_ERRNOS or bool(_ACCESS_TEXT.search(str(exc)))


def _read_open(f: Any, path: Path, verify: bool) -> Prototypes:
    import h5py

    attrs = _read_attrs(f, path)
    if attrs.get("format") != schema.FORMAT:
        raise InvalidArtifactError(
            f"{path}: not a protobank artifact (format={attrs.get('format')!r}, "
            f"expected {schema.FORMAT!r})"
        )
    try:
        major = schema.parse_schema_major(attrs.get("schema_version", ""))
    except ValueError:
        raise InvalidArtifactError(f"{path}: bad schema_version {attrs.get('schema_version')!r}")
    if major > schema.SCHEMA_MAJOR:
        raise SchemaVersionError(
            f"{path}: written with schema {attrs['schema_version']}, this protobank "
            f"({__version__}) reads schema {schema.SCHEMA_MAJOR}.x; upgrade: pip install -U protobank"
        )
    missing = [a for a in schema.REQUIRED_ATTRS if a not in attrs]
    if missing:
        raise InvalidArtifactError(f"{path}: missing attributes {', '.join(missing)}")
    c = _as_int("c", attrs["c"], path)
    d = _as_int("d", attrs["d"], path)
    seed = _as_int("seed", attrs["seed"], path)
    iterations = _as_int("iterations", attrs["iterations"], path)
    if c < 2 or d < 1:
        raise InvalidArtifactError(f"{path}: need c >= 2 and d >= 1, got c={c}, d={d}")

    dset = f.get(schema.DATASET)
    if not isinstance(dset, h5py.Dataset):
        raise InvalidArtifactError(f"{path}: no dataset /{schema.DATASET}")
    if dset.shape != (c, d):
        raise InvalidArtifactError(f"{path}: /{schema.DATASET} has shape {dset.shape}, attributes say ({c}, {d})")
    if dset.dtype.kind != "f" or dset.dtype.itemsize not in (4, 8):
        raise InvalidArtifactError(f"{path}: /{schema.DATASET} has dtype {dset.dtype}, expected float32 or float64")
    nbytes = c * d * dset.dtype.itemsize
    if nbytes > MAX_MATRIX_BYTES:
        raise InvalidArtifactError(f"{path}: declared matrix of {nbytes} bytes exceeds the {MAX_MATRIX_BYTES}-byte limit")
    if dset.chunks is None and dset.id.get_storage_size() < nbytes:
        raise InvalidArtifactError(f"{path}: /{schema.DATASET} is not fully stored (truncated file?)")

    vectors = np.asarray(dset[()], dtype=dset.dtype.newbyteorder("="))
    if not np.isfinite(vectors).all():
        raise InvalidArtifactError(f"{path}: /{schema.DATASET} contains NaN or inf")
    with np.errstate(over="ignore", invalid="ignore"):
        dev = float(np.abs(np.sqrt(np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)) - 1).max())
    tol = schema.UNIT_NORM_TOL[vectors.dtype.name]
    if dev > tol:
        raise InvalidArtifactError(f"{path}: rows are not unit length (max |norm - 1| = {dev:.3g} > {tol:g})")
    if verify:
        actual = schema.content_sha256(vectors)
        if actual != attrs["content_sha256"]:
            raise ChecksumMismatchError(
                f"{path}: content hash {actual[:12]}... does not match the stored "
                f"{str(attrs['content_sha256'])[:12]}...: the file was altered; regenerate or re-fetch it"
            )

    metrics_group = f.get(schema.METRICS_GROUP)
    if not isinstance(metrics_group, h5py.Group):
        raise InvalidArtifactError(f"{path}: no /{schema.METRICS_GROUP} group")
    metrics = _read_attrs(metrics_group, path)
    missing = [m for m in schema.REQUIRED_METRICS if m not in metrics]
    if missing:
        raise InvalidArtifactError(f"{path}: /metrics lacks {', '.join(missing)}")
    prov = f.get(schema.PROVENANCE_GROUP)
    provenance = {k: str(v) for k, v in _read_attrs(prov, path).items()} if isinstance(prov, h5py.Group) else {}
    hist = f.get(schema.HISTORY_GROUP)
    history = {}
    if isinstance(hist, h5py.Group):
        history = {k: np.asarray(v[()]) for k, v in hist.items() if isinstance(v, h5py.Dataset) and v.ndim == 1}
    try:
        params = json.loads(attrs["method_params"])
    except (TypeError, ValueError) as exc:
        raise InvalidArtifactError(f"{path}: method_params is not JSON ({exc})") from exc
    return Prototypes(
        vectors=vectors,
        method=str(attrs["method"]),
        method_params=params,
        seed=seed,
        iterations=iterations,
        metrics=metrics,
        provenance=provenance,
        history=history,
        source=path,
        created_utc=str(attrs["created_utc"]),
        created_by=str(attrs["created_by"]),
    )


def write(prototypes: Prototypes, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Publish ``prototypes`` at ``path`` atomically and return the path.

    Raises :class:`ArtifactExistsError` if the path exists and ``overwrite`` is false (also when
    another process publishes it first), :class:`OutputPathError` if the folder is not writable.
    """
    import h5py

    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise OutputPathError(f"{path} is a directory; give a file name such as {path / 'prototypes.h5'}")
    if not folder.is_dir():
        raise OutputPathError(f"folder {folder} does not exist; create it first")
    if path.exists() and not overwrite:
        raise ArtifactExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    created = prototypes.created_utc or datetime.now(timezone.utc).isoformat(timespec="seconds")
    with staged_file(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w", locking=False) as f:  # a fresh, unique file nobody else opens
            _write_open(f, prototypes, created)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        read(tmp, verify=True)
    return path


@contextlib.contextmanager
def staged_file(path: Path, *, overwrite: bool) -> Iterator[Path]:
    """The name of a unique, empty temporary file beside ``path``, readable as the umask
    allows, published at ``path`` when the block ends without error and removed otherwise:
    readers see the whole file or none."""
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputPathError(f"cannot write into folder {folder}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~process_umask())  # mkstemp makes 0600; a published file is world-readable
        finally:
            os.close(fd)
        yield tmp
        publish_temp(tmp, path, overwrite=overwrite)
    except OSError as exc:
        if isinstance(exc, (ArtifactExistsError, OutputPathError)):
            raise
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(folder)


def _proc_umask() -> int | None:
    """The umask from ``/proc/self/status`` (Linux >= 4.7 reports it there), or None."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return None


def _umask_by_setting() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Where the kernel does not report it, the umask can only be read by setting it: done once,
# here at import, never around a write (a set-and-restore there races with other threads).
_UMASK_AT_IMPORT = _umask_by_setting() if _proc_umask() is None else None


def process_umask() -> int:
    """The process umask, read without changing it."""
    mask = _proc_umask()
    return mask if mask is not None else (_UMASK_AT_IMPORT if _UMASK_AT_IMPORT is not None else 0o022)


def _write_open(f: Any, p: Prototypes, created_utc: str) -> None:
    f.attrs.update(
        {
            "format": _str_attr(schema.FORMAT),
            "schema_version": _str_attr(schema.SCHEMA_VERSION),
            "d": np.int64(p.d),
            "c": np.int64(p.c),
            "method": _str_attr(p.method),
            "method_params": _str_attr(p.params_json()),
            "seed": np.int64(p.seed),
            "iterations": np.int64(p.iterations),
            "content_sha256": _str_attr(p.content_sha256),
            "created_utc": _str_attr(created_utc),
            "created_by": _str_attr(p.created_by or f"protobank {__version__}"),
        }
    )
    f.create_dataset(schema.DATASET, data=p.vectors)
    metrics = dict(p.metrics)
    if not all(m in metrics for m in schema.REQUIRED_METRICS):
        from .measure import geometry

        metrics = geometry(p.vectors).headline()
    f.create_group(schema.METRICS_GROUP).attrs.update({k: float(v) for k, v in metrics.items()})
    f.create_group(schema.PROVENANCE_GROUP).attrs.update({k: _str_attr(str(v)) for k, v in p.provenance.items()})
    if p.history:
        hist = f.create_group(schema.HISTORY_GROUP)
        for name, values in p.history.items():
            hist.create_dataset(name, data=np.asarray(values))


def publish_temp(tmp: Path, path: Path, *, overwrite: bool) -> None:
    """Give the finished temporary file ``tmp`` its final name: a hard link that never
    clobbers (the first of two writers wins), or ``os.replace`` with ``overwrite``."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and never clobbers: the first of two writers wins
    except FileExistsError:
        raise ArtifactExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it") from None
    except OSError:
        # File systems without hard links: a small window remains between check and rename.
        if path.exists():
            raise ArtifactExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it") from None
        os.replace(tmp, path)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class VerificationReport:
    """Outcome of :func:`verify`: ``ok`` and the problems found (empty when ok)."""

    path: Path
    ok: bool
    problems: tuple[str, ...]
    content_sha256: str | None = None

    def to_dict(self) -> dict:
        return {"path": str(self.path), "ok": self.ok, "problems": list(self.problems),
                "content_sha256": self.content_sha256}


def verify(path: str | os.PathLike, *, rtol: float = 1e-6) -> VerificationReport:
    """Read an artifact, check its hash, and recompute its stored metrics from the vectors."""
    from .measure import remeasure

    path = Path(path)
    try:
        p = read(path, verify=True)
    except (InvalidArtifactError, PrototypesNotFoundError, ArtifactAccessError) as exc:
        return VerificationReport(path, False, (str(exc),))
    fresh = remeasure(p.vectors, p.metrics).headline()
    problems = [
        f"metric {k}: stored {p.metrics[k]!r}, recomputed {fresh[k]!r}"
        for k in schema.REQUIRED_METRICS
        if not np.isclose(p.metrics[k], fresh[k], rtol=rtol, atol=1e-9)
    ]
    return VerificationReport(path, not problems, tuple(problems), p.content_sha256)
