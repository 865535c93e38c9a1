"""First start on the demo site: register the demo courses and backfill weekly runs.

So that clusters, history and transitions exist on day one, every demo course that has no run yet
gets one job (trigger ``schedule`` from the app, ``cli`` from ``python -m jobs bootstrap``) that runs
the pipeline for each of the last ``weeks`` weekly dates, oldest first, up to now. The first course
is done first, so the app has something to show within seconds. Idempotent: a course that already has
a run is left alone, and a ``bootstrap:demo`` lease keeps two processes from backfilling together.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from jobs.clock import Clock, as_utc, utcnow
from jobs.config import Config, effective_settings, load_config

__all__ = ["ensure_demo", "ensure_demo_async", "backfill_dates", "BOOTSTRAP_LEASE"]

log = logging.getLogger(__name__)

BOOTSTRAP_LEASE = "bootstrap:demo"


def backfill_dates(now: datetime, weeks: int) -> list[datetime]:
    """``weeks`` weekly dates ending at ``now``, oldest first."""
    now = as_utc(now)  # type: ignore[assignment]
    return [now - timedelta(weeks=weeks - 1 - i) for i in range(max(1, int(weeks)))]


def _needs_backfill(store: Any, course_ids: list[int]) -> list[int]:
    return [c for c in course_ids if store.runs.count(c) == 0]


def ensure_demo(store: Any, config: Config | None = None, *, weeks: int = 6,
                progress: Callable[[str, float], None] | None = None, clock: Clock | None = None,
                trigger: str = "schedule", course_ids: list[int] | None = None) -> dict[str, Any]:
    """Backfill the demo courses that have no run yet; returns ``{status, jobs, courses, seconds}``.

    ``status``: ``"not-demo"`` (the source is not the demo site), ``"exists"`` (every demo course has
    runs), ``"busy"`` (another process is backfilling), or ``"done"``.
    """
    import time

    from jobs.runner import HOST, execute_job

    settings = effective_settings(store, config or load_config())
    if settings.source != "demo":
        return {"status": "not-demo", "jobs": [], "courses": []}
    from moodle.sources import list_courses

    courses = list_courses("demo", settings)
    ids = [int(c["id"]) for c in courses]
    if course_ids is not None:
        ids = [c for c in ids if c in {int(x) for x in course_ids}]
    if not _needs_backfill(store, ids):
        return {"status": "exists", "jobs": [], "courses": []}
    now_fn = clock or getattr(store, "now", None) or utcnow
    owner = f"{HOST}:{os.getpid()}:bootstrap"
    ttl = max(600.0, settings.lease_ttl_s)
    if not store.leases.acquire(BOOTSTRAP_LEASE, owner, ttl, now=now_fn()):
        return {"status": "busy", "jobs": [], "courses": []}
    started = time.perf_counter()
    jobs: list[str] = []
    done: list[int] = []
    try:
        for course in courses:
            if int(course["id"]) in ids:
                store.courses.upsert({"course_id": int(course["id"]), "fullname": course.get("fullname") or "",
                                      "shortname": course.get("shortname") or "", "source": "demo"})
        todo = _needs_backfill(store, ids)
        dates = backfill_dates(now_fn(), weeks)
        for i, cid in enumerate(todo):
            if progress:
                progress(f"course {cid}", i / len(todo))
            if store.runs.count(cid):  # a nightly / manual run got there first: no backfill behind it
                continue
            store.leases.renew(BOOTSTRAP_LEASE, owner, ttl, now=now_fn())
            job_id = store.jobs.create([cid], trigger, extra={
                "source": "demo", "as_of_dates": dates, "backfill": True, "retry_number": 0,
                "submitted_by": {"host": HOST, "pid": os.getpid()}})
            jobs.append(job_id)
            job = execute_job(store, job_id, config=config, clock=clock)
            status = (job or {}).get("status")
            log.info("demo backfill of course %s: %s (%d weeks)", cid, status, len(dates))
            if status == "succeeded":
                done.append(cid)
        if progress:
            progress("done", 1.0)
    finally:
        store.leases.release(BOOTSTRAP_LEASE, owner)
    return {"status": "done", "jobs": jobs, "courses": done, "weeks": len(backfill_dates(now_fn(), weeks)),
            "seconds": round(time.perf_counter() - started, 2)}


def ensure_demo_async(store: Any, config: Config | None = None, **kwargs: Any) -> threading.Thread | None:
    """:func:`ensure_demo` on a daemon thread (the app's first start); None when nothing is to do."""
    settings = effective_settings(store, config or load_config())
    if settings.source != "demo":
        return None
    if store.runs.courses_with_runs():
        try:
            from moodle.sources import list_courses

            if not _needs_backfill(store, [int(c["id"]) for c in list_courses("demo", settings)]):
                return None
        except Exception:
            return None

    def target() -> None:
        try:
            ensure_demo(store, config, **kwargs)
        except Exception as exc:
            log.error("demo bootstrap failed: %s", exc.__class__.__name__)

    thread = threading.Thread(target=target, name="cohortlens-bootstrap", daemon=True)
    thread.start()
    return thread
