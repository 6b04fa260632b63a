import hashlib
import struct

import h5py
import numpy as np
import pytest

import protobank
from protobank import artifact, schema
from protobank.errors import (
    ArtifactExistsError,
    ChecksumMismatchError,
    InvalidArtifactError,
    OutputPathError,
    SchemaVersionError,
)


@pytest.fixture
def protos():
    return protobank.generate(5, 12, method="random", seed=3)


@pytest.fixture
def saved(protos, tmp_path):
    return protobank.save(protos, tmp_path / "p.h5")


def test_content_hash_recipe_is_locked():
    v = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    expected = hashlib.sha256(
        b"protobank.prototypes.content.v1\x00" + b"<f8\x00" + struct.pack("<qq", 2, 3) + v.astype("<f8").tobytes()
    ).hexdigest()
    assert schema.content_sha256(v) == expected
    # Golden value: a change of recipe would silently invalidate every published artifact.
    assert expected == "bf27a10014b560bec98d774be19ce857542d0ec52eb6db1f219e967680fee28d"


def test_hash_depends_on_dtype_and_byte_order_not():
    v = np.eye(3)[:2]
    assert schema.content_sha256(v) != schema.content_sha256(v.astype(np.float32))
    assert schema.content_sha256(v.astype(">f8")) == schema.content_sha256(v)


def test_round_trip(protos, saved):
    back = protobank.read(saved)
    assert back.content_sha256 == protos.content_sha256
    assert np.array_equal(back.vectors, protos.vectors) and back.vectors.dtype == protos.vectors.dtype
    assert back.method == "random" and back.seed == 3 and back.d == 5 and back.c == 12
    assert back.method_params == protos.method_params
    assert back.metrics["max_cosine"] == pytest.approx(protos.metrics["max_cosine"])
    assert back.provenance["numpy"] == np.__version__
    with h5py.File(saved) as f:
        for name in schema.REQUIRED_ATTRS:
            assert name in f.attrs
        assert set(schema.REQUIRED_METRICS) <= set(f["metrics"].attrs)


def test_float32_round_trip(protos, tmp_path):
    p32 = protos.astype("float32")
    back = protobank.read(protobank.save(p32, tmp_path / "p32.h5"))
    assert back.vectors.dtype == np.float32 and back.content_sha256 == p32.content_sha256


def test_no_overwrite_without_flag(protos, saved):
    with pytest.raises(ArtifactExistsError):
        protobank.save(protos, saved)
    protobank.save(protos.replace(seed=4), saved, overwrite=True)
    assert protobank.read(saved).seed == 4


def test_missing_folder_is_clear(protos, tmp_path):
    with pytest.raises(OutputPathError, match="does not exist"):
        protobank.save(protos, tmp_path / "nope" / "p.h5")


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def test_truncated_file_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArtifactError):
        protobank.read(saved)


def test_flipped_data_byte_refused(saved):
    with h5py.File(saved) as f:
        offset = f["prototypes"].id.get_offset()
    raw = bytearray(saved.read_bytes())
    raw[offset] ^= 0x01  # the lowest mantissa bit: still finite and unit-norm
    saved.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatchError):
        protobank.read(saved)


def test_nan_row_refused(saved):
    def poison(f):
        v = f["prototypes"][()]
        v[2] = np.nan
        f["prototypes"][...] = v

    _edit(saved, poison)
    with pytest.raises(InvalidArtifactError, match="NaN"):
        protobank.read(saved)


def test_wrong_shape_refused(saved):
    def reshape(f):
        v = f["prototypes"][()]
        del f["prototypes"]
        f["prototypes"] = v[:, :4]

    _edit(saved, reshape)
    with pytest.raises(InvalidArtifactError, match="shape"):
        protobank.read(saved)


def test_newer_schema_refused_with_hint(saved):
    _edit(saved, lambda f: f.attrs.__setitem__("schema_version", np.bytes_("2.0")))
    with pytest.raises(SchemaVersionError, match="upgrade"):
        protobank.read(saved)


def test_newer_minor_schema_accepted(saved):
    _edit(saved, lambda f: f.attrs.__setitem__("schema_version", np.bytes_("1.7")))
    assert protobank.read(saved).c == 12


def test_interrupted_write_leaves_nothing(protos, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(artifact, "_write_open", boom)
    target = tmp_path / "p.h5"
    with pytest.raises(KeyboardInterrupt):
        protobank.save(protos, target)
    assert list(tmp_path.iterdir()) == []


def test_verify_recomputes_metrics(saved):
    assert protobank.verify(saved).ok
    _edit(saved, lambda f: f["metrics"].attrs.__setitem__("max_cosine", -0.5))
    report = protobank.verify(saved)
    assert not report.ok and "max_cosine" in report.problems[0]


def test_read_needs_no_file_lock(saved):
    """Lustre, GPFS and NFS often refuse locks; an immutable artifact is read without one."""
    fcntl = pytest.importorskip("fcntl")
    with open(saved, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a failing lock looks like to HDF5
        assert protobank.read(saved).c == 12


@pytest.mark.parametrize(
    "error",
    [
        OSError(11, "Unable to synchronously open file (unable to lock file, errno = 11, error message = 'Resource temporarily unavailable')"),
        PermissionError(13, "Permission denied"),
        OSError("Unable to synchronously open file (file read failed: errno = 5, error message = 'Input/output error')"),
    ],
)
def test_cannot_open_is_not_called_corrupt(saved, monkeypatch, error):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(h5py, "File", refuse)
    with pytest.raises(protobank.ArtifactAccessError, match="cannot open") as info:
        protobank.read(saved)
    assert "corrupt" not in str(info.value) and not isinstance(info.value, InvalidArtifactError)
    assert not protobank.verify(saved).ok


def test_corrupt_is_still_called_corrupt(saved, monkeypatch):
    def truncated(*args, **kwargs):
        raise OSError("Unable to synchronously open file (truncated file: eof = 1024, sblock->base_addr = 0)")

    monkeypatch.setattr(h5py, "File", truncated)
    with pytest.raises(InvalidArtifactError, match="corrupt or truncated"):
        protobank.read(saved)


def test_publish_never_touches_the_process_umask(protos, tmp_path, monkeypatch):
    """Setting the umask around a write races with other threads: the mode is set on the file."""
    import os
    import stat
    import threading

    before = os.umask(0o027)
    try:
        def forbidden(mask):
            raise AssertionError("os.umask called during a write")

        monkeypatch.setattr(os, "umask", forbidden)
        errors = []

        def publish(k):
            try:
                protobank.save(protos.replace(seed=k), tmp_path / f"p{k}.h5")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=publish, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        modes = {stat.S_IMODE((tmp_path / f"p{k}.h5").stat().st_mode) for k in range(8)}
        assert modes == {0o640}
    finally:
        monkeypatch.undo()
        assert os.umask(before) == 0o027
