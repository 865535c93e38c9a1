"""Fixtures: a fresh embedded store per test in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage import Store, open_store


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[Store]:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()
