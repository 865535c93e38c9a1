"""Honest operations: health exit codes, recovery before every command, storage problems explained."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jobs.pipeline
from jobs.cli import EXIT_OK, main
from jobs.runner import HOST, owner_info

ROOT = Path(__file__).resolve().parents[3]


def test_health_exits_non_zero_when_warning_or_critical(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    assert main(["run", "--course", "201", "--source", "demo"]) == EXIT_OK
    capsys.readouterr()
    assert main(["health"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["status"] == "ok"

    def broken(course_id, **kw):
        raise ValueError("broken gradebook")

    monkeypatch.setattr(jobs.pipeline, "run_course", broken)
    monkeypatch.setenv("CLUSTER_JOB_RETRY_ATTEMPTS", "0")
    assert main(["run", "--course", "201", "--source", "demo"]) == 1
    capsys.readouterr()
    code = main(["health"])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert report["status"] == "critical" and code == 2 and report["failing_courses"] == [201]
    assert "health: critical" in out.err and "failing courses: 201" in out.err


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_first_recovers_a_job_whose_process_died(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    dead = _dead_pid()
    job_id = store.jobs.create([201], "manual")
    owner = {**owner_info(job_id), "pid": dead, "started": None}
    owner["id"] = f"{HOST}:{dead}:{job_id}"
    assert store.jobs.claim(job_id, owner)
    assert store.leases.acquire("course:201", owner["id"], 600)  # the crash left its lease behind
    assert main(["run", "--course", "201", "--source", "demo"]) == EXIT_OK  # no "already being processed"
    out = capsys.readouterr()
    assert json.loads(out.out)["status"] == "succeeded"
    assert f"recovered: job {job_id}" in out.err
    assert store.jobs.get(job_id)["status"] == "interrupted"
    assert str(dead) in store.jobs.get(job_id)["error"]["message"]


def test_any_command_recovers_dead_jobs(store, capsys):
    dead = _dead_pid()
    job_id = store.jobs.create([5], "schedule")
    owner = {**owner_info(job_id), "pid": dead, "started": None}
    assert store.jobs.claim(job_id, owner)
    assert main(["status", "--json"]) == EXIT_OK
    assert store.jobs.get(job_id)["status"] == "interrupted"
    assert store.jobs.running() == []


def test_corrupt_store_file_is_named(tmp_path, capsys, monkeypatch):
    from storage import open_store

    data = tmp_path / "other"
    s = open_store(data_dir=data)
    s.jobs.create([1], "manual")
    s.close()
    bad = data / "cohortlens" / "cluster_jobs"
    assert bad.is_file()
    bad.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("COHORTLENS_DATA_DIR", str(data))
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "damaged" in err and "backup" in err and "Traceback" not in err
    assert "None: None" not in err


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


needs_mounts = pytest.mark.skipif(not _unshare_ok(), reason="needs unshare (user + mount namespaces)")


def _in_namespace(script: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env["PYTHON"] = sys.executable
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@needs_mounts
def test_full_disk_names_the_folder_and_what_to_do(tmp_path):
    d = tmp_path / "small"
    d.mkdir()
    out = _in_namespace(f"mount -t tmpfs -o size=2m tmpfs {d} && export COHORTLENS_DATA_DIR={d}/data && "
                        f"$PYTHON -m jobs users list >/dev/null && (dd if=/dev/zero of={d}/fill bs=4k 2>/dev/null;"
                        f" true) && $PYTHON -m jobs run --course 101 --source demo")
    assert out.returncode == 1, out.stderr
    assert f"{d}/data is full" in out.stderr and "free some space" in out.stderr
    assert "Traceback" not in out.stderr and "None: None" not in out.stderr


@needs_mounts
def test_read_only_data_folder_is_explained(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    out = _in_namespace(f"mount -t tmpfs -o size=20m tmpfs {d} && export COHORTLENS_DATA_DIR={d}/data && "
                        f"$PYTHON -m jobs users list >/dev/null && mount -o remount,ro {d} && "
                        f"$PYTHON -m jobs run --course 101 --source demo")
    assert out.returncode == 1, out.stderr
    assert f"{d}/data is read-only" in out.stderr and "writable" in out.stderr
    assert "Traceback" not in out.stderr
