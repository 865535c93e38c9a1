"""Client factory: a real MongoDB when ``MONGODB_URI`` is set, else an embedded litemongo store.

litemongo is not thread-safe and its find-and-modify is not atomic across processes, so in embedded
mode every collection call runs under one process-wide ``RLock`` plus an exclusive ``fcntl.flock`` on
``{data_dir}/store.lock`` (held while the lock depth is > 0, so nesting works), and cursors are turned
into lists inside the lock. The same thin wrapper is used for pymongo (without locks) so that the
repositories never see a cursor and work the same on both backends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pymongo
from pymongo.errors import ConfigurationError

from . import embedded_fast

__all__ = ["Store", "StoreCollection", "open_store", "DEFAULT_DB_NAME", "close_all"]

DEFAULT_DB_NAME = "cohortlens"

# One re-entrant lock for every embedded store call in this process.
_PROCESS_LOCK = threading.RLock()
# (pid, key) -> Store; a forked child must never reuse its parent's sqlite connections or flock fd.
_STORES: dict[tuple[int, str], Store] = {}
_INDEXED: set[tuple[int, str]] = set()
_SQLITE_PATCHED = False


def _reinit_after_fork() -> None:
    global _PROCESS_LOCK
    _PROCESS_LOCK = threading.RLock()
    embedded_fast.CommitBatch.reset()


os.register_at_fork(after_in_child=_reinit_after_fork)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _SqliteShim:
    """Stands in for the ``sqlite3`` module inside litemongo: connections usable from any thread."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs["check_same_thread"] = False
        return sqlite3.connect(*args, **kwargs)


def _patch_litemongo() -> None:
    """Let litemongo's sqlite connections be shared between threads (we serialise all calls)."""
    global _SQLITE_PATCHED
    if _SQLITE_PATCHED:
        return
    import litemongo.sqlite_store as sqlite_store

    sqlite_store.sqlite3 = _SqliteShim()  # type: ignore[assignment]
    embedded_fast.install()  # one SQLite transaction per store call (see embedded_fast.CommitBatch)
    _SQLITE_PATCHED = True


