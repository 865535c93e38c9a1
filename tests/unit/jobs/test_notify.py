"""Notifications against a real local SMTP server (aiosmtpd) and a real local HTTP webhook receiver."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import replace
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import jobs.pipeline
from jobs import accounts
from jobs.notify import notify_failure, send_daily_digest
from jobs.runner import execute_job


class _Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:  # a free port (aiosmtpd's start-up check connects to the given port)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _config(config, smtp, webhook):
    port, _ = smtp
    url, _ = webhook
    return replace(config, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_from="cl@example.org",
                   notify_webhook_url=url)


def _users(store):
    store.users.upsert(accounts.make_user("root", "Kx-" + secrets.token_hex(12), role="admin", email="root@example.org"))
    store.users.upsert(accounts.make_user("ann", "Kx-" + secrets.token_hex(12), role="instructor", courses=[201],
                                          email="ann@example.org"))
    store.users.upsert(accounts.make_user("bob", "Kx-" + secrets.token_hex(12), role="instructor", courses=[202]))  # no email


def test_daily_digest_per_instructor_by_email_and_webhook(small_site, store, config, smtp, webhook):
    from jobs.pipeline import run_course

    _users(store)
    run_course(201, source="demo", store=store, config=config)
    cfg = _config(config, smtp, webhook)
    report = send_daily_digest(store, cfg)
    assert report["status"] == "sent"
    by_user = {r["user"]: r for r in report["sent"]}
    assert by_user["ann"]["email"] == "sent" and by_user["ann"]["webhook"] == "sent"
    assert by_user["bob"]["email"] == "no address"
    inbox = smtp[1].messages
    ann = [m for to, m in inbox if to == ["ann@example.org"]]
    assert len(ann) == 1
    text = ann[0].get_payload(decode=True).decode()
    assert "course 201" in text and "groups" in text and ann[0]["From"] == "cl@example.org"
    assert "course 202" not in text  # only her courses
    hooks = [h["json"] for h in webhook[1] if h["json"]["type"] == "digest"]
    assert {h["user"] for h in hooks} >= {"ann", "bob"}
    ann_hook = next(h for h in hooks if h["user"] == "ann")
    assert ann_hook["courses"][0]["course_id"] == 201 and ann_hook["courses"][0]["groups"]
    assert "students\": [" not in json.dumps(ann_hook)  # aggregate only, no student names
    assert send_daily_digest(store, cfg)["status"] == "already sent"  # once per day across processes


def test_failure_notice_to_admins_when_no_retry_is_left(small_site, store, config, smtp, webhook, monkeypatch):
    _users(store)
    cfg = _config(replace(config, retry_attempts=0), smtp, webhook)

    def broken(course_id, **kw):
        raise ValueError("the course's gradebook has no items")

    monkeypatch.setattr(jobs.pipeline, "run_course", broken)
    job_id = store.jobs.create([201], "manual")
    job = execute_job(store, job_id, config=cfg)
    assert job["status"] == "failed"
    mails = [(to, m) for to, m in smtp[1].messages if "failed" in m["Subject"]]
    assert len(mails) == 1 and mails[0][0] == ["root@example.org"]
    body = mails[0][1].get_payload(decode=True).decode()
    assert job_id in body and "gradebook has no items" in body and "python -m jobs retry" in body
    hooks = [h["json"] for h in webhook[1] if h["json"]["type"] == "failure"]
    assert hooks[0]["job_id"] == job_id and hooks[0]["failed_courses"][0]["course_id"] == 201


def test_a_dead_channel_never_breaks_the_job(small_site, store, config, webhook):
    _users(store)
    cfg = replace(config, smtp_host="127.0.0.1", smtp_port=1, smtp_starttls=False,
                  notify_webhook_url=webhook[0] + "?token=" + "s3cr3t-" + "value")
    out = notify_failure(store, {"job_id": "j1", "status": "failed", "course_ids": [201],
                                 "error": {"type": "X", "message": "boom"}}, cfg)
    assert out["status"] == "sent" and out["email"].startswith("ConnectionRefusedError")
    assert out["webhook"] == "sent"
    off = notify_failure(store, {"job_id": "j2"}, replace(config, smtp_host=None, notify_webhook_url=None))
    assert off == {"status": "off"}
