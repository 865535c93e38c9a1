"""``streamlit run app.py`` with no browser: the lifespan starts the service at server start.

One real server (subprocess) with a cron of every minute; nobody ever opens the UI. Checks: the admin
password is printed once at start, the scheduler runs (health over HTTP), schedule jobs appear in the
store within 75 s, and SIGTERM stops the server cleanly with no job left ``running``.
"""

from __future__ import annotations

import time

import pytest

from tests.server.serverproc import Server, base_env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("cohortlens_lifespan")
    srv = Server(data, base_env(data, CLUSTER_JOB_SCHEDULE="* * * * *", CLUSTER_JOB_ENABLED="1"))
    srv.started_at = time.monotonic()
    srv.wait_ready()
    yield srv
    srv.stop()


def _store(data):
    from storage import open_store

    return open_store(data_dir=data)


def test_first_start_setup_runs_without_a_visitor(server):
    deadline = time.monotonic() + 20
    while "password:" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log()
    assert log.count("created user 'admin'") == 1, log
    assert log.count("password:") == 1, log
    store = _store(server.data)
    admin = store.users.get("admin")
    assert admin is not None and admin["role"] == "admin"
    assert admin["password_hash"].startswith("$2")  # only the hash is stored


def test_health_reports_the_running_scheduler(server):
    status, headers, body = server.request("GET", "/api/health")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert body["status"] in ("ok", "warning", "critical")
    assert body["database"]["ok"] is True
    assert body["scheduler"]["this_process"]["running"] is True
    assert body["scheduler"]["schedule"] == "* * * * *"
    assert body["scheduler"]["this_process"]["nightly_next_run"]


def test_every_minute_schedule_produces_jobs_with_no_browser(server):
    store = _store(server.data)
    deadline = server.started_at + 75
    jobs = []
    while time.monotonic() < deadline:
        jobs = [j for j in store.jobs.recent(limit=20) if j.get("trigger") == "schedule"]
        if jobs:
            break
        time.sleep(1)
    assert jobs, f"no schedule job within 75 s of the server start:\n{server.log()[-2000:]}"
    assert "Traceback" not in server.log()


def test_sigterm_stops_cleanly_and_leaves_no_running_job(server):
    code = server.stop()
    # uvicorn shuts down gracefully (lifespan exit), then re-raises the SIGTERM it caught
    assert code in (0, -15), server.log()[-2000:]
    assert "CohortLens: stopped the scheduler" in server.log()
    store = _store(server.data)
    assert store.jobs.running() == []
    assert "Traceback" not in server.log()
