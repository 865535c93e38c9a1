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


PROJECTIONS = [
    {"_id": 0},
    {"_id": 1},
    {"n": 1},
    {"_id": 0, "n": 1, "at": 1},
    {"_id": 0, "sub.y": 0, "tags": 0},
    {"sub.x": 1, "key": 1},
    {"n": 0},
    {"missing": 1, "_id": 0},
    ["key", "sub"],
]


@pytest.mark.parametrize("proj", PROJECTIONS, ids=[str(p) for p in PROJECTIONS])
def test_projections_match_mongomock(col, proj) -> None:
    fast = col.find({"course_id": {"$in": [1, 2]}}, proj, sort=[("n", -1)])
    slow = _slow(col, {"course_id": {"$in": [1, 2]}}, proj, sort=[("n", -1)])
    assert fast == slow
    assert [list(d) for d in fast] == [list(d) for d in slow]   # the same field order too
    if isinstance(proj, dict):
        for after in (True, False):
            one = col.find_one_and_update({"_id": "d4"}, {"$set": {"n": 40}}, projection=proj, return_after=after)
            col._fast = False
            try:
                assert one == col.find_one_and_update({"_id": "d4"}, {"$set": {"n": 40}}, projection=proj,
                                                      return_after=after)
            finally:
                col._fast = True


def test_equality_on_values_of_other_types_matches_mongomock(tmp_path, monkeypatch) -> None:
    """Top-level equalities are answered without mongomock only for values of the query's exact type."""
    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path / "d")
    try:
        c = store.collection("mixed")
        c.create_index([("course_id", 1)], name="course_id")
        values = [1, 1.0, True, [1, 2], "1", None, {"a": 1}, 2, [], ["1"], 2**62]
        c.insert_many([{"_id": f"v{i}", "course_id": v, "name": "x" if i % 2 else ["x"]}
                       for i, v in enumerate(values)] + [{"_id": "none"}])
        for flt in ({"course_id": 1}, {"course_id": "1"}, {"course_id": 2, "name": "x"}, {"name": "x"},
                    {"course_id": 2**62}, {"course_id": 0}):
            assert c.find(flt) == _slow(c, flt), flt
    finally:
        store.close()


def test_id_lookups_and_large_candidate_sets_match_mongomock(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path / "d")
    try:
        c = store.collection("many")
        c.create_index([("course_id", 1)], name="course_id")
        c.insert_many([{"_id": f"{i % 3}:{i}", "course_id": i % 3 if i % 7 else 9, "n": i} for i in range(1200)])
        c.insert_many([{"_id": 5, "course_id": 1}, {"course_id": 1}])          # not string ids
        ids = [f"{i % 3}:{i}" for i in range(0, 1300, 2)] + ["5", "nope"]
        for flt in ({"_id": {"$in": ids}}, {"_id": {"$in": ids[:10]}}, {"_id": "1:1"}, {"_id": "5"},
                    {"course_id": 1}, {"course_id": 9}, {"course_id": {"$in": [0, 1]}}):
            fast, slow = c.find(flt), _slow(c, flt)
            assert fast == slow and [d["_id"] for d in fast] == [d["_id"] for d in slow], flt
    finally:
        store.close()


def _index_state(index) -> dict:
    return {path: ({k: set(v) for k, v in f._entries.items() if v}, set(f._unkeyed), dict(f._doc_keys))
            for path, f in index._fields.items()}


def test_query_index_after_fast_writes_equals_a_rebuilt_one(col) -> None:
    store = col._raw._store
    col.insert_many([{"_id": f"n{i}", "key": f"nk{i}", "course_id": [1, 2] if i % 2 else 1.0 * i,
                      "at": T0, "sub": {"x": i}} for i in range(5)])
    col.insert_many([{"course_id": 4, "key": "plain"}, {"_id": 7, "key": "int id", "course_id": True}])
    docs = col.find({"course_id": 0})
    for d in docs:
        d["course_id"] = "zero"
    col.replace_by_id(docs)
    col.find_one_and_update({"_id": "d2"}, {"$set": {"course_id": None}})
    col.write_by_id([{"_id": "d5", "key": "k5", "course_id": 11}], [{"_id": "w1", "key": "w1", "course_id": 11}])
    kept = col.find({"_id": {"$in": ["d7", "d8"]}})
    for d in kept:
        d["n"] = 0                                   # course_id / key as stored
    col.write_by_id(kept, [], unchanged=("course_id", "key"))
    live = store._get_query_index()
    state, order = _index_state(live), sorted(live._docs, key=live._docs.__getitem__)
    store._query_index = None                        # what mongomock builds from the stored documents
    rebuilt = store._get_query_index()
    assert _index_state(rebuilt) == state
    assert sorted(rebuilt._docs, key=rebuilt._docs.__getitem__) == order
    assert [d["_id"] for d in col.find({"course_id": 11})] == ["d5", "w1"]


