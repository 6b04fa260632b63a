"""Hostile files: every malformed input ends in a named protobank error, never a crash,
a hang or a silent load of something other than what was written."""

import random

import h5py
import numpy as np
import pytest

import protobank
from protobank import schema
from protobank.errors import (
    ChecksumMismatchError,
    InvalidArtifactError,
    ProtobankError,
    PrototypesNotFoundError,
    SchemaVersionError,
)


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("valid") / "p.h5"
    protobank.save(protobank.generate(6, 16, method="random", seed=2), path)
    return path.read_bytes(), protobank.read(path).content_sha256


@pytest.fixture
def valid(tmp_path, valid_bytes):
    path = tmp_path / "p.h5"
    path.write_bytes(valid_bytes[0])
    return path


def edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def replace_dataset(path, data):
    def fn(f):
        del f["prototypes"]
        f["prototypes"] = data

    return edit(path, fn)


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99])
def test_truncated_at_many_offsets(valid, fraction):
    data = valid.read_bytes()
    valid.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InvalidArtifactError):
        protobank.read(valid)


def test_empty_text_and_npy_files(tmp_path):
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "text.h5").write_text("prototypes, honestly\n")
    np.save(tmp_path / "m.npy", np.eye(3))
    for name in ("empty.h5", "text.h5", "m.npy"):
        with pytest.raises(InvalidArtifactError, match="not an HDF5 file"):
            protobank.read(tmp_path / name)


def test_directories_and_links(tmp_path, valid):
    with pytest.raises(InvalidArtifactError, match="not a regular file"):
        protobank.read(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere.h5")
    with pytest.raises(PrototypesNotFoundError):
        protobank.read(tmp_path / "dangling")
    (tmp_path / "to_dir").symlink_to(tmp_path)
    with pytest.raises(InvalidArtifactError, match="not a regular file"):
        protobank.read(tmp_path / "to_dir")
    (tmp_path / "ok").symlink_to(valid)  # a link to a valid artifact is that artifact
    assert protobank.read(tmp_path / "ok").content_sha256 == protobank.read(valid).content_sha256


def test_wrong_format(valid):
    edit(valid, lambda f: f.attrs.__setitem__("format", np.bytes_("someone.else")))
    with pytest.raises(InvalidArtifactError, match="not a protobank artifact"):
        protobank.read(valid)


@pytest.mark.parametrize("attr", schema.REQUIRED_ATTRS[2:])
def test_missing_attribute(valid, attr):
    edit(valid, lambda f: f.attrs.__delitem__(attr))
    with pytest.raises(InvalidArtifactError):
        protobank.read(valid)


def test_variable_length_strings_refused_before_reading(valid):
    """Variable-length strings sit in the global heap, where a corrupt reference can make the
    HDF5 library loop; schema 1 allows fixed-length strings only, checked before any read."""
    edit(valid, lambda f: f.attrs.__setitem__("method", "random"))
    with pytest.raises(InvalidArtifactError, match="variable-length"):
        protobank.read(valid)


def test_extra_attributes_and_groups_are_ignored(valid):
    def add(f):
        f.attrs["from_the_future"] = np.bytes_("yes")
        f.create_group("annotations").attrs["note"] = np.bytes_("x")

    edit(valid, add)
    assert protobank.read(valid).c == 16


@pytest.mark.parametrize("version,error", [("2.0", SchemaVersionError), ("99.1", SchemaVersionError), ("one", InvalidArtifactError)])
def test_schema_versions(valid, version, error):
    edit(valid, lambda f: f.attrs.__setitem__("schema_version", np.bytes_(version)))
    with pytest.raises(error):
        protobank.read(valid)


@pytest.mark.parametrize("attr,value", [("c", "16"), ("d", 6.0), ("seed", True), ("c", 0), ("d", 0)])
def test_attribute_types_and_ranges(valid, attr, value):
    edit(valid, lambda f: f.attrs.__setitem__(attr, value))
    with pytest.raises(InvalidArtifactError):
        protobank.read(valid)


@pytest.mark.parametrize("shape", [(0, 6), (16, 0), (1, 6), (6, 16)])
def test_bad_shapes(valid, shape):
    replace_dataset(valid, np.zeros(shape))
    with pytest.raises(InvalidArtifactError):
        protobank.read(valid)


@pytest.mark.parametrize("poison", [np.nan, np.inf, -np.inf, 0.0, 2.0])
def test_bad_rows(valid, poison):
    v = protobank.read(valid).to_numpy()
    v[3] = poison if poison != 2.0 else v[3] * 2
    replace_dataset(valid, v)
    with pytest.raises(InvalidArtifactError):
        protobank.read(valid)


@pytest.mark.parametrize("dtype", ["int64", "complex128", "S8", "float16"])
def test_wrong_dtypes(valid, dtype):
    v = protobank.read(valid).to_numpy()
    data = np.full(v.shape, b"x", dtype=dtype) if dtype == "S8" else v.astype(dtype)
    replace_dataset(valid, data)
    with pytest.raises(InvalidArtifactError, match="dtype"):
        protobank.read(valid)


def test_huge_declared_size_is_not_allocated(valid):
    def huge(f):
        del f["prototypes"]
        f.create_dataset("prototypes", shape=(10**9, 10**5), dtype="f8")  # never written
        f.attrs["c"], f.attrs["d"] = 10**9, 10**5

    edit(valid, huge)
    with pytest.raises(InvalidArtifactError, match="exceeds"):
        protobank.read(valid)


def test_declared_but_unwritten_data(valid):
    def hollow(f):
        del f["prototypes"]
        f.create_dataset("prototypes", shape=(16, 6), dtype="f8")

    edit(valid, hollow)
    with pytest.raises(InvalidArtifactError, match="not fully stored"):
        protobank.read(valid)


def test_content_edit_without_rehash(valid):
    v = protobank.read(valid).to_numpy()
    v[[0, 1]] = v[[1, 0]]  # still valid unit rows, but not what was written
    edit(valid, lambda f: f["prototypes"].__setitem__(Ellipsis, v))
    with pytest.raises(ChecksumMismatchError):
        protobank.read(valid)


def _mutate(data: bytes, rng: random.Random) -> bytes:
    raw = bytearray(data)
    kind = rng.choice(["flip", "flip", "zero", "truncate", "splice"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
    elif kind == "zero":
        start = rng.randrange(len(raw))
        raw[start : start + rng.randint(1, 64)] = bytes(min(64, len(raw) - start))[: len(raw[start : start + 64])]
    elif kind == "truncate":
        raw = raw[: rng.randrange(len(raw))]
    else:
        start = rng.randrange(len(raw))
        raw[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(raw)


def test_fuzz_mutated_files(tmp_path, valid_bytes):
    """A few hundred seeded mutations: each either raises a ProtobankError or loads exactly the
    vectors that were written (a flip in unused padding changes nothing)."""
    data, sha = valid_bytes
    rng = random.Random(20261126)
    outcomes = {"refused": 0, "identical": 0}
    path = tmp_path / "m.h5"
    for _ in range(300):
        path.write_bytes(_mutate(data, rng))
        try:
            p = protobank.read(path)
        except ProtobankError:
            outcomes["refused"] += 1
            continue
        assert p.content_sha256 == sha  # anything else would be a silent corruption
        outcomes["identical"] += 1
    assert outcomes["refused"] > 100
