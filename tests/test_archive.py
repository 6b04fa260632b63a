"""Artifacts written by earlier releases must read back, bit for bit, forever."""

import json
from pathlib import Path

import pytest

import protobank

ARCHIVE = Path(__file__).parent / "data" / "archive"
CASES = [
    (release, name, facts)
    for release in sorted(p for p in ARCHIVE.iterdir() if p.is_dir())
    for name, facts in json.loads((release / "expected.json").read_text()).items()
]


@pytest.mark.parametrize("release,name,facts", CASES, ids=[f"{r.name}/{n}" for r, n, _ in CASES])
def test_archived_artifact_reads_back(release, name, facts):
    p = protobank.read(release / name)
    assert p.content_sha256 == facts["content_sha256"]
    assert (p.d, p.c, p.method, p.dtype) == (facts["d"], facts["c"], facts["method"], facts["dtype"])
    assert protobank.verify(release / name).ok
