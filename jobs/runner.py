"""Job records, leases, heartbeats, retries and recovery around :func:`jobs.pipeline.run_course`.

State machine of a job record (collection ``cluster_jobs``)::

    queued --claim--> running --> succeeded | failed | skipped
       |                 `------> interrupted   (owner died: recover())
       `-- superseded/orphaned --> skipped | interrupted

- ``submit`` creates a ``queued`` job and hands it to an executor; it returns at once. A course that
  already has an active (running, or queued and due) job returns that job's id and starts nothing.
- ``execute_job`` claims the job atomically, then works on each course under the lease
  ``course:{id}`` (owner ``host:pid:job_id``), renewed with the job's heartbeat by a daemon thread.
  Courses run with bounded parallelism; one failing course never stops the others.
- Outcome per course: ``succeeded``; ``skipped`` (invalid course, no/too few students, or the lease is
  held by another job); ``failed``. A transient failure (timeouts, 5xx, lost database connection)
  creates a NEW ``retry`` job for the failed courses, ``scheduled_for`` = failure time + 1, 5, 15 min
  (``CLUSTER_JOB_RETRY_ATTEMPTS``); ``run_due_retries`` starts it when due. Nothing sleeps.
- ``recover`` (at start, then periodically) marks running jobs whose owner process is gone, or whose
  heartbeat is older than the timeout, ``interrupted``; scheduled ones get a retry job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from jobs.clock import Clock, as_utc, utcnow
from jobs.config import Config, effective_settings, load_config
from jobs.errors import LeaseHeld, SkipCourse, describe_error

__all__ = [
    "submit",
    "execute_job",
    "run_due_retries",
    "recover",
    "maintenance",
    "run_nightly",
    "nightly_courses",
    "claim_shared",
    "shared_queue",
    "health",
    "retry_job",
    "InlineExecutor",
    "lease_key",
    "owner_info",
    "pid_alive",
    "own_running_jobs",
    "interrupt_own_jobs",
    "HOST",
]

log = logging.getLogger(__name__)

HOST = socket.gethostname()
RETRYABLE_TRIGGERS = ("schedule", "retry")

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_SUBMIT_LOCK = threading.Lock()


def _process_start_time(pid: int) -> float | None:
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:
        return None


def owner_info(job_id: str) -> dict[str, Any]:
    """Who runs a job: ``{host, pid, started, id}``; ``id`` is also the owner of the course leases."""
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "started": _process_start_time(pid), "id": f"{HOST}:{pid}:{job_id}"}


def pid_alive(pid: int, started: float | None = None) -> bool:
    """Whether process ``pid`` on this host is alive (and is the same process when ``started`` is given)."""
    try:
        import psutil

        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not (started is not None and abs(proc.create_time() - float(started)) > 1.0)
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    except Exception:  # NoSuchProcess, AccessDenied on a foreign pid that vanished
        return False


def lease_key(course_id: int) -> str:
    return f"course:{int(course_id)}"


class InlineExecutor:
    """An executor that runs the work at once in the caller's thread (CLI, tests)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - reported through the future
            future.set_exception(exc)
        return future


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cohortlens-job")
        return _POOL


