"""What `load`, `inspect` and the cache hand out is what the user meant: experiment runs never
become the default, no published artifact is lost or deleted, stale entries are named, long
runs are announced and refused, waiters never generate a cell twice, superseded bank artifacts
keep loading by pin."""

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import protobank
from protobank import bank, cache, folders, generation, index, lookup
from protobank.errors import ArtifactExistsError, PrototypesNotFoundError, ResourceLimitError

# (3, 8): no theorem gives it, so a quick run of the default method differs from the default.
D, C = 3, 8
QUICK = ("--iters", "1", "-p", "polish=false", "-p", "known_codes=false")


def _generate(run_cli, *args):
    code, out, err = run_cli("generate", "--d", str(D), "--c", str(C), "--json", *args)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def watch(monkeypatch):
    """From the call on, record what is generated; each run is a short real one (5 steps), or
    with ``run=False`` none at all."""
    made = []
    real = generation.generate

    def start(run: bool = True) -> list:
        def short(d, c, **kwargs):
            made.append((d, c, kwargs.get("method")))
            if not run:
                raise AssertionError(f"generated d={d}, c={c}")
            kwargs.pop("decision", None)  # made for the default iterations: decide again for 5
            return real(d, c, **{**kwargs, "iters": 5})

        monkeypatch.setattr(generation, "generate", short)
        return made

    return start


def test_an_experiment_run_never_answers_an_unpinned_load(run_cli, watch):
    quick = _generate(run_cli, "--seed", "5", *QUICK)
    generations = watch()
    with pytest.raises(PrototypesNotFoundError, match="answer only to a pin") as info:
        protobank.load(D, C)
    assert quick["content_sha256"][:16] in str(info.value)
    p = protobank.load(D, C, generate=True)
    assert generations == [(D, C, "minimax")] and p.content_sha256 != quick["content_sha256"]
    assert protobank.load(D, C).content_sha256 == p.content_sha256
    assert protobank.load(D, C, sha256=quick["content_sha256"][:8]).content_sha256 == quick["content_sha256"]


def test_inspect_uses_the_same_rule(run_cli, watch):
    quick = _generate(run_cli, "--seed", "5", *QUICK)
    generations = watch()
    code, out, err = run_cli("inspect", "--d", str(D), "--c", str(C), "--baselines", "none", "--json")
    assert code == 0, err
    assert generations and json.loads(out)["subject"]["max_cosine"] != pytest.approx(quick["metrics"]["max_cosine"])


def test_several_experiment_runs_of_one_cell_verify_clean_and_are_not_ambiguous(run_cli):
    runs = [_generate(run_cli, "--seed", str(s), *QUICK) for s in (1, 2)]
    code, out, _ = run_cli("cache", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"], out
    with pytest.raises(PrototypesNotFoundError):  # not AmbiguousArtifactError: neither answers
        protobank.load(D, C)
    for r in runs:
        assert protobank.load(D, C, sha256=r["content_sha256"]).content_sha256 == r["content_sha256"]


def test_generate_json_shows_the_creation_time_written_to_the_file(run_cli):
    first = _generate(run_cli, "--method", "random")
    assert first["created_utc"] == protobank.read(first["path"]).created_utc is not None
    time.sleep(1.1)
    again = _generate(run_cli, "--method", "random")  # the same content: the cache keeps the first file
    assert again["created_utc"] == first["created_utc"]


def test_clean_keeps_an_artifact_published_but_not_yet_indexed(run_cli):
    _generate(run_cli, "--method", "random", "--seed", "1")  # the cache has an index
    p = protobank.generate(D, C, method="random", seed=2)
    written = cache.cache_dir() / index.artifact_name(p)
    protobank.save(p, written)  # what publish has done before it takes the index lock
    code, out, _ = run_cli("cache", "clean", "--json")
    assert code == 0 and json.loads(out)["files"] == []
    assert written.is_file()
    assert protobank.load(D, C, sha256=p.content_sha256).content_sha256 == p.content_sha256
    cache.publish(p)
    assert p.content_sha256 in {e.content_sha256 for e in index.read_index(cache.cache_dir())}


def test_publishers_without_working_locks_lose_no_artifact(monkeypatch):
    made = [protobank.generate(D, C, method="random", seed=s) for s in range(6)]
    cache.publish(made.pop())

    def slow_write_index(root, entries):  # a wide read-modify-write window
        time.sleep(0.3)
        return index.write_index(root, entries)

    locked, write_index = cache._locked, cache.write_index
    monkeypatch.setattr(cache, "_locked", lambda root, name: contextlib.nullcontext())
    monkeypatch.setattr(cache, "write_index", slow_write_index)
    threads = [threading.Thread(target=cache.publish, args=(p,)) for p in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e.content_sha256 for e in cache.cache_entries()}) == 6
    for p in made:
        assert protobank.load(D, C, sha256=p.content_sha256).content_sha256 == p.content_sha256
    monkeypatch.setattr(cache, "_locked", locked)
    monkeypatch.setattr(cache, "write_index", write_index)
    cache.publish(made[0])  # the next publish writes the repaired index
    assert len(index.read_index(cache.cache_dir())) == 6


