"""Scheduler wiring: cron validation, nightly/maintenance/catch-up jobs, rescheduling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.scheduler import (
    ANNOUNCE_JOB_ID,
    CATCH_UP_JOB_ID,
    CLAIM_JOB_ID,
    MAINTENANCE_JOB_ID,
    NIGHTLY_JOB_ID,
    build_scheduler,
    missed_fire_time,
    reschedule,
    validate_cron,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def test_validate_cron_gives_next_three_times_in_the_timezone():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 19:00 in Ho Chi Minh City
    fires = validate_cron("0 2 * * *", "Asia/Ho_Chi_Minh", now=now)
    assert [f.astimezone(HCM).strftime("%m-%d %H:%M") for f in fires] == ["03-03 02:00", "03-04 02:00",
                                                                         "03-05 02:00"]
    assert fires[0].astimezone(UTC) == datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    weekly = validate_cron("30 6 * * mon", "UTC", now=now)
    assert all(f.weekday() == 0 and (f.hour, f.minute) == (6, 30) for f in weekly)
    assert weekly[1] - weekly[0] == timedelta(days=7)


@pytest.mark.parametrize("expr, match", [("0 2 * *", "5 fields"), ("61 2 * * *", "invalid cron"),
                                         ("", "5 fields"), ("0 25 * * *", "invalid cron")])
def test_validate_cron_rejects_bad_expressions(expr, match):
    with pytest.raises(ValueError, match=match):
        validate_cron(expr, "UTC")


def test_validate_cron_rejects_bad_timezone():
    with pytest.raises(ValueError, match="unknown timezone"):
        validate_cron("0 2 * * *", "Moon/Base")


def test_missed_fire_time_within_grace_only():
    fire = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 02:00 HCM
    later = fire + timedelta(hours=3)
    assert missed_fire_time("0 2 * * *", "Asia/Ho_Chi_Minh", later, 6 * 3600, None) == fire
    assert missed_fire_time("0 2 * * *", "Asia/Ho_Chi_Minh", later, 2 * 3600, None) is None  # outside grace
    assert missed_fire_time("0 2 * * *", "Asia/Ho_Chi_Minh", later, 6 * 3600, fire + timedelta(seconds=5)) is None
    assert missed_fire_time("0 2 * * *", "Asia/Ho_Chi_Minh", later, 6 * 3600, fire - timedelta(days=1)) == fire


def test_build_scheduler_registers_jobs(store, config, clock):
    assert CATCH_UP_JOB_ID not in {j.id for j in build_scheduler(store, config, start=False, clock=clock).get_jobs()}
    clock.advance(days=-1)
    store.jobs.create([], "schedule")  # yesterday's nightly ran; today's (at T0) was missed
    clock.advance(days=1)
    sched = build_scheduler(store, config, start=False, clock=clock)
    ids = {j.id for j in sched.get_jobs()}
    assert {NIGHTLY_JOB_ID, MAINTENANCE_JOB_ID} <= ids
    nightly = sched.get_job(NIGHTLY_JOB_ID)
    assert nightly.max_instances == 1 and nightly.coalesce is True
    assert nightly.misfire_grace_time == int(config.misfire_grace_s)
    assert str(nightly.trigger.timezone) == "Asia/Ho_Chi_Minh"
    assert nightly.func_ref == "jobs.runner:run_nightly"
    # T0 is exactly a fire time and no nightly job exists since: the catch-up run is registered
    assert CATCH_UP_JOB_ID in ids


def test_no_catch_up_when_the_nightly_ran(store, config, clock):
    store.jobs.create([], "schedule")  # created at T0 = the fire time
    clock.advance(hours=1)
    sched = build_scheduler(store, config, start=False, clock=clock)
    assert CATCH_UP_JOB_ID not in {j.id for j in sched.get_jobs()}


def test_disabled_schedule_has_no_nightly_job(store, config, clock):
    from jobs.config import save_settings

    save_settings(store, enabled=False)
    sched = build_scheduler(store, config, start=False, clock=clock)
    # no nightly; the process still claims shared course jobs and says it is alive
    assert {j.id for j in sched.get_jobs()} == {MAINTENANCE_JOB_ID, CLAIM_JOB_ID, ANNOUNCE_JOB_ID}


def test_reschedule_validates_and_applies(store, config, clock):
    sched = build_scheduler(store, config, start=True, clock=clock, catch_up=False)
    try:
        fires = reschedule(sched, "45 23 * * *", "UTC", True)
        assert len(fires) == 3 and all((f.hour, f.minute) == (23, 45) for f in fires)
        nxt = sched.get_job(NIGHTLY_JOB_ID).next_run_time
        assert (nxt.astimezone(UTC).hour, nxt.minute) == (23, 45)
        with pytest.raises(ValueError):
            reschedule(sched, "not a cron", "UTC", True)
        assert sched.get_job(NIGHTLY_JOB_ID).next_run_time == nxt  # unchanged after a bad value
        assert reschedule(sched, "45 23 * * *", "UTC", False) == []
        assert sched.get_job(NIGHTLY_JOB_ID) is None
        reschedule(sched, "0 4 * * *", "Asia/Ho_Chi_Minh", True)
        assert sched.get_job(NIGHTLY_JOB_ID) is not None
    finally:
        sched.shutdown(wait=False)


def _wait(predicate, timeout=30.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_started_scheduler_runs_due_retries_and_the_missed_nightly(store, config, small_site, monkeypatch):
    """Real time: the maintenance job starts a due retry; the catch-up job runs the missed nightly once."""
    from dataclasses import replace

    import jobs.pipeline
    from jobs.clock import utcnow

    calls = []

    def fake_run(course_id, **kw):
        calls.append((course_id, kw.get("job_id")))
        return {"run_id": None, "course_id": course_id, "k": 2, "students": 30, "seconds": 0.0}

    monkeypatch.setattr(jobs.pipeline, "run_course", fake_run)
    now = utcnow()
    due = store.jobs.create([201], "retry", scheduled_for=now - timedelta(seconds=1), extra={"retry_number": 1})
    # a cron that fired two minutes ago (in UTC), within the grace period, and no nightly job yet
    fired = now - timedelta(minutes=2)
    cfg = replace(config, retry_poll_s=0.2)
    from jobs.config import save_settings

    save_settings(store, schedule=f"{fired.minute} {fired.hour} * * *", timezone="UTC")
    store.jobs.collection.insert_one({"job_id": "old-nightly", "trigger": "schedule", "status": "succeeded",
                                      "course_ids": [], "created_at": now - timedelta(days=1)})
    sched = build_scheduler(store, cfg)
    try:
        assert _wait(lambda: store.jobs.get(due)["status"] == "succeeded")
        assert _wait(lambda: sum(j["trigger"] == "schedule" and j["status"] == "succeeded"
                                 for j in store.jobs.recent()) == 3)
    finally:
        sched.shutdown(wait=True)
    nightly = [j for j in store.jobs.recent() if j["trigger"] == "schedule" and j["job_id"] != "old-nightly"]
    # one shared job per course, for the one missed fire time
    assert sorted(c for j in nightly for c in j["course_ids"]) == [201, 202]
    assert all(j["shared"] and len(j["course_ids"]) == 1 for j in nightly)
    assert len({j["fire_time"] for j in nightly}) == 1
    assert sorted(c for c, _ in calls) == [201, 201, 202]
