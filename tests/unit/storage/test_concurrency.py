"""The embedded store under concurrency: threads in one process, and two processes on one data dir."""

from __future__ import annotations

import fcntl
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
import types
from collections import Counter
from typing import Any

import pytest

from storage import Store, open_store

from ._race_worker import race


def test_open_store_is_cached_per_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    a = open_store(data_dir=tmp_path / "a")
    assert open_store(data_dir=tmp_path / "a") is a
    b = open_store(data_dir=tmp_path / "b")
    assert b is not a and b.backend == a.backend == "embedded"
    monkeypatch.setenv("COHORTLENS_DATA_DIR", str(tmp_path / "a"))
    assert open_store() is a
    a.close()
    c = open_store(data_dir=tmp_path / "a")  # reopened after close, data kept
    assert c is not a and c.ping()
    c.close()
    b.close()


def test_data_survives_reopen(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    s = open_store(data_dir=tmp_path)
    s.settings.set("language", "vi")
    s.close()
    s2 = open_store(data_dir=tmp_path)
    assert s2.settings.get("language") == "vi"
    assert (tmp_path / "store.lock").exists()
    s2.close()


def test_store_lock_is_a_real_file_lock_and_reentrant(store: Store) -> None:
    lock_path = store.data_dir / "store.lock"
    other = os.open(lock_path, os.O_RDWR)
    try:
        with store.locked(), store.locked():  # re-entrant
            store.settings.set("a", 1)  # calls inside the lock nest too
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released after the outermost exit
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)


def test_threads_share_one_store_without_loss_or_double_claim(store: Store) -> None:
    n_threads, per_thread = 8, 50
    job_ids = [store.jobs.create([100 + i], "manual") for i in range(per_thread)]
    counter = store.collection("counter")
    claims: list[tuple[int, str]] = []
    lease_wins: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                counter.update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)
                if store.jobs.claim(job_ids[i], {"host": "h", "pid": 0, "id": f"t{t}"}):
                    claims.append((t, job_ids[i]))
                if store.leases.acquire(f"k{i}", f"t{t}", 300):
                    lease_wins.append(i)
                store.runs.list(101)  # reads interleaved with writes
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert counter.find_one({"_id": "c"})["n"] == n_threads * per_thread
    assert sorted(j for _, j in claims) == sorted(job_ids)  # every job claimed exactly once
    assert Counter(lease_wins) == Counter(range(per_thread))  # every lease won exactly once
    for t, job_id in claims:
        assert store.jobs.get(job_id)["owner"]["id"] == f"t{t}"


#: a worker that makes no visible progress for this long is stuck (deadlock), not slow.
STALL_TIMEOUT = 120.0
#: hard cap on the whole race (spawning included), generous for a heavily loaded 2-core machine.
RACE_TIMEOUT = 600.0


def _progress(store: Store) -> tuple[int, int]:
    """(wins recorded, counter value): grows while at least one worker is doing work."""
    counter = store.collection("race_counter").find_one({"_id": "c"}) or {}
    return store.collection("race_wins").count_documents({}), int(counter.get("n", 0))


def _wait_for_workers(store: Store, procs: list, ready: Any, n_ready: int, go: Any) -> list[str]:
    """Start the race once every worker is ready; wait while it progresses. Returns worker names.

    No sleep decides anything: each wait is on a queue / process / the store, bounded by a stall
    timeout (no progress at all) and an overall cap, both far above a loaded machine's pace.
    """
    started = time.monotonic()
    names: list[str] = []
    while len(names) < n_ready:  # spawning + importing can take long on a loaded machine
        remaining = RACE_TIMEOUT - (time.monotonic() - started)
        dead = [p.exitcode for p in procs if p.exitcode is not None]
        assert not dead and remaining > 0, f"workers not ready after {time.monotonic() - started:.0f} s: {dead}"
        try:
            names.append(ready.get(timeout=min(5.0, remaining)))
        except queue.Empty:
            continue
    go.set()
    last, last_change = _progress(store), time.monotonic()
    for p in procs:
        while p.exitcode is None:
            p.join(1.0)  # poll: bounded wait on the process itself
            now, seen = time.monotonic(), _progress(store)
            if seen != last:
                last, last_change = seen, now
            assert now - last_change < STALL_TIMEOUT, f"no progress for {STALL_TIMEOUT:.0f} s at {seen}: stuck"
            assert now - started < RACE_TIMEOUT, f"race not done after {RACE_TIMEOUT:.0f} s (progress {seen})"
    return names


