"""Health of the whole product, shared by ``GET /api/health`` and ``python -m jobs health``.

Status ``ok`` | ``warning`` | ``critical``:

- critical: the database does not answer, or every known course's last run failed;
- warning: some course failing or stale, the 7-day success rate under 50 %, this server's scheduler
  not running, or the last scheduled run failed (no live scheduler in any process is a note: the
  nightly will not run, and the courses turn stale);
- ok otherwise.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from jobs.clock import as_utc, utcnow
from jobs.config import Config, effective_settings
from jobs.errors import describe_error

__all__ = ["overall_health", "SCHEDULER_LEASE_PREFIX", "announce_scheduler", "live_schedulers", "EXIT_BY_STATUS"]

SCHEDULER_LEASE_PREFIX = "scheduler:"
EXIT_BY_STATUS = {"ok": 0, "warning": 1, "critical": 2}


def announce_scheduler(store: Any, ttl_s: float, *, role: str = "app") -> None:
    """Record (as a lease ``scheduler:{host}:{pid}``) that this process runs a scheduler."""
    from jobs.runner import HOST

    key = f"{SCHEDULER_LEASE_PREFIX}{HOST}:{os.getpid()}"
    store.leases.acquire(key, f"{HOST}:{os.getpid()}:{role}", ttl_s)


def live_schedulers(store: Any) -> list[dict]:
    """Processes whose scheduler announced itself recently: ``[{host, pid, role, renewed_at}]``."""
    out = []
    for lease in store.leases.active(SCHEDULER_LEASE_PREFIX):
        host, _, rest = str(lease.get("owner") or "").partition(":")
        pid, _, role = rest.partition(":")
        out.append({"host": host, "pid": int(pid) if pid.isdigit() else None, "role": role or None,
                    "renewed_at": lease.get("renewed_at")})
    return out


def _last_nightly(store: Any) -> dict | None:
    """The latest scheduled run: its fire time, status over its per-course jobs, course counts."""
    from jobs.runner import nightly_summary

    recent = [j for j in store.jobs.recent(limit=500) if j.get("trigger") == "schedule"]
    if not recent:
        return None
    last = recent[0]
    fire = last.get("fire_time")
    group = [j for j in recent if fire is not None and j.get("fire_time") == fire] or [last]
    summary = nightly_summary(store, [j["job_id"] for j in group], fire_time=fire)
    statuses = [j.get("status") for j in group]
    errors = [(j.get("error") or {}).get("message") for j in group if isinstance(j.get("error"), dict)]
    return {"fire_time": fire, "status": summary["status"], "created_at": last.get("created_at"),
            "finished_at": max((j.get("finished_at") for j in group if j.get("finished_at")), default=None),
            "jobs": len(group), "courses": len(summary["course_ids"]),
            "succeeded": statuses.count("succeeded"), "failed": statuses.count("failed"),
            "skipped": statuses.count("skipped"), "interrupted": statuses.count("interrupted"),
            "error": next((e for e in errors if e), None)}


def overall_health(store: Any, config: Config, *, scheduler: Any = None, now: datetime | None = None,
                   include_courses: bool = False) -> dict[str, Any]:
    """The product's health; course ids only (no course data) unless ``include_courses``."""
    from jobs.runner import health
    from jobs.scheduler import scheduler_status

    now = as_utc(now) or utcnow()
    problems: list[str] = []
    try:
        store.ping()
        database = {"ok": True, "backend": getattr(store, "backend", None)}
    except Exception as exc:
        err = describe_error(exc, config.secrets)
        database = {"ok": False, "backend": getattr(store, "backend", None), "error": err["message"]}
        return {"status": "critical", "checked_at": now, "database": database,
                "problems": [f"database: {err['message']}"]}
    settings = effective_settings(store, config)
    local = scheduler_status(scheduler) if scheduler is not None else None
    try:
        schedulers = live_schedulers(store)
    except Exception:
        schedulers = []
    sched = {
        "enabled": bool(settings.enabled),
        "schedule": settings.schedule,
        "timezone": settings.timezone,
        "this_process": None if local is None else {"running": local["running"],
                                                    "nightly_next_run": local["nightly_next_run"]},
        "live_processes": len(schedulers),
    }
    runs = health(store, now=now, config=config)
    last = _last_nightly(store)
    notes: list[str] = []
    if settings.enabled and not schedulers and not (local and local["running"]):
        notes.append("no scheduler is running in any process: start the app (streamlit run app.py) "
                        "or a worker (python -m jobs worker)")
    if local is not None and not local["running"]:
        problems.append("the scheduler of this server is not running")
    if runs["failing_courses"]:
        problems.append(f"failing courses: {', '.join(map(str, runs['failing_courses']))}")
    if runs["stale_courses"]:
        problems.append(f"stale courses (no fresh run): {', '.join(map(str, runs['stale_courses']))}")
    if last and last["status"] == "failed":
        problems.append(f"the last scheduled run failed ({last['failed']} failed, {last['interrupted']} "
                        f"interrupted of {last['jobs']} course job(s))")
    status = {"healthy": "ok"}.get(runs["status"], runs["status"])
    if status == "ok" and problems:
        status = "warning"
    out: dict[str, Any] = {
        "status": status,
        "checked_at": now,
        "database": database,
        "scheduler": sched,
        "last_nightly": last,
        "failing_courses": runs["failing_courses"],
        "stale_courses": runs["stale_courses"],
        "success_rate_7d": runs["success_rate_7d"],
        "running_jobs": runs["running_jobs"],
        "queued_retries": runs["queued_retries"],
        "problems": problems,
        "notes": notes,
    }
    if include_courses:
        out["courses"] = runs["courses"]
    return out
