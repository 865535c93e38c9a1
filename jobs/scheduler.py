"""One APScheduler ``BackgroundScheduler`` per process: the nightly cron, retries and recovery.

Jobs live in the MemoryJobStore and are re-added at every start (the APScheduler FAQ: a job store must
not be shared between processes). The durable state — job records, retries due, leases — is in our
own store, so nothing is lost when the process stops. The UI wraps :func:`build_scheduler` in
``st.cache_resource``; ``python -m jobs scheduler`` runs it in the foreground.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from jobs.clock import Clock, as_utc, utcnow
from jobs.config import Config, effective_settings

__all__ = [
    "NIGHTLY_JOB_ID",
    "MAINTENANCE_JOB_ID",
    "CATCH_UP_JOB_ID",
    "build_scheduler",
    "get_scheduler",
    "validate_cron",
    "cron_trigger",
    "reschedule",
    "next_runs",
    "missed_fire_time",
    "scheduler_status",
]

log = logging.getLogger(__name__)

NIGHTLY_JOB_ID = "nightly"
MAINTENANCE_JOB_ID = "maintenance"
CLAIM_JOB_ID = "claim"
ANNOUNCE_JOB_ID = "announce"
ANNOUNCE_EVERY_S = 15.0
CATCH_UP_JOB_ID = "catch-up"


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {tz!r}: use an IANA name such as Asia/Ho_Chi_Minh") from None


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field with its numbers as day names ("1-5" -> "mon-fri", "0,6" -> "sun,sat");
    steps and names pass through."""
    def name(token: str) -> str:
        return _CRON_DAYS[int(token)] if token.isdigit() and int(token) <= 7 else token

    parts = []
    for item in field.split(","):
        rng, _, step = item.partition("/")
        if "-" in rng:
            a, b = rng.split("-", 1)
            if a == "0" and b.isdigit() and 1 <= int(b) <= 7 and not step:
                rng = "mon-sun" if int(b) >= 6 else f"sun,mon-{name(b)}"
            elif a.isdigit() and b.isdigit() and int(b) == 7 and int(a) > 0:
                rng = f"{name(a)}-sat,sun" if not step else f"{name(a)}-sun"
            else:
                rng = f"{name(a)}-{name(b)}"
        else:
            rng = name(rng)
        parts.append(rng + (f"/{step}" if step else ""))
    return ",".join(parts)


def cron_trigger(expr: str, tz: str) -> CronTrigger:
    """A CronTrigger from a 5-field crontab line, or ValueError with a readable message."""
    zone = _zone(tz)
    text = " ".join(str(expr or "").split())
    if len(text.split(" ")) != 5:
        raise ValueError(
            f"cron expression {expr!r} must have 5 fields: minute hour day-of-month month day-of-week "
            "(e.g. '0 2 * * *' = every day at 02:00)"
        )
    minute, hour, day, month, dow = text.split(" ")
    try:
        # APScheduler 3 numbers weekdays from Monday = 0; crontab from Sunday = 0 (7 too): "1" must be Monday
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(dow),
                           timezone=zone)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None