def _dispatch(executor: Any, fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Hand work to an executor: a concurrent.futures-like ``submit`` or an APScheduler ``add_job``."""
    executor = executor if executor is not None else _pool()
    if hasattr(executor, "add_job") and not hasattr(executor, "submit"):
        return executor.add_job(fn, "date", kwargs=kwargs, id=f"job-{kwargs.get('job_id')}",
                                misfire_grace_time=None, replace_existing=True)
    future = executor.submit(fn, **kwargs)
    if isinstance(future, Future):
        future.add_done_callback(_log_future_error)
    return future


def _log_future_error(future: Future) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("job execution crashed: %s", describe_error(exc)["message"])


def _settings(store: Any, config: Config | None) -> Config:
    return effective_settings(store, config or load_config())


def _clock(store: Any, clock: Clock | None) -> Clock:
    return clock or getattr(store, "now", None) or utcnow


def _is_due(job: dict, now: datetime) -> bool:
    when = as_utc(job.get("scheduled_for"))
    return when is None or when <= now


# --------------------------------------------------------------------------------------- submit
def submit(store: Any, course_ids: Iterable[int], trigger: str = "manual", *, source: str | None = None,
           config: Config | None = None, executor: Any = None, as_of: datetime | str | None = None,
           clock: Clock | None = None, dry_run: bool = False, extra: dict[str, Any] | None = None) -> str:
    """Create a queued job for ``course_ids`` and start it on ``executor``; returns the job id at once.

    Courses that already have an active job from the same source (running, or queued and due) are not
    queued again: if all requested courses are active, the id of the (first) active job is returned and
    nothing starts.
    A future scheduled retry of a requested course is superseded (marked skipped) by the new job.
    """
    settings = _settings(store, config)
    now_fn = _clock(store, clock)
    wanted = list(dict.fromkeys(int(c) for c in course_ids))
    if not wanted:
        raise ValueError("submit needs at least one course id")
    with _SUBMIT_LOCK, store.locked():
        now = as_utc(now_fn())
        active: dict[int, str] = {}
        superseded: list[dict] = []
        wanted_source = source or settings.source
        for job in store.jobs.recent(limit=200, status=("queued", "running")):
            covered = [int(c) for c in job.get("course_ids") or [] if int(c) in wanted]
            if not covered or (job.get("source") or settings.source) != wanted_source:
                continue  # another source (e.g. an uploaded log export) is its own request
            if job["status"] == "running" or _is_due(job, now):
                for c in covered:
                    active.setdefault(c, job["job_id"])
            elif set(int(c) for c in job.get("course_ids") or []) <= set(wanted):
                superseded.append(job)
        todo = [c for c in wanted if c not in active]
        if not todo:
            job_id = active[wanted[0]]
            log.info("courses %s already have active job %s; nothing new started", wanted, job_id)
            return job_id
        job_id = store.jobs.create(todo, trigger, extra={
            "source": source or settings.source,
            "as_of": as_utc(as_of),
            "dry_run": bool(dry_run),
            "retry_number": 0,
            "submitted_by": {"host": HOST, "pid": os.getpid(), "started": _process_start_time(os.getpid())},
            **(extra or {}),
        })
        for old in superseded:
            store.jobs.set_status(old["job_id"], "skipped", expected="queued",
                                  error={"type": "Superseded", "message": f"superseded by job {job_id}"})
    _dispatch(executor, execute_job, store=store, job_id=job_id, config=config, clock=clock)
    return job_id


# ----------------------------------------------------------------------------------- heartbeat
class _Heartbeat:
    """Daemon thread: beats the job's heartbeat and renews the leases it holds, every ``interval`` s."""

    def __init__(self, store: Any, job_id: str, owner_id: str, ttl_s: float, interval_s: float,
                 clock: Clock) -> None:
        self.store, self.job_id, self.owner_id = store, job_id, owner_id
        self.ttl_s, self.interval_s, self.clock = ttl_s, max(0.05, interval_s), clock
        self.keys: set[str] = set()
        self.lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def hold(self, key: str) -> None:
        with self._lock:
            self.keys.add(key)

    def drop(self, key: str) -> None:
        with self._lock:
            self.keys.discard(key)

    def beat(self) -> None:
        now = self.clock()
        try:
            self.store.jobs.heartbeat(self.job_id, self.owner_id, now=now)
            with self._lock:
                keys = list(self.keys)
            for key in keys:
                if not self.store.leases.renew(key, self.owner_id, self.ttl_s, now=now):
                    log.warning("job %s lost its lease %s", self.job_id, key)
                    with self._lock:
                        self.lost.add(key)
        except Exception as exc:  # a missed beat is not fatal; the next one may succeed
            log.warning("heartbeat of job %s failed: %s", self.job_id, describe_error(exc)["message"])

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()


# ------------------------------------------------------------------------------------- execute
def _holder_job_id(store: Any, key: str) -> tuple[str | None, str | None]:
    try:
        doc = store.leases.holder(key)
    except Exception:
        return None, None
    if not doc:
        return None, None
    owner = str(doc.get("owner") or "")
    return owner, (owner.rsplit(":", 1)[-1] if owner.count(":") >= 2 else None)


def _course_outcome_error(exc: BaseException, settings: Config) -> dict:
    return describe_error(exc, settings.secrets, data_dir=settings.data_dir)


def _run_one_course(store: Any, job: dict, course_id: int, settings: Config, hb: _Heartbeat, clock: Clock,
                    run: Callable[..., dict], report: Callable[[int, str, float], None]) -> dict[str, Any]:
    job_id = job["job_id"]
    key = lease_key(course_id)
    source = job.get("source") or settings.source
    if not str(source).startswith("csv:"):  # an imported course runs from its stored upload, never Moodle
        from jobs.imports import imported_source

        upload, why = imported_source(store, course_id)
        if why:
            return {"course_id": course_id, "status": "skipped", "reason": why,
                    "error": {"type": "SkipCourse", "message": why}}
        source = upload or source
    dates = [as_utc(d) for d in (job.get("as_of_dates") or [])] or [as_utc(job.get("as_of"))]
    if not store.leases.acquire(key, hb.owner_id, settings.lease_ttl_s, now=clock()):
        holder, holder_job = _holder_job_id(store, key)
        exc = LeaseHeld(course_id, holder, holder_job)
        return {"course_id": course_id, "status": "skipped", "reason": str(exc),
                "running_job_id": holder_job, "error": {"type": "LeaseHeld", "message": str(exc)}}
    hb.hold(key)

    def guard() -> None:
        """Right before the first write: still ours? (renew is atomic; a lost lease aborts the run)."""
        if key in hb.lost or not store.leases.renew(key, hb.owner_id, settings.lease_ttl_s, now=clock()):
            holder, holder_job = _holder_job_id(store, key)
            raise LeaseHeld(course_id, holder, holder_job)

    try:
        summaries = []
        for i, as_of in enumerate(dates):
            def progress(stage: str, fraction: float, _i: int = i) -> None:
                report(course_id, stage, (_i + fraction) / len(dates))

            summaries.append(run(course_id, source=source, store=store, as_of=as_of, job_id=job_id,
                                 progress=progress, config=settings, dry_run=bool(job.get("dry_run")),
                                 before_write=guard))
        out = dict(summaries[-1])
        out["status"] = "succeeded"
        if len(summaries) > 1:
            out["runs"] = [s.get("run_id") for s in summaries]
        return out
    except SkipCourse as exc:
        return {"course_id": course_id, "status": "skipped", "reason": exc.reason,
                "error": {"type": "SkipCourse", "message": exc.reason}}
    except LeaseHeld as exc:
        log.warning("job %s lost the lease of course %s before writing; nothing written", job_id, course_id)
        return {"course_id": course_id, "status": "skipped", "reason": f"lease lost: {exc}",
                "running_job_id": exc.job_id, "error": {"type": "LeaseHeld", "message": str(exc)}}
    except Exception as exc:
        err = _course_outcome_error(exc, settings)
        log.warning("job %s course %s failed (%s): %s", job_id, course_id, err["kind"], err["message"])
        return {"course_id": course_id, "status": "failed", "error": err, "transient": err["kind"] == "transient"}
    finally:
        hb.drop(key)
        try:
            store.leases.release(key, hb.owner_id)
        except Exception as exc:  # the lease expires by itself
            log.warning("could not release %s: %s", key, exc.__class__.__name__)


def _resolve_courses(store: Any, job: dict, settings: Config) -> list[int]:
    ids = [int(c) for c in job.get("course_ids") or []]
    if ids or not job.get("discover"):
        return ids
    ids = nightly_courses(store, settings, source=job.get("source"))
    store.jobs.collection.update_one({"job_id": job["job_id"]}, {"$set": {"course_ids": ids,
                                                                          "progress.total": len(ids)}})
    return ids


def _schedule_retry(store: Any, job: dict, course_ids: Sequence[int], settings: Config, failed_at: datetime,
                    reason: str) -> dict[str, Any] | None:
    retries_done = int(job.get("retry_number") or 0)
    when = settings.retry_policy.next_retry_at(failed_at, retries_done)
    if when is None or (not course_ids and not job.get("discover")):
        return None
    retry_id = store.jobs.create(list(course_ids), "retry", scheduled_for=when, parent_job_id=job["job_id"],
                                 extra={"source": job.get("source"), "as_of": job.get("as_of"),
                                        "as_of_dates": job.get("as_of_dates"), "dry_run": job.get("dry_run"),
                                        "retry_number": retries_done + 1, "retry_reason": reason,
                                        "root_job_id": job.get("root_job_id") or job["job_id"],
                                        "root_trigger": job.get("root_trigger") or job.get("trigger"),
                                        "discover": bool(job.get("discover")) and not course_ids})
    log.info("job %s: retry %d of courses %s scheduled for %s (job %s)", job["job_id"], retries_done + 1,
             list(course_ids), when.isoformat(), retry_id)
    return {"job_id": retry_id, "scheduled_for": when, "retry_number": retries_done + 1}


def execute_job(store: Any, job_id: str, *, config: Config | None = None, clock: Clock | None = None,
                run: Callable[..., dict] | None = None) -> dict | None:
    """Run a queued job to its end; returns the final job record (or the record as found, if it could
    not be claimed). Never raises for a course failure: outcomes are recorded, retries scheduled.

    ``run`` replaces :func:`jobs.pipeline.run_course` (tests inject failures through it).
    """
    settings = _settings(store, config)
    now_fn = _clock(store, clock)
    if run is None:
        from jobs.pipeline import run_course as run
    owner = owner_info(job_id)
    job = store.jobs.claim(job_id, owner, now=now_fn())
    if job is None:
        log.info("job %s was not claimed (already taken or not queued)", job_id)
        return store.jobs.get(job_id)
    attempt = store.jobs.start_attempt(job_id, now=now_fn())
    interval = max(0.05, min(settings.lease_ttl_s / 3.0, settings.heartbeat_timeout_s / 4.0))
    results: dict[int, dict] = {}
    fractions: dict[int, float] = {}
    lock = threading.Lock()
    try:
        with _Heartbeat(store, job_id, owner["id"], settings.lease_ttl_s, interval, now_fn) as hb:
            try:
                course_ids = _resolve_courses(store, job, settings)
            except Exception as exc:  # listing courses failed (Moodle down): the whole job fails
                err = describe_error(exc, settings.secrets, data_dir=settings.data_dir)
                course_ids = []
                results[-1] = {"course_id": None, "status": "failed", "error": err,
                               "transient": err["kind"] == "transient"}
            total = len(course_ids)

            def report(course_id: int, stage: str, fraction: float) -> None:
                with lock:
                    fractions[course_id] = max(0.0, min(1.0, fraction))
                    done = sum(1 for r in results.values() if r.get("course_id") is not None)
                    overall = sum(fractions.values()) / total if total else 1.0
                try:
                    store.jobs.update_progress(job_id, {
                        "stage": stage, "course_id": course_id, "done": done, "total": total,
                        "fraction": round(overall, 4), "message": f"course {course_id}: {stage}"}, now=now_fn())
                except Exception as exc:
                    log.debug("progress update failed: %s", exc.__class__.__name__)

            def one(course_id: int) -> dict:
                if not settings.course_enabled(course_id) and job.get("trigger") in RETRYABLE_TRIGGERS:
                    return {"course_id": course_id, "status": "skipped", "reason": "course disabled in settings"}
                return _run_one_course(store, job, course_id, settings, hb, now_fn, run, report)

            def finish(course_id: int, outcome: dict) -> None:
                outcome.setdefault("course_id", course_id)
                with lock:
                    results[course_id] = outcome
                    fractions[course_id] = 1.0
                store.jobs.set_result(job_id, course_id, outcome)
                report(course_id, outcome["status"], 1.0)

            workers = max(1, min(settings.max_parallel_courses, total))
            if workers == 1:
                for cid in course_ids:
                    finish(cid, one(cid))
            elif total:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"job-{job_id[:6]}") as pool:
                    futures = {cid: pool.submit(one, cid) for cid in course_ids}
                    for cid, fut in futures.items():
                        try:
                            finish(cid, fut.result())
                        except Exception as exc:  # the store failed around the course (lease, result)
                            err = describe_error(exc, settings.secrets, data_dir=settings.data_dir)
                            finish(cid, {"status": "failed", "error": err, "transient": err["kind"] == "transient"})
    except Exception as exc:  # the bookkeeping itself failed (e.g. the database went away)
        err = describe_error(exc, settings.secrets, data_dir=settings.data_dir)
        log.error("job %s: %s: %s", job_id, err["type"], err["message"])
        try:
            for cid in job.get("course_ids") or []:
                results.setdefault(int(cid), {"course_id": int(cid), "status": "failed", "error": err,
                                              "transient": err["kind"] == "transient"})
            return _finalise(store, job, results, attempt, settings, now_fn)
        except Exception:  # still failing: recover() will mark the job interrupted once its heartbeat is stale
            log.error("job %s could not be recorded; recovery will pick it up", job_id)
            return {"job_id": job_id, "status": "failed", "error": err, "recorded": False,
                    "course_ids": job.get("course_ids"), "result": {}}
    except BaseException as exc:  # KeyboardInterrupt / SystemExit mid-job: record, then re-raise
        err = describe_error(exc, settings.secrets, data_dir=settings.data_dir)
        try:
            store.jobs.finish_attempt(job_id, "interrupted", number=attempt, error=err, now=now_fn())
            store.jobs.set_status(job_id, "interrupted", error=err, expected="running", now=now_fn())
        except Exception:
            log.error("job %s could not be marked interrupted; recovery will do it", job_id)
        raise
    return _finalise(store, job, results, attempt, settings, now_fn)


