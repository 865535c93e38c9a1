"""A `store` fixture over both backends: embedded (tmp_path) and real MongoDB (only with MONGODB_URI).

Each MongoDB test gets its own database (cohortlens_test_<random>), dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from storage import Store, open_store

MONGODB_URI = os.environ.get("MONGODB_URI")


@pytest.fixture(params=["embedded", "mongodb"])
def store(request, tmp_path, monkeypatch) -> Iterator[Store]:
    if request.param == "mongodb":
        if not MONGODB_URI:
            pytest.skip("MONGODB_URI is not set")
        s = open_store(uri=MONGODB_URI, db_name=f"cohortlens_test_{uuid.uuid4().hex[:12]}")
        try:
            yield s
        finally:
            s.drop_database()
            s.close()
    else:
        monkeypatch.delenv("MONGODB_URI", raising=False)
        s = open_store(data_dir=tmp_path / "data")
        yield s
        s.close()
