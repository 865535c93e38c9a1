"""Workers share the night: real ``python -m jobs worker`` processes on one shared embedded store.

The nightly enqueues one shared job per course; two workers claim them (each job runs exactly once);
a worker killed with SIGKILL mid-course has that course taken over by the other one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.server.serverproc import ROOT, base_env


def _worker(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jobs", "worker", "--no-nightly"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def _wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def shared(tmp_path, monkeypatch):
    env = base_env(tmp_path, COHORTLENS_CLAIM_POLL="0.5", COHORTLENS_RETRY_POLL="1",
                   CLUSTER_JOB_RETRY_BACKOFF_MINUTES="0.01", COHORTLENS_MAX_PARALLEL_COURSES="1",
                   COHORTLENS_ADMIN_PASSWORD="not-used-" + "pw")
    for k, v in env.items():
        if k.startswith(("COHORTLENS_", "CLUSTER_")):
            monkeypatch.setenv(k, v)
    from jobs.config import load_config
    from storage import open_store

    store = open_store(data_dir=tmp_path)
    procs: list[subprocess.Popen] = []
    log = (tmp_path / "workers.log").open("w")
    yield env, store, load_config(), procs, log
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    log.close()
    store.close()


def test_two_workers_share_the_nightly_and_take_over_a_dead_ones_course(shared):
    from jobs.runner import nightly_summary, run_nightly

    env, store, config, procs, log = shared
    procs += [_worker(env, log), _worker(env, log)]
    pids = {p.pid for p in procs}
    assert _wait(lambda: len(store.leases.active("scheduler:")) == 2, 60), "both workers announce themselves"
    summary = run_nightly(store, config, work=False)  # what the cron does in whichever process fires
    job_ids = summary["job_ids"]
    assert len(job_ids) == 3 and all(store.jobs.get(j)["shared"] for j in job_ids)  # one job per course

    # kill the first worker that starts a course, mid-course
    def running_on_a_worker():
        return [j for j in store.jobs.running() if (j.get("owner") or {}).get("pid") in pids]

    assert _wait(lambda: running_on_a_worker(), 60)
    victim_job = running_on_a_worker()[0]
    victim_pid = victim_job["owner"]["pid"]
    os.kill(victim_pid, signal.SIGKILL)
    survivor = next(p for p in procs if p.pid != victim_pid)

    def settled():
        s = nightly_summary(store, job_ids)
        return s["status"] != "running" and not store.jobs.running() and not [
            j for j in store.jobs.queued() if j.get("trigger") == "retry"]

    assert _wait(settled, 180), [(j["job_id"], j["status"]) for j in store.jobs.recent(limit=10)]
    victim = store.jobs.get(victim_job["job_id"])
    assert victim["status"] in ("interrupted", "succeeded")  # it may have finished before the kill landed
    courses_done = {int(c) for j in store.jobs.recent(limit=50) if j["status"] == "succeeded"
                    for c in j["course_ids"]}
    assert courses_done == {101, 102, 103}
    if victim["status"] == "interrupted":
        retry = [j for j in store.jobs.recent(limit=50) if j.get("parent_job_id") == victim["job_id"]]
        assert retry and retry[0]["status"] == "succeeded"
        assert retry[0]["owner"]["pid"] == survivor.pid  # taken over by the live worker
    for j in job_ids:  # each shared job was claimed once
        assert store.jobs.get(j)["attempt_count"] == 1
    assert survivor.poll() is None
