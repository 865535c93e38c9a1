"""MoodleClient against the fake Moodle server over real HTTP: every function, every fault switch."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import requests

from moodle.client import MoodleClient, check_connection, flatten_params
from moodle.demo import DemoSite
from moodle.errors import (
    MoodleAuthError,
    MoodleError,
    MoodleFunctionMissingError,
    MoodleInvalidParameterError,
    MoodleNotFoundError,
    MoodlePermissionError,
    MoodleUnavailableError,
    is_transient,
    redact,
)
from moodle.fake_server import LARGE_COURSE_ID, FakeMoodleServer, parse_php_params, php_json

from .conftest import AS_OF


def client(fake: FakeMoodleServer, tokens: dict[str, str], **kw) -> MoodleClient:
    opts = {"timeout": 3.0, "retries": 2, "backoff": 0.001, "max_backoff": 0.01}
    opts.update(kw)
    return MoodleClient(fake.url, tokens["standard"], tokens["custom"], **opts)


def raw_post(fake: FakeMoodleServer, **data) -> requests.Response:
    return requests.post(f"{fake.url}/webservice/rest/server.php", data=data, timeout=5)


# ---------------------------------------------------------------- protocol helpers
def test_flatten_params_php_brackets() -> None:
    pairs = flatten_params({"courseid": 5, "options": [{"name": "onlyactive", "value": True}],
                            "o": {"ids": [3, 4]}, "skip": None})
    assert pairs == [("courseid", "5"), ("options[0][name]", "onlyactive"), ("options[0][value]", "1"),
                     ("o[ids][0]", "3"), ("o[ids][1]", "4")]
    assert parse_php_params(pairs) == {"courseid": "5", "options": [{"name": "onlyactive", "value": "1"}],
                                       "o": {"ids": ["3", "4"]}}


def test_php_json_escaping() -> None:
    assert php_json({"u": "https://x/y", "n": "Bình", "f": 100.0, "g": 7.5, "b": True, "z": None}) == (
        b'{"u":"https:\\/\\/x\\/y","n":"B\\u00ecnh","f":100,"g":7.5,"b":true,"z":null}')


# ---------------------------------------------------------------- functions
def test_site_info_and_availability(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    c = client(fake, tokens)
    info = c.site_info()
    assert info["sitename"] and info["release"].startswith("4.")
    assert info["available"]["core_enrol_get_enrolled_users"] is True
    assert info["available"]["local_userlog_get_logs_course"] is False      # other service
    assert all(c.function_availability().values())


def test_raw_replies_have_moodle_quirks(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    r = raw_post(fake, wstoken=tokens["standard"], wsfunction="core_course_get_courses", moodlewsrestformat="json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert b"\\/" in r.content or b"/" not in r.content
    courses = r.json()
    assert courses[0]["id"] == 1 and courses[0]["format"] == "site"
    r = raw_post(fake, wstoken=tokens["standard"], wsfunction="core_course_get_courses")   # no format: XML
    assert r.content.lstrip().startswith(b"<?xml")
    r = raw_post(fake, wstoken=tokens["custom"], wsfunction="local_userlog_get_logs_course", courseid="102",
                 moodlewsrestformat="json")
    rows = r.json()
    assert len(rows) == 20                                          # the plugin's default limit
    assert rows[0]["timecreated"] >= rows[-1]["timecreated"]        # newest first
    assert rows[0]["eventname"].startswith("\\")
    r = raw_post(fake, wstoken=tokens["standard"], wsfunction="core_enrol_get_enrolled_users", courseid="102",
                 moodlewsrestformat="json")
    users = r.json()
    assert all(u["roles"][0]["name"] == "" for u in users)
    r = raw_post(fake, wstoken=tokens["standard"], wsfunction="core_enrol_get_enrolled_users", courseid="102",
                 moodlewsrestformat="json", bogus="1")
    assert r.status_code == 200 and r.json()["errorcode"] == "invalidparameter"


def test_courses_skip_site_course(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    c = client(fake, tokens)
    assert [x["id"] for x in c.courses()] == [101, 102, 103]
    assert c.course(102)["shortname"] == "AW102"
    with pytest.raises(MoodleNotFoundError):
        c.course(777)


def test_enrolled_students_paged_trimmed_suspended_out(fake: FakeMoodleServer, tokens: dict[str, str],
                                                       demo_site: DemoSite) -> None:
    c = client(fake, tokens, page_size=25)
    students = c.enrolled_students(102)
    assert len(students) == 60
    assert not students["id"].isin(demo_site.suspended_user_ids(102)).any()
    calls = fake.calls("core_enrol_get_enrolled_users")
    assert len(calls) >= 4                    # 60 active users + 2 teachers in pages of 25, then an empty page
    assert any("limitfrom" in json.dumps(call["args"]) for call in calls)
    assert "username" not in students.columns  # userfields trimmed
    everyone = c.enrolled_students(102, include_suspended=True)
    assert len(everyone) == 61
    teachers = c.teachers(102)
    assert sorted(r[0]["shortname"] for r in teachers["roles"]) == ["editingteacher", "teacher"]


def test_without_enrolreview_suspended_cannot_be_told_apart(fake: FakeMoodleServer, tokens: dict[str, str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="moodle")   # independent of other tests' logging set-up
    fake.faults.deny_enrolreview = True
    c = client(fake, tokens)
    students = c.enrolled_students(102)
    assert len(students) == 61                # kept, with a warning
    assert "suspended" in caplog.text
    data = c.course_data(102, as_of=AS_OF)
    assert data.suspended_students == 0 and len(data.students) == 61


def test_enrolled_users_stops_when_server_ignores_paging(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    fake.faults.ignore_limitfrom = True
    users = client(fake, tokens, page_size=10).enrolled_users(102)
    assert len(users) == 10                   # no endless loop, no duplicates


def test_quiz_grades(fake: FakeMoodleServer, tokens: dict[str, str], demo_site: DemoSite) -> None:
    c = client(fake, tokens)
    ids = [int(u) for u in demo_site.course_data(102, AS_OF).students["id"][:12]]
    grades = c.quiz_grades(102, ids)           # default "auto": one whole-course call
    assert set(grades["userid"]) == set(ids)
    assert (grades["itemmodule"] == "quiz").all()
    assert grades["graderaw"].isna().any() and grades["graderaw"].notna().any()
    assert c.grades_used == "course"
    assert [call["args"]["userid"] for call in fake.calls("gradereport_user_get_grade_items")] == ["0"]
    per_user = client(fake, tokens, grades_mode="per_user").quiz_grades(102, ids)
    assert len(fake.calls("gradereport_user_get_grade_items")) == 1 + len(ids)
    capped = client(fake, tokens, course_grades_max=len(ids) - 1)       # auto, above the cap: per student
    capped.quiz_grades(102, ids)
    assert capped.grades_used == "per_user"
    key = ["userid", "id"]
    assert per_user.sort_values(key).reset_index(drop=True).equals(grades.sort_values(key).reset_index(drop=True))
    everything = c.grade_items(102, ids[0])[0]["gradeitems"]
    assert everything[-1]["itemname"] is None and everything[-1]["itemtype"] == "course"


def test_course_logs_never_truncated(fake: FakeMoodleServer, tokens: dict[str, str], demo_site: DemoSite) -> None:
    c = client(fake, tokens, log_limit=500)
    logs = c.course_logs(102)
    expected = demo_site.log_frame(102, AS_OF)
    assert len(logs) == len(expected) > 500
    limits = [int(call["args"]["limit"]) for call in fake.calls("local_userlog_get_logs_course")]
    assert limits[0] == 500 and limits == sorted(limits) and len(limits) >= 2
    assert logs["timecreated"].is_monotonic_increasing
    small = client(fake, tokens, log_limit=100, max_log_rows=400)
    with pytest.raises(MoodleError, match="log rows"):
        small.course_logs(102)


def test_course_data_equals_demo(fake: FakeMoodleServer, tokens: dict[str, str], demo_site: DemoSite) -> None:
    data = client(fake, tokens).course_data(102, as_of=AS_OF, timezone="Asia/Ho_Chi_Minh")
    ref = demo_site.course_data(102, AS_OF)
    assert data.source == "moodle" and data.suspended_students == 1
    pd.testing.assert_frame_equal(data.logs, ref.logs, check_dtype=False)
    pd.testing.assert_frame_equal(data.grades, ref.grades, check_dtype=False)
    pd.testing.assert_frame_equal(data.students[ref.students.columns], ref.students, check_dtype=False)
    assert len(data.teachers) == 2 and data.course["id"] == 102


def test_one_token_for_everything(fake: FakeMoodleServer, demo_site: DemoSite) -> None:
    token = "test-token-one-" + "z" * 8
    with FakeMoodleServer(demo_site, standard_token=token, custom_token=token, as_of=AS_OF) as one:
        c = MoodleClient(one.url, token, retries=0)        # no custom token: the standard one is used
        assert all(c.site_info()["available"].values())
        assert len(c.course_logs(102)) == len(demo_site.log_frame(102, AS_OF))


def test_token_endpoint(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    url = f"{fake.url}/login/token.php"
    ok = requests.post(url, data={"username": "teacher1", "password": "pw-" + tokens["standard"][-4:],
                                  "service": "cohortlens"}, timeout=5).json()
    assert ok["token"] == tokens["standard"]
    bad = requests.post(url, data={"username": "teacher1", "password": "nope", "service": "cohortlens"},
                        timeout=5).json()
    assert bad["errorcode"] == "invalidlogin" and "token" not in bad


# ---------------------------------------------------------------- Moodle errors (HTTP 200) -> typed
def test_invalid_token(fake: FakeMoodleServer, tokens: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.faults.invalid_token = True
    c = client(fake, tokens)
    with pytest.raises(MoodleAuthError) as info:
        c.courses()
    assert len(fake.calls()) == 1                     # not retried
    assert not is_transient(info.value)
    for text in (str(info.value), repr(info.value), json.dumps(info.value.to_dict()), caplog.text, repr(c)):
        assert tokens["standard"] not in text and tokens["custom"] not in text


def test_wrong_token_value(fake: FakeMoodleServer) -> None:
    c = MoodleClient(fake.url, "test-token-wrong-000", retries=0)
    with pytest.raises(MoodleAuthError):
        c.site_info()


def test_expired_token_and_function_not_in_service(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    c = client(fake, tokens)
    fake.faults.expired_token = True
    with pytest.raises(MoodlePermissionError):
        c.courses()
    fake.faults.expired_token = False
    fake.faults.disabled_functions = {"gradereport_user_get_grade_items"}
    with pytest.raises(MoodlePermissionError, match="gradereport_user_get_grade_items"):
        c.grade_items(102, 1000)
    rows = {r["function"]: r for r in check_connection(c)}
    assert rows["gradereport_user_get_grade_items"]["ok"] is False
    assert rows["core_course_get_courses"]["ok"] is True and "3 course(s)" in rows["core_course_get_courses"]["message"]
    with pytest.raises(MoodlePermissionError):       # custom function with the standard token
        MoodleClient(fake.url, tokens["standard"], retries=0).course_logs(102)


def test_unknown_function_course_and_parameters(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    c = client(fake, tokens)
    with pytest.raises(MoodleFunctionMissingError, match="web-service function"):
        c.call("local_nothing_here", {})
    with pytest.raises(MoodleNotFoundError, match="no such course"):
        c.enrolled_users(4242)
    with pytest.raises(MoodleInvalidParameterError):
        c.call("gradereport_user_get_grade_items", {"courseid": 102, "itemmodule": "quiz"})
    with pytest.raises(MoodleInvalidParameterError):
        c.enrolled_users(102, userfields="id,shoesize")
    assert len(fake.calls()) == 4                     # none retried


# ---------------------------------------------------------------- transient faults -> retried
@pytest.mark.parametrize("switch", ["http_500", "truncated", "empty_body", "drop_connection"])
def test_transient_fault_is_retried(fake: FakeMoodleServer, tokens: dict[str, str], switch: str) -> None:
    setattr(fake.faults, switch, 2)
    c = client(fake, tokens, retries=2)
    if switch == "empty_body":       # REST disabled is not transient: a clear permission error at once
        with pytest.raises(MoodlePermissionError, match="disabled"):
            c.courses()
        return
    assert [x["id"] for x in c.courses()] == [101, 102, 103]
    assert c.calls == 3


def test_html_login_page_is_a_setup_problem(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    fake.faults.html_page = 1
    c = client(fake, tokens)
    with pytest.raises(MoodleInvalidParameterError, match="Moodle URL"):
        c.courses()
    assert c.calls == 1                               # not retried


def test_transient_fault_gives_up_after_retries(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    fake.faults.http_500 = 5
    slept: list[float] = []
    c = client(fake, tokens, retries=2, backoff=0.5, max_backoff=10, sleep=slept.append)
    with pytest.raises(MoodleUnavailableError) as info:
        c.courses()
    assert is_transient(info.value) and "HTTP 500" in str(info.value)
    assert c.calls == 3 and len(slept) == 2
    assert 0.25 <= slept[0] < 0.5 and 0.5 <= slept[1] < 1.0     # exponential with jitter


def test_slow_response_times_out_then_recovers(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    fake.faults.slow = 1
    fake.faults.slow_seconds = 0.6
    c = client(fake, tokens, timeout=0.2, retries=1)
    assert [x["id"] for x in c.courses()] == [101, 102, 103]
    assert c.calls == 2
    fake.faults.slow = 3
    c2 = client(fake, tokens, timeout=0.2, retries=1)
    with pytest.raises(MoodleUnavailableError, match="in time"):
        c2.courses()


def test_connection_refused_is_unavailable(tokens: dict[str, str]) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = MoodleClient(f"http://127.0.0.1:{port}", tokens["standard"], retries=1, backoff=0.001, timeout=1)
    with pytest.raises(MoodleUnavailableError, match="Could not connect") as info:
        c.site_info()
    assert tokens["standard"] not in str(info.value) + str(info.value.detail)


def test_wrong_url_path_is_not_found(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    c = MoodleClient(fake.url + "/not-moodle", tokens["standard"], retries=0)
    with pytest.raises(MoodleNotFoundError, match="404"):
        c.site_info()


def test_redirect_is_explained(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    fake.faults.redirect_to = "https://moodle.example.edu"
    with pytest.raises(MoodleInvalidParameterError, match="https://moodle.example.edu"):
        client(fake, tokens).courses()
    assert len(fake.calls()) == 0


def test_very_large_course(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    fake.faults.large_course_students = 300
    c = client(fake, tokens, log_limit=5000)
    assert LARGE_COURSE_ID in [x["id"] for x in c.courses()]
    data = c.course_data(LARGE_COURSE_ID, as_of=AS_OF)
    assert len(data.students) == 300 and len(data.logs) > 20_000
    assert len(fake.calls("local_userlog_get_logs_course")) >= 2     # limit hit, asked again


# ---------------------------------------------------------------- redaction
def test_redact_masks_tokens_everywhere() -> None:
    tok = "test-token-" + "abc123def456"
    url = f"https://m.example.edu/webservice/rest/server.php?wstoken={tok}&wsfunction=x"
    assert tok not in redact(url) and "wsfunction=x" in redact(url)
    assert tok not in redact(f"data=[('wstoken', '{tok}')]", [tok])
    assert tok not in redact(json.dumps({"token": tok}))
    assert tok not in redact(f"MOODLE_STANDARD_TOKEN={tok}")
    c = MoodleClient("m.example.edu", tok)
    assert tok not in repr(c) and c.base_url == "https://m.example.edu"
    assert MoodleClient("https://m.example.edu/webservice/rest/server.php", tok).base_url == "https://m.example.edu"


def test_unconfigured_client_errors() -> None:
    with pytest.raises(MoodleInvalidParameterError):
        MoodleClient("", "x" * 10)
    with pytest.raises(MoodleInvalidParameterError):
        MoodleClient("https://m.example.edu", "")


def test_auto_grades_fall_back_to_per_student_calls_when_refused(fake: FakeMoodleServer, tokens: dict[str, str],
                                                                 demo_site: DemoSite, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="moodle")   # independent of other tests' logging set-up
    fake.faults.deny_grade_viewall = True
    ids = [int(u) for u in demo_site.course_data(102, AS_OF).students["id"][:10]]
    c = client(fake, tokens)
    grades = c.quiz_grades(102, ids)
    assert c.grades_used == "per_user" and set(grades["userid"]) == set(ids)
    assert len(fake.calls("gradereport_user_get_grade_items")) == 1 + len(ids)   # one refusal, no retry
    assert "per student" in caplog.text
    with pytest.raises(MoodlePermissionError):
        client(fake, tokens, grades_mode="course").quiz_grades(102, ids)


def test_session_reads_the_environment_once(fake: FakeMoodleServer, tokens: dict[str, str], monkeypatch) -> None:
    """Proxies / CA bundle from the environment are resolved at construction, not per request."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    c = client(fake, tokens)
    session = c._session
    assert session.trust_env is False
    assert session.verify == "/etc/ssl/certs/ca-certificates.crt"
    remote = MoodleClient("https://moodle.example.edu", tokens["standard"])
    assert remote._session.proxies.get("https") == "http://proxy.invalid:3128"
    assert "https" not in session.proxies and "http" not in session.proxies   # 127.0.0.1 is in NO_PROXY
    assert c.courses()                                                      # still talks to the local fake
