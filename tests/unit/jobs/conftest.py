"""Fixtures for jobs/: a clean environment, an embedded store in tmp_path, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from jobs.clock import FakeClock
from jobs.config import Config, load_config

ENV_VARS = (
    "MONGODB_URI", "COHORTLENS_DATA_DIR", "MOODLE_URL", "MOODLE_TIMEOUT", "MOODLE_RETRIES", "MOODLE_STANDARD_TOKEN", "MOODLE_CUSTOM_TOKEN",
    "GEMINI_API_KEY", "GEMINI_MODEL", "COHORTLENS_LLM_ENABLED", "COHORTLENS_SOURCE", "CLUSTER_JOB_SCHEDULE",
    "CLUSTER_JOB_ENABLED", "CLUSTER_JOB_RETRY_ATTEMPTS", "CLUSTER_JOB_RETRY_BACKOFF_MINUTES",
    "COHORTLENS_TIMEZONE", "COHORTLENS_LANGUAGE", "COHORTLENS_MIN_STUDENTS", "COHORTLENS_MAX_PARALLEL_COURSES",
    "COHORTLENS_HEARTBEAT_TIMEOUT", "COHORTLENS_LEASE_TTL", "COHORTLENS_SNAPSHOT_RETENTION",
    "CLUSTER_JOB_MISFIRE_GRACE", "COHORTLENS_RETRY_POLL", "COHORTLENS_SECRETS_FILE",
)

T0 = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 02:00 in Asia/Ho_Chi_Minh


@pytest.fixture(autouse=True, scope="package")
def one_blas_thread() -> Iterator[None]:
    """Tiny KMeans fits are 3-4x faster on one OpenMP/BLAS thread than on a contended pool."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COHORTLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COHORTLENS_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))


@pytest.fixture
def config(tmp_path) -> Config:
    return load_config(data_dir=tmp_path / "data", min_students=5, lease_ttl_s=30.0)


@pytest.fixture
def store(tmp_path) -> Iterator:
    from storage import open_store

    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def clock(store) -> FakeClock:
    fake = FakeClock(T0)
    store.clock = fake
    return fake


SMALL_COURSES = ((201, "Small Seminar", "SS201", 36), (202, "Tiny Lab", "TL202", 24))


@pytest.fixture(scope="session")
def _shared_small_site():
    from moodle.demo import DemoCourseSpec, DemoSite

    return DemoSite(7, courses=[DemoCourseSpec(cid, name, short, n, drift_rate=0.15)
                                for cid, name, short, n in SMALL_COURSES])


@pytest.fixture
def small_site(monkeypatch, _shared_small_site):
    """A DemoSite with two small courses (shared: generated weeks are reused), served by
    ``load_course_data("demo", ...)``."""
    from moodle import sources

    monkeypatch.setattr(sources, "demo_site", lambda config=None: _shared_small_site)
    return _shared_small_site
