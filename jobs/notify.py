"""Notifications: a daily digest per instructor and a failure notice to admins, by email and/or webhook.

Channels (configuration from the environment or ``.streamlit/secrets.toml``, see README):

- email: ``SMTP_HOST`` (unset = no email), ``SMTP_PORT`` (587), ``SMTP_USER``/``SMTP_PASSWORD``
  (optional login), ``SMTP_FROM``, ``SMTP_STARTTLS`` (true), ``SMTP_SSL`` (false); recipients are the
  users' ``email`` fields (instructors: digest; admins: failure notices and their own digest);
- webhook: ``NOTIFY_WEBHOOK_URL``: one JSON ``POST`` per notification (``{"type": "digest" |
  "failure", ...}``), with aggregate figures only — never student names.

``NOTIFY_DIGEST_SCHEDULE`` (cron, default ``0 7 * * *`` in the product timezone) fires the digest in
the scheduler; a lease ``digest:<date>`` makes several processes send it once. A failure notice goes
out when a job ends ``failed`` with no retry left (retries exhausted or a permanent error). A failing
channel never fails a job: it is logged (redacted) and reported in the return value.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from jobs.clock import as_utc, utcnow
from jobs.config import Config, effective_settings
from jobs.errors import describe_error, redact

__all__ = ["channels", "send_daily_digest", "notify_failure", "digest_for", "send_email", "post_webhook",
           "DIGEST_JOB_ID"]

log = logging.getLogger(__name__)
DIGEST_JOB_ID = "digest"
TIMEOUT_S = 10.0


def channels(config: Config) -> list[str]:
    """The configured channels: ``email`` and/or ``webhook`` ([] when notifications are off)."""
    if not config.notify_enabled:
        return []
    out = []
    if config.smtp_host:
        out.append("email")
    if config.notify_webhook_url:
        out.append("webhook")
    return out


# ------------------------------------------------------------------------------------- channels
def send_email(config: Config, to: list[str], subject: str, body: str) -> None:
    """One plain-text email through the configured SMTP server (raises on failure)."""
    msg = EmailMessage()
    msg["From"] = config.smtp_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@cohortlens>"
    msg.set_content(body)
    if config.smtp_ssl:
        server: smtplib.SMTP = smtplib.SMTP_SSL(config.smtp_host or "", config.smtp_port, timeout=TIMEOUT_S,
                                                context=ssl.create_default_context())
    else:
        server = smtplib.SMTP(config.smtp_host or "", config.smtp_port, timeout=TIMEOUT_S)
    with server:
        server.ehlo()
        if not config.smtp_ssl and config.smtp_starttls and server.has_extn("starttls"):
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if config.smtp_user:
            server.login(config.smtp_user, config.smtp_password or "")
        server.send_message(msg)


def post_webhook(config: Config, payload: dict[str, Any]) -> int:
    """POST ``payload`` as JSON to the webhook; returns the HTTP status (raises on failure / non-2xx)."""
    import requests

    resp = requests.post(config.notify_webhook_url or "", data=json.dumps(payload, default=_iso),
                         headers={"Content-Type": "application/json", "User-Agent": "CohortLens"},
                         timeout=TIMEOUT_S)
    if resp.status_code // 100 != 2:
        raise RuntimeError(f"webhook answered HTTP {resp.status_code}")
    return resp.status_code


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _deliver(config: Config, *, to: list[str], subject: str, body: str, payload: dict) -> dict[str, Any]:
    """Send through every channel; returns ``{"email": "sent"|error|"no address", "webhook": ...}``."""
    report: dict[str, Any] = {}
    for channel in channels(config):
        try:
            if channel == "email":
                if not to:
                    report["email"] = "no address"
                    continue
                send_email(config, to, subject, body)
            else:
                post_webhook(config, payload)
            report[channel] = "sent"
        except Exception as exc:  # a channel failing never fails the caller
            err = describe_error(exc, config.secrets)
            report[channel] = f"{err['type']}: {err['message']}"
            log.warning("notification %r by %s failed: %s", subject, channel, redact(report[channel], config.secrets))
    return report


# --------------------------------------------------------------------------------------- digest
def _course_names(store: Any) -> dict[int, str]:
    out = {}
    for c in store.courses.list():
        cid = c.get("course_id", c.get("id"))
        if cid is not None:
            out[int(cid)] = c.get("fullname") or c.get("shortname") or f"Course {cid}"
    return out


def _user_courses(store: Any, user: dict) -> list[int]:
    if user.get("role") == "admin":
        return sorted({int(c) for c in store.runs.courses_with_runs()})
    return sorted({int(c) for c in user.get("courses") or []})


def digest_for(store: Any, user: dict, now: datetime, *, names: dict[int, str] | None = None) -> dict[str, Any]:
    """One user's digest: per granted course, the latest run and what changed in the last day."""
    names = names if names is not None else _course_names(store)
    since = now - timedelta(days=1)
    courses = []
    for cid in _user_courses(store, user):
        run = store.runs.latest(cid)
        jobs = store.jobs.since(since, cid)
        failed = [j for j in jobs if (j.get("result") or {}).get(str(cid), {}).get("status") == "failed"
                  or (j.get("status") == "failed" and cid in (j.get("course_ids") or []))]
        row: dict[str, Any] = {"course_id": cid, "name": (run or {}).get("metadata", {}).get("course_name")
                               or names.get(cid) or f"Course {cid}",
                               "failed_jobs_24h": len(failed)}
        if run:
            trans = run.get("transitions") or {}
            row.update({"run_id": run["run_id"], "run_at": run.get("run_at"), "k": run.get("k"),
                        "students": (run.get("metadata") or {}).get("total_students"),
                        "moved": trans.get("moved"), "alerts": len(run.get("alerts") or []),
                        "fresh": bool(as_utc(run.get("run_at")) and as_utc(run.get("run_at")) >= since),
                        "groups": [{"id": int(c["cluster_id"]), "name": c.get("name"), "size": int(c.get("size") or 0)}
                                   for c in run.get("clusters") or []]})
        courses.append(row)
    return {"type": "digest", "user": user["username"], "role": user.get("role"), "at": now, "courses": courses}


