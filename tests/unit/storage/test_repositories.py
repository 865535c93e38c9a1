"""Every repository on a real store. Reused by tests/integration against MongoDB (same `store` fixture)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from storage import Store

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _run_doc(course_id: int = 101, run_at: dt.datetime = T0, **extra) -> dict:
    return {
        "course_id": course_id,
        "run_at": run_at,
        "as_of": run_at,
        "k": np.int64(2),
        "k_pinned": False,
        "clusters": [
            {"cluster_id": 0, "name": "Steady", "size": 2, "share": 0.5, "user_ids": np.array([1, 2]),
             "centroid": {"logins": np.float64(1.5)}, "engagement": np.float32(70.0)},
            {"cluster_id": 1, "name": "Quiet", "size": 2, "share": 0.5, "user_ids": [3, 4],
             "centroid": {"logins": np.nan}, "engagement": 10.0},
        ],
        "quality": {"silhouette": 0.41, "davies_bouldin": 0.9, "calinski_harabasz": 120.0},
        "metadata": {"total_students": 4, "source": "demo"},
        **extra,
    }


# -- runs ---------------------------------------------------------------------------------------


def test_pending_run_is_invisible_until_finished(store: Store) -> None:
    run_id = store.runs.insert_pending(_run_doc())
    assert isinstance(run_id, str) and run_id
    assert store.runs.latest(101) is None
    assert store.runs.list(101) == []
    assert store.runs.courses_with_runs() == []
    assert store.runs.count(101) == 0
    assert store.runs.get(run_id)["status"] == "pending"

    store.runs.mark_finished(run_id, {"metadata": {"total_students": 4, "execution_time_seconds": 1.25}})
    latest = store.runs.latest(101)
    assert latest["run_id"] == run_id and latest["status"] == "finished"
    assert latest["k"] == 2 and latest["metadata"]["execution_time_seconds"] == 1.25
    assert latest["clusters"][1]["centroid"]["logins"] is None
    assert latest["run_at"] == T0 and latest["run_at"].tzinfo is not None
    assert "_id" not in latest
    assert store.runs.courses_with_runs() == [101]
    assert store.runs.count(101) == 1


def test_run_list_newest_first_without_member_lists(store: Store) -> None:
    ids = []
    for week in range(3):
        rid = store.runs.insert_pending(_run_doc(run_at=T0 + dt.timedelta(weeks=week)))
        store.runs.mark_finished(rid)
        ids.append(rid)
    store.runs.insert_pending(_run_doc(run_at=T0 + dt.timedelta(weeks=9)))  # pending: not listed
    other = store.runs.insert_pending(_run_doc(course_id=102))
    store.runs.mark_finished(other)

    listed = store.runs.list(101)
    assert [r["run_id"] for r in listed] == ids[::-1]
    assert all("user_ids" not in c for r in listed for c in r["clusters"])
    assert listed[0]["clusters"][0]["name"] == "Steady"
    assert [r["run_id"] for r in store.runs.list(101, limit=2)] == ids[:0:-1]
    assert store.runs.latest(101)["run_id"] == ids[-1]
    assert store.runs.latest(101, before=T0 + dt.timedelta(weeks=2))["run_id"] == ids[1]
    assert store.runs.courses_with_runs() == [101, 102]
    assert store.runs.run_ids(101) == ids[::-1]
    assert store.runs.labels(ids[0]) == {1: 0, 2: 0, 3: 1, 4: 1}
    assert store.runs.labels("missing") == {}


def test_run_requires_course_and_unknown_run_raises(store: Store) -> None:
    with pytest.raises(ValueError):
        store.runs.insert_pending({"k": 2})
    with pytest.raises(LookupError):
        store.runs.mark_finished("no-such-run")
    assert store.runs.get("no-such-run") is None


def test_duplicate_run_id_is_refused(store: Store) -> None:
    from pymongo.errors import DuplicateKeyError

    store.runs.insert_pending(_run_doc(run_id="fixed"))
    with pytest.raises(DuplicateKeyError):
        store.runs.insert_pending(_run_doc(run_id="fixed"))


def test_discard_unfinished_cleans_snapshot_history_and_alerts(store: Store) -> None:
    good = store.runs.insert_pending(_run_doc())
    store.snapshots.save(101, good, pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index([1, 2], name="user_id")), {})
    store.history.record(101, good, T0, [{"user_id": 1, "cluster_id": 0, "transition_type": "initial"}])
    store.runs.mark_finished(good)

    # a crash after snapshot + history but before mark_finished
    crashed = store.runs.insert_pending(_run_doc(run_at=T0 + dt.timedelta(weeks=1)))
    store.snapshots.save(101, crashed, pd.DataFrame({"x": [3.0]}, index=pd.Index([1], name="user_id")), {})
    store.history.record(101, crashed, T0 + dt.timedelta(weeks=1),
                         [{"user_id": 1, "cluster_id": 1, "transition_type": "moved", "previous_cluster_id": 0}])
    store.alerts.add(101, crashed, [{"type": "size", "message": "grew"}])
    other_course = store.runs.insert_pending(_run_doc(course_id=102))

    assert store.runs.latest(101)["run_id"] == good  # the half-written run is never visible
    assert store.runs.discard_unfinished(101) == [crashed]
    assert store.runs.get(crashed) is None
    assert not store.snapshots.exists(crashed)
    assert store.snapshots.exists(good)
    assert [h["run_id"] for h in store.history.for_user(101, 1)["history"]] == [good]
    assert store.alerts.for_run(crashed) == []
    assert store.runs.get(other_course)["status"] == "pending"  # another course is untouched
    assert store.runs.discard_unfinished(101) == []


# -- history ------------------------------------------------------------------------------------


def test_history_record_appends_per_user_and_is_idempotent(store: Store) -> None:
    rows1 = [{"user_id": np.int64(u), "cluster_id": np.int64(u % 2), "transition_type": "initial",
              "previous_cluster_id": None} for u in range(1, 6)]
    assert store.history.record(101, "r1", T0, rows1) == 5
    t1 = T0 + dt.timedelta(weeks=1)
    rows2 = [{"user_id": u, "cluster_id": 1, "transition_type": "stable" if u % 2 else "moved",
              "previous_cluster_id": u % 2} for u in range(1, 7)]
    store.history.record(101, "r2", t1, rows2)
    store.history.record(101, "r2", t1, rows2)  # a retried write does not duplicate entries

    doc = store.history.for_user(101, 2)
    assert [h["run_id"] for h in doc["history"]] == ["r1", "r2"]
    assert doc["history"][1] == {"run_id": "r2", "timestamp": t1, "cluster_id": 1,
                                 "transition_type": "moved", "previous_cluster_id": 0}
    assert doc["last_updated"] == t1
    assert len(store.history.for_user(101, 6)["history"]) == 1
    assert [d["user_id"] for d in store.history.for_course(101)] == [1, 2, 3, 4, 5, 6]
    assert store.history.count(101) == 6
    assert store.history.for_user(102, 2) is None

    assert set(store.history.at_run(101, "r2")) == {1, 2, 3, 4, 5, 6}
    assert store.history.at_run(101, "r2")[2]["transition_type"] == "moved"

    # a backfill written out of order still reads oldest first
    store.history.record(101, "r0", T0 - dt.timedelta(weeks=1), [{"user_id": 2, "cluster_id": 0,
                                                                  "transition_type": "initial"}])
    assert [h["run_id"] for h in store.history.for_user(101, 2)["history"]] == ["r0", "r1", "r2"]
    store.history.pull_run(101, "r0")

    assert store.history.pull_run(101, "r2") == 6
    assert [h["run_id"] for h in store.history.for_user(101, 2)["history"]] == ["r1"]
    assert store.history.for_user(101, 6) is None  # only had r2: no document left
    assert store.history.count(101) == 5


def _raw_history(store: Store, course_id: int) -> dict:
    """The stored documents of a course exactly as an outside tool reads them, by user_id."""
    return {d["user_id"]: d for d in store.collection("user_cluster_history").find({"course_id": course_id})}


def test_history_stored_shape_is_one_document_per_student(store: Store) -> None:
    """DESIGN.md contract: {course_id, user_id, history[] oldest first, last_updated} per (course, user)."""
    t1, t2 = T0 + dt.timedelta(weeks=1), T0 + dt.timedelta(weeks=2)
    first = [{"user_id": u, "cluster_id": u % 3, "transition_type": "initial", "previous_cluster_id": None}
             for u in range(1, 31)]
    store.history.record(101, "r1", T0, first)
    store.history.record(101, "r3", t2, [{"user_id": u, "cluster_id": 0, "transition_type": "moved" if u % 3 else
                                          "stable", "previous_cluster_id": u % 3} for u in range(1, 31)])
    # a backfill of the run in between, written last, for some students and one newcomer
    store.history.record(101, "r2", t1, [{"user_id": u, "cluster_id": 2, "transition_type": "moved",
                                          "previous_cluster_id": u % 3, "note": "backfill"} for u in (3, 4, 99)])
    store.history.record(102, "x1", T0, [{"user_id": 3, "cluster_id": 5, "transition_type": "initial"}])

    raw = _raw_history(store, 101)
    assert sorted(raw) == [*range(1, 31), 99]
    entry_keys = {"run_id", "timestamp", "cluster_id", "transition_type", "previous_cluster_id"}
    for user_id, doc in raw.items():
        assert set(doc) == {"_id", "course_id", "user_id", "history", "last_updated"}
        assert doc["_id"] == f"101:{user_id}" and doc["course_id"] == 101
        assert isinstance(doc["history"], list) and doc["history"]
        stamps = [h["timestamp"] for h in doc["history"]]
        assert stamps == sorted(stamps) and doc["last_updated"] == stamps[-1]
        for h in doc["history"]:
            assert set(h) == entry_keys | ({"note"} if h["run_id"] == "r2" else set())
            assert h["transition_type"] in ("initial", "stable", "moved")
    assert [h["run_id"] for h in raw[4]["history"]] == ["r1", "r2", "r3"]
    assert raw[4]["history"][1] == {"run_id": "r2", "timestamp": t1, "cluster_id": 2, "transition_type": "moved",
                                    "previous_cluster_id": 1, "note": "backfill"}
    assert raw[4]["last_updated"] == t2
    assert [h["run_id"] for h in raw[99]["history"]] == ["r2"] and raw[99]["last_updated"] == t1
    assert [h["run_id"] for h in raw[5]["history"]] == ["r1", "r3"]
    assert store.collection("user_cluster_history").count_documents({}) == 32  # 31 + course 102's student
    assert _raw_history(store, 102)[3]["_id"] == "102:3"
    assert store.history.for_user(101, 4) == {k: v for k, v in raw[4].items() if k != "_id"}

    # re-recording a run replaces its entries (no duplicate, new values win)
    before = _raw_history(store, 101)
    store.history.record(101, "r3", t2, [{"user_id": u, "cluster_id": 0, "transition_type": "moved" if u % 3 else
                                          "stable", "previous_cluster_id": u % 3} for u in range(1, 31)])
    assert _raw_history(store, 101) == before
    store.history.record(101, "r2", t1, [{"user_id": 4, "cluster_id": 1, "transition_type": "stable",
                                          "previous_cluster_id": 1}])
    raw = _raw_history(store, 101)
    assert [(h["run_id"], h["cluster_id"]) for h in raw[4]["history"]] == [("r1", 1), ("r2", 1), ("r3", 0)]
    assert [h["run_id"] for h in raw[3]["history"]] == ["r1", "r3"]  # no longer in the re-recorded run
    assert 99 not in raw  # only had the re-recorded run's entry: no empty document is left behind

    # pull_run: entries go, last_updated falls back to the newest remaining entry
    assert store.history.pull_run(101, "r3") == 30
    raw = _raw_history(store, 101)
    assert [h["run_id"] for h in raw[4]["history"]] == ["r1", "r2"] and raw[4]["last_updated"] == t1
    assert [h["run_id"] for h in raw[5]["history"]] == ["r1"] and raw[5]["last_updated"] == T0
    assert store.history.pull_run(101, "r3") == 0
    assert store.history.count(101) == 30 and store.history.at_run(101, "r3") == {}
    assert _raw_history(store, 102)[3]["history"][0]["run_id"] == "x1"  # another course is untouched


def test_discard_unfinished_restores_the_stored_history(store: Store) -> None:
    good = store.runs.insert_pending(_run_doc())
    rows = [{"user_id": u, "cluster_id": u % 2, "transition_type": "initial"} for u in range(1, 21)]
    store.history.record(101, good, T0, rows)
    store.runs.mark_finished(good)
    before = _raw_history(store, 101)
    crashed = store.runs.insert_pending(_run_doc(run_at=T0 + dt.timedelta(weeks=1)))
    store.history.record(101, crashed, T0 + dt.timedelta(weeks=1),
                         [{"user_id": u, "cluster_id": 1, "transition_type": "moved", "previous_cluster_id": 0}
                          for u in range(1, 26)])
    # (older data: entries of a pending run written before the run was finished) readers never see them
    assert store.history.collection.count_documents({"history.run_id": crashed}) == 25
    assert store.history.at_run(101, crashed) == {}
    assert all(h["run_id"] != crashed for d in store.history.for_course(101) for h in d["history"])
    assert store.runs.discard_unfinished(101) == [crashed]
    after = _raw_history(store, 101)
    assert after == before  # every earlier document exactly as it was, the crashed run's newcomers gone
    assert store.history.at_run(101, crashed) == {}


# -- snapshots ----------------------------------------------------------------------------------


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "logins": rng.poisson(5, n).astype("int64"),
            "raw_score": rng.normal(50, 10, n),
            "scaled_score": rng.normal(0, 1, n),
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "silhouette": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
            "late": rng.random(n) < 0.3,
            "cluster_name": rng.choice(["Steady", "Crammer", "Quiet"], n),
        },
        index=pd.Index(np.arange(1000, 1000 + n, dtype="int64"), name="user_id"),
    )
    return frame


def test_snapshot_round_trip_small(store: Store) -> None:
    frame = _frame(7)
    meta = {"features_used": ["raw_score"], "k": np.int64(3), "run_at": T0}
    assert store.snapshots.save(101, "r1", frame, meta) == 1
    back, back_meta = store.snapshots.load("r1")
    pd.testing.assert_frame_equal(back, frame)
    assert back_meta == {"features_used": ["raw_score"], "k": 3, "run_at": T0}
    assert store.snapshots.meta("r1")["k"] == 3


def test_snapshot_chunks_large_run_and_reassembles(store: Store) -> None:
    frame = _frame(4_500, seed=3)
    assert store.snapshots.save(101, "big", frame, {"note": "big"}) == 3
    chunks = store.collection("cluster_snapshots").find({"run_id": "big"}, {"_id": 0, "chunk": 1, "rows": 1},
                                                        sort=[("chunk", 1)])
    assert [(c["chunk"], c["rows"]) for c in chunks] == [(0, 2000), (1, 2000), (2, 500)]
    back, meta = store.snapshots.load("big")
    pd.testing.assert_frame_equal(back, frame)
    assert meta == {"note": "big"}
    # saving the same run again replaces it
    assert store.snapshots.save(101, "big", frame.iloc[:10], {}) == 1
    assert len(store.snapshots.load("big")[0]) == 10


def test_snapshot_multiindex_columns_and_missing(store: Store) -> None:
    cols = pd.MultiIndex.from_tuples([("raw", "logins"), ("scaled", "logins")], names=["space", "feature"])
    frame = pd.DataFrame([[1.0, -0.5], [np.nan, 0.5]], columns=cols, index=pd.Index([5, 6], name="user_id"))
    store.snapshots.save(101, "mi", frame, {})
    back, _ = store.snapshots.load("mi")
    pd.testing.assert_frame_equal(back, frame)
    with pytest.raises(KeyError):
        store.snapshots.load("absent")


def test_snapshot_prune_keeps_newest_runs(store: Store) -> None:
    for week in range(5):
        store.snapshots.save(101, f"w{week}", _frame(3), {"run_at": T0 + dt.timedelta(weeks=week)})
    store.snapshots.save(102, "other", _frame(3), {"run_at": T0})
    assert store.snapshots.run_ids(101) == ["w4", "w3", "w2", "w1", "w0"]
    assert sorted(store.snapshots.prune(101, keep=2)) == ["w0", "w1", "w2"]
    assert store.snapshots.run_ids(101) == ["w4", "w3"]
    assert store.snapshots.exists("other")
    assert store.snapshots.prune(101, keep=2) == []
    assert store.snapshots.delete_run("w4") == 1
    with pytest.raises(ValueError):
        store.snapshots.prune(101, keep=-1)


# -- jobs ---------------------------------------------------------------------------------------


def test_job_lifecycle(store: Store) -> None:
    job_id = store.jobs.create([101, np.int64(102)], "manual")
    job = store.jobs.get(job_id)
    assert len(job_id) == 32 and job["status"] == "queued" and job["course_ids"] == [101, 102]
    assert job["progress"]["total"] == 2 and job["attempts"] == [] and job["created_at"].tzinfo
    with pytest.raises(ValueError):
        store.jobs.create([101], "whenever")

    owner = {"host": "h1", "pid": 42, "id": "owner-a"}
    claimed = store.jobs.claim(job_id, owner)
    assert claimed["status"] == "running" and claimed["owner"] == owner and claimed["started_at"]
    assert store.jobs.claim(job_id, {"host": "h2", "pid": 1, "id": "owner-b"}) is None
    assert store.jobs.running_for_course(102)["job_id"] == job_id
    assert store.jobs.running_for_course(103) is None

    assert store.jobs.start_attempt(job_id) == 1
    store.jobs.finish_attempt(job_id, "failed", error=TimeoutError("wstoken=test-token-abc timed out"))
    assert store.jobs.start_attempt(job_id) == 2
    store.jobs.update_progress(job_id, {"stage": "clustering", "done": 1, "course_id": 102})
    assert store.jobs.heartbeat(job_id, "owner-a")
    assert not store.jobs.heartbeat(job_id, "owner-b")
    store.jobs.set_result(job_id, 101, {"k": np.int64(3), "run_id": "r1"})
    store.jobs.update_stats(job_id, {"students": 120, "events": 5000})
    assert store.jobs.finish_attempt(job_id, "succeeded")
    assert store.jobs.set_status(job_id, "succeeded", stats={"students": 120, "k": 3}, expected="running")
    assert not store.jobs.set_status(job_id, "interrupted", expected="running")

    job = store.jobs.get(job_id)
    assert job["status"] == "succeeded" and job["finished_at"] >= job["started_at"]
    a1, a2 = job["attempts"]
    assert (a1["number"], a1["status"], a1["error_type"]) == (1, "failed", "TimeoutError")
    assert "test-token-abc" not in a1["error_message"] and "timed out" in a1["error_message"]
    assert (a2["number"], a2["status"], a2["error_type"]) == (2, "succeeded", None)
    assert job["progress"] == {"stage": "clustering", "done": 1, "total": 2, "message": "", "course_id": 102}
    assert job["result"] == {"101": {"k": 3, "run_id": "r1"}}
    assert job["stats"] == {"students": 120, "k": 3}
    assert store.jobs.running_for_course(102) is None


def test_job_failure_error_and_queries(store: Store) -> None:
    clock = [T0]
    store.clock = lambda: clock[0]
    a = store.jobs.create([101], "schedule")
    clock[0] += dt.timedelta(minutes=1)
    b = store.jobs.create([102], "manual")
    clock[0] += dt.timedelta(minutes=1)
    c = store.jobs.create([101], "retry", scheduled_for=T0 + dt.timedelta(minutes=10), parent_job_id=a)

    assert [j["job_id"] for j in store.jobs.recent()] == [c, b, a]
    assert [j["job_id"] for j in store.jobs.recent(limit=2)] == [c, b]
    assert [j["job_id"] for j in store.jobs.recent(course_id=101)] == [c, a]
    assert store.jobs.get(c)["parent_job_id"] == a

    store.jobs.claim(a, {"host": "h", "pid": 1, "id": "x"})
    store.jobs.set_status(a, "failed", error={"type": "MoodleUnavailable", "message": "503 at ?token=abc"})
    err = store.jobs.get(a)["error"]
    assert err == {"type": "MoodleUnavailable", "message": "503 at ?token=***"}
    assert [j["job_id"] for j in store.jobs.recent(status="failed")] == [a]
    assert [j["job_id"] for j in store.jobs.recent(status=["queued", "failed"])] == [c, b, a]

    assert store.jobs.due_retries(T0 + dt.timedelta(minutes=9)) == []
    assert [j["job_id"] for j in store.jobs.due_retries(T0 + dt.timedelta(minutes=10))] == [c]
    assert store.jobs.running_for_course(101, statuses=("queued", "running"))["job_id"] == c
    assert len(store.jobs.since(T0 + dt.timedelta(minutes=1))) == 2


def test_stale_jobs(store: Store) -> None:
    alive = store.jobs.create([101], "manual")
    dead = store.jobs.create([102], "manual")
    store.jobs.claim(alive, {"host": "h", "pid": 1, "id": "a"}, now=T0)
    store.jobs.claim(dead, {"host": "h", "pid": 2, "id": "b"}, now=T0)
    store.jobs.heartbeat(alive, now=T0 + dt.timedelta(minutes=10))
    stale = store.jobs.stale(T0 + dt.timedelta(minutes=5))
    assert [j["job_id"] for j in stale] == [dead]
    assert store.jobs.stale(heartbeat_before=T0 + dt.timedelta(minutes=5)) == stale
    assert store.jobs.set_status(dead, "interrupted", expected="running")
    assert store.jobs.stale(T0 + dt.timedelta(minutes=5)) == []
    assert [j["job_id"] for j in store.jobs.running()] == [alive]


# -- leases -------------------------------------------------------------------------------------


def test_lease_acquire_renew_release_expire(store: Store) -> None:
    leases = store.leases
    assert leases.acquire("course:101", "a", 60, now=T0)
    assert not leases.acquire("course:101", "b", 60, now=T0 + dt.timedelta(seconds=30))
    assert leases.acquire("course:101", "a", 60, now=T0 + dt.timedelta(seconds=30))  # re-entrant
    assert leases.holder("course:101", now=T0 + dt.timedelta(seconds=31))["owner"] == "a"
    assert leases.renew("course:101", "a", 60, now=T0 + dt.timedelta(seconds=80))
    assert not leases.renew("course:101", "b", 60, now=T0 + dt.timedelta(seconds=80))
    # expired leases can be taken over; the old owner then cannot renew or release it
    later = T0 + dt.timedelta(seconds=200)
    assert leases.holder("course:101", now=later) is None
    assert leases.acquire("course:101", "b", 60, now=later)
    assert not leases.renew("course:101", "a", 60, now=later)
    assert not leases.release("course:101", "a")
    assert leases.acquire("course:102", "a", 60, now=later)
    assert [d["key"] for d in leases.active("course:", now=later)] == ["course:101", "course:102"]
    assert leases.release("course:101", "b")
    assert leases.holder("course:101", now=later) is None
    assert leases.acquire("course:101", "a", 60, now=later)
    assert leases.break_lease("course:101")


# -- small collections --------------------------------------------------------------------------


def test_courses(store: Store) -> None:
    assert store.courses.upsert({"id": np.int64(101), "fullname": "Intro", "shortname": "I101"}) == 101
    store.courses.upsert({"course_id": 102, "fullname": "Stats", "source": "moodle", "enabled": False})
    c = store.courses.get(101)
    assert (c["id"], c["course_id"], c["enabled"], c["k_pinned"], c["timezone"], c["source"]) == (
        101, 101, True, None, "UTC", "demo")
    assert store.courses.set_flags(101, enabled=False, k_pinned=4, timezone="Asia/Ho_Chi_Minh")
    store.courses.upsert({"id": 101, "fullname": "Intro v2"})  # refresh keeps the flags
    c = store.courses.get(101)
    assert (c["fullname"], c["enabled"], c["k_pinned"], c["timezone"]) == ("Intro v2", False, 4, "Asia/Ho_Chi_Minh")
    assert [c["course_id"] for c in store.courses.list()] == [101, 102]
    assert store.courses.list(enabled_only=True) == []
    assert not store.courses.set_flags(999, enabled=True)
    with pytest.raises(ValueError):
        store.courses.set_flags(101, token="x")
    with pytest.raises(ValueError):
        store.courses.upsert({"fullname": "no id"})


def test_settings(store: Store) -> None:
    assert store.settings.get("schedule") is None
    assert store.settings.get("schedule", "0 2 * * *") == "0 2 * * *"
    store.settings.set("schedule", {"cron": "0 3 * * *", "timezone": "UTC", "enabled": np.bool_(True)})
    store.settings.set("language", "vi")
    store.settings.set("language", "en")
    assert store.settings.get("schedule") == {"cron": "0 3 * * *", "timezone": "UTC", "enabled": True}
    assert store.settings.all() == {"language": "en", "schedule": store.settings.get("schedule")}
    assert store.settings.delete("language") and store.settings.get("language") is None
    for key, value in [("moodle_standard_token", "test-token-abc"), ("llm", {"gemini_api_key": "fake-key-1"})]:
        with pytest.raises(ValueError):
            store.settings.set(key, value)
    store.settings.set("llm", {"gemini_api_key": "", "model": "gemini-x"})  # empty = not a secret


def test_activity(store: Store) -> None:
    rows = [{"extraction_date": "2026-03-02", "file_views": np.int64(4), "num_students": 50},
            {"date": "2026-03-01", "file_views": 2, "num_students": 50}]
    assert store.activity.upsert(101, rows) == 2
    store.activity.upsert(101, [{"extraction_date": "2026-03-02", "file_views": 9, "num_students": 51}])
    got = store.activity.list(101)
    assert [(r["extraction_date"], r["file_views"]) for r in got] == [("2026-03-01", 2), ("2026-03-02", 9)]
    assert store.activity.list(102) == []
    with pytest.raises(ValueError):
        store.activity.upsert(101, [{"file_views": 1}])


def test_alerts(store: Store) -> None:
    clock = [T0]
    store.clock = lambda: clock[0]
    store.alerts.add(101, "r1", [{"type": "size", "cluster_id": np.int64(1), "message": "grew", "value": 0.3}])
    clock[0] += dt.timedelta(days=7)
    store.alerts.add(102, "r2", [{"type": "downward", "message": "a", "value": 0.2},
                                 {"type": "size", "message": "b", "value": 0.4}])
    assert [a["message"] for a in store.alerts.recent()] == ["a", "b", "grew"]
    assert [a["message"] for a in store.alerts.recent(course_id=101)] == ["grew"]
    assert store.alerts.recent(limit=1)[0]["run_id"] == "r2"
    assert store.alerts.add(102, "r2", []) == 0  # replaces the run's alerts
    assert store.alerts.for_run("r2") == []


def test_users(store: Store) -> None:
    store.users.upsert({"username": "alice", "name": "Alice", "password_hash": "$2b$12$fakehash", "role": "admin"})
    store.users.upsert({"username": "bob", "courses": [101]})
    assert store.users.get("bob")["role"] == "instructor"
    store.users.upsert({"username": "alice", "courses": [101, 102]})
    alice = store.users.get("alice")
    assert (alice["role"], alice["courses"], alice["password_hash"]) == ("admin", [101, 102], "$2b$12$fakehash")
    assert [u["username"] for u in store.users.list()] == ["alice", "bob"]
    with pytest.raises(ValueError):
        store.users.upsert({"username": "eve", "password": "plain"})
    with pytest.raises(ValueError):
        store.users.upsert({"username": "eve", "role": "root"})
    assert store.users.delete("bob") and store.users.get("bob") is None
    assert not store.users.delete("bob")


def test_llm_cache(store: Store) -> None:
    cache = store.llm_cache
    assert cache.get("k1") is None and "k1" not in cache
    cache.set("k1", {"title": "Steady", "n": np.int64(2)})
    cache["k2"] = {"title": "Quiet"}
    assert cache["k1"] == {"title": "Steady", "n": 2}
    assert "k2" in cache and len(cache) == 2 and cache.keys() == ["k1", "k2"]
    del cache["k2"]
    with pytest.raises(KeyError):
        cache["k2"]
    with pytest.raises(KeyError):
        del cache["k2"]


# -- store --------------------------------------------------------------------------------------


def test_store_basics(store: Store) -> None:
    assert store.ping() is True
    assert store.backend in ("embedded", "mongodb")
    names = set(store.collection_names())
    assert {"course_clusters", "user_cluster_history", "cluster_snapshots", "cluster_jobs", "locks"} <= names
    ix = {i["name"] for i in store.collection("user_cluster_history").list_indexes()}
    # one document per student with _id "<course>:<user>": plain indexes, no unique compound one
    wanted = {"course_id"} if store.backend == "embedded" else {"course_id", "user_id", "history_run_id"}
    assert wanted <= ix and "course_user_unique" not in ix   # embedded: see indexes.EMBEDDED_SKIP
    assert "course_run_at" in {i["name"] for i in store.collection("run_summaries").list_indexes()}
    from storage import ensure_indexes

    assert ensure_indexes(store) == ensure_indexes(store)  # idempotent
    rows = store.collection("locks").find({})
    assert isinstance(rows, list)


def test_snapshot_chunks_respect_the_byte_budget_for_wide_frames(store: Store, monkeypatch) -> None:
    """Wide frames get fewer rows per chunk; the size estimate is conservative (real BSON is smaller).

    The default budget is 8 MB per chunk (MongoDB's limit is 16 MB); a 1 MB budget keeps this fast.
    """
    import bson

    from storage.repositories import snapshots

    budget = 1_000_000
    monkeypatch.setattr(snapshots, "_CHUNK_BYTES", budget)
    rng = np.random.default_rng(1)
    n, cols = 1_000, 100
    frame = pd.DataFrame(rng.normal(size=(n, cols)), columns=[f"feature_{i}" for i in range(cols)],
                         index=pd.Index(np.arange(n, dtype="int64"), name="user_id"))
    n_chunks = store.snapshots.save(101, "wide", frame, {})
    chunks = store.collection("cluster_snapshots").find({"run_id": "wide"})
    assert len(chunks) == n_chunks == 2
    assert max(len(bson.encode(c)) for c in chunks) < budget
    assert snapshots._rows_per_chunk(300, 2000) * 302 * 16 <= snapshots._CHUNK_BYTES
    back, _ = store.snapshots.load("wide")
    pd.testing.assert_frame_equal(back, frame)


@pytest.mark.parametrize("case", ["empty", "no_columns", "mixed_dtypes", "text_index"])
def test_snapshot_round_trip_edge_cases(store: Store, case: str) -> None:
    frames = {
        "empty": pd.DataFrame({"a": pd.Series([], dtype="float64")}, index=pd.Index([], dtype="int64", name="user_id")),
        "no_columns": pd.DataFrame(index=pd.Index([1, 2], name="user_id")),
        "mixed_dtypes": pd.DataFrame(
            {"t": pd.to_datetime(["2026-01-01", None], utc=True), "i": pd.array([1, None], dtype="Int64"),
             "c": pd.Categorical(["a", "b"]), "s": ["x", None], "b": [True, False],
             "f32": np.array([1.5, 2.5], dtype="float32")},
            index=pd.Index([1, 2], name="user_id")),
        "text_index": pd.DataFrame({"a": [1.0]}, index=pd.Index(["u1"], name="user")),
    }
    frame = frames[case]
    store.snapshots.save(101, case, frame, {})
    back, meta = store.snapshots.load(case)
    pd.testing.assert_frame_equal(back, frame)
    assert meta == {}


def test_ties_on_time_keep_insertion_order(store: Store) -> None:
    store.clock = lambda: T0  # a frozen clock: every job has the same created_at
    ids = [store.jobs.create([101], "manual") for _ in range(6)]
    assert [j["job_id"] for j in store.jobs.recent()] == ids[::-1]
    assert [j["job_id"] for j in store.jobs.queued()] == ids
    assert [j["job_id"] for j in store.jobs.since(T0)] == ids[::-1]
    assert [j["job_id"] for j in store.jobs.since(T0, oldest_first=True)] == ids
    runs = []
    for _ in range(4):
        rid = store.runs.insert_pending(_run_doc(run_at=T0))
        store.runs.mark_finished(rid)
        runs.append(rid)
    assert store.runs.latest(101)["run_id"] == runs[-1]
    assert store.runs.run_ids(101) == runs[::-1]


def test_admin_helpers(store: Store) -> None:
    clock = [T0]
    store.clock = lambda: clock[0]
    rid = store.runs.insert_pending(_run_doc())
    store.runs.update(rid, {"k": np.int64(3), "status": "finished"})  # status is not settable here
    assert store.runs.get(rid)["k"] == 3 and store.runs.get(rid)["status"] == "pending"
    with pytest.raises(LookupError):
        store.runs.update("missing", {"k": 1})
    store.snapshots.save(101, rid, _frame(2), {})
    assert store.snapshots.saved_at(rid) == T0
    store.history.record(101, rid, T0, [{"user_id": 1, "cluster_id": 0, "transition_type": "initial"}])
    store.runs.mark_finished(rid)
    store.runs.delete(rid)
    assert store.runs.get(rid) is None and not store.snapshots.exists(rid)
    assert store.history.for_user(101, 1) is None
    store.runs.delete(rid)  # no-op

    old = store.jobs.create([1], "cli")
    store.jobs.set_status(old, "succeeded")
    queued_old = store.jobs.create([1], "cli")
    store.jobs.claim(queued_old, {"host": "h", "pid": 1, "id": "a"})
    assert store.jobs.set_status(queued_old, "queued")  # back to the queue: owner cleared
    assert store.jobs.get(queued_old)["owner"] is None
    clock[0] += dt.timedelta(days=40)
    fresh = store.jobs.create([1], "cli")
    store.jobs.set_status(fresh, "failed")
    assert store.jobs.delete_older_than(T0 + dt.timedelta(days=30)) == 1  # only finished + old
    assert store.jobs.get(old) is None and store.jobs.get(queued_old) and store.jobs.get(fresh)
    with pytest.raises(ValueError):
        store.jobs.set_status(fresh, "done")

    store.courses.upsert({"id": 5})
    assert store.courses.delete(5) and store.courses.get(5) is None
    store.activity.upsert(5, [{"date": "2026-01-01", "views": 1}])
    assert store.activity.delete_course(5) == 1
    store.llm_cache.set("a", 1)
    assert store.llm_cache.clear() == 1 and len(store.llm_cache) == 0


def test_claim_next_takes_oldest_due_job(store: Store) -> None:
    clock = [T0]
    store.clock = lambda: clock[0]
    later = store.jobs.create([1], "retry", scheduled_for=T0 + dt.timedelta(minutes=5))
    first = store.jobs.create([2], "manual")
    second = store.jobs.create([3], "manual")
    me = {"host": "h", "pid": 1, "id": "me"}
    assert store.jobs.claim_next(me)["job_id"] == first
    assert store.jobs.claim_next(me)["job_id"] == second
    assert store.jobs.claim_next(me) is None  # the retry is not due yet
    clock[0] += dt.timedelta(minutes=5)
    got = store.jobs.claim_next(me)
    assert got["job_id"] == later and got["status"] == "running" and got["started_at"] == clock[0]
    assert store.jobs.claim_next(me) is None


# -- read helpers for the pages (small projections) ----------------------------------------------


def test_run_index_and_fields_read_only_what_pickers_need(store: Store) -> None:
    ids = []
    for week in range(3):
        rid = store.runs.insert_pending(_run_doc(run_at=T0 + dt.timedelta(weeks=week), anomalies=[{"user_id": 1}]))
        store.runs.mark_finished(rid)
        ids.append(rid)
    pending = store.runs.insert_pending(_run_doc(run_at=T0 + dt.timedelta(weeks=9)))
    other = store.runs.insert_pending(_run_doc(course_id=102))
    store.runs.mark_finished(other)
    index = store.runs.index(101)
    assert [r["run_id"] for r in index] == ids[::-1] == [r["run_id"] for r in store.runs.list(101)]
    assert index[0]["run_at"] == T0 + dt.timedelta(weeks=2) and index[0]["k"] == 2 and index[0]["students"] == 4
    assert not {"_id", "oid", "clusters", "anomalies"} & set(index[0])
    assert [r["run_id"] for r in store.runs.index(101, limit=2)] == ids[:0:-1]
    got = store.runs.fields([ids[0], pending, other, "absent"], ["as_of", "k"])
    assert set(got) == {ids[0], other}  # finished runs only
    assert got[ids[0]] == {"run_id": ids[0], "course_id": 101, "as_of": T0, "k": 2}
    assert store.runs.fields([], ["k"]) == {}


@pytest.mark.parametrize("case", ["chunks", "multiindex", "repeated", "text_index"])
def test_snapshot_load_columns_equals_load_then_select(store: Store, case: str) -> None:
    frame = _frame(4_500, seed=5)
    names: list = ["silhouette", "user_id_absent", "logins", "cluster_name", "logins"]
    if case == "multiindex":
        frame.columns = pd.MultiIndex.from_tuples([("raw", c) if i % 2 else ("scaled", c)
                                                   for i, c in enumerate(frame.columns)], names=["space", "feature"])
        names = ["raw", "nothing"]
    elif case == "repeated":
        frame.columns = ["a", "b", "a", "c", "d", "e", "f", "g"]
        names = ["a", "d"]
    elif case == "text_index":
        frame = frame.iloc[:5]
        frame.index = pd.Index([f"u{i}" for i in range(5)], name="user")
    store.snapshots.save(101, "r", frame, {"k": 2})
    back, _ = store.snapshots.load("r")
    picked, meta = store.snapshots.load_columns("r", names)
    pd.testing.assert_frame_equal(picked, back[[n for n in names if n in back.columns]])
    assert meta == {"k": 2}
    assert store.snapshots.load_columns("r", names, course_id=101)[0].shape == picked.shape
    with pytest.raises(KeyError):
        store.snapshots.load_columns("r", names, course_id=102)  # a run of another course: as absent
    with pytest.raises(KeyError):
        store.snapshots.load_columns("absent", names)
    assert store.snapshots.load_columns("r", [])[0].shape == (len(frame), 0)
