from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache folder and no user bank path."""
    monkeypatch.setenv("PROTOBANK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("PROTOBANK_BANK_PATH", raising=False)
    monkeypatch.delenv("PROTOBANK_DEBUG", raising=False)


@pytest.fixture
def run_cli(capsys):
    """Run the real CLI entry point; returns (exit code, stdout, stderr)."""
    from protobank.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
