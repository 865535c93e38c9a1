"""core_message_send_instant_messages: the real client against the fake Moodle over HTTP."""

from __future__ import annotations

import pytest

from moodle.client import MoodleClient
from moodle.errors import MoodleError, MoodleInvalidParameterError, MoodlePermissionError

from .conftest import AS_OF


@pytest.fixture
def client(fake, tokens):
    with MoodleClient(fake.url, tokens["standard"], tokens["custom"], retries=0) as c:
        yield c


def _students(demo_site, n=2):
    users = demo_site.enrolled_users_raw(101, AS_OF)
    return [u for u in users if any(r.get("shortname") == "student" for r in u.get("roles") or [])][:n]


def test_messages_are_delivered_and_recorded(fake, client, demo_site):
    a, b = _students(demo_site)
    before = len(fake.messages)
    out = client.send_instant_messages([
        {"touserid": a["id"], "text": "Chào bạn, hãy quay lại khóa học.", "clientmsgid": "c1"},
        {"touserid": b["id"], "text": "Hello, we miss you in the course."},
    ])
    assert [r["msgid"] > 0 for r in out] == [True, True]
    assert out[0]["clientmsgid"] == "c1" and "errormessage" not in out[0]
    got = fake.messages[before:]
    assert [(m["touserid"], m["text"]) for m in got] == [
        (a["id"], "Chào bạn, hãy quay lại khóa học."), (b["id"], "Hello, we miss you in the course.")]
    assert got[0]["textformat"] == 2
    # the wire format is Moodle's: messages[0][touserid]=... (the server parsed it back)
    call = fake.calls("core_message_send_instant_messages")[-1]
    assert call["token"] == "standard" and "touserid" in str(call["args"])


def test_a_refused_recipient_gets_minus_one_and_the_reason(fake, client, demo_site):
    a, b = _students(demo_site)
    fake.faults.unreachable_users = {b["id"]}
    out = client.send_instant_messages([{"touserid": a["id"], "text": "hi"}, {"touserid": b["id"], "text": "hi"}])
    assert out[0]["msgid"] > 0
    assert out[1]["msgid"] == -1 and "privacy settings" in out[1]["errormessage"]
    unknown = client.send_instant_messages([{"touserid": 987654321, "text": "hi"}])
    assert unknown[0]["msgid"] == -1


def test_no_permission_and_messaging_disabled_raise_clear_errors(fake, client, demo_site):
    (a,) = _students(demo_site, 1)
    before = len(fake.messages)
    fake.faults.deny_sendmessage = True
    with pytest.raises(MoodlePermissionError) as exc:
        client.send_instant_messages([{"touserid": a["id"], "text": "hi"}])
    assert exc.value.errorcode == "nopermissions"
    fake.faults.deny_sendmessage = False
    fake.faults.messaging_disabled = True
    with pytest.raises(MoodleError) as exc:
        client.send_instant_messages([{"touserid": a["id"], "text": "hi"}])
    assert exc.value.errorcode == "disabled" and "Messaging is disabled" in str(exc.value.detail)
    assert len(fake.messages) == before


def test_empty_text_is_refused_before_any_request(fake, client):
    n = len(fake.calls())
    with pytest.raises(MoodleInvalidParameterError):
        client.send_instant_messages([{"touserid": 5, "text": "  "}])
    assert len(fake.calls()) == n
    assert client.send_instant_messages([]) == []