def _digest_text(digest: dict) -> str:
    lines = [f"CohortLens daily digest for {digest['user']} ({digest['at']:%Y-%m-%d})", ""]
    if not digest["courses"]:
        lines.append("No course is granted to you yet.")
    for c in digest["courses"]:
        lines.append(f"{c['name']} (course {c['course_id']})")
        if not c.get("run_id"):
            lines.append("  no run yet")
        else:
            state = "new run in the last 24 h" if c["fresh"] else "no new run in the last 24 h"
            lines.append(f"  {state}: {c['run_at']:%Y-%m-%d %H:%M} UTC, {c['students']} students in {c['k']} groups, "
                         f"{c['moved'] or 0} moved, {c['alerts']} alerts")
            for g in c["groups"]:
                lines.append(f"    - {g['name']}: {g['size']}")
        if c["failed_jobs_24h"]:
            lines.append(f"  {c['failed_jobs_24h']} failed job(s) in the last 24 h: see Jobs in the dashboard")
        lines.append("")
    return "\n".join(lines)


def send_daily_digest(store: Any, config: Config | None = None, *, now: datetime | None = None,
                      force: bool = False) -> dict[str, Any]:
    """Send every instructor (and admin) their digest once per day (lease ``digest:<date>``)."""
    settings = effective_settings(store, config) if config is not None else effective_settings(store, _load())
    now = as_utc(now) or utcnow()
    if not channels(settings):
        return {"status": "off", "sent": []}
    key = f"digest:{now:%Y-%m-%d}"
    if not force and not store.leases.acquire(key, f"{os.getpid()}:{uuid.uuid4().hex[:8]}", 86400 * 2, now=now):
        return {"status": "already sent", "sent": []}
    names = _course_names(store)
    sent = []
    for user in store.users.list():
        digest = digest_for(store, user, now, names=names)
        if not digest["courses"]:
            continue
        to = [user["email"]] if user.get("email") else []
        report = _deliver(settings, to=to, subject=f"CohortLens digest {now:%Y-%m-%d}",
                          body=_digest_text(digest), payload=digest)
        sent.append({"user": user["username"], **report})
    return {"status": "sent", "sent": sent}


# -------------------------------------------------------------------------------------- failure
def notify_failure(store: Any, job: dict, config: Config | None = None) -> dict[str, Any]:
    """Tell admins that a job failed for good (no retry left). Never raises."""
    try:
        settings = effective_settings(store, config) if config is not None else effective_settings(store, _load())
        if not channels(settings):
            return {"status": "off"}
        admins = [u for u in store.users.list() if u.get("role") == "admin"]
        err = job.get("error") or {}
        failed = [{"course_id": int(c), "error": (r.get("error") or {}).get("message")}
                  for c, r in (job.get("result") or {}).items() if (r or {}).get("status") == "failed"]
        payload = {"type": "failure", "job_id": job["job_id"], "trigger": job.get("trigger"),
                   "status": job.get("status"), "course_ids": job.get("course_ids"), "failed_courses": failed,
                   "error": err, "finished_at": job.get("finished_at"),
                   "retries": int(job.get("retry_number") or 0)}
        body = "\n".join([
            f"CohortLens job {job['job_id']} ({job.get('trigger')}) failed and will not be retried.",
            f"Courses: {', '.join(map(str, job.get('course_ids') or [])) or '-'}",
            f"Error: {err.get('type', '')}: {err.get('message', '')}",
            *[f"  course {f['course_id']}: {f['error']}" for f in failed],
            "",
            "Retry it from the Jobs page or with: python -m jobs retry " + job["job_id"],
        ])
        report = _deliver(settings, to=[u["email"] for u in admins if u.get("email")],
                          subject=f"CohortLens: job {job['job_id'][:8]} failed", body=redact(body, settings.secrets),
                          payload=payload)
        return {"status": "sent", **report}
    except Exception as exc:  # never let a notification break the job path
        log.warning("failure notice for job %s not sent: %s", job.get("job_id"), exc.__class__.__name__)
        return {"status": "error", "error": exc.__class__.__name__}


def _load() -> Config:
    from jobs.config import load_config

    return load_config()
