"""AppTest fixtures: one data folder for the whole session, filled by the real pipeline on the demo site.

Course 101 gets three weekly runs (so transitions and drift exist), course 102 one run (the course an
instructor granted only 101 must never reach). Users: ``admin`` (created by the app on first start
from COHORTLENS_ADMIN_PASSWORD) and ``teacher101`` (instructor, granted course 101).
"""

from __future__ import annotations

import io
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ui.resources import PAGE_FILES

APP = str(Path(__file__).resolve().parents[2] / "dashboard.py")
PAGES = PAGE_FILES
DONE = {"succeeded", "failed", "skipped", "interrupted"}


class Creds:
    """Passwords generated at runtime for this test session (never a committed value)."""

    admin = "adm-" + secrets.token_urlsafe(10)
    teacher = "tch-" + secrets.token_urlsafe(10)


@pytest.fixture(scope="package")
def app_env(tmp_path_factory: pytest.TempPathFactory):
    """Environment for the app, set while tests/app runs (and undone after it, so other packages' tests
    see their own environment). cache_resource objects (store, scheduler) are process-wide: they are
    released at the end, which stops the scheduler."""
    data = tmp_path_factory.mktemp("cohortlens_app")
    values = {
        "COHORTLENS_DATA_DIR": str(data),
        "COHORTLENS_ADMIN_PASSWORD": Creds.admin,
        "COHORTLENS_COOKIE_KEY": secrets.token_urlsafe(40),
        "COHORTLENS_BOOTSTRAP": "0",  # the fixture fills the store itself
        "CLUSTER_JOB_ENABLED": "0",  # no nightly / catch-up run during tests
        "COHORTLENS_LANGUAGE": "en",
        "COHORTLENS_SOURCE": "demo",
        "COHORTLENS_LLM_ENABLED": "0",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k in ("MONGODB_URI", "MOODLE_URL", "GEMINI_API_KEY"):
            mp.delenv(k, raising=False)
        for k, v in values.items():
            mp.setenv(k, v)
        yield data
    import streamlit as st

    st.cache_resource.clear()  # on_release shuts the scheduler down
    st.cache_data.clear()


@pytest.fixture(scope="package")
def populated(app_env: Path):
    """The store in the session data folder with demo runs for 101 (3 weeks) and 102 (1 week)."""
    from jobs.config import load_config
    from jobs.pipeline import run_course
    from storage import open_store
    from ui.auth import ensure_admin, make_user

    store = open_store(data_dir=app_env)
    ensure_admin(store, out=io.StringIO())  # what the app does on first start
    config = load_config()
    now = datetime.now(UTC).replace(microsecond=0)
    for weeks_ago in (3, 2, 1):
        run_course(101, source="demo", store=store, as_of=now - timedelta(weeks=weeks_ago), config=config)
    run_course(102, source="demo", store=store, as_of=now - timedelta(weeks=1), config=config)
    store.users.upsert(make_user("teacher101", Creds.teacher, role="instructor", name="Teacher One",
                                 courses=[101]))
    return store


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Each test starts with empty data caches (resources — store, scheduler — stay shared)."""
    import streamlit as st

    st.cache_data.clear()
    yield


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=60)


def login(at, username: str, password: str):
    """Run the app and sign in through the login form."""
    at.run()
    assert not at.exception, at.exception
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["authentication_status"] is True
    return at


def wait_for_job(store, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.jobs.get(job_id)
        if job and job.get("status") in DONE:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {store.jobs.get(job_id)}")


def table(at, column: str):
    """The first dataframe on the page that has ``column`` (st.dataframe keys are not exposed)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column; tables: {[list(f.value.columns) for f in at.dataframe]}")


def errors(at) -> list[str]:
    return [e.value for e in at.error]


os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
