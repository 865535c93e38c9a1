"""The embedded store's fast paths give exactly what mongomock's own path gives (storage/embedded_fast.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError

from storage import embedded_fast, open_store

T0 = dt.datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=dt.UTC)

pytestmark = pytest.mark.skipif(not embedded_fast.AVAILABLE, reason="litemongo internals changed")


@pytest.fixture()
def col(tmp_path, monkeypatch):
    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path / "data")
    c = store.collection("things")
    c.create_index([("course_id", 1)], name="course_id")
    c.create_index([("key", 1)], name="key_unique", unique=True)
    docs = [{"_id": f"d{i}", "key": f"k{i}", "course_id": i % 3, "n": i, "at": T0 + dt.timedelta(hours=i),
             "tags": ["a", "b"] if i % 2 else ["c"], "sub": {"x": i, "y": [i, i + 1]}} for i in range(30)]
    c.insert_many(docs)
    yield c
    store.close()


def _slow(c, *args, **kwargs):
    fast, c._fast = c._fast, False
    try:
        return c.find(*args, **kwargs)
    finally:
        c._fast = fast


QUERIES = [
    ({}, None, None, 0, 0),
    ({"course_id": 1}, None, None, 0, 0),
    ({"course_id": {"$in": [0, 2]}, "n": {"$gte": 10}}, {"_id": 0, "n": 1, "sub.x": 1}, [("n", -1)], 2, 5),
    ({"at": {"$lt": T0 + dt.timedelta(hours=5)}}, None, [("at", -1)], 0, 0),
    ({"tags": "a"}, ["n"], [("course_id", 1), ("n", -1)], 0, 3),
    ({"_id": {"$in": ["d3", "d1", "zz"]}}, None, None, 0, 0),
    ({"sub.y": 7}, {"sub": 0}, None, 0, 0),
    ({"$or": [{"n": 1}, {"key": "k2"}]}, None, None, 0, 0),
]


@pytest.mark.parametrize("query", QUERIES, ids=[str(q[0])[:40] for q in QUERIES])
def test_fast_find_matches_mongomock(col, query) -> None:
    flt, proj, sort, skip, limit = query
    fast = col.find(flt, proj, sort=sort, skip=skip, limit=limit)
    slow = _slow(col, flt, proj, sort=sort, skip=skip, limit=limit)
    assert fast == slow
    assert all(v.tzinfo is not None for d in fast for v in d.values() if isinstance(v, dt.datetime))


def test_fast_insert_keeps_unique_and_duplicate_errors(col) -> None:
    with pytest.raises((DuplicateKeyError, BulkWriteError)):
        col.insert_many([{"_id": "new", "key": "k1"}])            # unique key taken
    with pytest.raises((DuplicateKeyError, BulkWriteError)):
        col.insert_many([{"_id": "d1", "key": "fresh"}])          # _id taken
    assert col.find_one({"_id": "new"}) is None
    ids = col.insert_many([{"key": "u1", "course_id": 1}, {"key": "u2", "course_id": 1}])
    assert len(ids) == 2 and col.count_documents({"course_id": 1}) == 12
    assert col.find({"key": {"$in": ["u1", "u2"]}}, {"_id": 0, "key": 1}, sort=[("key", 1)]) == [
        {"key": "u1"}, {"key": "u2"}]


def test_replace_by_id_and_set_update_the_query_index(col) -> None:
    docs = col.find({"course_id": 0})
    for d in docs:
        d["course_id"] = 5
        d["extra"] = [1, 2]
    assert col.replace_by_id(docs + [{"_id": "missing", "course_id": 5}]) == len(docs)
    assert col.find_one({"_id": "missing"}) is None
    assert col.count_documents({"course_id": 0}) == 0
    assert [d["_id"] for d in col.find({"course_id": 5})] == [d["_id"] for d in docs]
    got = col.find_one_and_update({"course_id": 5}, {"$set": {"course_id": 7, "sub.z": T0}}, sort=[("n", -1)],
                                  projection={"_id": 0, "n": 1, "sub": 1})
    assert got == {"n": 27, "sub": {"x": 27, "y": [27, 28], "z": T0.replace(microsecond=123000)}}
    assert [d["n"] for d in col.find({"course_id": 7})] == [27]
    before = col.find_one_and_update({"_id": "d1"}, {"$set": {"n": -1}}, return_after=False)
    assert before["n"] == 1 and col.find_one({"_id": "d1"})["n"] == -1


def test_each_call_is_committed_when_it_returns(tmp_path, monkeypatch) -> None:
    """Inside a locked() section, a call's writes are already visible to another connection."""
    import sqlite3

    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path / "d")
    try:
        c = store.collection("things")
        with store.locked():
            c.insert_many([{"_id": i} for i in range(5)])
            files = [p for p in (tmp_path / "d").rglob("things")]
            other = sqlite3.connect(files[0])
            assert other.execute("SELECT count(*) FROM documents").fetchone()[0] == 5
            other.close()
    finally:
        store.close()
