"""user_cluster_history: one document per (course, student) -- the shape other tools read.

Stored document (DESIGN.md, a contract with outside readers of the same database)::

    {_id: "<course_id>:<user_id>", course_id, user_id,
     history: [{run_id, timestamp, cluster_id, transition_type, previous_cluster_id, ...}],  # oldest first
     last_updated}                                                   # newest entry's timestamp

The deterministic string ``_id`` is the uniqueness (no unique compound index: litemongo checks
unique indexes by copying candidate sets on every write). ``record`` groups a run's rows by their
entry (at most ~k*k distinct (cluster, transition, previous) combinations) and appends each group's
entry to all its students with ONE ``update_many`` on ``_id $in`` (``$push`` + ``$each`` + ``$sort``
by timestamp, so a backfilled older run still lands in order), then inserts the documents of
students seen for the first time with ``insert_many`` (MongoDB). On the embedded store (whose
update engine deep-copies each document it updates) the students' documents are read once, each
group's entry is appended in Python and the group is written back with one store call
(``write_by_id``: one SQLite transaction) -- the same documents (tests/unit/storage/test_embedded_fast.py
compares both paths). Its cost still grows with the history length (every document is decoded and
re-encoded): ~0.3 s for a second run of 20,000 students.
"""

from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any

from storage.bson_safe import to_bson_safe
from storage.embedded_fast import paused_gc

from .base import Repository
from .runs import writer_id

__all__ = ["HistoryRepository", "history_id", "ENTRY_FIELDS", "OUTBOX"]

#: staged history of runs being finished (``_id`` = run_id); see ``HistoryRepository.stage``.
OUTBOX = "history_outbox"

#: the entry fields every history entry has (in this order); other row fields are kept too.
ENTRY_FIELDS = ("run_id", "timestamp", "cluster_id", "transition_type", "previous_cluster_id")
_ROW_FIELDS = ENTRY_FIELDS[2:]
#: most ``_id``s per ``$in`` query (mongomock tests ``$in`` in O(len(ids)) per document) / ``insert_many``.
_BATCH = 250


def history_id(course_id: Any, user_id: Any) -> str:
    """``_id`` of a student's history document."""
    return f"{course_id}:{user_id}"


_PLAIN = frozenset({int, str, type(None)})


def _key(entry: dict[str, Any]) -> tuple:
    """A hashable grouping key of an entry (repr keeps unhashable extra values comparable)."""
    if len(entry) == len(ENTRY_FIELDS):   # the usual entry: its three row values (with their types)
        c, t, p = entry.get("cluster_id", entry), entry.get("transition_type", entry), \
            entry.get("previous_cluster_id", entry)
        kinds = (type(c), type(t), type(p))
        if _PLAIN.issuperset(kinds):
            return (0, kinds, c, t, p)
    return (1, *((k, repr(v)) for k, v in entry.items()))


def _by_timestamp(entry: dict[str, Any]) -> tuple:
    stamp = entry.get("timestamp")
    return (0, 0) if stamp is None else (1, stamp)


