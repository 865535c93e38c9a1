"""Moodle timeouts and HTTP 500s through the fake Moodle server become scheduled retries."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from jobs.config import load_config
from jobs.runner import InlineExecutor, run_due_retries, submit

FakeMoodleServer = pytest.importorskip("moodle.fake_server").FakeMoodleServer


@pytest.fixture
def moodle(small_site):
    token = f"test-token-{uuid.uuid4().hex[:12]}"
    with FakeMoodleServer(small_site, standard_token=token) as server:
        yield server, token


def _config(tmp_path, server, token, **kw):
    return load_config(data_dir=tmp_path / "data", moodle_url=server.url, moodle_standard_token=token,
                       moodle_retries=0, moodle_timeout=kw.pop("moodle_timeout", 20.0), min_students=5, **kw)


def test_http_500_becomes_a_retry_then_succeeds(store, clock, tmp_path, moodle):
    server, token = moodle
    cfg = _config(tmp_path, server, token)
    assert cfg.source == "moodle"
    server.faults.http_500 = 10_000
    job = store.jobs.get(submit(store, [201], "schedule", config=cfg, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "failed"
    assert job["error"]["type"] == "MoodleUnavailableError"
    assert token not in str(job)  # never a token in a job record
    retry = store.jobs.get(job["stats"]["retry_job_id"])
    assert retry["scheduled_for"] == clock() + timedelta(minutes=1)
    server.faults.http_500 = 0  # Moodle is back
    clock.advance(minutes=1)
    assert run_due_retries(store, config=cfg, clock=clock) == [retry["job_id"]]
    retry = store.jobs.get(retry["job_id"])
    assert retry["status"] == "succeeded", retry["error"]
    assert store.runs.latest(201)["metadata"]["source"] == "moodle"


def test_timeout_becomes_a_retry(store, clock, tmp_path, moodle):
    server, token = moodle
    cfg = _config(tmp_path, server, token, moodle_timeout=0.3)
    server.faults.slow = 10_000
    server.faults.slow_seconds = 1.0
    job = store.jobs.get(submit(store, [201], "manual", config=cfg, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "failed" and job["error"]["type"] == "MoodleUnavailableError"
    assert job["attempts"][0]["error_type"] == "MoodleUnavailableError"
    assert store.jobs.get(job["stats"]["retry_job_id"])["trigger"] == "retry"
    assert store.runs.courses_with_runs() == []
    server.faults.slow = 0


def test_bad_token_fails_at_once(store, clock, tmp_path, moodle):
    server, token = moodle
    cfg = _config(tmp_path, server, token)
    server.faults.invalid_token = True
    job = store.jobs.get(submit(store, [201], "schedule", config=cfg, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "failed" and "retry_job_id" not in job["stats"]
    assert job["error"]["type"] == "PermanentJobError" and "token" in job["error"]["message"]
    assert store.jobs.queued() == []


def test_unknown_course_is_skipped(store, clock, tmp_path, moodle):
    server, token = moodle
    cfg = _config(tmp_path, server, token)
    job = store.jobs.get(submit(store, [999], "manual", config=cfg, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "skipped" and "invalid course 999" in job["error"]["message"]
