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
students seen for the first time with ``insert_many``. On the embedded store that is ~0.7 s for a
first run of 5,000 students, ~1.2 s with 12 runs of history and ~3-4 s with 52 (mongomock deep-copies
each document it updates, so the cost grows with the history), instead of 3-10 s for one upsert per
student.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .base import Repository

__all__ = ["HistoryRepository", "history_id", "ENTRY_FIELDS"]

#: the entry fields every history entry has (in this order); other row fields are kept too.
ENTRY_FIELDS = ("run_id", "timestamp", "cluster_id", "transition_type", "previous_cluster_id")
_ROW_FIELDS = ENTRY_FIELDS[2:]
#: most ``_id``s per ``$in`` query (mongomock tests ``$in`` in O(len(ids)) per document) / ``insert_many``.
_BATCH = 250


def history_id(course_id: Any, user_id: Any) -> str:
    """``_id`` of a student's history document."""
    return f"{course_id}:{user_id}"


def _key(entry: dict[str, Any]) -> tuple:
    """A hashable grouping key of an entry (repr keeps unhashable extra values comparable)."""
    return tuple((k, repr(v)) for k, v in entry.items())


def _by_timestamp(entry: dict[str, Any]) -> tuple:
    stamp = entry.get("timestamp")
    return (0, 0) if stamp is None else (1, stamp)


def _batches(items: list, size: int = _BATCH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _public(doc: dict) -> dict:
    """The repository's view of a stored document (no ``_id``, ``history`` always a list)."""
    return {"course_id": doc.get("course_id"), "user_id": doc.get("user_id"),
            "history": list(doc.get("history") or []), "last_updated": doc.get("last_updated")}


class HistoryRepository(Repository):
    """Per-student cluster history (collection ``user_cluster_history``)."""

    collection_name = "user_cluster_history"

    def record(self, course_id: int, run_id: str, timestamp: dt.datetime, rows: list[dict[str, Any]]) -> int:
        """Append one entry per row (user_id, cluster_id, transition_type, previous_cluster_id, ...).

        Idempotent per run: recording a run again replaces its entries. Returns rows written.
        """
        rows = list(self._safe(rows))
        if any("user_id" not in r for r in rows):
            raise KeyError("every history row needs a user_id")
        stamp = self._safe(timestamp)
        if stamp is None:
            raise ValueError("a history entry needs a timestamp")
        by_user: dict[Any, dict[str, Any]] = {}
        for row in rows:  # a student listed twice keeps the last row (one entry per run and student)
            entry = {"run_id": run_id, "timestamp": stamp}
            entry.update({f: row.get(f) for f in _ROW_FIELDS})
            entry.update({k: v for k, v in row.items() if k != "user_id" and k not in entry})
            by_user[row["user_id"]] = entry
        groups: dict[tuple, tuple[dict[str, Any], list[Any]]] = {}
        for user_id, entry in by_user.items():
            groups.setdefault(_key(entry), (entry, []))[1].append(user_id)
        with self._store.locked():
            if self._has_run(course_id, run_id, [users[0] for _, users in groups.values()]):
                self.pull_run(course_id, run_id)
            for entry, users in groups.values():
                self._append(course_id, entry, users, stamp)
        return len(by_user)

    def _has_run(self, course_id: int, run_id: str, probe_users: list[Any]) -> bool:
        """Whether ``run_id`` was (even partly) recorded already.

        Run ids are fresh, so this is almost always False; it costs one indexed query on MongoDB
        (``history.run_id``) and, on the embedded store (where ``record`` runs under the store
        lock, so a failed record leaves whole groups), one ``_id`` lookup per group.
        """
        if self._store.backend == "mongodb":
            return self._col.find_one({"history.run_id": run_id, "course_id": course_id}, {"_id": 1}) is not None
        ids = [history_id(course_id, u) for u in probe_users]
        return bool(ids) and self._col.find_one({"_id": {"$in": ids}, "history.run_id": run_id}, {"_id": 1}) is not None

    def _append(self, course_id: int, entry: dict[str, Any], users: list[Any], stamp: Any) -> None:
        """Push ``entry`` to the documents of ``users`` (created when missing)."""
        if self._store.backend == "embedded":
            self._append_embedded(course_id, entry, users, stamp)
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

    def _append_embedded(self, course_id: int, entry: dict[str, Any], users: list[Any], stamp: Any) -> None:
        """The same result as the ``$push``/``$sort``/``$max`` update, computed here and written back whole.

        The embedded store applies an update document by deep-copying and walking each document in
        Python; reading the documents, appending in place and writing them back by ``_id`` in one
        statement is ~10x cheaper (the caller holds the store lock: nothing changes in between).
        """
        ids = [history_id(course_id, u) for u in users]
        found = {d["_id"]: d for d in self._col.find({"_id": {"$in": ids}})}
        changed = []
        for doc in found.values():
            history = list(doc.get("history") or [])
            newest = history[-1].get("timestamp") if history else None
            history.append(dict(entry))
            if newest is None or newest > stamp:
                # $sort {"timestamp": 1} (stable; entries without a timestamp first, as MongoDB orders
                # null); a run newer than every entry (the usual case) is already in place
                history.sort(key=_by_timestamp)
            doc["history"] = history
            last = doc.get("last_updated")
            doc["last_updated"] = stamp if last is None or last < stamp else last
            changed.append(doc)
        self._col.replace_by_id(changed)
        new = [{"_id": i, "course_id": course_id, "user_id": u, "history": [dict(entry)], "last_updated": stamp}
               for i, u in zip(ids, users, strict=True) if i not in found]
        if new:
            self._col.insert_many(new)

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
        return _public(doc) if doc is not None else None

    def for_course(self, course_id: int) -> list[dict]:
        """Every student's document of the course, by user_id."""
        # no projection / sort in the query: the embedded store would copy every value to apply one
        docs = [_public(d) for d in self._col.find({"course_id": course_id})]
        return sorted(docs, key=lambda d: (str(type(d["user_id"])), d["user_id"]))

    def at_run(self, course_id: int, run_id: str) -> dict[int, dict]:
        """user_id -> that student's entry for ``run_id``."""
        out: dict[int, dict] = {}
        for doc in self._col.find({"course_id": course_id, "history.run_id": run_id}):
            entry = next((h for h in doc.get("history") or [] if h.get("run_id") == run_id), None)
            if entry is not None:
                out[doc["user_id"]] = entry
        return out

    def count(self, course_id: int) -> int:
        """Number of students with a history document in the course."""
        return self._col.count_documents({"course_id": course_id})