def _finalise(store: Any, job: dict, results: dict[int, dict], attempt: int, settings: Config,
              now_fn: Clock) -> dict | None:
    job_id = job["job_id"]
    outcomes = list(results.values())
    failed = [r for r in outcomes if r["status"] == "failed"]
    succeeded = [r for r in outcomes if r["status"] == "succeeded"]
    skipped = [r for r in outcomes if r["status"] == "skipped"]
    if failed:
        status = "failed"
    elif succeeded or not outcomes:
        status = "succeeded"
    else:
        status = "skipped"
    error = None
    if failed:
        first = failed[0]["error"]
        names = ", ".join(str(r.get("course_id")) for r in failed if r.get("course_id") is not None)
        prefix = f"course {names}: " if names else ""
        error = {"type": first["type"], "message": f"{prefix}{first['message']}"}
    elif status == "skipped":
        error = {"type": "SkipCourse", "message": "; ".join(str(r.get("reason")) for r in skipped)}
    stats: dict[str, Any] = {
        "courses": len([r for r in outcomes if r.get("course_id") is not None]),
        "succeeded": len(succeeded), "failed": len(failed), "skipped": len(skipped),
        "students": sum(int(r.get("students") or 0) for r in succeeded),
        "events": sum(int(r.get("events") or 0) for r in succeeded),
        "moved": sum(int(r.get("moved") or 0) for r in succeeded),
        "clusters_changed": sum(int(r.get("clusters_changed") or 0) for r in succeeded),
        "k": {str(r["course_id"]): r.get("k") for r in succeeded},
        "seconds": round(sum(float(r.get("seconds") or 0) for r in succeeded), 3),
        "run_ids": [r.get("run_id") for r in succeeded if r.get("run_id")],
    }
    transient = [r for r in failed if r.get("transient")]
    if transient:
        retry_courses = [int(r["course_id"]) for r in transient if r.get("course_id") is not None]
        reason = transient[0]["error"]["message"]
        retry = _schedule_retry(store, job, retry_courses, settings, as_utc(now_fn()), reason)
        if retry is not None:
            stats["retry_job_id"] = retry["job_id"]
            stats["next_retry_at"] = retry["scheduled_for"]
            stats["retry_number"] = retry["retry_number"]
        else:
            stats["retries_exhausted"] = True
            if error is not None:
                error["message"] = (f"{error['message']} (gave up after "
                                    f"{int(job.get('retry_number') or 0)} retries)")
    finish = now_fn()
    store.jobs.finish_attempt(job_id, status, number=attempt, error=error, now=finish)
    updated = store.jobs.set_status(job_id, status, error=error, stats=stats, expected="running",
                                    progress={"stage": status, "done": stats["courses"],
                                              "fraction": 1.0, "message": status}, now=finish)
    if not updated:
        log.warning("job %s changed state while running (recovered elsewhere?); outcome kept in results",
                    job_id)
    final = store.jobs.get(job_id)
    if updated and status == "failed" and "retry_job_id" not in stats and not job.get("dry_run") and final:
        from jobs.notify import notify_failure  # failed for good: tell the admins (never raises)

        notify_failure(store, final, settings)
    return final


