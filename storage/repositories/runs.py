"""course_clusters: one document per run of a course; visible only once finished.

Every finished run also has a small document in ``run_summaries`` (``_id`` = run_id: course_id,
run_at, created_at, k, students, ...), written by ``mark_finished`` and removed by ``delete`` /
``discard_unfinished``. ``latest``, ``list``, ``count``, ``run_ids`` and ``courses_with_runs`` filter
and sort those instead of decoding every (large) run document; ``storage.ensure_indexes`` rebuilds
them when they disagree with the runs (older data, or a crash between the two writes).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

from storage.migrations import SUMMARY_FIELDS, run_summary

from .base import NO_ID, Repository, clean, new_id

__all__ = ["RunRepository", "PENDING", "FINISHED", "writer_id"]


def writer_id() -> str:
    """``host:pid`` of this process (who is writing a run)."""
    return f"{socket.gethostname()}:{os.getpid()}"

PENDING = "pending"
FINISHED = "finished"
_NEWEST_FIRST = [("run_at", -1), ("created_at", -1), ("_id", -1)]
# the same order on run_summaries ("oid" is the run document's _id)
_SUMMARY_NEWEST_FIRST = [("run_at", -1), ("created_at", -1), ("oid", -1)]
SUMMARIES = "run_summaries"


class RunRepository(Repository):
    """Runs (collection ``course_clusters``); see "The run document" in docs/contracts.md."""

    collection_name = "course_clusters"

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self._summaries = store.collection(SUMMARIES)

    def _summary_ids(self, query: dict[str, Any], limit: int = 0) -> list[str]:
        rows = self._summaries.find(query, {"_id": 0, "run_id": 1}, sort=_SUMMARY_NEWEST_FIRST, limit=limit)
        return [r["run_id"] for r in rows]

    def _refresh_summary(self, doc: dict | None) -> None:
        """Write (or replace) the summary of a finished run document read with ``SUMMARY_FIELDS``."""
        if doc is not None:
            self._summaries.replace_one({"_id": doc["run_id"]}, run_summary(doc), upsert=True)

    def insert_pending(self, doc: dict[str, Any]) -> str:
        """Insert ``doc`` as a pending (invisible) run and return its ``run_id``.

        ``run_id`` is taken from the document or generated; ``run_at`` defaults to now.
        """
        if "course_id" not in doc:
            raise ValueError("a run document needs a course_id")
        body = self._safe(doc)
        body.pop("_id", None)
        now = self._now()
        body["run_id"] = str(body.get("run_id") or new_id())
        body["status"] = PENDING
        body.setdefault("run_at", now)
        body["run_at"] = body["run_at"] or now
        body["created_at"] = now
        body["finished_at"] = None
        body["writer"] = writer_id()  # storage.recovery leaves the run alone while this process lives
        self._col.insert_one(body)
        return body["run_id"]

    def update(self, run_id: str, fields: dict[str, Any]) -> None:
        """Set top-level ``fields`` on a run (e.g. while it is still pending)."""
        fields = {k: v for k, v in self._safe(fields).items() if k not in {"_id", "run_id", "status"}}
        if fields:
            with self._store.locked():
                doc = self._col.find_one_and_update({"run_id": run_id}, {"$set": fields}, projection=SUMMARY_FIELDS)
                if doc is None:
                    raise LookupError(f"no run {run_id}")
                if self._summaries.count_documents({"_id": run_id}):  # only finished runs have one
                    self._refresh_summary(doc)

    def mark_finished(self, run_id: str, extra: dict[str, Any] | None = None) -> None:
        """Make the run visible (last write of a run). ``extra`` fields are set at the same time."""
        fields = {k: v for k, v in self._safe(extra or {}).items() if k not in {"_id", "run_id"}}
        fields.update(status=FINISHED, finished_at=self._now())
        with self._store.locked():  # embedded: both writes at once; MongoDB: re-synced at start-up
            doc = self._col.find_one_and_update({"run_id": run_id}, {"$set": fields}, projection=SUMMARY_FIELDS)
            if doc is None:
                raise LookupError(f"no run {run_id}")
            self._refresh_summary(doc)

    def discard_unfinished(self, course_id: int) -> list[str]:
        """Remove the course's pending runs with their snapshot chunks, history entries and alerts.

        Call it while holding the course's lease. The run document goes last, so a crash in here
        leaves it for the next call to finish.
        """
        pending = self._col.find({"course_id": course_id, "status": PENDING}, {"_id": 0, "run_id": 1})
        run_ids = [d["run_id"] for d in pending]
        for staged in self._store.history.staged(course_id):  # finished, history incomplete: roll forward
            if staged["run_id"] not in run_ids:
                if self._col.count_documents({"run_id": staged["run_id"], "status": FINISHED}):
                    self._store.history.complete(staged["run_id"])
                else:  # its run is gone
                    self._store.history.pull_run(course_id, staged["run_id"])
                    self._store.history.unstage(staged["run_id"])
        for run_id in run_ids:
            self._store.snapshots.delete_run(run_id)
            self._store.history.unstage(run_id)
            self._store.history.pull_run(course_id, run_id)
            self._store.alerts.delete_run(run_id)
            self._summaries.delete_many({"_id": run_id})  # none expected: pending runs have no summary
            self._col.delete_many({"run_id": run_id, "status": PENDING})
        return run_ids

    def latest(self, course_id: int, *, before: dt.datetime | None = None) -> dict | None:
        """The newest finished run of the course (optionally with ``run_at`` before a time)."""
        query: dict[str, Any] = {"course_id": course_id}
        if before is not None:
            query["run_at"] = {"$lt": self._safe(before)}
        for run_id in self._summary_ids(query, limit=1):
            doc = self._col.find_one({"run_id": run_id, "status": FINISHED}, NO_ID)
            if doc is not None:
                return doc
            break  # a stale summary (run deleted by hand): answer from the runs themselves
        else:
            return None
        query["status"] = FINISHED
        return self._col.find_one(query, NO_ID, sort=_NEWEST_FIRST)

    def get(self, run_id: str) -> dict | None:
        """A run by id, pending or finished (look at ``status``)."""
        return self._col.find_one({"run_id": run_id}, NO_ID)

    def list(self, course_id: int, limit: int = 52) -> list[dict]:
        """Finished runs, newest first, without the member lists (``clusters.user_ids``)."""
        run_ids = self._summary_ids({"course_id": course_id}, limit=limit)
        if not run_ids:
            return []
        docs = self._col.find(
            {"run_id": {"$in": run_ids}, "status": FINISHED}, {"_id": 0, "clusters.user_ids": 0}
        )
        by_id = {d["run_id"]: d for d in docs}
        return [by_id[r] for r in run_ids if r in by_id]

    def index(self, course_id: int, limit: int = 52) -> list[dict]:
        """Finished runs, newest first, as their small summaries only (run_id, course_id, run_at,
        created_at, finished_at, k, students): for run pickers and labels, no run document is read."""
        rows = self._summaries.find({"course_id": course_id}, {"_id": 0, "oid": 0},
                                    sort=_SUMMARY_NEWEST_FIRST, limit=limit)
        return [dict(r) for r in rows]

    def fields(self, run_ids: list[str], names: list[str]) -> dict[str, dict]:
        """run_id -> the top-level fields ``names`` (and run_id, course_id) of those finished runs."""
        if not run_ids:
            return {}
        projection = {"_id": 0, "run_id": 1, "course_id": 1, **{n: 1 for n in names}}
        docs = self._col.find({"run_id": {"$in": list(run_ids)}, "status": FINISHED}, projection)
        return {d["run_id"]: d for d in docs}

    def count(self, course_id: int) -> int:
        """Number of finished runs of the course."""
        return self._summaries.count_documents({"course_id": course_id})

    def courses_with_runs(self) -> list[int]:
        """Course ids that have at least one finished run, ascending."""
        return sorted(self._summaries.distinct("course_id"))

    def course_of(self, run_id: str) -> int | None:
        """The course of a run (pending or finished); None when there is no such run."""
        doc = self._col.find_one({"run_id": run_id}, {"_id": 0, "course_id": 1})
        return None if doc is None else doc.get("course_id")

    def labels(self, run_id: str) -> dict[int, int]:
        """user_id -> cluster_id of one run."""
        doc = self._col.find_one({"run_id": run_id}, {"_id": 0, "clusters.cluster_id": 1, "clusters.user_ids": 1})
        out: dict[int, int] = {}
        for cluster in (doc or {}).get("clusters", []) or []:
            for user_id in cluster.get("user_ids", []) or []:
                out[user_id] = cluster["cluster_id"]
        return out

    def run_ids(self, course_id: int) -> list[str]:
        """Finished run ids of the course, newest first."""
        return self._summary_ids({"course_id": course_id})

    def delete(self, run_id: str) -> None:
        """Delete one run and everything keyed by it (admin tool; history entries included)."""
        doc = self._col.find_one({"run_id": run_id}, {"_id": 0, "course_id": 1})
        if doc is None:
            return
        self._store.snapshots.delete_run(run_id)
        self._store.history.unstage(run_id)
        self._store.history.pull_run(doc["course_id"], run_id)
        self._store.alerts.delete_run(run_id)
        clean(doc)
        with self._store.locked():
            self._summaries.delete_many({"_id": run_id})
            self._col.delete_many({"run_id": run_id})