def test_a_deleted_artifact_file_is_named_or_regenerated(run_cli):
    p = protobank.load(6, 7, generate=True)
    (entry,) = index.read_index(cache.cache_dir())
    entry.file.unlink()
    with pytest.raises(PrototypesNotFoundError, match="whose file is gone") as info:
        protobank.load(6, 7)
    assert str(entry.file) in str(info.value)
    with pytest.raises(PrototypesNotFoundError, match="the file is gone"):
        lookup.open_entry(entry)
    assert protobank.load(6, 7, generate=True).content_sha256 == p.content_sha256
    assert entry.file.is_file() and protobank.load(6, 7).content_sha256 == p.content_sha256
    assert run_cli("cache", "verify")[0] == 0


def test_a_predicted_long_run_is_refused_with_its_forecast(run_cli, watch):
    generations = watch(run=False)
    d, c = 6, 50_000  # no catalogue code fits: the optimizer is predicted to run for hours
    with pytest.raises(ResourceLimitError) as info:
        protobank.load(d, c, generate=True)
    msg = str(info.value)
    assert "optimizer predicted to take" in msg and "allow_long=True" in msg and "\n" not in msg
    assert generations == [] and not list(cache.cache_dir().glob("d*/*.h5"))
    code, _, err = run_cli("inspect", "--d", str(d), "--c", str(c), "--baselines", "none")
    assert code == 1 and "--allow-long" in err and "predicted" in err and generations == []


