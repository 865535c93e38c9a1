"""Stores that fail loudly: every collection file zero-length, truncated, corrupted or deleted is found
at open, named, and nothing in the folder is written; first start never runs over a lost users file;
the data folder and its files are private even when the folder existed before."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from storage import close_all, open_store
from storage.integrity import StoreDamaged, collection_files

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A store with data in every collection it has (users, runs, history, ...)."""
    from ui.auth import make_user

    data = tmp_path_factory.mktemp("integrity") / "data"
    store = open_store(data_dir=data)
    store.users.upsert(make_user("admin", "adm-" + os.urandom(6).hex(), role="admin"))
    run_id = store.runs.insert_pending({"course_id": 7, "k": 2, "clusters": []})
    store.history.record(7, run_id, store.now(), [{"user_id": u, "cluster_id": u % 2, "transition_type": "initial"}
                                                  for u in range(300)])
    store.runs.mark_finished(run_id)
    for i in range(200):
        store.llm_cache.set(f"k{i}", "x" * 200)
    store.close()
    close_all()
    return data


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "store.lock"}


def _files(template: Path) -> list[str]:
    return [p.name for p in collection_files(template / "cohortlens")]


def _fault(path: Path, kind: str) -> None:
    data = path.read_bytes()
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "truncate":
        path.write_bytes(data[: len(data) // 2 + 100])
    elif kind == "truncate_pages":  # whole pages missing
        path.write_bytes(data[:4096])
    elif kind == "header":
        path.write_bytes(b"garbage!" * 8 + data[64:])
    elif kind == "corrupt":  # bytes overwritten inside the file's pages (header intact)
        buf = bytearray(data)
        for i in range(4096, len(buf), 7):
            buf[i] = 0xA5
        path.write_bytes(bytes(buf))
    elif kind == "delete":
        path.unlink()


KINDS = ["zero", "truncate", "truncate_pages", "header", "corrupt", "delete"]


def test_every_store_file_and_fault_is_named_and_nothing_is_written(template, tmp_path):
    names = _files(template)
    assert {"users", "course_clusters", "user_cluster_history", "run_summaries", "sessions"} <= set(names)
    for name in names:
        for kind in KINDS:
            data = tmp_path / f"{name}-{kind}"
            shutil.copytree(template, data)
            _fault(data / "cohortlens" / name, kind)
            before = _digest(data)
            with pytest.raises(StoreDamaged) as err:
                open_store(data_dir=data)
            assert str(data / "cohortlens" / name) in str(err.value), (name, kind, str(err.value))
            assert err.value.collections == [name]
            assert _digest(data) == before, (name, kind)  # nothing created, repaired or replaced
            close_all()
            shutil.rmtree(data)


def test_cli_names_the_file_and_fails(template, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(template, data)
    _fault(data / "cohortlens" / "course_clusters", "truncate")
    before = _digest(data)
    env = {**os.environ, "COHORTLENS_DATA_DIR": str(data)}
    env.pop("MONGODB_URI", None)
    out = subprocess.run([sys.executable, "-m", "jobs", "status"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    assert str(data / "cohortlens" / "course_clusters") in out.stderr and "truncated" in out.stderr
    assert "Traceback" not in out.stderr
    assert _digest(data) == before


def test_a_store_that_lost_its_users_never_reruns_first_start(template, tmp_path):
    from ui.auth import ensure_admin

    data = tmp_path / "data"
    shutil.copytree(template, data)
    store = open_store(data_dir=data)
    store.users.collection.delete_many({})  # e.g. a users file swapped for an empty one
    out = io.StringIO()
    with pytest.raises(StoreDamaged, match="first start refused"):
        ensure_admin(store, out=out)
    assert store.users.list() == [] and out.getvalue() == ""  # no new admin, no password printed
    store.close()


def test_instructors_without_an_admin_still_get_one(tmp_path):
    """Instructors added from the shell before the first start (the store had users, none an admin):
    that is a first start, not a lost users file."""
    from jobs.accounts import make_user
    from ui.auth import ensure_admin

    data = tmp_path / "shell"
    store = open_store(data_dir=data)
    store.users.upsert(make_user("teacher", "Kx-" + "7f3a9c2e41b8d6", role="instructor", courses=[101]))
    store.close()
    close_all()
    store = open_store(data_dir=data)
    assert ensure_admin(store, out=io.StringIO()) is True
    assert store.users.get("admin")["role"] == "admin" and store.users.get("teacher") is not None
    store.close()


def test_zero_length_users_file_is_refused_before_first_start(template, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(template, data)
    (data / "cohortlens" / "users").write_bytes(b"")
    with pytest.raises(StoreDamaged, match="users"):
        open_store(data_dir=data)
    assert (data / "cohortlens" / "users").stat().st_size == 0


def test_first_start_on_an_empty_folder_still_works(tmp_path):
    from ui.auth import ensure_admin

    data = tmp_path / "fresh"
    data.mkdir(mode=0o755)
    store = open_store(data_dir=data)
    assert ensure_admin(store, out=io.StringIO()) is True
    store.close()
    close_all()
    again = open_store(data_dir=data)  # the manifest now lists users: still opens
    assert again.users.get("admin") is not None
    again.close()


def test_a_pre_existing_folder_becomes_private(tmp_path):
    data = tmp_path / "pre"
    (data / "uploads").mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)
    (data / "uploads" / "log.csv").write_text("x")
    os.chmod(data / "uploads" / "log.csv", 0o644)
    store = open_store(data_dir=data)
    store.users.list()
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [data, *data.rglob("*")]}
    assert all(m == 0o700 for p, m in modes.items() if p.is_dir()), modes
    assert all(m & 0o077 == 0 for p, m in modes.items() if p.is_file()), modes
    store.close()
