"""The benchmark tree builders: the ideograph split by typeface, the long-tailed copy, the glyph fonts."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
Image = pytest.importorskip("PIL.Image")


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


def _module(name: str):
    if str(ROOT / "benchmarks") not in sys.path:  # the scripts import their sibling font_trees.py
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cjk_families() -> int:
    if shutil.which("fc-list") is None:
        return 0
    out = subprocess.run(["fc-list", ":charset=4e00:outline=true", "family"], capture_output=True, text=True).stdout
    return len(set(out.splitlines()))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


@pytest.mark.skipif(_cjk_families() < 4 or not Path("/usr/share/unicode/Unihan_OtherMappings.txt.bz2").exists(),
                    reason="needs fontconfig, unicode-data and a few CJK font packages")  # fmt: skip
def test_ideographs_split_by_typeface_and_rebuild_identically(tmp_path):
    tiny = ["--classes", "12", "--min-sources", "3", "--test-share", "0.34"]
    first = _script("build_ideographs.py", str(tmp_path / "a"), *tiny, "--workers", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "12 classes" in first.stdout and "unseen typefaces" in first.stdout
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert len(manifest["classes"]) == 12 and all(0x4E00 <= ord(ch) <= 0x9FFF for ch in manifest["classes"])
    train, test = manifest["sources"]["train"], manifest["sources"]["test"]
    assert train and test and not set(train) & set(test)
    families = [{f for s in side.values() for f in s["families"]} for side in (train, test)]
    assert not families[0] & families[1]  # no font family on both sides
    for part, sources in (("train", train), ("test", test)):
        folders = sorted((tmp_path / "a" / part).iterdir())
        assert [f.name[-4:] for f in folders] == [f"{ord(ch):04x}" for ch in manifest["classes"]]
        stems = {p.stem.rsplit("_", 2)[0] for p in folders[0].iterdir()}
        assert stems == {s.replace(" ", "-") for s in sources}  # every image names a source of its own side
    image = np.asarray(Image.open(next((tmp_path / "a" / "test").rglob("*.png"))))
    assert image.shape == (32, 32) and image.max() > 128  # grayscale, a visible glyph

    again = _script("build_ideographs.py", str(tmp_path / "a"), *tiny)
    assert again.returncode != 0 and "exists" in again.stderr and "Traceback" not in again.stderr
    second = _script("build_ideographs.py", str(tmp_path / "b"), *tiny, "--workers", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")  # the seed, not the worker count, fixes every pixel


def test_long_tail_tree_keeps_the_imbalance_profile_and_the_whole_test_split(tmp_path):
    src = tmp_path / "src"
    for part, n in (("train", 10), ("test", 3)):
        for c in ("a", "b", "c"):
            (src / part / c).mkdir(parents=True)
            for k in range(n):
                Image.fromarray(np.full((8, 8), 20 * k, np.uint8)).save(src / part / c / f"{k}.png")
    (src / "manifest.json").write_text(json.dumps({"classes": "abc"}))
    done = _script("long_tail_tree.py", str(src), str(tmp_path / "lt"), "--rho", "0.1", "--seed", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    kept = {c: sorted(p.name for p in (tmp_path / "lt" / "train" / c).iterdir()) for c in "abc"}
    assert [len(kept[c]) for c in "abc"] == [10, 3, 1]  # 10 * 0.1^(i / 2), floored
    assert _tree(tmp_path / "lt" / "test") == _tree(src / "test")
    assert all(set(kept[c]) <= {f"{k}.png" for k in range(10)} for c in "abc")
    manifest = json.loads((tmp_path / "lt" / "manifest.json").read_text())
    assert manifest["classes"] == "abc" and manifest["long_tail"]["train_per_class"] == [10, 3, 1]

    from protobank.train.data import load_dataset, long_tail  # the same images `train --imbalance` draws

    library = long_tail(load_dataset("imagefolder", src, seed=3), 0.1, seed=3)
    assert sorted(f.decode() for f in library.train_files) == sorted(f"{c}/{n}" for c in "abc" for n in kept[c])

    again = _script("long_tail_tree.py", str(src), str(tmp_path / "lt"))
    assert again.returncode != 0 and "exists" in again.stderr and "Traceback" not in again.stderr
    bad = _script("long_tail_tree.py", str(src), str(tmp_path / "lt2"), "--rho", "0")
    assert bad.returncode != 0 and "--rho must be in (0, 1]" in bad.stderr and not (tmp_path / "lt2").exists()


def test_glyph_fonts_leave_out_cjk_fonts(monkeypatch):
    build_glyphs = _module("build_glyphs")
    listed = {":lang=en:outline=true": "Serif A\t/f/a.ttf\nSans CJK\t/f/cjk.otf\nSerif A\t/f/a-bold.ttf\n",
              ":charset=4e00": "/f/cjk.otf\n"}  # fmt: skip
    monkeypatch.setattr(build_glyphs, "fc_list", lambda pattern, fmt, hint: listed[pattern])
    assert build_glyphs.find_fonts() == {"Serif A": ["/f/a-bold.ttf", "/f/a.ttf"]}
