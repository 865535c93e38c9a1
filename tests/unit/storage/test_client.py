"""open_store's MongoDB branch (with an in-memory stand-in for pymongo.MongoClient) and env handling."""

from __future__ import annotations

import pytest
from litemongo._vendor import mongomock

import storage.client as client_module
from storage import open_store


class FakeMongoClient(mongomock.MongoClient):
    """Records how pymongo.MongoClient was called; keeps data in memory."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, uri: str, **kwargs) -> None:
        FakeMongoClient.calls.append((uri, kwargs))
        super().__init__(host=uri, tz_aware=kwargs.get("tz_aware", False))


@pytest.fixture
def fake_mongo(monkeypatch):
    FakeMongoClient.calls = []
    monkeypatch.setattr(client_module.pymongo, "MongoClient", FakeMongoClient)
    yield FakeMongoClient
    for store in list(client_module._STORES.values()):  # only ours: other tests may cache stores
        if store.backend == "mongodb":
            store.close()


def test_uri_selects_mongodb_with_tz_aware_client(fake_mongo, monkeypatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017/analytics")
    store = open_store()
    assert store.backend == "mongodb" and store.db_name == "analytics"
    uri, kwargs = fake_mongo.calls[0]
    assert uri == "mongodb://db.example:27017/analytics"
    assert kwargs == {"tz_aware": True, "appname": "cohortlens", "serverSelectionTimeoutMS": 5000}
    assert open_store() is store  # one client per process
    assert len(fake_mongo.calls) == 1
    # no file lock in MongoDB mode, and the repositories work the same
    assert store._lock is None
    store.settings.set("language", "vi")
    assert store.settings.get("language") == "vi"
    assert "key_unique" in {i["name"] for i in store.collection("locks").list_indexes()}


def test_db_name_from_env_or_default(fake_mongo, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("COHORTLENS_DB", "from_env")
    assert open_store(uri="mongodb://db.example:27017").db_name == "from_env"
    monkeypatch.delenv("COHORTLENS_DB")
    assert open_store(uri="mongodb://db.example:27018/").db_name == "cohortlens"
    assert open_store(uri="mongodb://db.example:27019/x", db_name="explicit").db_name == "explicit"


def test_drop_database_resets_and_indexes_come_back(fake_mongo) -> None:
    store = open_store(uri="mongodb://db.example:27017/droptest")
    store.settings.set("a", 1)
    store.drop_database()
    assert store.settings.get("a") is None
    store.close()
    again = open_store(uri="mongodb://db.example:27017/droptest")
    assert "key_unique" in {i["name"] for i in again.collection("settings").list_indexes()}


def test_embedded_default_data_dir_from_env(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("COHORTLENS_DATA_DIR", str(tmp_path / "from env"))
    store = open_store()
    try:
        assert store.backend == "embedded"
        assert store.data_dir == tmp_path / "from env"
        assert (tmp_path / "from env" / "cohortlens").is_dir()
    finally:
        store.close()


def test_embedded_dir_with_uri_syntax_characters(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    odd = tmp_path / "a#b?c"
    store = open_store(data_dir=odd)
    try:
        store.settings.set("x", 1)
        assert (odd / "cohortlens").is_dir()
    finally:
        store.close()


def test_clock_is_injectable_and_ms_precise(store) -> None:
    import datetime as dt

    fixed = dt.datetime(2026, 5, 1, 12, 0, 0, 123456)  # naive: taken as UTC
    store.clock = lambda: fixed
    assert store.now() == dt.datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
    job_id = store.jobs.create([1], "manual")
    assert store.jobs.get(job_id)["created_at"] == store.now()


def test_transient_errors() -> None:
    import sqlite3

    from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure, ServerSelectionTimeoutError

    from storage import is_transient_error

    assert is_transient_error(AutoReconnect("primary stepped down"))
    assert is_transient_error(ServerSelectionTimeoutError("no servers"))
    assert is_transient_error(OperationFailure("not primary", code=10107))
    assert is_transient_error(sqlite3.OperationalError("database is locked"))
    assert not is_transient_error(DuplicateKeyError("E11000"))
    assert not is_transient_error(OperationFailure("bad query", code=2))
    assert not is_transient_error(ValueError("x"))


def test_closed_store_says_so(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    store = open_store(data_dir=tmp_path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.settings.get("x")
    assert open_store(data_dir=tmp_path) is not store
    open_store(data_dir=tmp_path).close()


def test_new_data_dir_is_private(tmp_path):
    import stat

    from storage import open_store

    root = tmp_path / "fresh" / "data"
    open_store(data_dir=root).runs.count(1)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