# ------------------------------------------------------------------------------ retries, recovery
def run_due_retries(store: Any, now: datetime | None = None, *, config: Config | None = None,
                    executor: Any = None, clock: Clock | None = None) -> list[str]:
    """Start every queued job whose ``scheduled_for`` has come; returns their ids.

    Also adopts orphans: unscheduled queued jobs older than ``heartbeat_timeout_s`` (their submitting
    process never started them, e.g. it was restarted). Claiming is atomic, so a job is never run twice.
    Without ``executor`` they run one after another in the calling thread (the scheduler's maintenance
    job, the CLI, tests).
    """
    now_fn = _clock(store, clock)
    now = as_utc(now) or as_utc(now_fn())
    due = list(store.jobs.due_retries(now))
    timeout = _settings(store, config).heartbeat_timeout_s
    due += [j for j in store.jobs.queued() if j.get("scheduled_for") is None
            and (as_utc(j.get("created_at")) or now) < now - timedelta(seconds=timeout)]
    started = []
    for job in due:
        started.append(job["job_id"])
        if executor is None:
            execute_job(store, job["job_id"], config=config, clock=clock)
        else:
            _dispatch(executor, execute_job, store=store, job_id=job["job_id"], config=config, clock=clock)
    return started


def _owner_gone(owner: dict | None) -> str | None:
    if not owner or owner.get("host") != HOST or not owner.get("pid"):
        return None
    pid = int(owner["pid"])
    if pid == os.getpid() and (owner.get("started") is None or
                               abs((_process_start_time(pid) or 0) - float(owner["started"])) <= 1.0):
        return None
    if pid_alive(pid, owner.get("started")):
        return None
    return f"owner process {pid} on {HOST} is gone"


