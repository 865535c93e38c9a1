"""Demo backfill on first start, and the nightly job over every course."""

from __future__ import annotations

from dataclasses import replace

from jobs.bootstrap import BOOTSTRAP_LEASE, ensure_demo
from jobs.config import save_settings
from jobs.runner import run_nightly


def test_ensure_demo_backfills_weekly_runs_once(small_site, store, config):
    seen = []
    result = ensure_demo(store, config, weeks=2, progress=lambda s, f: seen.append((s, f)))
    assert result["status"] == "done" and result["courses"] == [201, 202] and result["weeks"] == 2
    assert seen[0] == ("course 201", 0.0) and seen[-1] == ("done", 1.0)  # the first course goes first
    for cid, n in ((201, 36), (202, 24)):
        runs = store.runs.list(cid)
        assert len(runs) == 2
        as_ofs = [r["as_of"] for r in reversed(runs)]
        assert as_ofs == sorted(as_ofs) and (as_ofs[-1] - as_ofs[0]).days == 7
        latest = store.runs.latest(cid)
        assert latest["transitions"]["initial"] == 0
        assert latest["transitions"]["stable"] + latest["transitions"]["moved"] == n
        assert all(len(h["history"]) == 2 for h in store.history.for_course(cid))
    jobs = [store.jobs.get(j) for j in result["jobs"]]
    assert [j["course_ids"] for j in jobs] == [[201], [202]]
    assert all(j["trigger"] == "schedule" and j["status"] == "succeeded" for j in jobs)
    assert store.courses.get(201)["fullname"] == "Small Seminar"
    assert ensure_demo(store, config, weeks=2)["status"] == "exists"  # idempotent
    assert store.runs.count(201) == 2


def test_ensure_demo_respects_source_and_busy_lease(small_site, store, config):
    assert ensure_demo(store, replace(config, source="moodle", moodle_url="https://m.example.org"))["status"] \
        == "not-demo"
    assert store.leases.acquire(BOOTSTRAP_LEASE, "otherhost:1:bootstrap", 600)
    assert ensure_demo(store, config, weeks=1)["status"] == "busy"
    assert store.runs.courses_with_runs() == []


def test_nightly_runs_enabled_courses_once_per_fire_time(small_site, store, config, clock):
    store.courses.upsert({"course_id": 202, "fullname": "Tiny Lab"})
    store.courses.set_flags(202, enabled=False)
    job = run_nightly(store, config, clock=clock)
    assert job["trigger"] == "schedule" and job["status"] == "succeeded"
    assert job["course_ids"] == [201]  # discovered from the source, 202 disabled
    assert store.courses.get(201) is not None
    assert run_nightly(store, config, clock=clock) is None  # same fire time: another replica did it
    save_settings(store, nightly_courses=[202, 201])
    store.courses.set_flags(202, enabled=True)
    clock.advance(days=1)
    job = run_nightly(store, config, clock=clock)
    assert job["course_ids"] == [201, 202] and job["status"] == "succeeded"


def test_nightly_when_the_course_list_is_unavailable_retries(small_site, store, config, clock, monkeypatch):
    from datetime import timedelta

    import jobs.pipeline
    from jobs.runner import run_due_retries
    from moodle import sources
    from moodle.errors import MoodleUnavailableError

    def down(*a, **k):
        raise MoodleUnavailableError("Moodle did not answer (HTTP 502)")

    monkeypatch.setattr(sources, "list_courses", down)
    job = run_nightly(store, config, clock=clock)
    assert job["status"] == "failed" and job["error"]["type"] == "MoodleUnavailableError"
    retry = store.jobs.get(job["stats"]["retry_job_id"])
    assert retry["scheduled_for"] == clock() + timedelta(minutes=1) and retry["discover"] is True
    monkeypatch.undo()  # Moodle is back
    monkeypatch.setattr(jobs.pipeline, "run_course",
                        lambda cid, **kw: {"run_id": None, "course_id": cid, "students": 30})
    from moodle import sources as s2

    monkeypatch.setattr(s2, "demo_site", lambda config=None: small_site)
    clock.advance(minutes=1)
    run_due_retries(store, config=config, clock=clock)
    done = store.jobs.get(retry["job_id"])
    assert done["status"] == "succeeded" and done["course_ids"] == [201, 202]
