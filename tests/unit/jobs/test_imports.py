"""Imported courses: unique upload names, re-run from the stored upload (never Moodle), retention,
and the CLI's --course-start / --course-end."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.cli import EXIT_OK, EXIT_USAGE, main
from jobs.imports import imported_source, purge_uploads, save_upload
from jobs.runner import nightly_courses, run_nightly


@pytest.fixture(scope="module")
def export_bytes(tmp_path_factory) -> bytes:
    from bench.csv_import import write_log_export

    path = tmp_path_factory.mktemp("exp") / "logs.csv"
    write_log_export(path, 24, n_weeks=4)
    return path.read_bytes()


def test_uploads_in_the_same_second_never_collide(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    paths = {save_upload(tmp_path, 9001, b"x", original_name="a.csv", now=now, grades=b"g") for _ in range(5)}
    assert len(paths) == 5
    for p in paths:
        assert p.with_suffix(".grades.csv").read_bytes() == b"g"
        assert json.loads(p.with_suffix(".import.json").read_text())["course_id"] == 9001
        assert oct(p.stat().st_mode & 0o777) == "0o600"


def test_retention_deletes_old_uploads_and_says_why(tmp_path: Path, store) -> None:
    old = save_upload(tmp_path, 9002, b"x", original_name="old.csv", grades=b"g")
    new = save_upload(tmp_path, 9003, b"y", original_name="new.csv")
    past = (datetime.now(UTC) - timedelta(days=40)).timestamp()
    os.utime(old, (past, past))
    assert purge_uploads(tmp_path, 30) == [old]
    assert not old.exists() and not old.with_suffix(".grades.csv").exists()
    assert not old.with_suffix(".import.json").exists() and new.exists()
    store.courses.upsert({"id": 9002, "fullname": "Old", "upload": {"path": str(old), "name": "old.csv"}})
    store.courses.upsert({"id": 9003, "fullname": "New", "upload": {"path": str(new), "name": "new.csv"}})
    src, why = imported_source(store, 9002)
    assert src is None and "no longer stored" in why and "import the log again" in why
    assert imported_source(store, 9003) == (f"csv:{new}", None)
    assert imported_source(store, 1) == (None, None)


def test_nightly_reruns_imported_courses_from_their_upload(store, config, tmp_path, export_bytes) -> None:
    path = save_upload(config.data_dir, 9100, export_bytes, original_name="logs.csv",
                       options={"fullname": "Typed name", "timezone": "Asia/Ho_Chi_Minh"})
    store.courses.upsert({"id": 9100, "fullname": "Typed name", "source": "csv",
                          "upload": {"path": str(path), "name": "logs.csv"}})
    assert 9100 in nightly_courses(store, config)
    job = run_nightly(store, config)       # config.source is demo: the imported course must not use it
    outcome = job["result"]["9100"]
    assert outcome["status"] == "succeeded", outcome
    run = store.runs.latest(9100)
    assert str(run["metadata"]["source"]).startswith("csv")
    assert store.courses.get(9100)["fullname"] == "Typed name"
    path.unlink()
    job = run_nightly(store, config, missed_fire_time=datetime.now(UTC) - timedelta(days=1))
    outcome = job["result"]["9100"]
    assert outcome["status"] == "skipped" and "no longer stored" in outcome["reason"]


def test_cli_course_frame(store, tmp_path, capsys, monkeypatch, export_bytes) -> None:
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    path = tmp_path / "logs.csv"
    path.write_bytes(export_bytes)
    assert main(["run", "--course", "870", "--source", f"csv:{path}", "--course-start", "2026-01-05",
                 "--course-end", "2025-01-01", "--dry-run"]) == EXIT_USAGE
    capsys.readouterr()
    start = (datetime.now(UTC) - timedelta(days=120)).date().isoformat()   # before the first log
    assert main(["run", "--course", "870", "--source", f"csv:{path}", "--course-start", start,
                 "--dry-run"]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["dry_run"] is True and summary["students"] >= 20
    with pytest.raises(SystemExit):
        main(["run", "--course", "870", "--course-start", "next week"])
