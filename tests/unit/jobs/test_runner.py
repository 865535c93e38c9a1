"""Job runner with the pipeline replaced: retries at the right times (fake clock), permanent errors,
skips, leases, concurrent submits, recovery of dead owners, health."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

import jobs.pipeline
from jobs.errors import SkipCourse
from jobs.runner import (
    InlineExecutor,
    execute_job,
    health,
    lease_key,
    recover,
    retry_job,
    run_due_retries,
    submit,
)


class FakeRun:
    """Stands in for run_course: raises ``errors[course_id]`` (a list consumed per call) or succeeds."""

    def __init__(self, clock=None, errors=None, gate: threading.Event | None = None):
        self.calls: list[tuple[int, object]] = []
        self.errors = {k: list(v) for k, v in (errors or {}).items()}
        self.clock = clock
        self.gate = gate
        self.lock = threading.Lock()

    def __call__(self, course_id, *, source, store, as_of=None, job_id=None, progress=None, config=None,
                 dry_run=False, before_write=None):
        with self.lock:
            self.calls.append((course_id, self.clock() if self.clock else time.time()))
            queue = self.errors.get(course_id) or []
            exc = queue.pop(0) if queue else None
        if progress:
            progress("loading", 0.1)
        if self.gate is not None:
            assert self.gate.wait(10)
        if exc is not None:
            raise exc
        if before_write is not None:
            before_write()
        if progress:
            progress("done", 1.0)
        return {"run_id": f"run-{course_id}-{len(self.calls)}", "course_id": course_id, "k": 3,
                "sizes": {0: 5, 1: 5, 2: 5}, "silhouette": 0.4, "seconds": 0.01, "students": 15, "events": 100,
                "source": source, "moved": 0}


@pytest.fixture
def fake_run(monkeypatch, clock):
    fr = FakeRun(clock)
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    return fr


def _job(store, job_id):
    return store.jobs.get(job_id)


def test_success_records_attempt_progress_stats(store, config, clock, fake_run):
    job_id = submit(store, [101, 102], "manual", config=config, executor=InlineExecutor(), clock=clock)
    job = _job(store, job_id)
    assert job["status"] == "succeeded"
    assert job["attempts"][0]["status"] == "succeeded" and job["attempts"][0]["finished_at"] is not None
    assert job["progress"]["done"] == 2 and job["progress"]["total"] == 2
    assert job["stats"]["students"] == 30 and job["stats"]["succeeded"] == 2
    assert set(job["result"]) == {"101", "102"}
    assert store.leases.holder(lease_key(101)) is None  # released


def test_transient_failure_retries_at_1_5_15_minutes_then_fails(store, config, clock, monkeypatch):
    t0 = clock()
    fr = FakeRun(clock, errors={101: [TimeoutError("Moodle read timed out")] * 10})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    first = submit(store, [101], "schedule", config=config, executor=InlineExecutor(), clock=clock)
    chain = [first]
    for expected_wait in (1, 5, 15):
        job = _job(store, chain[-1])
        assert job["status"] == "failed"
        retry_id = job["stats"]["retry_job_id"]
        retry = _job(store, retry_id)
        assert retry["trigger"] == "retry" and retry["parent_job_id"] == chain[-1]
        assert retry["status"] == "queued"
        failed_at = clock()
        assert retry["scheduled_for"] == failed_at + timedelta(minutes=expected_wait)
        clock.advance(minutes=expected_wait, seconds=-1)
        assert run_due_retries(store, config=config, clock=clock) == []  # not due yet
        clock.advance(seconds=1)
        assert run_due_retries(store, config=config, clock=clock) == [retry_id]
        chain.append(retry_id)
    last = _job(store, chain[-1])
    assert last["status"] == "failed" and "retry_job_id" not in last["stats"]
    assert last["stats"]["retries_exhausted"] is True
    assert "gave up after 3 retries" in last["error"]["message"]
    assert last["error"]["type"] == "TimeoutError"
    call_offsets = [(at - t0).total_seconds() / 60 for _, at in fr.calls]
    assert call_offsets == [0, 1, 6, 21]
    assert run_due_retries(store, config=config, clock=clock) == []
    assert store.jobs.queued() == []


def test_transient_then_success(store, config, clock, monkeypatch):
    moodle_errors = pytest.importorskip("moodle.errors")
    fr = FakeRun(clock, errors={101: [moodle_errors.MoodleUnavailableError("Moodle answered HTTP 503")]})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    first = submit(store, [101], "manual", config=config, executor=InlineExecutor(), clock=clock)
    retry_id = _job(store, first)["stats"]["retry_job_id"]
    clock.advance(minutes=1)
    run_due_retries(store, config=config, clock=clock)
    assert _job(store, retry_id)["status"] == "succeeded"
    assert _job(store, first)["attempts"][0]["error_type"] == "MoodleUnavailableError"


def test_permanent_failure_fails_at_once_with_reason(store, config, clock, monkeypatch):
    fr = FakeRun(clock, errors={101: [ValueError("grade item table is malformed")]})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    job = _job(store, submit(store, [101], "schedule", config=config, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "failed"
    assert job["error"] == {"type": "ValueError", "message": "course 101: grade item table is malformed"}
    assert "retry_job_id" not in job["stats"] and store.jobs.queued() == []
    assert job["attempts"][0]["error_type"] == "ValueError"


def test_one_failing_course_never_stops_the_others(store, config, clock, monkeypatch):
    fr = FakeRun(clock, errors={102: [RuntimeError("boom")], 103: [TimeoutError("slow")]})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    job = _job(store, submit(store, [101, 102, 103, 104], "schedule", config=config, executor=InlineExecutor(),
                             clock=clock))
    res = job["result"]
    assert [res[c]["status"] for c in ("101", "102", "103", "104")] == ["succeeded", "failed", "failed",
                                                                        "succeeded"]
    assert job["status"] == "failed" and job["stats"]["succeeded"] == 2
    retry = _job(store, job["stats"]["retry_job_id"])
    assert retry["course_ids"] == [103]  # only the transient one is retried


def test_skipped_course(store, config, clock, monkeypatch):
    fr = FakeRun(clock, errors={101: [SkipCourse("course 101 has 3 active students; at least 10 are needed")]})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    job = _job(store, submit(store, [101], "manual", config=config, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "skipped"
    assert "at least 10" in job["error"]["message"] and job["result"]["101"]["status"] == "skipped"


def test_course_under_someone_elses_lease_is_skipped(store, config, clock, fake_run):
    assert store.leases.acquire(lease_key(101), "otherhost:4242:job-abc", 60)
    job = _job(store, submit(store, [101], "manual", config=config, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "skipped"
    assert job["result"]["101"]["running_job_id"] == "job-abc"
    assert fake_run.calls == []


def test_second_trigger_returns_the_running_job(store, config, clock, monkeypatch):
    gate = threading.Event()
    fr = FakeRun(None, gate=gate)
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    ids: list[str] = []
    first = submit(store, [101], "manual", config=config)  # default thread pool
    # it returned at once: the run is still blocked on the gate (opened below)
    assert not gate.is_set() and first
    threads = [threading.Thread(target=lambda: ids.append(submit(store, [101], "manual", config=config)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ids == [first] * 4
    gate.set()
    deadline = time.time() + 10
    while _job(store, first)["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.02)
    assert _job(store, first)["status"] == "succeeded"
    assert len(fr.calls) == 1
    assert len(store.jobs.recent(limit=50)) == 1


def test_manual_run_supersedes_a_future_retry(store, config, clock, monkeypatch):
    fr = FakeRun(clock, errors={101: [TimeoutError("slow")]})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    first = submit(store, [101], "schedule", config=config, executor=InlineExecutor(), clock=clock)
    retry_id = _job(store, first)["stats"]["retry_job_id"]
    second = submit(store, [101], "manual", config=config, executor=InlineExecutor(), clock=clock)
    assert second != retry_id and _job(store, second)["status"] == "succeeded"
    assert _job(store, retry_id)["status"] == "skipped"
    assert "superseded" in _job(store, retry_id)["error"]["message"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_recover_marks_dead_owner_interrupted_and_retries_scheduled(store, config, clock):
    from jobs.runner import HOST

    pid = _dead_pid()
    job_id = store.jobs.create([101], "schedule", extra={"retry_number": 0, "source": "demo"})
    owner = {"host": HOST, "pid": pid, "started": None, "id": f"{HOST}:{pid}:{job_id}"}
    assert store.jobs.claim(job_id, owner)
    store.jobs.start_attempt(job_id)
    assert store.leases.acquire(lease_key(101), owner["id"], 600)
    pending = store.runs.insert_pending({"course_id": 101, "clusters": []})
    manual = store.jobs.create([102], "manual")
    assert store.jobs.claim(manual, {"host": HOST, "pid": os.getpid(), "id": "me"})  # alive: untouched
    out = recover(store, config, clock=clock)
    assert [o["job_id"] for o in out] == [job_id]
    job = _job(store, job_id)
    assert job["status"] == "interrupted" and f"process {pid}" in job["error"]["message"]
    assert job["attempts"][-1]["status"] == "interrupted"
    assert store.leases.holder(lease_key(101)) is None
    assert store.runs.get(pending) is None  # leftovers discarded
    retry = _job(store, out[0]["retry_job_id"])
    assert retry["trigger"] == "retry" and retry["scheduled_for"] == clock() + timedelta(minutes=1)
    assert _job(store, manual)["status"] == "running"
    assert recover(store, config, clock=clock) == []  # idempotent


def test_recover_stale_heartbeat_from_another_host(store, config, clock):
    job_id = store.jobs.create([101], "manual")
    store.jobs.claim(job_id, {"host": "elsewhere", "pid": 1, "id": "elsewhere:1:x"}, now=clock())
    clock.advance(seconds=config.heartbeat_timeout_s - 1)
    assert recover(store, config, clock=clock) == []
    clock.advance(seconds=2)
    out = recover(store, config, clock=clock)
    assert out[0]["job_id"] == job_id and out[0]["retry_job_id"] is None  # manual: no automatic retry
    assert "no heartbeat" in _job(store, job_id)["error"]["message"]


def test_operator_retry_and_health(store, config, clock, monkeypatch):
    fr = FakeRun(clock, errors={102: [RuntimeError("boom")]})
    monkeypatch.setattr(jobs.pipeline, "run_course", fr)
    first = submit(store, [101, 102], "manual", config=config, executor=InlineExecutor(), clock=clock)
    h = health(store, clock(), config=config)
    # no finished runs (the fake pipeline stores nothing) but both courses are known from jobs
    by_course = {c["course_id"]: c for c in h["courses"]}
    assert by_course[102]["failing"] is True and by_course[101]["failing"] is False
    assert h["failing_courses"] == [102] and h["success_rate_7d"] == 0.5 and h["status"] == "warning"
    clock.advance(minutes=3)
    new = retry_job(store, first, config=config, clock=clock)
    retry = _job(store, new)
    assert retry["course_ids"] == [102] and retry["status"] == "succeeded" and retry["parent_job_id"] == first
    h = health(store, clock(), config=config)
    assert h["failing_courses"] == [] and h["success_rate_7d"] == round(2 / 3, 3)


def test_execute_job_claims_once(store, config, clock, fake_run):
    job_id = store.jobs.create([101], "manual")
    execute_job(store, job_id, config=config, clock=clock)
    execute_job(store, job_id, config=config, clock=clock)  # not queued any more: nothing happens
    assert len(fake_run.calls) == 1


def test_bounded_parallelism_across_courses(store, config, clock, monkeypatch):
    from dataclasses import replace

    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow_run(course_id, **kw):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.15)
        with lock:
            active["now"] -= 1
        if course_id == 3:
            raise RuntimeError("bad course")
        return {"run_id": f"r{course_id}", "course_id": course_id, "students": 10}

    monkeypatch.setattr(jobs.pipeline, "run_course", slow_run)
    cfg = replace(config, max_parallel_courses=2)
    job = _job(store, submit(store, [1, 2, 3, 4, 5], "schedule", config=cfg, executor=InlineExecutor(), clock=clock))
    assert active["max"] == 2
    assert job["stats"]["succeeded"] == 4 and job["stats"]["failed"] == 1


def test_lost_lease_aborts_before_writing(store, config, clock, monkeypatch):
    def run(course_id, *, store, before_write=None, **kw):
        store.leases.break_lease(lease_key(course_id))  # an operator / another process took it over
        store.leases.acquire(lease_key(course_id), "otherhost:7:job-other", 60)
        before_write()
        raise AssertionError("must not get here")

    monkeypatch.setattr(jobs.pipeline, "run_course", run)
    job = _job(store, submit(store, [101], "manual", config=config, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "skipped" and job["result"]["101"]["running_job_id"] == "job-other"
    assert "lease lost" in job["result"]["101"]["reason"]


def test_database_error_mid_run_keeps_previous_run_and_retries(store, config, clock, small_site, monkeypatch):
    """A lost database connection while writing: previous run intact, nothing half-written, retry at +1 min."""
    from pymongo.errors import AutoReconnect

    first = _job(store, submit(store, [201], "schedule", config=config, executor=InlineExecutor(), clock=clock))
    assert first["status"] == "succeeded"
    previous = store.runs.latest(201)["run_id"]
    real_record = store.history.record
    calls = {"n": 0}

    def flaky_record(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise AutoReconnect("connection reset by peer")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(store.history, "record", flaky_record)
    clock.advance(hours=24)
    job = _job(store, submit(store, [201], "schedule", config=config, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "failed" and job["error"]["type"] == "AutoReconnect"
    assert store.runs.latest(201)["run_id"] == previous and store.runs.count(201) == 1
    retry = _job(store, job["stats"]["retry_job_id"])
    assert retry["scheduled_for"] == clock() + timedelta(minutes=1)
    clock.advance(minutes=1)
    run_due_retries(store, config=config, clock=clock)
    assert _job(store, retry["job_id"])["status"] == "succeeded"
    assert store.runs.count(201) == 2 and store.runs.collection.find({"status": "pending"}) == []
    assert store.runs.latest(201)["metadata"]["previous_run_id"] == previous


def test_store_failure_in_bookkeeping_is_recorded(store, config, clock, fake_run, monkeypatch):
    from pymongo.errors import AutoReconnect

    def broken(*a, **k):
        raise AutoReconnect("primary stepped down")

    monkeypatch.setattr(store.leases, "acquire", broken)  # the database is gone when the course starts
    job = _job(store, submit(store, [101], "schedule", config=config, executor=InlineExecutor(), clock=clock))
    assert job["status"] == "failed" and job["error"]["type"] == "AutoReconnect"
    assert _job(store, job["stats"]["retry_job_id"])["trigger"] == "retry"
    assert fake_run.calls == []


def test_heartbeat_renews_the_lease_during_a_long_run(store, config, monkeypatch):
    """Real time, ttl 0.6 s: during a 1.5 s run the lease never lapses and the heartbeat moves."""
    from dataclasses import replace

    cfg = replace(config, lease_ttl_s=0.6, heartbeat_timeout_s=2.0)
    seen = {"taken": [], "beats": set()}

    def long_run(course_id, *, store, job_id=None, **kw):
        for _ in range(6):
            time.sleep(0.25)
            seen["taken"].append(store.leases.acquire(lease_key(course_id), "otherhost:9:intruder", 60))
            seen["beats"].add(store.jobs.get(job_id)["heartbeat_at"])
        return {"run_id": "r", "course_id": course_id, "students": 10}

    monkeypatch.setattr(jobs.pipeline, "run_course", long_run)
    job = _job(store, submit(store, [101], "manual", config=cfg, executor=InlineExecutor()))
    assert job["status"] == "succeeded"
    assert seen["taken"] == [False] * 6  # nobody could take the course while it ran
    assert len(seen["beats"]) >= 3
    assert recover(store, cfg) == []


def test_ensure_demo_async_returns_none_when_nothing_to_do(store, config, small_site):
    from jobs.bootstrap import ensure_demo_async

    thread = ensure_demo_async(store, config, weeks=1)
    assert thread is not None
    thread.join(60)
    assert store.runs.courses_with_runs() == [201, 202]
    assert ensure_demo_async(store, config, weeks=1) is None


def test_orphaned_queued_job_is_adopted(store, config, clock, fake_run):
    job_id = store.jobs.create([101], "manual", extra={"submitted_by": {"host": "elsewhere", "pid": 1}})
    assert run_due_retries(store, config=config, clock=clock) == []  # its submitter may still start it
    clock.advance(seconds=config.heartbeat_timeout_s + 1)
    assert run_due_retries(store, config=config, clock=clock) == [job_id]
    assert _job(store, job_id)["status"] == "succeeded" and len(fake_run.calls) == 1
