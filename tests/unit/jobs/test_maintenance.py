"""``python -m jobs backup`` (consistent, private, restorable), ``check`` and ``purge [--dry-run]``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from jobs.maintenance import purge

ROOT = Path(__file__).resolve().parents[3]


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COHORTLENS_DATA_DIR": str(data)}
    env.pop("MONGODB_URI", None)
    return subprocess.run([sys.executable, "-m", "jobs", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def _fill(store) -> str:
    store.users.upsert({"username": "u1", "password_hash": "h", "role": "admin"})
    rid = store.runs.insert_pending({"course_id": 5, "k": 2, "clusters": []})
    store.history.record(5, rid, store.now(), [{"user_id": u, "cluster_id": 0, "transition_type": "initial"}
                                               for u in range(50)])
    store.runs.mark_finished(rid)
    return rid


def test_backup_is_a_consistent_private_copy_that_restores(store, tmp_path):
    rid = _fill(store)
    (Path(store.data_dir) / "imports").mkdir(mode=0o700)
    (Path(store.data_dir) / "imports" / "course5.csv").write_text("a,b\n")
    target = tmp_path / "bk"
    out = _cli(Path(store.data_dir), "backup", "--to", str(target))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["backup"] == str(target) and summary["files"] >= 10
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in [target, *target.rglob("*")])
    assert (target / "imports" / "course5.csv").read_text() == "a,b\n"
    assert _cli(target, "check").returncode == 0
    again = _cli(Path(store.data_dir), "backup", "--to", str(target))  # never over an existing backup
    assert again.returncode == 1 and "not empty" in again.stderr
    # restore = use the copy as the data folder
    from storage import open_store

    restored = open_store(data_dir=target)
    assert restored.users.get("u1")["role"] == "admin"
    assert restored.runs.latest(5)["run_id"] == rid and len(restored.history.at_run(5, rid)) == 50
    restored.close()


def test_check_names_a_damaged_file(store, tmp_path):
    _fill(store)
    data = Path(store.data_dir)
    store.close()
    path = data / "cohortlens" / "alerts"
    path.write_bytes(path.read_bytes()[:1000])
    out = _cli(data, "check")
    assert out.returncode == 1 and str(path) in out.stderr


def test_purge_dry_run_counts_then_purge_removes(store, clock, tmp_path):
    store.jobs.create([1], "manual")
    job = store.jobs.collection.find_one({})
    store.jobs.collection.update_one({"job_id": job["job_id"]}, {"$set": {"status": "succeeded"}})
    store.alerts.add(1, "r1", [{"kind": "x", "user_id": 1}])
    store.llm_cache.set("k", "v")
    store.audit.record("login", username="a")
    folder = Path(store.data_dir) / "imports"
    folder.mkdir(mode=0o700)
    old = folder / "course1_old.csv"
    old.write_text("names and IPs")
    os.utime(old, (0, 0))
    fresh = folder / "course1_new.csv"
    fresh.write_text("x")
    assert purge(store, dry_run=True)["uploads"] == 1
    clock.advance(days=400)
    os.utime(fresh, (clock().timestamp(), clock().timestamp()))
    counts = purge(store, dry_run=True)
    assert counts["jobs"] == 1 and counts["alerts"] == 1 and counts["llm_cache"] == 1 and counts["audit"] == 1
    assert store.alerts.recent(1) and old.exists()  # the dry run removed nothing
    done = purge(store)
    assert done["jobs"] == done["alerts"] == done["llm_cache"] == done["audit"] == done["uploads"] == 1
    assert not old.exists() and fresh.exists() and store.alerts.recent(1) == [] and store.llm_cache.get("k") is None
    assert purge(store, dry_run=True, now=clock() + timedelta(days=1))["jobs"] == 0


def test_purge_uses_the_admins_import_retention(store, clock, monkeypatch):
    monkeypatch.delenv("COHORTLENS_RETENTION_UPLOADS_DAYS", raising=False)
    store.settings.set("import_retention_days", 2)
    folder = Path(store.data_dir) / "imports"
    folder.mkdir(mode=0o700)
    now = clock().timestamp()
    three_days, one_day = folder / "course7_a.csv", folder / "course7_b.csv"
    for path, age_days in ((three_days, 3), (one_day, 1)):
        path.write_text("names and IPs")
        os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    counts = purge(store)
    assert counts["retention_days"]["uploads"] == 2 and counts["uploads"] == 1
    assert not three_days.exists() and one_day.exists()