def _batches(items: list, size: int = _BATCH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _public(doc: dict) -> dict:
    """The repository's view of a stored document (no ``_id``, ``history`` always a list)."""
    history = doc.get("history")
    return {"course_id": doc.get("course_id"), "user_id": doc.get("user_id"),
            "history": history if type(history) is list else list(history or []),
            "last_updated": doc.get("last_updated")}


def _by_user(docs: list[dict]) -> list[dict]:
    """``docs`` sorted by user_id (ids of different types grouped by type name)."""
    if all(type(d["user_id"]) is int for d in docs):
        return sorted(docs, key=itemgetter("user_id"))
    return sorted(docs, key=lambda d: (str(type(d["user_id"])), d["user_id"]))


def _names_run(docs: list[dict], run_id: str) -> bool:
    """Whether an entry of ``run_id`` is in the history of one of ``docs``."""
    for doc in docs:
        for entry in doc.get("history") or ():
            if entry.get("run_id") == run_id:
                return True
    return False


_PLAIN_VALUES = frozenset({int, str, bool, type(None)})
_STR = frozenset({str})


def _safe_rows(rows: Any) -> list[dict]:
    """``to_bson_safe(rows)``: rows that are already plain (str keys; int, str, bool, None values) as
    they are (they are only read), the others converted."""
    out = []
    plain, keys_ok = _PLAIN_VALUES.issuperset, _STR.issuperset
    for row in rows:
        out.append(row if type(row) is dict and plain(map(type, row.values())) and keys_ok(map(type, row))
                   else to_bson_safe(row))
    return out


class HistoryRepository(Repository):
    """Per-student cluster history (collection ``user_cluster_history``)."""

    collection_name = "user_cluster_history"

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self._outbox = store.collection(OUTBOX)

    # -- never a half run ------------------------------------------------------------------------
    # Write order (jobs/pipeline.py): ... -> stage (rows kept in history_outbox) -> runs.mark_finished
    # -> record -> unstage. So no document here ever names a run that is not finished, and a process
    # that dies after mark_finished leaves the staged rows for storage.recovery to roll forward.
    # Until then the readers below hide the run's entries (and any entry of a run not finished).

    def stage(self, course_id: int, run_id: str, timestamp: dt.datetime, rows: list[dict[str, Any]]) -> None:
        """Keep a run's history rows until the run is finished and its history recorded."""
        rows = list(self._safe(rows))
        columns = {f: [r.get(f) for r in rows] for f in ("user_id", *_ROW_FIELDS)}
        self._outbox.replace_one({"_id": run_id}, {"_id": run_id, "run_id": run_id, "course_id": course_id,
                                                   "timestamp": self._safe(timestamp), "rows": columns,
                                                   "staged_at": self._now(), "writer": writer_id()},
                                 upsert=True)

    def staged(self, course_id: int | None = None) -> list[dict]:
        """Staged runs (without their rows)."""
        query = {} if course_id is None else {"course_id": course_id}
        return self._outbox.find(query, {"_id": 0, "rows": 0})

    def unstage(self, run_id: str) -> None:
        self._outbox.delete_many({"_id": run_id})

    def complete(self, run_id: str) -> bool:
        """Record a staged run's history (idempotent) and drop the staged rows; False if none staged."""
        doc = self._outbox.find_one({"_id": run_id})
        if doc is None:
            return False
        cols = doc.get("rows") or {}
        users = cols.get("user_id") or []
        rows = [{f: (cols.get(f) or [None] * len(users))[i] for f in ("user_id", *_ROW_FIELDS)}
                for i in range(len(users))]
        self.record(doc["course_id"], run_id, doc["timestamp"], rows)
        self.unstage(run_id)
        return True

    def _hidden_runs(self, course_id: int) -> set[str]:
        """Runs whose entries readers must not see: staged (history incomplete) or not finished."""
        hidden = {d["run_id"] for d in self._outbox.find({"course_id": course_id}, {"_id": 0, "run_id": 1})}
        runs = self._store.collection("course_clusters")
        hidden |= {d["run_id"] for d in runs.find({"course_id": course_id, "status": {"$ne": "finished"}},
                                                   {"_id": 0, "run_id": 1})}
        return hidden

    @staticmethod
    def _visible(doc: dict, hidden: set[str]) -> dict | None:
        if not hidden:
            return doc
        history = [h for h in doc.get("history") or [] if h.get("run_id") not in hidden]
        if not history:
            return None
        if len(history) != len(doc.get("history") or []):
            doc = {**doc, "history": history, "last_updated": max(
                (h["timestamp"] for h in history if h.get("timestamp") is not None), default=None)}
        return doc

    def record(self, course_id: int, run_id: str, timestamp: dt.datetime, rows: list[dict[str, Any]]) -> int:
        """Append one entry per row (user_id, cluster_id, transition_type, previous_cluster_id, ...).

        Idempotent per run: recording a run again replaces its entries. Returns rows written.
        """
        with paused_gc():   # tens of thousands of small documents and entries (acyclic)
            return self._record(course_id, run_id, timestamp, rows)

    def _record(self, course_id: int, run_id: str, timestamp: dt.datetime, rows: list[dict[str, Any]]) -> int:
        rows = _safe_rows(rows)
        if any("user_id" not in r for r in rows):
            raise KeyError("every history row needs a user_id")
        stamp = self._safe(timestamp)
        if stamp is None:
            raise ValueError("a history entry needs a timestamp")
        # user_id -> grouping key of its entry; key -> the entry (equal entries share one dict)
        by_user: dict[Any, tuple] = {}
        entries: dict[tuple, dict[str, Any]] = {}
        for row in rows:  # a student listed twice keeps the last row (one entry per run and student)
            c, t, p = row.get("cluster_id"), row.get("transition_type"), row.get("previous_cluster_id")
            kinds = (type(c), type(t), type(p))
            if len(row) == 1 + len(_ROW_FIELDS) and _PLAIN.issuperset(kinds) and "cluster_id" in row and \
                    "transition_type" in row and "previous_cluster_id" in row:
                key = (0, kinds, c, t, p)          # = _key(entry) of the usual entry, without building it
                if key not in entries:
                    entries[key] = {"run_id": run_id, "timestamp": stamp, "cluster_id": c,
                                    "transition_type": t, "previous_cluster_id": p}
            else:
                entry = {"run_id": run_id, "timestamp": stamp, "cluster_id": c, "transition_type": t,
                         "previous_cluster_id": p}
                entry.update({k: v for k, v in row.items() if k != "user_id" and k not in entry})
                key = _key(entry)
                entries.setdefault(key, entry)
            by_user[row["user_id"]] = key
        groups: dict[tuple, tuple[dict[str, Any], list[Any]]] = {}
        for user_id, key in by_user.items():
            group = groups.get(key)
            if group is None:
                group = groups[key] = (entries[key], [])
            group[1].append(user_id)
        with self._store.locked():
            found = None
            if self._store.backend == "embedded":
                found = self._prefetch(course_id, run_id, list(by_user))
            elif self._has_run(course_id, run_id):
                self.pull_run(course_id, run_id)
            for entry, users in groups.values():
                self._append(course_id, entry, users, stamp, found=found)
        return len(by_user)

    def _prefetch(self, course_id: int, run_id: str, users: list[Any]) -> dict[str, dict]:
        """Embedded store (under the store lock): ``_id`` -> the stored documents of ``users``, read once
        for every group's ``_append``. A run recorded before (a roll-forward after a crash, even one
        killed between two groups, or a retry) shows in its students' documents: its entries go first.
        """
        ids = [history_id(course_id, u) for u in users]
        found = self._col.find({"_id": {"$in": ids}})
        if _names_run(found, run_id):
            self.pull_run(course_id, run_id)
            found = self._col.find({"_id": {"$in": ids}})
        return {d["_id"]: d for d in found}

    def _has_run(self, course_id: int, run_id: str) -> bool:
        """Whether ``run_id`` was (even partly) recorded already (MongoDB: one indexed query on
        ``history.run_id``; run ids are fresh, so this is almost always False)."""
        return self._col.find_one({"history.run_id": run_id, "course_id": course_id}, {"_id": 1}) is not None

    def _append(self, course_id: int, entry: dict[str, Any], users: list[Any], stamp: Any, *,
                found: dict[str, dict] | None = None) -> None:
        """Push ``entry`` to the documents of ``users`` (created when missing).

        MongoDB: ``update_many`` with ``$push``/``$each``/``$sort`` and ``$max``. Embedded store (``found``
        from ``_prefetch``): the same documents computed here and written in ONE store call.
        """
        if found is not None:
            self._append_embedded(course_id, entry, users, stamp, found)
            return
        for part in _batches(users):
            ids = [history_id(course_id, u) for u in part]
            result = self._col.update_many(
                {"_id": {"$in": ids}},
                {"$push": {"history": {"$each": [entry], "$sort": {"timestamp": 1}}},
                 "$max": {"last_updated": stamp}},
            )
            if result.matched_count >= len(ids):
                continue
            found = {d["_id"] for d in self._col.find({"_id": {"$in": ids}}, {"_id": 1})} if result.matched_count else set()
            new = [{"_id": i, "course_id": course_id, "user_id": u, "history": [dict(entry)], "last_updated": stamp}
                   for i, u in zip(ids, part, strict=True) if i not in found]
            self._col.insert_many(new)

    def _append_embedded(self, course_id: int, entry: dict[str, Any], users: list[Any], stamp: Any,
                         found: dict[str, dict]) -> None:
        """The embedded store applies an update document by deep-copying and walking each document in
        Python; appending to the prefetched documents in place and writing them back by ``_id``
        together with the new students' documents (one SQLite transaction) is several times cheaper.
        """
        changed, new = [], []
        for user_id in users:
            _id = history_id(course_id, user_id)
            doc = found.get(_id)
            if doc is None:
                new.append({"_id": _id, "course_id": course_id, "user_id": user_id, "history": [entry],
                            "last_updated": stamp})
                continue
            history = doc.get("history")
            history = history if type(history) is list else list(history or [])
            newest = history[-1].get("timestamp") if history else None
            history.append(entry)
            if newest is None or newest > stamp:
                # $sort {"timestamp": 1} (stable; entries without a timestamp first, as MongoDB orders
                # null); a run newer than every entry (the usual case) is already in place
                history.sort(key=_by_timestamp)
            doc["history"] = history
            last = doc.get("last_updated")
            doc["last_updated"] = stamp if last is None or last < stamp else last
            changed.append(doc)
        self._col.write_by_id(changed, new, unchanged=("_id", "course_id", "user_id"))

    def pull_run(self, course_id: int, run_id: str) -> int:
        """Remove ``run_id``'s entries from every student of the course; returns students changed.

        ``last_updated`` goes back to the newest remaining entry's timestamp; a student left without
        any entry (first seen in that run) loses the document, as if the run had never been recorded.
        """
        query = {"course_id": course_id, "history.run_id": run_id}
        with self._store.locked():
            touched = self._col.find(query)
            if not touched:
                return 0
            # one pass: documents grouped by their new last_updated (few values) get the $pull and
            # the $set in the same update_many (mongomock copies every document it updates)
            by_stamp: dict[Any, list[str]] = {}
            emptied: list[str] = []
            for doc in touched:
                rest = [h for h in doc.get("history") or [] if h.get("run_id") != run_id]
                stamps = [h["timestamp"] for h in rest if h.get("timestamp") is not None]
                by_stamp.setdefault(max(stamps) if stamps else None, []).append(doc["_id"])
                if not rest:
                    emptied.append(doc["_id"])
            for stamp, ids in by_stamp.items():
                update: dict[str, Any] = {"$pull": {"history": {"run_id": run_id}}}
                if stamp is not None:
                    update["$set"] = {"last_updated": stamp}
                for part in _batches(ids):
                    self._col.update_many({"_id": {"$in": part}}, update)
            for part in _batches(emptied):
                if part:  # "$size": 0 guards against an entry written since the read (MongoDB)
                    self._col.delete_many({"_id": {"$in": part}, "history": {"$size": 0}})
        return len(touched)

    def for_user(self, course_id: int, user_id: int) -> dict | None:
        """The student's document (``history`` oldest first); None when the student has none."""
        doc = self._col.find_one({"_id": history_id(course_id, self._safe(user_id))})
        doc = self._visible(doc, self._hidden_runs(course_id)) if doc is not None else None
        return _public(doc) if doc is not None else None

    def for_course(self, course_id: int) -> list[dict]:
        """Every student's document of the course, by user_id."""
        # no projection / sort in the query: the embedded store would copy every value to apply one
        hidden = self._hidden_runs(course_id)
        with paused_gc():   # one document per student (acyclic)
            docs = self._col.find({"course_id": course_id})
            if hidden:
                docs = [d for d in (self._visible(d, hidden) for d in docs) if d is not None]
            return _by_user([_public(d) for d in docs])

    def at_run(self, course_id: int, run_id: str) -> dict[int, dict]:
        """user_id -> that student's entry for ``run_id``."""
        out: dict[int, dict] = {}
        if run_id in self._hidden_runs(course_id):
            return out
        for doc in self._col.find({"course_id": course_id, "history.run_id": run_id}):
            entry = next((h for h in doc.get("history") or [] if h.get("run_id") == run_id), None)
            if entry is not None:
                out[doc["user_id"]] = entry
        return out

    def count(self, course_id: int) -> int:
        """Number of students with a history document in the course."""
        return self._col.count_documents({"course_id": course_id})