def recover(store: Any, config: Config | None = None, now: datetime | None = None, *,
            clock: Clock | None = None) -> list[dict]:
    """Mark jobs whose owner is gone ``interrupted``; returns ``[{job_id, reason, retry_job_id}]``.

    A running job is orphaned when its owner process on this host no longer exists, or when its
    heartbeat is older than ``heartbeat_timeout_s`` (any host). A queued, unscheduled job whose
    submitting process on this host is gone is orphaned too. Their course leases are broken, pending
    run leftovers discarded, and jobs triggered by the schedule (or retries) get a retry job.
    """
    settings = _settings(store, config)
    now_fn = _clock(store, clock)
    now = as_utc(now) or as_utc(now_fn())
    cutoff = now - timedelta(seconds=settings.heartbeat_timeout_s)
    found: list[tuple[dict, str]] = []
    for job in store.jobs.running():
        reason = _owner_gone(job.get("owner"))
        if reason is None:
            beat = as_utc(job.get("heartbeat_at") or job.get("started_at"))
            if beat is None or beat < cutoff:
                reason = (f"no heartbeat since {beat.isoformat() if beat else 'start'} "
                          f"(timeout {int(settings.heartbeat_timeout_s)} s)")
        if reason:
            found.append((job, reason))
    for job in store.jobs.queued():
        if job.get("scheduled_for") is None and not job.get("shared"):
            reason = _owner_gone(job.get("submitted_by"))
            if reason:
                found.append((job, reason.replace("owner", "submitting")))
    return [r for r in (_interrupt(store, settings, job, reason, now) for job, reason in found) if r]