def validate_cron(expr: str, tz: str, *, now: datetime | None = None, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times (aware, in ``tz``) of a cron line, or ValueError explaining why not."""
    trigger = cron_trigger(expr, tz)
    current = (as_utc(now) or utcnow()).astimezone(_zone(tz))
    out: list[datetime] = []
    previous: datetime | None = None
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, current)
        if fire is None:
            break
        out.append(fire)
        previous = fire
        current = fire + timedelta(seconds=1)
    if not out:
        raise ValueError(f"cron expression {expr!r} never fires")
    return out


next_runs = validate_cron


def missed_fire_time(expr: str, tz: str, now: datetime, grace_s: float,
                     last_run_at: datetime | None) -> datetime | None:
    """The latest fire time in ``(now - grace, now]`` for which no nightly run started, else None.

    ``last_run_at`` is when the last scheduled (nightly) job was created.
    """
    trigger = cron_trigger(expr, tz)
    now = as_utc(now)  # type: ignore[assignment]
    start = now - timedelta(seconds=grace_s)
    latest: datetime | None = None
    previous: datetime | None = None
    current = start
    for _ in range(10_000):  # bounded: a per-minute cron over a long grace
        fire = trigger.get_next_fire_time(previous, current)
        if fire is None or fire > now:
            break
        latest = fire
        previous = fire
        current = fire + timedelta(seconds=1)
    if latest is None:
        return None
    last = as_utc(last_run_at)
    if last is not None and last >= latest.astimezone(UTC):
        return None
    return latest.astimezone(UTC)


def _last_nightly_at(store: Any) -> datetime | None:
    for job in store.jobs.recent(limit=200):
        if job.get("trigger") == "schedule" and job.get("created_at"):
            return as_utc(job["created_at"])
    return None


def _on_event(event: JobEvent) -> None:
    if event.code == EVENT_JOB_ERROR:
        log.error("scheduler job %s raised %s", event.job_id, getattr(event, "exception", None).__class__.__name__)
    elif event.code == EVENT_JOB_MISSED:
        log.warning("scheduler job %s missed its run time %s", event.job_id,
                    getattr(event, "scheduled_run_time", None))
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.info("scheduler job %s is still running; this trigger was skipped", event.job_id)


def announce(store: Any, role: str = "app") -> None:
    """This process runs a scheduler (a lease ``scheduler:{host}:{pid}``, seen by health)."""
    from jobs.ops import announce_scheduler

    try:
        announce_scheduler(store, ANNOUNCE_EVERY_S * 3, role=role)
    except Exception as exc:  # informational only
        log.debug("scheduler announce failed: %s", exc.__class__.__name__)


def build_scheduler(store: Any, config: Config, *, start: bool = True, clock: Clock | None = None,
                    recover_at_start: bool = True, catch_up: bool = True, nightly: bool = True,
                    role: str = "app") -> BackgroundScheduler:
    """A started BackgroundScheduler with the nightly job (if enabled), maintenance and catch-up.

    - ``nightly``: ``jobs.runner:run_nightly`` on the cron of the effective settings, in their timezone;
      ``max_instances=1``, ``coalesce=True``, ``misfire_grace_time`` = ``config.misfire_grace_s``.
    - ``maintenance``: every ``config.retry_poll_s`` seconds, recovery of dead jobs and due retries.
    - ``claim``: every ``config.claim_poll_s`` seconds, claim queued shared course jobs (the nightly's,
      enqueued by whichever process fired) and run them; up to ``max_parallel_courses`` at once.
    - ``announce``: every 15 s, a lease saying this process runs a scheduler (health counts them).
    ``nightly=False`` (``python -m jobs worker --no-nightly``) leaves out the cron and the catch-up.
    - ``catch-up``: once at start, the nightly run missed while the process was down (within the grace;
      only when the product has run before: a fresh install's first runs come from the demo bootstrap).
    """
    from jobs import runner  # late: runner imports pipeline (pandas, sklearn)

    clock = clock or utcnow
    settings = effective_settings(store, config)
    zone = _zone(settings.timezone)
    scheduler = BackgroundScheduler(timezone=zone, jobstores={"default": MemoryJobStore()},
                                    job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_listener(_on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    if recover_at_start:
        try:
            runner.recover(store, settings, clock())
        except Exception as exc:  # never stop the app for a recovery problem
            log.error("recovery at start failed: %s", exc.__class__.__name__)
    if settings.enabled and nightly:
        try:
            trigger = cron_trigger(settings.schedule, settings.timezone)
        except ValueError as exc:
            log.error("nightly job not scheduled: %s", exc)
        else:
            # work=False: the nightly only enqueues; the claim job runs the courses (max_parallel_courses)
            scheduler.add_job("jobs.runner:run_nightly", trigger, id=NIGHTLY_JOB_ID, name="nightly clustering",
                              kwargs={"store": store, "config": config, "work": False}, replace_existing=True,
                              max_instances=1, coalesce=True, misfire_grace_time=int(settings.misfire_grace_s))
    scheduler.add_job("jobs.runner:maintenance", "interval", seconds=max(1.0, float(config.retry_poll_s)),
                      id=MAINTENANCE_JOB_ID, name="retries and recovery",
                      kwargs={"store": store, "config": config}, replace_existing=True,
                      max_instances=1, coalesce=True, misfire_grace_time=60)
    scheduler.add_job("jobs.runner:claim_shared", "interval", seconds=max(0.2, float(config.claim_poll_s)),
                      id=CLAIM_JOB_ID, name="claim shared course jobs", kwargs={"store": store, "config": config},
                      replace_existing=True, max_instances=max(1, int(settings.max_parallel_courses)),
                      coalesce=True, misfire_grace_time=30)
    scheduler.add_job("jobs.scheduler:announce", "interval", seconds=ANNOUNCE_EVERY_S, id=ANNOUNCE_JOB_ID,
                      name="scheduler liveness", kwargs={"store": store, "role": role}, replace_existing=True,
                      max_instances=1, coalesce=True, misfire_grace_time=30)
    announce(store, role)
    from jobs.notify import DIGEST_JOB_ID, channels

    if nightly and channels(settings):
        try:
            digest_trigger = cron_trigger(settings.notify_digest_schedule, settings.timezone)
        except ValueError as exc:
            log.error("daily digest not scheduled: %s", exc)
        else:
            scheduler.add_job("jobs.notify:send_daily_digest", digest_trigger, id=DIGEST_JOB_ID,
                              name="daily digest", kwargs={"store": store, "config": config},
                              replace_existing=True, max_instances=1, coalesce=True, misfire_grace_time=3600)
    if catch_up and settings.enabled and nightly:
        last = _last_nightly_at(store)
        missed = None
        if last is not None or store.runs.courses_with_runs():  # a fresh install has missed nothing
            try:
                missed = missed_fire_time(settings.schedule, settings.timezone, clock(), settings.misfire_grace_s,
                                          last)
            except ValueError:
                missed = None
        if missed is not None:
            log.info("nightly run of %s was missed; running it once now", missed.isoformat())
            scheduler.add_job("jobs.runner:run_nightly", "date", run_date=datetime.now(zone), id=CATCH_UP_JOB_ID,
                              name="missed nightly run", kwargs={"store": store, "config": config,
                                                                 "missed_fire_time": missed, "work": False},
                              replace_existing=True, misfire_grace_time=int(settings.misfire_grace_s))
    if start:
        scheduler.start()
    return scheduler


get_scheduler = build_scheduler


def reschedule(scheduler: BackgroundScheduler, cron: str, tz: str, enabled: bool, *,
               store: Any = None, config: Config | None = None) -> list[datetime]:
    """Apply a new schedule at once; returns the next three fire times ([] when disabled).

    Validates first (ValueError leaves the old schedule in place). Save the values in settings
    (:func:`jobs.config.save_settings`) so that the next start uses them too.
    """
    fires = validate_cron(cron, tz)
    job = scheduler.get_job(NIGHTLY_JOB_ID)
    if not enabled:
        if job is not None:
            scheduler.remove_job(NIGHTLY_JOB_ID)
        return []
    trigger = cron_trigger(cron, tz)
    if job is not None:
        job.reschedule(trigger)
    else:
        kwargs = dict(getattr(scheduler.get_job(MAINTENANCE_JOB_ID), "kwargs", {}) or {})
        if store is not None:
            kwargs["store"] = store
        if config is not None:
            kwargs["config"] = config
        if "store" not in kwargs or "config" not in kwargs:
            raise ValueError("store and config are needed to add the nightly job")
        kwargs["work"] = False
        scheduler.add_job("jobs.runner:run_nightly", trigger, id=NIGHTLY_JOB_ID, name="nightly clustering",
                          kwargs=kwargs, replace_existing=True, max_instances=1, coalesce=True,
                          misfire_grace_time=int(kwargs["config"].misfire_grace_s))
    return fires


def scheduler_status(scheduler: BackgroundScheduler | None) -> dict[str, Any]:
    """``{"running", "nightly_next_run", "jobs": [{id, name, next_run_time}]}`` for the Jobs page."""
    if scheduler is None:
        return {"running": False, "nightly_next_run": None, "jobs": []}
    jobs = []
    nightly_next = None
    for job in scheduler.get_jobs():
        nxt = getattr(job, "next_run_time", None)
        jobs.append({"id": job.id, "name": job.name, "next_run_time": nxt})
        if job.id == NIGHTLY_JOB_ID:
            nightly_next = nxt
    return {"running": bool(scheduler.running), "nightly_next_run": nightly_next, "jobs": jobs}