def test_field_keys_are_mongomock_doc_keys() -> None:
    from litemongo._vendor.mongomock import indexing

    values = [0, 1, -5, 2**53, 2**53 + 1, 10**30, True, False, 1.5, float("nan"), "s", "", None, [1, "a"],
              {"x": 1}, T0, b"b"]
    for v in values:
        for path in ("f", "f.x", "g"):
            doc = {"f": v}
            assert embedded_fast._field_keys(doc, path) == indexing._doc_keys(doc, path), (v, path)


def test_write_by_id_replaces_and_inserts_like_mongomock(col) -> None:
    new = [{"_id": "w1", "key": "w1", "course_id": 1}, {"_id": "w2", "key": "w2", "course_id": 2}]
    old = col.find({"_id": {"$in": ["d1", "d2"]}})
    for d in old:
        d["n"] = -d["n"]
    assert col.write_by_id(old + [{"_id": "gone", "key": "g"}], new) == 2
    assert col.find_one({"_id": "gone"}) is None
    assert [d["n"] for d in col.find({"_id": {"$in": ["d1", "d2"]}})] == [-1, -2]
    assert col.find({"_id": {"$in": ["w1", "w2"]}}) == _slow(col, {"_id": {"$in": ["w1", "w2"]}}) == new


def test_paused_gc_leaves_the_collector_as_it_found_it() -> None:
    import gc

    assert gc.isenabled()
    with embedded_fast.paused_gc():
        assert not gc.isenabled()
        with embedded_fast.paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with embedded_fast.paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_history_record_gives_the_documents_of_the_update_path(tmp_path, monkeypatch) -> None:
    """The embedded record (read, append, write back) stores what MongoDB's $push/$sort/$max path stores."""
    monkeypatch.delenv("MONGODB_URI", raising=False)
    fast = open_store(data_dir=tmp_path / "fast")
    slow = open_store(data_dir=tmp_path / "slow")
    slow.backend = "mongodb"        # history.record takes the update_many path (run through mongomock)
    try:
        t = [T0.replace(microsecond=0) + dt.timedelta(weeks=i) for i in range(4)]
        runs = [
            ("r1", t[1], [{"user_id": u, "cluster_id": u % 3, "transition_type": "initial"} for u in range(40)]),
            ("r3", t[3], [{"user_id": u, "cluster_id": 0, "transition_type": "moved" if u % 3 else "stable",
                           "previous_cluster_id": u % 3} for u in range(5, 45)]),
            ("r0", t[0], [{"user_id": u, "cluster_id": 1, "transition_type": "initial", "x": [u]}
                          for u in (1, 2, 50)]),                                   # backfill, extra field
            ("r3", t[3], [{"user_id": u, "cluster_id": 2, "transition_type": "moved", "previous_cluster_id": 0}
                          for u in range(30, 46)]),                                # re-recorded
        ]
        for run_id, stamp, rows in runs:
            assert fast.history.record(7, run_id, stamp, rows) == slow.history.record(7, run_id, stamp, rows)
        got = {d["_id"]: d for d in fast.collection("user_cluster_history").find({})}
        want = {d["_id"]: d for d in slow.collection("user_cluster_history").find({})}
        assert got == want
    finally:
        slow.backend = "embedded"
        fast.close()
        slow.close()


def test_ne_on_an_indexed_field_matches_mongomock(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path / "d")
    try:
        c = store.collection("runs")
        c.create_index([("course_id", 1), ("status", 1)], name="course_status")
        statuses = ["finished", "pending", None, ["finished", "x"], ["x"], 1, "Finished", "finished"]
        c.insert_many([{"_id": f"r{i}", "course_id": 1 + i % 2, "status": s} for i, s in enumerate(statuses)]
                      + [{"_id": "bare", "course_id": 1}])
        for flt in ({"course_id": 1, "status": {"$ne": "finished"}}, {"status": {"$ne": "finished"}},
                    {"course_id": 2, "status": {"$ne": "pending"}}, {"course_id": 1, "status": {"$ne": None}},
                    {"course_id": 1, "status": {"$ne": 1}}):
            assert c.find(flt) == _slow(c, flt), flt
    finally:
        store.close()


def test_id_lookups_in_a_legacy_key_format_file_match_mongomock(tmp_path, monkeypatch) -> None:
    """Files written before litemongo recorded its key format keep ``str(_id)`` keys: looked up by index."""
    from litemongo import sqlite_store

    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path / "d")
    try:
        c = store.collection("legacy")
        c._raw._store._documents.key_format = sqlite_store.KEY_FORMAT_LEGACY
        c.insert_many([{"_id": f"1:{i}", "n": i} for i in range(20)] + [{"_id": 7, "n": "int"}])
        assert c._raw._store._documents.encode_key("1:3") == "1:3"
        for flt in ({"_id": "1:3"}, {"_id": {"$in": ["1:3", "1:4", "7"]}}, {"_id": "7"},
                    {"_id": {"$in": [f"1:{i}" for i in range(20)]}}):
            assert c.find(flt) == _slow(c, flt), flt
        assert c.find({"_id": "7"}) == []
    finally:
        store.close()
