"""python -m jobs: run (+ --export, --dry-run), status, retry, health, bootstrap; exit codes."""

from __future__ import annotations

import csv
import json

import pytest

import jobs.pipeline
from jobs.cli import EXIT_OK, EXIT_SKIPPED, main


def _json(capsys):
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def test_run_prints_one_json_object_and_exports(small_site, store, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    target = tmp_path / "out.csv"
    assert main(["run", "--course", "201", "--source", "demo", "--export", str(target)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    summary = json.loads(out)
    assert {"run_id", "course_id", "k", "sizes", "silhouette", "seconds", "job_id", "students"} <= set(summary)
    assert summary["status"] == "succeeded" and summary["course_id"] == 201
    assert sum(summary["sizes"].values()) == 36 == summary["export"]["rows"]
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0] == ["user_id", "cluster_id", "cluster_name"] and len(rows) == 37
    job = store.jobs.get(summary["job_id"])
    assert job["trigger"] == "cli" and job["status"] == "succeeded"
    assert store.runs.latest(201)["run_id"] == summary["run_id"]


def test_dry_run_writes_nothing(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    assert main(["run", "--course", "202", "--dry-run"]) == EXIT_OK
    summary, _ = _json(capsys)
    assert summary["run_id"] is None and summary["dry_run"] is True
    assert store.runs.courses_with_runs() == [] and store.jobs.recent() == []


def test_skip_exit_code_and_status_json(small_site, store, capsys):
    assert main(["run", "--course", "999", "--source", "demo"]) == EXIT_SKIPPED
    out, err = _json(capsys)
    assert out["status"] == "skipped" and "invalid course 999" in out["reason"]
    assert err.strip().startswith("error: course 999 skipped") and err.count("\n") == 1
    assert main(["status", "--json", "--limit", "5"]) == EXIT_OK
    rows, _ = _json(capsys)
    assert len(rows) == 1
    assert {"job_id", "course_ids", "trigger", "status", "started_at", "finished_at", "error"} <= set(rows[0])
    assert rows[0]["status"] == "skipped" and rows[0]["course_ids"] == [999] and rows[0]["trigger"] == "cli"
    assert main(["status"]) == EXIT_OK
    assert "skipped" in capsys.readouterr().out


def test_failed_run_then_retry(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    real = jobs.pipeline.run_course
    calls = []

    def flaky(course_id, **kw):
        calls.append(course_id)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return real(course_id, **kw)

    monkeypatch.setattr(jobs.pipeline, "run_course", flaky)
    assert main(["run", "--course", "202"]) == 1
    failed, err = _json(capsys)
    assert failed["status"] == "failed" and "disk full" in err
    assert main(["retry", failed["job_id"]]) == EXIT_OK
    retried, _ = _json(capsys)
    assert retried["status"] == "succeeded" and retried["parent_job_id"] == failed["job_id"]
    assert main(["health"]) == EXIT_OK
    health, _ = _json(capsys)
    assert health["failing_courses"] == [] and health["courses"][0]["course_id"] == 202


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["run", "--course", "1", "--source", "ftp"])
    assert exc.value.code == 2


def test_bootstrap_command(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    assert main(["bootstrap", "--weeks", "1"]) == EXIT_OK
    result, err = _json(capsys)
    assert result["status"] == "done" and result["courses"] == [201, 202]
    assert {store.jobs.get(j)["trigger"] for j in result["jobs"]} == {"cli"}
    assert store.runs.count(201) == 1 and store.runs.count(202) == 1