def _interrupt(store: Any, settings: Config, job: dict, reason: str, now: datetime) -> dict | None:
    """Mark one job ``interrupted`` (if it is still in the state we saw), break its leases, discard its
    half-written runs, schedule a retry for scheduled jobs. Returns ``{job_id, reason, retry_job_id}``."""
    error = {"type": "Interrupted", "message": reason}
    if not store.jobs.set_status(job["job_id"], "interrupted", error=error, expected=job["status"], now=now):
        return None
    if job["status"] == "running":
        store.jobs.finish_attempt(job["job_id"], "interrupted", error=error, now=now)
    owner_id = (job.get("owner") or {}).get("id")
    me = f"{HOST}:{os.getpid()}:recover-{uuid.uuid4().hex[:8]}"
    for cid in job.get("course_ids") or []:
        key = lease_key(cid)
        holder = store.leases.holder(key, now=now)
        if holder and owner_id and holder.get("owner") == owner_id:
            store.leases.break_lease(key)
        if store.leases.acquire(key, me, 60, now=now):
            try:
                store.runs.discard_unfinished(int(cid))
            finally:
                store.leases.release(key, me)
    retry = None
    if job.get("trigger") in RETRYABLE_TRIGGERS:
        pending = [int(c) for c in job.get("course_ids") or []
                   if (job.get("result") or {}).get(str(c), {}).get("status") != "succeeded"]
        retry = _schedule_retry(store, job, pending, settings, now, reason)
    log.warning("job %s interrupted: %s%s", job["job_id"], reason,
                f"; retry {retry['job_id']} at {retry['scheduled_for']}" if retry else "")
    return {"job_id": job["job_id"], "reason": reason, "retry_job_id": retry and retry["job_id"]}


def own_running_jobs(store: Any) -> list[dict]:
    """Running jobs owned by this process."""
    return [j for j in store.jobs.running()
            if (j.get("owner") or {}).get("host") == HOST and int((j.get("owner") or {}).get("pid") or 0) == os.getpid()]


def interrupt_own_jobs(store: Any, config: Config | None = None, *, reason: str,
                       now: datetime | None = None) -> list[dict]:
    """At shutdown: mark this process's running jobs ``interrupted`` (retry for scheduled ones)."""
    settings = _settings(store, config)
    now = as_utc(now) or as_utc(_clock(store, None)())
    return [r for r in (_interrupt(store, settings, job, reason, now) for job in own_running_jobs(store)) if r]


def maintenance(store: Any, config: Config | None = None, *, clock: Clock | None = None) -> dict[str, Any]:
    """The scheduler's periodic job: recovery, then due retries."""
    recovered = recover(store, config, clock=clock)
    started = run_due_retries(store, config=config, clock=clock)
    return {"recovered": recovered, "retries_started": started}


