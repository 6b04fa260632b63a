"""The lookup rules: load never substitutes another method's artifact, pins work everywhere."""

import dataclasses
import json
import shutil

import pytest

import protobank
from protobank import bank, cache, index, lookup
from protobank.errors import AmbiguousArtifactError, InvalidArtifactError, InvalidInputError, PrototypesNotFoundError
from protobank.train.run import resolve_prototypes

# (6, 7) is the simplex for minimax: a construction, so generating it takes no optimisation.
D, C = 6, 7


def _generate(run_cli, *args):
    code, out, err = run_cli("generate", "--d", str(D), "--c", str(C), "--json", *args)
    assert code == 0, err
    return json.loads(out)


def test_load_never_returns_another_methods_artifact(run_cli):
    other = _generate(run_cli, "--method", "random")
    with pytest.raises(PrototypesNotFoundError, match="method='minimax'.*Other methods held for d=.*: random"):
        protobank.load(D, C)
    p = protobank.load(D, C, generate=True)
    assert p.method == "minimax" and p.metrics["max_cosine"] == pytest.approx(-1 / (C - 1))
    assert protobank.load(D, C).content_sha256 == p.content_sha256
    assert protobank.load(D, C, method="random").content_sha256 == other["content_sha256"]
    assert resolve_prototypes(None, D, C).content_sha256 == p.content_sha256


def test_cache_index_records_every_artifact(run_cli):
    doc = _generate(run_cli, "--method", "gaussian", "--seed", "2", "--iters", "5", "-p", "t=3", "--dtype", "float32")
    (entry,) = index.read_index(cache.cache_dir())
    assert (entry.d, entry.c, entry.method, entry.seed, entry.dtype) == (D, C, "gaussian", 2, "float32")
    assert entry.content_sha256 == doc["content_sha256"] and entry.method_params["t"] == 3
    assert entry.metrics["max_cosine"] == pytest.approx(doc["metrics"]["max_cosine"])
    assert entry.file_sha256 == index.file_sha256(entry.file) and not entry.default  # not the default settings
    assert str(entry.file) == doc["path"]


@pytest.mark.parametrize("digits", [8, 12, 40, 64])
def test_pins_of_8_to_64_digits_find_a_cached_artifact(run_cli, digits):
    sha = _generate(run_cli, "--method", "random", "--seed", "3")["content_sha256"]
    assert protobank.load(D, C, sha256=sha[:digits].upper()).content_sha256 == sha
    assert resolve_prototypes(sha[:digits], D, C).content_sha256 == sha


@pytest.mark.parametrize("pin", ["abcd", "abcdef1", "0" * 65, "ghijklmn", "abcd 1234"])
def test_malformed_pins_are_refused_everywhere(run_cli, pin):
    with pytest.raises(InvalidInputError, match="8 to 64 hex digits"):
        protobank.load(D, C, sha256=pin)
    if pin.isalnum() and all(ch in "0123456789abcdef" for ch in pin):
        with pytest.raises(InvalidInputError, match="8 to 64 hex digits"):
            resolve_prototypes(pin, D, C)


def test_pin_finds_the_artifact_behind_a_bank_default(run_cli, tmp_path):
    root = tmp_path / "bank"
    bank.build_bank(root, [(D, C)], method="minimax", dtype="float32")
    sha = _generate(run_cli, "--method", "random")["content_sha256"]
    assert protobank.load(D, C, bank=root).method == "minimax"
    assert protobank.load(D, C, bank=root, sha256=sha[:8]).content_sha256 == sha
    assert protobank.load(D, C, bank=root, method="random").content_sha256 == sha


