"""Two processes on one data dir, and a process killed mid-run (subprocesses + the fake Moodle server).

Semantics (CLI ``run``): every invocation records its own ``cli`` job. The course lease decides who
works: while one process holds ``course:<id>``, a second invocation records its job as ``skipped``
(reason: already being processed, ``running_job_id`` = the holder's job), prints that as JSON and
exits with code 3. So two concurrent triggers create exactly one run.
The fake Moodle server holds every web-service call at a gate, so the first process is provably
mid-run (lease held, loading) while the second one starts or while it is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from jobs.config import load_config
from jobs.runner import InlineExecutor, lease_key, recover, submit

FakeMoodleServer = pytest.importorskip("moodle.fake_server").FakeMoodleServer
REPO = Path(__file__).resolve().parents[3]
COURSE = 201


@pytest.fixture
def gated_moodle(small_site):
    token = f"test-token-{uuid.uuid4().hex[:12]}"
    gate = threading.Event()
    with FakeMoodleServer(small_site, standard_token=token) as server:
        original = server.dispatch

        def dispatch(params):
            if not gate.wait(120):
                raise TimeoutError("gate never opened")
            return original(params)

        server.dispatch = dispatch
        yield server, token, gate
        gate.set()


def _spawn(tmp_path, server, token, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOODLE_", "COHORTLENS_", "CLUSTER_JOB"))}
    env.update(COHORTLENS_DATA_DIR=str(tmp_path / "data"), COHORTLENS_SECRETS_FILE=str(tmp_path / "none.toml"),
               MOODLE_URL=server.url, MOODLE_STANDARD_TOKEN=token, MOODLE_RETRIES="0", MOODLE_TIMEOUT="120",
               COHORTLENS_MIN_STUDENTS="5", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "jobs", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _running_cli_job(store):
    jobs = [j for j in store.jobs.recent(limit=10) if j["trigger"] == "cli" and j["status"] == "running"]
    return jobs[0] if jobs and store.leases.holder(lease_key(COURSE)) else None


def test_two_processes_one_run(store, tmp_path, gated_moodle):
    server, token, gate = gated_moodle
    first = _spawn(tmp_path, server, token, "run", "--course", str(COURSE))
    try:
        holder_job = _wait_for(lambda: _running_cli_job(store), what="first process to hold the lease")
        second = _spawn(tmp_path, server, token, "run", "--course", str(COURSE))
        out2, err2 = second.communicate(timeout=120)
        assert second.returncode == 3, err2
        skipped = json.loads(out2)
        assert skipped["status"] == "skipped" and skipped["running_job_id"] == holder_job["job_id"]
        assert "already being processed" in err2 and token not in out2 + err2
    finally:
        gate.set()
    out1, err1 = first.communicate(timeout=180)
    assert first.returncode == 0, err1
    summary = json.loads(out1)
    assert summary["status"] == "succeeded" and summary["job_id"] == holder_job["job_id"]
    assert token not in out1 + err1
    assert store.runs.count(COURSE) == 1
    statuses = sorted(j["status"] for j in store.jobs.recent(limit=10))
    assert statuses == ["skipped", "succeeded"]
    assert store.leases.holder(lease_key(COURSE)) is None


def test_killed_process_is_recovered_and_previous_run_intact(store, tmp_path, gated_moodle):
    server, token, gate = gated_moodle
    cfg = load_config(data_dir=tmp_path / "data", moodle_url=server.url, moodle_standard_token=token,
                      moodle_retries=0, min_students=5)
    gate.set()
    first = store.jobs.get(submit(store, [COURSE], "manual", config=cfg, executor=InlineExecutor()))
    assert first["status"] == "succeeded", first["error"]
    previous_run = store.runs.latest(COURSE)["run_id"]
    gate.clear()

    victim = _spawn(tmp_path, server, token, "run", "--course", str(COURSE))
    job = _wait_for(lambda: _running_cli_job(store), what="the process to start its job")
    assert job["owner"]["pid"] == victim.pid
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    # still "running" in the store, lease still held: nobody has noticed yet
    assert store.jobs.get(job["job_id"])["status"] == "running"
    assert store.leases.holder(lease_key(COURSE)) is not None
    recovered = recover(store, cfg)
    assert [r["job_id"] for r in recovered] == [job["job_id"]]
    dead = store.jobs.get(job["job_id"])
    assert dead["status"] == "interrupted" and f"process {victim.pid}" in dead["error"]["message"]
    assert dead["attempts"][-1]["status"] == "interrupted"
    assert store.leases.holder(lease_key(COURSE)) is None
    assert store.runs.latest(COURSE)["run_id"] == previous_run
    assert store.runs.collection.find({"course_id": COURSE, "status": "pending"}) == []

    gate.set()
    again = store.jobs.get(submit(store, [COURSE], "manual", config=cfg, executor=InlineExecutor()))
    assert again["status"] == "succeeded"
    latest = store.runs.latest(COURSE)
    assert latest["metadata"]["previous_run_id"] == previous_run and store.runs.count(COURSE) == 2


@pytest.mark.slow
def test_two_processes_started_together(store, tmp_path, gated_moodle):
    """No gate: both start at the same moment. Whatever the timing, runs created == processes that
    succeeded, and succeeded jobs never overlap in time (the lease serialises them)."""
    server, token, gate = gated_moodle
    gate.set()
    procs = [_spawn(tmp_path, server, token, "run", "--course", str(COURSE)) for _ in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert all(c in (0, 3) for c in codes), outs
    succeeded = [j for j in store.jobs.recent(limit=10) if j["status"] == "succeeded"]
    assert store.runs.count(COURSE) == len(succeeded) == codes.count(0)
    if len(succeeded) == 2:  # one after the other: the second one built on the first one's run
        newest, older = store.runs.list(COURSE)[:2]
        assert newest["metadata"]["previous_run_id"] == older["run_id"]
    else:
        skipped = [j for j in store.jobs.recent(limit=10) if j["status"] == "skipped"]
        assert skipped[0]["result"][str(COURSE)]["running_job_id"] == succeeded[0]["job_id"]