def check_two_process_race(store: Store, data_dir: str, *, uri: str | None = None, db_name: str | None = None) -> None:
    """Two spawned processes race for 60 leases and 60 job claims and do 150 $inc each."""
    rounds, incs = 60, 150
    job_ids = [store.jobs.create([i], "cli") for i in range(rounds)]
    ctx = mp.get_context("spawn")
    ready, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=race, args=(data_dir, rounds, incs, ready, go, uri, db_name, RACE_TIMEOUT))
             for _ in range(2)]
    for p in procs:
        p.start()
    try:
        names = _wait_for_workers(store, procs, ready, len(procs), go)
    finally:
        for p in procs:  # never leave a worker behind (a failed wait above)
            if p.exitcode is None:
                p.kill()
                p.join(30)
    assert [p.exitcode for p in procs] == [0, 0], "a worker failed (see its traceback above)"
    wins = store.collection("race_wins").find({}, {"_id": 0})
    leases = Counter(w["round"] for w in wins if w["kind"] == "lease")
    claims = Counter(w["round"] for w in wins if w["kind"] == "claim")
    assert leases == Counter(range(rounds)), "each lease has exactly one winner"
    assert claims == Counter(range(rounds)), "each job is claimed exactly once"
    owners = {store.jobs.get(j)["owner"]["id"] for j in job_ids}
    assert owners <= set(names)
    assert store.collection("race_counter").find_one({"_id": "c"})["n"] == 2 * incs, "no lost $inc"
    for i in range(rounds):
        holder = store.leases.holder(f"race:{i}")
        assert holder["owner"] == next(w["owner"] for w in wins if w["kind"] == "lease" and w["round"] == i)


def test_two_processes_race_on_one_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    # spawned workers re-run the parent's __main__; after an AppTest in the same session that is
    # app.py, which must not run in a worker: give them a bare __main__ instead
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    store = open_store(data_dir=tmp_path)
    try:
        check_two_process_race(store, str(tmp_path))
    finally:
        store.close()


def test_killed_process_holding_the_lock_does_not_block_others(tmp_path, monkeypatch) -> None:
    """The kernel drops a dead process's flock: a crash mid-write never wedges the store."""
    import signal
    import subprocess
    import sys

    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path)
    store.settings.set("before", 1)
    code = (
        "import sys, time, os\n"
        "os.environ.pop('MONGODB_URI', None)\n"
        "from storage import open_store\n"
        f"s = open_store(data_dir={str(tmp_path)!r})\n"
        "with s.locked():\n"
        "    s.settings.set('inside', 1)\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(60)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    child = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        lock_fd = os.open(tmp_path / "store.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # the child really holds it
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(lock_fd)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        lock_fd = os.open(tmp_path / "store.lock", os.O_RDWR)
        try:  # the kernel dropped the dead child's flock: taking it without waiting succeeds
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
        finally:
            os.close(lock_fd)
        store.settings.set("after", 2)
        assert store.settings.all() == {"before": 1, "inside": 1, "after": 2}
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        store.close()


def test_process_killed_mid_run_leaves_previous_run_and_is_cleaned(tmp_path, monkeypatch) -> None:
    """SIGKILL while a run's history is being written: nothing half-written is visible, and
    ``discard_unfinished`` removes every trace of the crashed run."""
    import signal
    import subprocess
    import sys
    import time

    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path)
    good = store.runs.insert_pending({"course_id": 7, "k": 2, "clusters": []})
    store.history.record(7, good, store.now(), [{"user_id": u, "cluster_id": 0, "transition_type": "initial"}
                                                for u in range(1500)])
    store.runs.mark_finished(good)
    code = (
        "import os, time\n"
        "os.environ.pop('MONGODB_URI', None)\n"
        "import pandas as pd\n"
        "from storage import open_store\n"
        f"s = open_store(data_dir={str(tmp_path)!r})\n"
        "rid = s.runs.insert_pending({'course_id': 7, 'k': 3, 'clusters': []})\n"
        "s.snapshots.save(7, rid, pd.DataFrame({'x': range(1500)}, index=pd.RangeIndex(1500, name='user_id')), {})\n"
        "print(rid, flush=True)\n"
        "s.history.record(7, rid, s.now(), [{'user_id': u, 'cluster_id': 1, 'transition_type': 'moved',\n"
        "                                    'previous_cluster_id': 0} for u in range(1500)])\n"
        "time.sleep(60)\n"  # never marks the run finished
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    child = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        crashed = child.stdout.readline().strip()
        assert crashed
        time.sleep(0.15)  # somewhere inside (or just after) the history bulk write
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert store.runs.latest(7)["run_id"] == good
    assert [r["run_id"] for r in store.runs.list(7)] == [good]
    assert store.runs.get(crashed)["status"] == "pending"
    touched = len(store.history.at_run(7, crashed))  # 0..1500 depending on where the kill landed
    assert store.runs.discard_unfinished(7) == [crashed]
    assert not store.snapshots.exists(crashed)
    docs = store.history.for_course(7)
    assert len(docs) == 1500, touched
    assert all([h["run_id"] for h in d["history"]] == [good] for d in docs)
    store.close()
