"""Error classification, redaction, and the retry policy."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from jobs.errors import PermanentJobError, SkipCourse, classify, describe_error, is_transient, redact
from jobs.retry import RetryPolicy


def test_transient_and_permanent_errors():
    assert is_transient(TimeoutError("read timed out"))
    assert is_transient(ConnectionResetError())
    assert is_transient(AutoReconnect("lost"))
    assert is_transient(ServerSelectionTimeoutError("no servers"))
    assert is_transient(sqlite3.OperationalError("database is locked"))
    assert not is_transient(ValueError("bad input"))
    assert not is_transient(PermanentJobError("bad config"))
    assert classify(SkipCourse("no students")) == "skipped"
    try:
        try:
            raise TimeoutError("socket")
        except TimeoutError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)  # the cause counts


def test_moodle_errors_are_classified():
    moodle = pytest.importorskip("moodle.errors")
    assert is_transient(moodle.MoodleUnavailableError("HTTP 503"))
    assert not is_transient(moodle.MoodleAuthError("invalid token"))


def test_redaction_of_tokens_keys_and_passwords(monkeypatch):
    token = "tok" + "0123456789abcdef"
    monkeypatch.setenv("MOODLE_STANDARD_TOKEN", token)
    text = (f"GET https://m.example.org/webservice/rest/server.php?wstoken={token}&x=1 "
            "mongodb://admin:" + "hunter2pass" + "@db:27017 key=test-fake-key-123")
    out = redact(text)
    assert token not in out and "hunter2pass" not in out and "test-fake-key-123" not in out
    assert "wstoken=***" in out
    err = describe_error(RuntimeError(f"failed with token {token}"))
    assert token not in err["message"] and err["type"] == "RuntimeError" and err["kind"] == "permanent"


def test_retry_policy_backoff_and_validation():
    policy = RetryPolicy()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert [policy.delay(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 5, 15)]
    assert policy.delay(4) is None
    assert policy.next_retry_at(t0, 0) == t0 + timedelta(minutes=1)
    assert policy.next_retry_at(t0, 3) is None
    assert RetryPolicy(max_retries=5).delay(5) == timedelta(minutes=15)  # the last delay repeats
    assert RetryPolicy(max_retries=0).delay(1) is None
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_minutes=())
    with pytest.raises(TypeError):
        RetryPolicy(max_retries=1.5)  # type: ignore[arg-type]
