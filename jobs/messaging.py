"""Contact students through Moodle's private messages and log every contact as an intervention.

A course read from a configured Moodle site is messaged there (``core_message_send_instant_messages``).
Without a Moodle site (the demo source, or Moodle not configured) messages go to the built-in demo Moodle
stand-in (:class:`moodle.fake_server.FakeMoodleServer` serving the demo site over local HTTP, through the
same real client) and are logged with channel ``demo_moodle``, so nothing pretends to reach a student.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from storage.repositories.base import new_id

__all__ = ["send_contacts", "demo_moodle", "channel_for", "ERROR_CODES"]

log = logging.getLogger("cohortlens.messaging")

#: Moodle error codes we explain in plain words (the UI has a sentence for each)
ERROR_CODES = ("disabled", "nopermissions", "accessexception", "invalidtoken", "unreachable", "unconfigured",
               "recipient")

_demo_lock = threading.Lock()
_demo: dict[int, Any] = {}


def demo_moodle(config: Any = None) -> Any:
    """The process-wide demo Moodle stand-in (started on first use on 127.0.0.1, a free port)."""
    from moodle.fake_server import FakeMoodleServer
    from moodle.sources import demo_site

    site = demo_site(config)
    with _demo_lock:  # one stand-in per demo site (seed and anchor), serving that site's students
        server = _demo.get(id(site))
        if server is None:
            server = FakeMoodleServer(site, standard_token="demo-" + secrets.token_hex(16))
            server.start()
            _demo[id(site)] = server
        return server


def channel_for(course: Mapping[str, Any] | None, config: Any) -> str:
    """"moodle" when the course came from a configured Moodle site, else "demo_moodle"."""
    source = str((course or {}).get("source") or getattr(config, "source", "demo") or "demo")
    configured = bool(getattr(config, "moodle_url", None) and getattr(config, "moodle_standard_token", None))
    return "moodle" if configured and source != "demo" else "demo_moodle"


def _client(channel: str, config: Any) -> Any:
    from moodle.client import MoodleClient

    if channel == "moodle":
        from moodle.sources import make_client

        return make_client(config, retries=0)
    server = demo_moodle(config)
    return MoodleClient(server.url, server.standard_token, retries=0)


def _error_code(exc: BaseException) -> str:
    code = str(getattr(exc, "errorcode", "") or "")
    if code in ERROR_CODES:
        return code
    name = type(exc).__name__
    if name == "MoodleAuthError":
        return "invalidtoken"
    if name == "MoodlePermissionError":
        return "nopermissions"
    if name == "MoodleUnavailableError":
        return "unreachable"
    if name == "MoodleInvalidParameterError" and "not configured" in str(exc):
        return "unconfigured"
    return code or "error"


def send_contacts(store: Any, config: Any, *, course_id: int, sender: str, items: Iterable[Mapping[str, Any]],
                  language: str, run_id: str | None = None, course: Mapping[str, Any] | None = None
                  ) -> list[dict[str, Any]]:
    """Send one message per item and log each as an intervention (sent or failed); returns the logged docs.

    ``items``: ``{"user_id", "name", "text", "reasons", "reason": {"en", "vi"}, "before": {...}}``. A
    refusal of the whole call (messaging disabled, no permission, Moodle down) is logged as a failed
    contact for every student, with Moodle's reason; a per-student refusal only for that student.
    """
    from moodle.errors import MoodleError

    items = [dict(i) for i in items]
    if not items:
        return []
    channel = channel_for(course, config)
    for it in items:
        it["intervention_id"] = new_id()
    results: list[dict[str, Any]] | None = None
    failure: tuple[str, str] | None = None
    try:
        with _client(channel, config) as client:
            results = client.send_instant_messages(
                [{"touserid": int(it["user_id"]), "text": str(it["text"]), "clientmsgid": it["intervention_id"]}
                 for it in items])
    except MoodleError as exc:
        failure = (_error_code(exc), exc.message if hasattr(exc, "message") else str(exc))
        detail = getattr(exc, "detail", None)
        if detail:
            failure = (failure[0], f"{failure[1]} ({detail})")
        log.warning("course %s: sending %d messages failed: %s", course_id, len(items), failure[0])
    docs = []
    for i, it in enumerate(items):
        doc: dict[str, Any] = {
            "intervention_id": it["intervention_id"], "course_id": int(course_id), "user_id": int(it["user_id"]),
            "student_name": str(it.get("name") or ""), "sender": str(sender), "message": str(it["text"]),
            "language": language, "channel": channel, "reasons": list(it.get("reasons") or []),
            "reason": dict(it.get("reason") or {}), "before": dict(it.get("before") or {}), "run_id": run_id,
        }
        if failure is not None:
            doc.update(status="failed", error_code=failure[0], error=failure[1])
        else:
            res = (results or [])[i]
            msgid = int(res.get("msgid", -1))
            if msgid > 0:
                doc.update(status="sent", moodle_msgid=msgid)
            else:
                doc.update(status="failed", error_code="recipient",
                           error=str(res.get("errormessage") or "Moodle refused this message"))
        docs.append(doc)
    store.interventions.add_many(docs)
    return docs