class _FileLock:
    """Process lock + cross-process ``flock``, re-entrant within the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = os.getpid()
        self._depth = 0

    def _ensure_fd(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            # after a fork the inherited descriptor shares the parent's lock: open our own
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
            self._depth = 0
        return self._fd

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        lock = _PROCESS_LOCK
        # (the cyclic GC waits while a store call decodes or encodes thousands of acyclic documents)
        with lock, embedded_fast.paused_gc():
            fd = self._ensure_fd()
            if self._depth == 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            embedded_fast.CommitBatch.depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                embedded_fast.CommitBatch.depth -= 1
                try:  # each store call's writes are committed together when the call returns
                    embedded_fast.CommitBatch.flush()
                finally:
                    if self._depth == 0:
                        fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with _PROCESS_LOCK:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class StoreCollection:
    """A collection whose methods return lists and plain results, never cursors.

    Only operations that work the same on litemongo and MongoDB are exposed
    (see reference/stack_notes.md, "Safe on both").
    """

    def __init__(self, raw: Any, guard: Callable[[], contextlib.AbstractContextManager[None]], *,
                 fast: bool = False) -> None:
        self._raw = raw
        self._guard = guard
        self.name: str = raw.name
        #: embedded store: reads, inserts and rewrites skip mongomock's copies (storage/embedded_fast.py)
        self._fast = fast and embedded_fast.AVAILABLE

    # -- reads ---------------------------------------------------------------------------------
    def find(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        sort: Sequence[tuple[str, int]] | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> list[dict]:
        with self._guard():
            if self._fast:
                try:
                    return embedded_fast.find(self._raw, filter, projection, sort, skip, limit)
                except embedded_fast.Fallback:
                    pass
            cursor = self._raw.find(dict(filter or {}), projection)
            if sort:
                cursor = cursor.sort(list(sort))
            if skip:
                cursor = cursor.skip(skip)
            if limit:
                cursor = cursor.limit(limit)
            return list(cursor)

    def find_one(
        self,
        filter: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | Sequence[str] | None = None,
        *,
        sort: Sequence[tuple[str, int]] | None = None,
    ) -> dict | None:
        rows = self.find(filter, projection, sort=sort, limit=1)
        return rows[0] if rows else None

    def count_documents(self, filter: Mapping[str, Any] | None = None) -> int:
        with self._guard():
            return int(self._raw.count_documents(dict(filter or {})))

    def distinct(self, key: str, filter: Mapping[str, Any] | None = None) -> list:
        with self._guard():
            return list(self._raw.distinct(key, dict(filter or {})))

    def aggregate(self, pipeline: Sequence[Mapping[str, Any]]) -> list[dict]:
        with self._guard():
            return list(self._raw.aggregate(list(pipeline)))

    def list_indexes(self) -> list[dict]:
        with self._guard():
            return [dict(ix) for ix in self._raw.list_indexes()]

    # -- writes --------------------------------------------------------------------------------
    def insert_one(self, doc: Mapping[str, Any]) -> Any:
        with self._guard():
            if self._fast:
                try:
                    return embedded_fast.insert_many(self._raw, [dict(doc)])[0]
                except embedded_fast.Fallback:
                    pass
            return self._raw.insert_one(dict(doc)).inserted_id

    def insert_many(self, docs: Sequence[Mapping[str, Any]], *, ordered: bool = True) -> list:
        if not docs:
            return []
        with self._guard():
            if self._fast:
                try:
                    return embedded_fast.insert_many(self._raw, [dict(d) for d in docs])
                except embedded_fast.Fallback:
                    pass
            return list(self._raw.insert_many([dict(d) for d in docs], ordered=ordered).inserted_ids)

    def replace_by_id(self, docs: Sequence[Mapping[str, Any]]) -> int:
        """Write whole documents over the stored ones with the same ``_id`` (a missing one is skipped).

        One statement on the embedded store; ``ReplaceOne`` requests on MongoDB. Returns how many matched.
        """
        if not docs:
            return 0
        with self._guard():
            if self._fast:
                try:
                    return embedded_fast.replace_by_id(self._raw, [dict(d) for d in docs])
                except embedded_fast.Fallback:
                    pass
            result = self._raw.bulk_write([pymongo.ReplaceOne({"_id": d["_id"]}, dict(d)) for d in docs],
                                          ordered=True)
            return int(result.matched_count)

    def write_by_id(self, replace: Sequence[dict], insert: Sequence[dict], *, unchanged: Sequence[str] = ()) -> int:
        """Replace the stored documents of ``replace`` (by ``_id``; one not stored is skipped) and insert
        ``insert``, as one write: one SQLite transaction on the embedded store (a killed process leaves
        both or neither), one ordered bulk write on MongoDB. The dicts are used as given (an ``_id`` is
        filled in when missing), not copied. Returns how many replacements matched. ``unchanged``: top-level
        fields of ``replace`` the caller read under ``store.locked()`` and left as stored.
        """
        if not replace and not insert:
            return 0
        with self._guard():
            if self._fast:
                matched = 0
                if replace:
                    try:
                        matched = embedded_fast.replace_by_id(self._raw, list(replace), unchanged)
                    except embedded_fast.Fallback:
                        result = self._raw.bulk_write([pymongo.ReplaceOne({"_id": d["_id"]}, d) for d in replace])
                        matched = int(result.matched_count)
                if insert:
                    try:
                        embedded_fast.insert_many(self._raw, list(insert))
                    except embedded_fast.Fallback:
                        self._raw.insert_many(list(insert), ordered=True)
                return matched
            requests: list[Any] = [pymongo.ReplaceOne({"_id": d["_id"]}, d) for d in replace]
            requests += [pymongo.InsertOne(d) for d in insert]
            return int(self._raw.bulk_write(requests, ordered=True).matched_count)

    def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False) -> Any:
        with self._guard():
            return self._raw.update_one(dict(filter), dict(update), upsert=upsert)

    def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False) -> Any:
        with self._guard():
            return self._raw.update_many(dict(filter), dict(update), upsert=upsert)

    def replace_one(self, filter: Mapping[str, Any], doc: Mapping[str, Any], *, upsert: bool = False) -> Any:
        with self._guard():
            return self._raw.replace_one(dict(filter), dict(doc), upsert=upsert)

    def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Mapping[str, Any],
        *,
        projection: Mapping[str, Any] | None = None,
        sort: Sequence[tuple[str, int]] | None = None,
        upsert: bool = False,
        return_after: bool = True,
    ) -> dict | None:
        """Atomic on MongoDB; atomic in embedded mode because it runs under the store lock."""
        # mongomock (inside litemongo) updates and re-reads by the *original filter* unless the
        # document it found carries its _id, so _id is always fetched and dropped afterwards.
        proj = dict(projection) if projection else {}
        drop_id = proj.pop("_id", 1) in (0, False)
        with self._guard():
            if self._fast and not upsert:
                try:
                    doc = embedded_fast.find_one_and_set(self._raw, dict(filter), dict(update), proj or None,
                                                         list(sort) if sort else None, return_after)
                except embedded_fast.Fallback:
                    pass
                else:
                    if doc is not None and drop_id:
                        doc.pop("_id", None)
                    return doc
            doc = self._raw.find_one_and_update(
                dict(filter),
                dict(update),
                projection=proj or None,
                sort=list(sort) if sort else None,
                upsert=upsert,
                return_document=(
                    pymongo.ReturnDocument.AFTER if return_after else pymongo.ReturnDocument.BEFORE
                ),
            )
        if doc is not None and drop_id:
            doc.pop("_id", None)
        return doc

    def delete_one(self, filter: Mapping[str, Any]) -> int:
        with self._guard():
            return int(self._raw.delete_one(dict(filter)).deleted_count)

    def delete_many(self, filter: Mapping[str, Any]) -> int:
        with self._guard():
            return int(self._raw.delete_many(dict(filter)).deleted_count)

    def bulk_write(self, requests: Sequence[Any], *, ordered: bool = True) -> Any:
        if not requests:
            return None
        with self._guard():
            return self._raw.bulk_write(list(requests), ordered=ordered)

    def create_index(self, keys: Sequence[tuple[str, int]], **kwargs: Any) -> str:
        with self._guard():
            return self._raw.create_index(list(keys), **kwargs)

    def drop_index(self, name: str) -> None:
        with self._guard():
            self._raw.drop_index(name)

    def drop(self) -> None:
        with self._guard():
            self._raw.drop()


class Store:
    """One database plus one repository per collection (see docs/contracts.md)."""

    def __init__(
        self,
        client: Any,
        db_name: str,
        *,
        backend: str,
        data_dir: Path | None = None,
        key: str = "",
    ) -> None:
        self.client = client
        self.db_name = db_name
        self.backend = backend
        self.data_dir = data_dir
        self._key = key
        self._raw_db = client[db_name]
        self._lock = _FileLock(data_dir / "store.lock") if backend == "embedded" and data_dir else None
        self._collections: dict[str, StoreCollection] = {}
        self.closed = False
        #: the store's clock (aware UTC); tests may replace it to fake time.
        self.clock: Callable[[], dt.datetime] = _utcnow

        from .repositories import (  # local import: repositories import this module's types
            ActivityRepository,
            AlertRepository,
            CourseRepository,
            HistoryRepository,
            InterventionRepository,
            JobRepository,
            LeaseRepository,
            LlmCacheRepository,
            ModelRepository,
            RunRepository,
            SettingsRepository,
            SnapshotRepository,
            TokenRepository,
            UserRepository,
        )

        self.runs = RunRepository(self)
        self.history = HistoryRepository(self)
        self.snapshots = SnapshotRepository(self)
        self.jobs = JobRepository(self)
        self.leases = LeaseRepository(self)
        self.activity = ActivityRepository(self)
        self.courses = CourseRepository(self)
        self.settings = SettingsRepository(self)
        self.alerts = AlertRepository(self)
        self.users = UserRepository(self)
        self.llm_cache = LlmCacheRepository(self)
        self.models = ModelRepository(self)
        self.interventions = InterventionRepository(self)
        from .repositories.security import AuditRepository, LoginFailureRepository, SessionRepository

        self.sessions = SessionRepository(self)
        self.login_failures = LoginFailureRepository(self)
        self.audit = AuditRepository(self)
        self.tokens = TokenRepository(self)

    # -- locking -------------------------------------------------------------------------------
    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store lock (embedded: process RLock + file lock; MongoDB: no-op).

        Use it to make a short read-then-write sequence atomic in embedded mode; keep it short.
        """
        if self._lock is None:
            return contextlib.nullcontext()
        return self._lock.hold()

    def _guard(self) -> contextlib.AbstractContextManager[None]:
        if self.closed:
            raise RuntimeError(f"{self!r} is closed; call storage.open_store() again")
        return self.locked()

    def now(self) -> dt.datetime:
        """Current time from the store clock, aware UTC, truncated to milliseconds (BSON precision)."""
        now = self.clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        now = now.astimezone(dt.UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def collection(self, name: str) -> StoreCollection:
        """The wrapped collection ``name`` (cached)."""
        col = self._collections.get(name)
        if col is None:
            with self.locked():  # litemongo may open the collection's sqlite file here
                col = StoreCollection(self._raw_db[name], self._guard, fast=self.backend == "embedded")
            self._collections[name] = col
        return col

    def collection_names(self) -> list[str]:
        with self._guard():
            return sorted(self._raw_db.list_collection_names())

    def ping(self) -> bool:
        """True when the database answers; raises the driver's error otherwise."""
        with self._guard():
            self._raw_db.command("ping")
        return True

    def drop_database(self) -> None:
        """Drop every collection of this store's database (tests, reset)."""
        with self._guard():
            if self.backend == "mongodb":
                self.client.drop_database(self.db_name)
            else:
                for name in self._raw_db.list_collection_names():
                    self._raw_db[name].drop()
        _INDEXED.discard((os.getpid(), self._key))

    def close(self) -> None:
        """Close the client and forget the cached store (the next ``open_store`` reconnects)."""
        with _PROCESS_LOCK:
            if _STORES.get((os.getpid(), self._key)) is self:
                del _STORES[(os.getpid(), self._key)]
            _INDEXED.discard((os.getpid(), self._key))
            if self.closed:
                return
            self.closed = True
            with self.locked():
                self.client.close()
            if self._lock is not None:
                self._lock.close()

    def __repr__(self) -> str:
        where = str(self.data_dir) if self.backend == "embedded" else "MONGODB_URI"
        return f"Store(backend={self.backend!r}, db={self.db_name!r}, at={where})"


def _db_name_from_uri(client: pymongo.MongoClient, default: str) -> str:
    try:
        return client.get_default_database(default).name
    except ConfigurationError:
        return default


def open_store(
    uri: str | None = None,
    data_dir: str | Path | None = None,
    *,
    db_name: str | None = None,
) -> Store:
    """Open (or reuse) the process's store.

    ``uri`` (else env ``MONGODB_URI``) selects a real MongoDB; the database is the URI's path, else
    ``db_name``/env ``COHORTLENS_DB``, else ``"cohortlens"``. Without a URI an embedded litemongo store
    lives under ``data_dir`` (else env ``COHORTLENS_DATA_DIR``, else ``./data``). One client per process
    per target; indexes are ensured once per process per database.
    """
    from .indexes import ensure_indexes

    uri = uri or os.environ.get("MONGODB_URI") or None
    fallback_db = db_name or os.environ.get("COHORTLENS_DB") or DEFAULT_DB_NAME
    pid = os.getpid()
    with _PROCESS_LOCK:
        if uri:
            key = f"mongodb|{uri}|{fallback_db}|{int(bool(db_name))}"
            store = _STORES.get((pid, key))
            if store is None:
                client = pymongo.MongoClient(
                    uri, tz_aware=True, appname="cohortlens", serverSelectionTimeoutMS=5000
                )
                name = db_name or _db_name_from_uri(client, fallback_db)
                store = Store(client, name, backend="mongodb", key=key)
                _STORES[(pid, key)] = store
        else:
            root = Path(data_dir or os.environ.get("COHORTLENS_DATA_DIR") or "./data").expanduser().absolute()
            key = f"embedded|{root}|{fallback_db}"
            store = _STORES.get((pid, key))
            if store is None:
                if not root.exists():
                    # the store holds student names and password hashes: this account only
                    root.mkdir(mode=0o700, parents=True)
                from .integrity import secure_tree, verify_store

                secure_tree(root)  # also a folder created before first start
                verify_store(root, fallback_db)  # raises StoreDamaged naming the file; writes nothing
                _patch_litemongo()
                import litemongo

                # a ParseResult, so that '#' or '?' in the folder name is not read as URI syntax
                location = urllib.parse.ParseResult("", "", str(root), "", "", "")
                client = litemongo.connect(location, tz_aware=True)
                store = Store(client, fallback_db, backend="embedded", data_dir=root, key=key)
                _STORES[(pid, key)] = store
        if (pid, key) not in _INDEXED:
            ensure_indexes(store)
            _INDEXED.add((pid, key))
            from .integrity import after_open
            from .recovery import complete_runs

            after_open(store)
            complete_runs(store)  # a run that died between "finished" and its history: rolled forward
        return store


def close_all() -> None:
    """Close every store opened by this process (tests)."""
    with _PROCESS_LOCK:
        for (pid, _key), store in list(_STORES.items()):
            if pid == os.getpid():
                store.close()