def test_a_waiter_keeps_waiting_while_the_lock_holder_lives(tmp_path, monkeypatch, watch):
    """The waiter's lock wait outlasts any timeout: it never starts the cell the holder is making."""
    import filelock

    root = cache.cache_dir()
    (root / ".locks").mkdir(parents=True)
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import filelock, pathlib, time
lock = filelock.FileLock({str(root / ".locks" / "d6-c7-minimax.lock")!r}); lock.acquire()
pathlib.Path({str(held)!r}).touch(); time.sleep(3)
from protobank import cache, generation
cache.publish(generation.generate(6, 7), default=True); lock.release()
"""], env={**os.environ, "PYTHONPATH": str(Path(protobank.__file__).parents[1])})
    real_acquire = filelock.BaseFileLock.acquire

    def impatient(self, timeout=None, *args, **kwargs):  # an hour passes in half a second
        if timeout is not None and timeout >= 0:
            timeout = min(timeout, 0.5)
        return real_acquire(self, timeout, *args, **kwargs)

    monkeypatch.setattr(filelock.BaseFileLock, "acquire", impatient)
    generations = watch(run=False)
    while not held.exists():
        assert holder.poll() is None
        time.sleep(0.05)
    p = protobank.load(6, 7, generate=True)
    assert holder.wait(300) == 0
    assert generations == [] and p.content_sha256 == index.read_index(root)[0].content_sha256


def test_upgrade_adds_a_cell_not_yet_in_the_index(tmp_path):
    (entry,) = bank.build_bank(tmp_path, [(6, 7)], upgrade=True)
    assert entry.default and all(c.ok for c in bank.verify_bank(tmp_path))


def test_build_refuses_a_colliding_name_that_holds_other_content(tmp_path):
    p = protobank.generate(6, 7, method="random").astype("float32")
    target = tmp_path / index.artifact_name(p)
    target.parent.mkdir(parents=True)
    protobank.save(protobank.generate(6, 7, method="random", seed=9).astype("float32"), target)
    with pytest.raises(ArtifactExistsError, match="same 8-digit name"):
        bank.build_bank(tmp_path, [(6, 7)], method="random")
    assert not index.has_index(tmp_path) or index.read_index(tmp_path) == []


def test_an_upgraded_cell_keeps_its_old_artifact_loadable_by_pin(tmp_path, run_cli):
    """A bank cell whose artifact a catalogue code now beats: the code becomes the default, the
    old artifact stays (unmarked, with its file) and answers its pin; verify passes."""
    old = protobank.generate(6, 27, iters=1, polish=False, known_codes=False).astype("float32")
    path = tmp_path / index.artifact_name(old)
    path.parent.mkdir(parents=True)
    protobank.save(old, path)
    index.write_index(tmp_path, [index.entry_for(old, tmp_path, path, default=True)])
    entries = bank.build_bank(tmp_path, [(6, 27)], upgrade=True, device="cpu")
    (new,) = [e for e in entries if e.default]
    assert new.content_sha256 != old.content_sha256 and new.metrics["max_cosine"] < old.metrics["max_cosine"]
    assert path.is_file() and protobank.load(6, 27, bank=tmp_path).content_sha256 == new.content_sha256
    assert protobank.load(6, 27, bank=tmp_path, sha256=old.content_sha256[:8]).content_sha256 == old.content_sha256
    code, out, _ = run_cli("bank", "verify", str(tmp_path))
    assert code == 0, out


def test_a_pin_miss_names_what_is_held_and_suggests_no_generate(tmp_path):
    bank.build_bank(tmp_path, [(6, 7)], method="random")
    (held,) = index.read_index(tmp_path)
    with pytest.raises(PrototypesNotFoundError) as info:
        protobank.load(6, 7, bank=tmp_path, sha256="deadbeef")
    msg = str(info.value)
    assert held.content_sha256[:16] in msg and "generate" not in msg


def test_the_shipped_bank_still_holds_every_artifact_it_once_shipped():
    root = folders.packaged_bank()
    if root is None:
        pytest.skip("no bank shipped in this checkout")
    for pin in ("6ec9120f", "ee8ad837", "66adb314", "acd9a562", "ccf81f1e", "31328a09"):
        (e,) = [e for e in index.read_index(root) if e.content_sha256.startswith(pin)]
        assert not e.default and e.file.is_file()
        assert protobank.load(e.d, e.c, sha256=pin).content_sha256 == e.content_sha256


def test_several_marks_for_one_cell_still_fail_verify(run_cli):
    a = _generate(run_cli, "--method", "random")
    b = protobank.generate(D, C, method="random", seed=3)
    entry = cache.publish(b)
    entries = [e for e in index.read_index(cache.cache_dir()) if e.content_sha256 != entry.content_sha256]
    index.write_index(cache.cache_dir(), [*entries, dataclasses.replace(entry, default=True)])
    code, out, _ = run_cli("cache", "verify")
    assert code == 1 and "2 default entries" in out and a["content_sha256"] != entry.content_sha256


def test_generate_into_cache_decides_once(monkeypatch):
    """The forecast that may refuse a run and the run started are one decision."""
    from protobank.optimize import portfolio

    calls = []
    real = portfolio.decide
    monkeypatch.setattr(portfolio, "decide", lambda *a, **k: calls.append(a[:2]) or real(*a, **k))
    assert protobank.load(3, 4, generate=True).c == 4
    assert calls == [(3, 4)]
