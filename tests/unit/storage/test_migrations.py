"""Obsolete indexes dropped by ensure_indexes, and the run summaries behind runs.latest/list."""

from __future__ import annotations

import datetime as dt

import pytest

from storage import Store, ensure_indexes
from storage.indexes import EMBEDDED_SKIP, OBSOLETE_INDEXES
from storage.migrations import sync_run_summaries

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
WEEK = dt.timedelta(weeks=1)


def test_ensure_indexes_drops_the_old_unique_history_index(store: Store) -> None:
    """The unique (course_id, user_id) index (and the run-chunk layout's) go, idempotently."""
    col = store.collection("user_cluster_history")
    col.create_index([("course_id", 1), ("user_id", 1)], name="course_user_unique", unique=True)
    col.create_index([("user_ids", 1), ("course_id", 1)], name="user_ids_course")
    store.history.record(101, "r1", T0, [{"user_id": u, "cluster_id": 0, "transition_type": "initial"}
                                         for u in (1, 2)])
    ensure_indexes(store)
    names = {ix["name"] for ix in col.list_indexes()}
    assert not names & OBSOLETE_INDEXES["user_cluster_history"]
    wanted = {"course_id", "user_id", "history_run_id"}
    if store.backend == "embedded":  # kept on MongoDB only (indexes.EMBEDDED_SKIP)
        assert not names & EMBEDDED_SKIP["user_cluster_history"]
        wanted -= EMBEDDED_SKIP["user_cluster_history"]
    assert wanted <= names
    ensure_indexes(store)  # second time: nothing to drop, nothing fails
    assert {ix["name"] for ix in col.list_indexes()} == names
    store.history.record(101, "r2", T0 + WEEK, [{"user_id": 1, "cluster_id": 1, "transition_type": "moved",
                                                 "previous_cluster_id": 0}])
    assert [h["run_id"] for h in store.history.for_user(101, 1)["history"]] == ["r1", "r2"]
    assert store.history.count(101) == 2


def _finish(store: Store, run_at: dt.datetime, course_id: int = 101, **extra) -> str:
    rid = store.runs.insert_pending({"course_id": course_id, "run_at": run_at, "k": 2,
                                     "clusters": [{"cluster_id": 0, "user_ids": [1, 2]}],
                                     "metadata": {"total_students": 2}, **extra})
    store.history.record(course_id, rid, run_at, [{"user_id": 1, "cluster_id": 0, "transition_type": "initial"}])
    store.runs.mark_finished(rid)
    return rid


def test_latest_stays_right_after_discard_and_delete(store: Store) -> None:
    a = _finish(store, T0)
    b = _finish(store, T0 + WEEK)
    backfill = _finish(store, T0 - WEEK)  # written last, older data: not the latest
    other = _finish(store, T0, course_id=102)
    assert store.runs.latest(101)["run_id"] == b
    assert store.runs.latest(101, before=T0 + WEEK)["run_id"] == a
    assert [r["run_id"] for r in store.runs.list(101)] == [b, a, backfill]
    assert "user_ids" not in store.runs.list(101)[0]["clusters"][0]
    assert store.runs.courses_with_runs() == [101, 102] and store.runs.count(101) == 3

    crashed = store.runs.insert_pending({"course_id": 101, "run_at": T0 + 2 * WEEK})
    store.history.record(101, crashed, T0 + 2 * WEEK, [{"user_id": 1, "cluster_id": 1, "transition_type": "moved"}])
    assert store.runs.latest(101)["run_id"] == b  # pending: invisible
    assert store.runs.discard_unfinished(101) == [crashed]
    assert store.runs.latest(101)["run_id"] == b
    assert store.runs.run_ids(101) == [b, a, backfill]

    store.runs.delete(b)
    assert store.runs.latest(101)["run_id"] == a
    assert [r["run_id"] for r in store.runs.list(101)] == [a, backfill]
    store.runs.delete(a)
    store.runs.delete(backfill)
    assert store.runs.latest(101) is None and store.runs.list(101) == []
    assert store.runs.courses_with_runs() == [102] and store.runs.count(101) == 0
    assert store.runs.latest(102)["run_id"] == other
    assert store.collection("run_summaries").count_documents({}) == 1


def test_summaries_rebuilt_and_stale_ones_ignored(store: Store) -> None:
    a = _finish(store, T0)
    b = _finish(store, T0 + WEEK)
    summaries = store.collection("run_summaries")
    summaries.delete_many({})  # e.g. data written by an older version, or a crash between the writes
    assert store.runs.latest(101) is None
    assert ensure_indexes(store) and store.runs.latest(101)["run_id"] == b
    assert store.runs.list(101, limit=1)[0]["run_id"] == b
    # a run document removed behind the repository's back: latest falls back to the runs themselves
    store.runs.collection.delete_many({"run_id": b})
    assert store.runs.latest(101)["run_id"] == a
    assert sync_run_summaries(store) == 1 and summaries.count_documents({}) == 1
    # update() of a finished run keeps its summary in step
    store.runs.update(a, {"run_at": T0 + 3 * WEEK, "k": 5})
    assert summaries.find_one({"_id": a})["k"] == 5
    assert store.runs.latest(101, before=T0 + 2 * WEEK) is None


def test_mark_finished_unknown_run_writes_no_summary(store: Store) -> None:
    with pytest.raises(LookupError):
        store.runs.mark_finished("missing")
    assert store.collection("run_summaries").count_documents({}) == 0
