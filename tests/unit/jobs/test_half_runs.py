"""Never a half run: a run killed at every write step leaves no history entry of an unfinished run,
and the next start of any process rolls it forward (killed after ``mark_finished``) or removes it.

The SIGKILL variant runs the real pipeline in a child process that kills itself right after the
named write step (``after_write``) or in the middle of ``history.record``; the store is then read
raw (litemongo, no recovery) and after a fresh process opened it (``open_store`` = any start).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.clock import utcnow
from jobs.pipeline import run_course

ROOT = Path(__file__).resolve().parents[3]
BEFORE_FINISH = ["insert_pending", "snapshots.save", "activity.upsert", "history.stage"]
AFTER_FINISH = ["mark_finished", "history.record", "history.unstage"]
STEPS = BEFORE_FINISH + AFTER_FINISH

CHILD = """
import os, signal, sys
from datetime import datetime
from moodle import sources
from moodle.demo import DemoCourseSpec, DemoSite
site = DemoSite(7, courses=[DemoCourseSpec(cid, name, short, n, drift_rate=0.15) for cid, name, short, n in
                            ((201, "Small Seminar", "SS201", 36), (202, "Tiny Lab", "TL202", 24))])
sources.demo_site = lambda config=None: site
from jobs.config import load_config
from jobs.pipeline import run_course
from storage import open_store
data, step, as_of = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
store = open_store(data_dir=data)
cfg = load_config(data_dir=data, min_students=5)
def die(name):
    if name == step:
        os.kill(os.getpid(), signal.SIGKILL)
if step == "inside-history.record":
    real, calls = store.history._append, []
    def dying(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    store.history._append = dying
run_course(201, source="demo", store=store, as_of=as_of, config=cfg, after_write=die)
print("NOT KILLED")
"""


def _raw(data: Path) -> tuple[dict[str, str], list[dict], list[dict]]:
    """(run_id -> status, history documents, staged rows) read with litemongo directly: no recovery."""
    import litemongo

    client = litemongo.connect(urllib.parse.ParseResult("", "", str(data), "", "", ""), tz_aware=True)
    try:
        db = client["cohortlens"]
        runs = {d["run_id"]: d["status"] for d in db["course_clusters"].find({}, {"run_id": 1, "status": 1})}
        return runs, list(db["user_cluster_history"].find({})), list(db["history_outbox"].find({}, {"rows": 0}))
    finally:
        client.close()


def _no_unfinished_in_history(runs: dict[str, str], docs: list[dict]) -> None:
    named = {h["run_id"] for d in docs for h in d.get("history") or []}
    assert {r: runs.get(r) for r in named if runs.get(r) != "finished"} == {}


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MONGODB_URI"}}
    env["COHORTLENS_DATA_DIR"] = str(data)
    return env


@pytest.mark.parametrize("step", [*STEPS, "inside-history.record"])
def test_sigkill_at_every_write_step(store, config, small_site, tmp_path, step):
    data = tmp_path / "data"
    as_of = utcnow().replace(microsecond=0) - timedelta(days=1)
    first = run_course(201, source="demo", store=store, as_of=as_of - timedelta(weeks=1), config=config)
    store.close()
    from storage import close_all

    close_all()
    child = subprocess.run([sys.executable, "-c", CHILD, str(data), step, as_of.isoformat()], cwd=ROOT,
                           env=_env(data), capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    runs, docs, staged = _raw(data)
    new = [r for r in runs if r != first["run_id"]]
    assert len(new) == 1
    new_run = new[0]
    finished = step in AFTER_FINISH or step == "inside-history.record"
    assert runs[new_run] == ("finished" if finished else "pending")
    _no_unfinished_in_history(runs, docs)  # at the moment of the kill

    # the next start of any process (here: a bare open_store) completes or removes the run
    subprocess.run([sys.executable, "-c", f"from storage import open_store; open_store(data_dir={str(data)!r})"],
                   cwd=ROOT, env=_env(data), check=True, timeout=120)
    runs, docs, staged = _raw(data)
    assert staged == [] and "pending" not in runs.values()
    _no_unfinished_in_history(runs, docs)
    assert len(docs) == 36
    per_student = [[h["run_id"] for h in d["history"]] for d in docs]
    if finished:  # rolled forward: every student has the new run's entry exactly once
        assert all(p == [first["run_id"], new_run] for p in per_student), per_student[:3]
    else:  # removed: as if the run had never started
        assert new_run not in runs and all(p == [first["run_id"]] for p in per_student)

    from storage import open_store

    again = open_store(data_dir=data)
    latest = again.runs.latest(201)["run_id"]
    assert latest == (new_run if finished else first["run_id"])
    assert set(again.history.at_run(201, latest)) == {d["user_id"] for d in docs}
    again.close()


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_every_step_is_never_visible_to_readers(store, config, small_site, step):
    """In-process failure (the process lives on): readers never show the half-written run's history;
    the course's next run (discard_unfinished) rolls a finished one forward."""
    as_of = utcnow().replace(microsecond=0) - timedelta(days=1)
    first = run_course(201, source="demo", store=store, as_of=as_of - timedelta(weeks=1), config=config)

    def boom(name: str) -> None:
        if name == step:
            raise Crash(name)

    with pytest.raises(Crash):
        run_course(201, source="demo", store=store, as_of=as_of, config=config, after_write=boom)
    new_run = next(r for r in store.runs.collection.distinct("run_id") if r != first["run_id"])
    status = store.runs.get(new_run)["status"]
    raw = store.history.collection.find({})
    named = {h["run_id"] for d in raw for h in d["history"]}
    assert all(store.runs.get(r)["status"] == "finished" for r in named)
    complete = step == "history.unstage"
    for doc in store.history.for_course(201):  # readers: only runs whose history is complete
        assert [h["run_id"] for h in doc["history"]] == [first["run_id"], *([new_run] if complete else [])]
    for user_id in (doc["user_id"] for doc in raw[:3]):
        assert new_run not in [h["run_id"] for h in store.history.for_user(201, user_id)["history"]] or complete
    assert (store.history.at_run(201, new_run) != {}) == complete
    store.runs.discard_unfinished(201)
    if status == "finished":
        assert all([h["run_id"] for h in d["history"]] == [first["run_id"], new_run]
                   for d in store.history.for_course(201))
        assert store.history.staged() == []
    else:
        assert store.runs.get(new_run) is None