def retry_job(store: Any, job_id: str, *, config: Config | None = None, executor: Any = None,
              clock: Clock | None = None, only_failed: bool = True) -> str:
    """Operator retry: a new ``retry`` job (due now) for a finished job's failed courses (or all)."""
    job = store.jobs.get(job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    if job["status"] in ("queued", "running"):
        raise ValueError(f"job {job_id} is {job['status']}; wait for it to finish")
    courses = [int(c) for c in job.get("course_ids") or []]
    results = job.get("result") or {}
    if only_failed and results:
        failed = [c for c in courses if (results.get(str(c)) or {}).get("status") in ("failed", None)]
        courses = failed or courses
    settings = _settings(store, config)
    new_id = store.jobs.create(courses, "retry", parent_job_id=job_id, extra={
        "source": job.get("source") or settings.source, "as_of": job.get("as_of"),
        "as_of_dates": job.get("as_of_dates"), "retry_number": 0, "operator_retry": True,
        "root_job_id": job.get("root_job_id") or job_id,
        "submitted_by": {"host": HOST, "pid": os.getpid(), "started": _process_start_time(os.getpid())}})
    _dispatch(executor if executor is not None else InlineExecutor(), execute_job, store=store, job_id=new_id,
              config=config, clock=clock)
    return new_id


# ------------------------------------------------------------------------------------- nightly
def nightly_courses(store: Any, settings: Config, *, source: str | None = None) -> list[int]:
    """Courses the nightly job covers: the selected ones (setting ``nightly_courses``), else every
    course the source lists (new ones are registered in ``store.courses``); disabled ones are left out."""
    if settings.nightly_courses:
        ids = [int(c) for c in settings.nightly_courses]
    else:
        from moodle.sources import list_courses

        src = source or settings.source
        ids = []
        for course in list_courses(src, settings):
            cid = int(course["id"])
            ids.append(cid)
            if store.courses.get(cid) is None:
                store.courses.upsert({"course_id": cid, "fullname": course.get("fullname") or "",
                                      "shortname": course.get("shortname") or "", "source": src.split(":")[0]})
        try:  # imported courses are not listed by the source: they re-run from their stored upload
            ids += [int(d["course_id"]) for d in store.courses.list() if d.get("upload") and "course_id" in d]
        except Exception as exc:
            log.warning("cannot list imported courses: %s", exc.__class__.__name__)
    return sorted(c for c in dict.fromkeys(ids) if settings.course_enabled(c))


def run_nightly(store: Any, config: Config | None = None, missed_fire_time: datetime | None = None, *,
                clock: Clock | None = None, work: bool = True) -> dict | None:
    """The nightly job: one queued ``schedule`` job per selected course, shared by every worker.

    A token lease ``nightly:<fire time>`` makes sure that two processes (app replicas, workers)
    firing for the same cron time enqueue it only once. The jobs are marked ``shared``: every process
    running a scheduler claims them (atomically) from the store, so N processes share the night; this
    process then works on them too (``work``). If the course list cannot be read (Moodle down), one
    job with course discovery runs here and fails, and its retry tries again later.
    Returns a summary shaped like a job record (``trigger``, ``status``, ``course_ids``, ``result``
    per course, plus ``job_ids``, ``ran``, ``fire_time``), or the discovery job's record; None when
    another process took this fire time.
    """
    from jobs.scheduler import missed_fire_time as latest_fire

    settings = _settings(store, config)
    now_fn = _clock(store, clock)
    now = as_utc(now_fn())
    try:
        from jobs.imports import purge_uploads

        purge_uploads(settings.data_dir, settings.import_retention_days, now)
    except Exception as exc:  # never let housekeeping stop the nightly
        log.warning("upload retention: %s", exc.__class__.__name__)
    fire = missed_fire_time
    if fire is None:
        try:
            fire = latest_fire(settings.schedule, settings.timezone, now, max(settings.misfire_grace_s, 3600), None)
        except ValueError:
            fire = None
    fire = as_utc(fire) or now.replace(second=0, microsecond=0)
    token = f"nightly:{fire.strftime('%Y-%m-%dT%H:%M')}"
    if not store.leases.acquire(token, f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
                                settings.misfire_grace_s + 86400, now=now):
        log.info("nightly run for %s already taken by another process", token)
        return None
    submitted = {"host": HOST, "pid": os.getpid(), "started": _process_start_time(os.getpid())}
    try:
        courses = nightly_courses(store, settings)
    except Exception as exc:  # the course list is unreachable: a discovery job fails here and retries
        log.warning("nightly: listing courses failed (%s); one job will retry", describe_error(exc)["message"])
        job_id = store.jobs.create([], "schedule", extra={
            "source": settings.source, "discover": True, "fire_time": fire, "retry_number": 0,
            "submitted_by": submitted})
        job = execute_job(store, job_id, config=config, clock=clock) or store.jobs.get(job_id) or {}
        return {**job, "fire_time": fire, "job_ids": [job_id], "ran": [job_id]}
    job_ids = [store.jobs.create([cid], "schedule", extra={
        "source": settings.source, "fire_time": fire, "retry_number": 0, "shared": True,
        "submitted_by": submitted}) for cid in courses]
    log.info("nightly %s: %d course job(s) queued for every worker", fire.isoformat(), len(job_ids))
    ran = claim_shared(store, config, clock=clock) if work else []
    return nightly_summary(store, job_ids, fire_time=fire, ran=ran)


def nightly_summary(store: Any, job_ids: Sequence[str], *, fire_time: datetime | None = None,
                    ran: Sequence[str] = ()) -> dict[str, Any]:
    """The per-course jobs of one nightly run as one job-like record (status so far)."""
    jobs = [j for j in (store.jobs.get(i) for i in job_ids) if j]
    result: dict[str, Any] = {}
    for j in jobs:
        result.update(j.get("result") or {})
    statuses = [j.get("status") for j in jobs]
    if any(s in ("queued", "running") for s in statuses):
        status = "running"
    elif "failed" in statuses or "interrupted" in statuses:
        status = "failed"
    elif "succeeded" in statuses or not statuses:
        status = "succeeded"
    else:
        status = "skipped"
    return {"trigger": "schedule", "status": status, "fire_time": fire_time,
            "course_ids": sorted(int(c) for j in jobs for c in j.get("course_ids") or []),
            "result": result, "job_ids": list(job_ids), "ran": list(ran),
            "by_worker": _by_worker(jobs)}


def _by_worker(jobs: Sequence[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for j in jobs:
        owner = j.get("owner") or {}
        if owner:
            key = f"{owner.get('host')}:{owner.get('pid')}"
            out[key] = out.get(key, 0) + 1
    return out


def shared_queue(store: Any) -> list[dict]:
    """Queued shared course jobs that any worker may claim, oldest first."""
    return [j for j in store.jobs.queued() if j.get("shared") and j.get("scheduled_for") is None]


def claim_shared(store: Any, config: Config | None = None, *, clock: Clock | None = None,
                 limit: int | None = None) -> list[str]:
    """Claim queued shared course jobs one at a time and run them, until none is left (or ``limit``).

    Claiming is atomic (``find_one_and_update`` on MongoDB; under the store's file lock embedded), so
    with several processes each job runs once. Returns the ids of the jobs this call ran.
    """
    ran: list[str] = []
    while limit is None or len(ran) < limit:
        candidates = shared_queue(store)
        if not candidates:
            break
        progressed = False
        for job in candidates:
            owner = owner_info(job["job_id"])
            result = execute_job(store, job["job_id"], config=config, clock=clock)
            if result is not None and (result.get("owner") or {}).get("id") == owner["id"]:
                ran.append(job["job_id"])
                progressed = True
                break  # re-read the queue: others may have taken the rest
        if not progressed:
            break
    return ran


# -------------------------------------------------------------------------------------- health
def health(store: Any, now: datetime | None = None, *, config: Config | None = None,
           stale_after_hours: float = 36.0) -> dict[str, Any]:
    """Last success per course, data freshness, 7-day success rate, failing courses, overall status."""
    now = as_utc(now) or as_utc(getattr(store, "now", utcnow)())
    week = store.jobs.since(now - timedelta(days=7))
    course_ids = set(store.runs.courses_with_runs())
    try:
        course_ids |= {int(c.get("course_id", c.get("id"))) for c in store.courses.list()
                       if c.get("course_id", c.get("id")) is not None}
    except Exception:
        pass
    per_course: dict[int, dict[str, int]] = {c: {"succeeded": 0, "failed": 0, "skipped": 0, "interrupted": 0}
                                             for c in course_ids}
    last_outcome: dict[int, dict] = {}
    for job in sorted(week, key=lambda j: (as_utc(j.get("created_at")) or now, as_utc(j.get("finished_at")) or now)):
        results = job.get("result") or {}
        for cid in job.get("course_ids") or []:
            cid = int(cid)
            res = results.get(str(cid)) or {}
            status = res.get("status") or (job["status"] if job["status"] in ("interrupted", "failed") else None)
            if status not in ("succeeded", "failed", "skipped", "interrupted"):
                continue
            per_course.setdefault(cid, {"succeeded": 0, "failed": 0, "skipped": 0, "interrupted": 0})
            per_course[cid][status] += 1
            err = res.get("error") or job.get("error") or {}
            last_outcome[cid] = {"status": status, "job_id": job["job_id"], "at": job.get("finished_at"),
                                 "error": err.get("message") if isinstance(err, dict) else str(err)}
    pending_retries = {int(c) for j in store.jobs.queued() if j.get("trigger") == "retry"
                       for c in j.get("course_ids") or []}
    courses = []
    failing = []
    totals = {"succeeded": 0, "failed": 0, "interrupted": 0}
    for cid in sorted(per_course):
        counts = per_course[cid]
        for k in totals:
            totals[k] += counts[k]
        latest = store.runs.latest(cid)
        as_of = as_utc(latest.get("as_of")) if latest else None
        finished = as_utc((latest or {}).get("finished_at") or (latest or {}).get("run_at")) if latest else None
        fresh_h = round((now - as_of).total_seconds() / 3600, 2) if as_of else None
        denominator = counts["succeeded"] + counts["failed"] + counts["interrupted"]
        outcome = last_outcome.get(cid)
        is_failing = bool(outcome and outcome["status"] in ("failed", "interrupted"))
        row = {
            "course_id": cid,
            "last_success_at": finished,
            "last_run_id": (latest or {}).get("run_id"),
            "data_as_of": as_of,
            "freshness_hours": fresh_h,
            "stale": fresh_h is None or fresh_h > stale_after_hours,
            "success_rate_7d": round(counts["succeeded"] / denominator, 3) if denominator else None,
            "jobs_7d": counts,
            "last_outcome": outcome,
            "failing": is_failing,
            "retry_pending": cid in pending_retries,
        }
        courses.append(row)
        if is_failing:
            failing.append(cid)
    denominator = sum(totals.values())
    rate = round(totals["succeeded"] / denominator, 3) if denominator else None
    if failing and len(failing) == len(courses):
        status = "critical"
    elif failing or any(c["stale"] for c in courses) or (rate is not None and rate < 0.5):
        status = "warning"
    else:
        status = "healthy"
    return {
        "status": status,
        "checked_at": now,
        "success_rate_7d": rate,
        "failing_courses": failing,
        "stale_courses": [c["course_id"] for c in courses if c["stale"]],
        "running_jobs": len(store.jobs.running()),
        "queued_retries": len([j for j in store.jobs.queued() if j.get("trigger") == "retry"]),
        "courses": courses,
    }
