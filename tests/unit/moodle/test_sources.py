"""moodle.sources: demo / moodle (through the fake server) / csv, config and env handling, redaction."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pandas as pd
import pytest
import requests

from moodle.client import decode_log_rows, logs_frame
from moodle.errors import MoodleAuthError, MoodleInvalidParameterError, MoodleNotFoundError
from moodle.fake_server import FakeMoodleServer
from moodle.sources import list_courses, load_course_data, parse_source

from .conftest import ANCHOR, AS_OF


def test_parse_source() -> None:
    assert parse_source("demo") == ("demo", None)
    assert parse_source("csv:/tmp/a b.csv") == ("csv", "/tmp/a b.csv")
    with pytest.raises(MoodleInvalidParameterError):
        parse_source("ftp:x")


def test_demo_source() -> None:
    cfg = {"demo_seed": 7, "demo_anchor": ANCHOR.isoformat()}
    assert [c["id"] for c in list_courses("demo", cfg)] == [101, 102, 103]
    data = load_course_data("demo", 102, as_of=AS_OF, config=cfg)
    assert data.source == "demo" and len(data.students) == 60
    with pytest.raises(MoodleNotFoundError):
        load_course_data("demo", 5, as_of=AS_OF, config=cfg)


class Cfg:          # any object with attributes works, like jobs.config.Config
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def test_moodle_source_via_config_object_and_env(fake: FakeMoodleServer, tokens: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = Cfg(moodle_url=fake.url, moodle_standard_token=tokens["standard"],
              moodle_custom_token=tokens["custom"], timezone="Asia/Ho_Chi_Minh", moodle_retries=0)
    assert [c["id"] for c in list_courses("moodle", cfg)] == [101, 102, 103]
    data = load_course_data("moodle", 102, as_of=AS_OF, config=cfg)
    assert data.source == "moodle" and data.timezone == "Asia/Ho_Chi_Minh" and len(data.students) == 60
    monkeypatch.setenv("MOODLE_URL", fake.url)
    monkeypatch.setenv("MOODLE_STANDARD_TOKEN", tokens["standard"])
    monkeypatch.setenv("MOODLE_CUSTOM_TOKEN", tokens["custom"])
    assert [c["id"] for c in list_courses("moodle", {})] == [101, 102, 103]
    with pytest.raises(MoodleNotFoundError):
        load_course_data("moodle", 555, config={})
    monkeypatch.setenv("MOODLE_STANDARD_TOKEN", "test-token-bad-00000")
    with pytest.raises(MoodleAuthError):
        list_courses("moodle", {})


def test_moodle_source_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MOODLE_URL", "MOODLE_STANDARD_TOKEN", "MOODLE_CUSTOM_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(MoodleInvalidParameterError, match="not configured"):
        load_course_data("moodle", 101)


def test_no_token_in_any_log_line(fake: FakeMoodleServer, tokens: dict[str, str],
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = {"moodle_url": fake.url, "standard_token": tokens["standard"], "custom_token": tokens["custom"],
           "moodle_retries": 1}
    fake.faults.http_500 = 1
    load_course_data("moodle", 102, as_of=AS_OF, config=cfg)
    fake.faults.invalid_token = True
    with pytest.raises(MoodleAuthError) as info:
        load_course_data("moodle", 102, config=cfg)
    # a GET with the token in the query string: the server's own access log must not show it
    requests.get(f"{fake.url}/webservice/rest/server.php?wstoken={tokens['standard']}&wsfunction=x", timeout=5)
    text = caplog.text + str(info.value) + json.dumps(info.value.to_dict())
    assert "retry" in caplog.text and "server.php" in caplog.text
    assert tokens["standard"] not in text and tokens["custom"] not in text


def test_decode_log_rows_in_slices_equals_one_go(demo_site) -> None:
    frame = demo_site.log_frame(102, AS_OF)
    rows = json.loads(frame.iloc[::-1].iloc[:3000].to_json(orient="records"))
    rows[3]["other"] = '[{"a":1},{"id":2}]'                 # a "},{" inside a string must not cut
    rows[5]["other"] = None
    body = bytearray(json.dumps(rows, separators=(",", ":")).encode())
    whole = logs_frame(rows)
    sliced = decode_log_rows(body, slice_bytes=64 << 10)
    pd.testing.assert_frame_equal(sliced, whole, check_dtype=False)
    assert len(sliced) == 3000
    with pytest.raises(ValueError):
        decode_log_rows(body[: len(body) // 2])
    pretty = bytearray(json.dumps(rows[:50], indent=2).encode())       # another plugin's whitespace
    assert len(decode_log_rows(pretty, slice_bytes=512)) == 50


def test_as_of_naive_means_utc() -> None:
    a = load_course_data("demo", 102, as_of=datetime(2026, 2, 20, 12), config={"demo_anchor": ANCHOR})
    b = load_course_data("demo", 102, as_of=datetime(2026, 2, 20, 12, tzinfo=UTC), config={"demo_anchor": ANCHOR})
    assert len(a.logs) == len(b.logs)
