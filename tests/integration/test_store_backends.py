"""The storage repository tests, run on every backend (real MongoDB when MONGODB_URI is set).

Run with: MONGODB_URI=mongodb://localhost:27017 python -m pytest tests/integration -m integration
"""

from __future__ import annotations

import os

import pytest

from tests.unit.storage.test_concurrency import (  # noqa: F401 - collected here with this dir's fixture
    check_two_process_race,
    test_threads_share_one_store_without_loss_or_double_claim,
)
from tests.unit.storage.test_repositories import *  # noqa: F403 - same tests, this dir's `store` fixture

pytestmark = pytest.mark.integration


def test_backend_matches_environment(store) -> None:
    expected = "mongodb" if store.backend == "mongodb" and os.environ.get("MONGODB_URI") else "embedded"
    assert store.backend == expected
    assert store.ping()
    if store.backend == "mongodb":
        assert store.db_name.startswith("cohortlens_test_")
        assert store.client.options.codec_options.tz_aware


def test_two_processes_race(store, tmp_path) -> None:
    """Exactly one winner per lease / claim and no lost $inc across two processes, on each backend."""
    if store.backend == "mongodb":
        check_two_process_race(store, str(tmp_path), uri=os.environ["MONGODB_URI"], db_name=store.db_name)
    else:
        check_two_process_race(store, str(store.data_dir))