def test_a_pin_matching_two_artifacts_is_refused_naming_both(tmp_path):
    a = protobank.save(protobank.generate(D, C, method="random", seed=1), tmp_path / "a.h5")
    b = protobank.save(protobank.generate(D, C, method="random", seed=2), tmp_path / "b.h5")
    entries = [index.entry_for(protobank.read(p), tmp_path, p, default=False) for p in (a, b)]
    # two index entries whose hashes share 10 digits (a collision one cannot make with real content)
    shared = [dataclasses.replace(e, content_sha256="0123456789" + e.content_sha256[10:]) for e in entries]
    index.write_index(tmp_path, shared)
    with pytest.raises(AmbiguousArtifactError) as info:
        protobank.load(D, C, bank=tmp_path, sha256="0123456789")
    assert all(e.where in str(info.value) for e in shared)
    assert lookup.select([tmp_path], D, C, sha256=shared[0].content_sha256).path == shared[0].path


def test_several_unmarked_artifacts_of_a_method_are_refused_not_guessed(run_cli):
    one = _generate(run_cli, "--method", "random", "--seed", "1")
    two = _generate(run_cli, "--method", "random", "--seed", "2")
    with pytest.raises(AmbiguousArtifactError) as info:
        protobank.load(D, C, method="random")
    assert one["path"] in str(info.value) and two["path"] in str(info.value)
    marked = _generate(run_cli, "--method", "random")  # the default settings: marked default
    assert protobank.load(D, C, method="random").content_sha256 == marked["content_sha256"]
    assert protobank.load(D, C, method="random", generate=True).content_sha256 == marked["content_sha256"]


def test_generate_true_publishes_once_and_marks_default():
    p = protobank.load(D, C, method="random", generate=True)
    q = protobank.load(D, C, method="random", generate=True)
    (entry,) = index.read_index(cache.cache_dir())
    assert p.content_sha256 == q.content_sha256 == entry.content_sha256 and entry.default


def test_a_cache_written_before_the_index_is_still_read(tmp_path):
    """0.1.0 caches hold files and no index: they are read from the files, full hashes included."""
    p = protobank.generate(D, C, method="random", seed=4)
    folder = cache.cache_dir() / "d0006"
    folder.mkdir(parents=True)
    protobank.save(p, cache.cache_dir() / index.artifact_name(p))
    assert protobank.load(D, C, sha256=p.content_sha256).content_sha256 == p.content_sha256
    assert protobank.load(D, C, method="random").content_sha256 == p.content_sha256
    # the first publish adopts the old files into the new index
    q = protobank.load(D, C, method="etf", generate=True)
    assert {e.content_sha256 for e in index.read_index(cache.cache_dir())} == {p.content_sha256, q.content_sha256}


def test_entries_without_a_file_need_an_opener(tmp_path):
    sha = protobank.generate(D, C, method="random").content_sha256
    entry = index.BankEntry(d=D, c=C, method="random", content_sha256=sha, kind="future", root=str(tmp_path))
    index.write_index(tmp_path, [entry])
    assert index.read_index(tmp_path) == [entry]
    with pytest.raises(InvalidArtifactError, match="entry kind 'future' is unknown"):
        protobank.load(D, C, bank=tmp_path, method="random")


def test_an_entry_whose_file_holds_other_content_is_refused(tmp_path):
    a = protobank.save(protobank.generate(D, C, method="random", seed=1), tmp_path / "a.h5")
    b = protobank.save(protobank.generate(D, C, method="random", seed=2), tmp_path / "b.h5")
    entry = index.entry_for(protobank.read(a), tmp_path, a, default=True)
    shutil.copy(b, a)
    index.write_index(tmp_path, [dataclasses.replace(entry, file_sha256=None)])
    with pytest.raises(protobank.ChecksumMismatchError, match="the index says"):
        protobank.load(D, C, bank=tmp_path, method="random")


def test_threads_publishing_at_once_lose_no_index_entry(monkeypatch):
    import threading
    import time

    def slow_write_index(root, entries):  # a slow file system: a wide read-modify-write window
        time.sleep(0.5)
        return index.write_index(root, entries)

    made = [protobank.generate(D, C, method="random", seed=s) for s in range(6)]
    cache.publish(made.pop())  # the index exists: the threads read and rewrite it
    monkeypatch.setattr(cache, "write_index", slow_write_index)
    errors = []

    def publish(p):
        try:
            cache.publish(p)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(p,)) for p in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(index.read_index(cache.cache_dir())) == 6
