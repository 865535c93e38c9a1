"""Derived data kept in step by :func:`storage.ensure_indexes` (idempotent, safe to re-run).

- ``run_summaries``: one small document per finished run, so ``runs.latest`` / ``list`` /
  ``courses_with_runs`` never decode the big run documents to filter and sort; rebuilt from
  ``course_clusters`` whenever the two disagree in number (a crash between the two writes, or data
  written by an older version).

On the embedded store this runs under the store lock (atomic across threads and processes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pymongo import DeleteOne, ReplaceOne

__all__ = ["SUMMARY_FIELDS", "run_summary", "sync_run_summaries"]

log = logging.getLogger(__name__)

_BATCH = 500


def _col(db: Any, name: str) -> Any:
    return db.collection(name) if hasattr(db, "collection") else db[name]


def _locked(db: Any) -> contextlib.AbstractContextManager[None]:
    locked: Callable[[], contextlib.AbstractContextManager[None]] | None = getattr(db, "locked", None)
    return locked() if locked is not None else contextlib.nullcontext()


def run_summary(doc: dict) -> dict:
    """The ``run_summaries`` document of a finished run document (needs its ``_id``)."""
    metadata = doc.get("metadata") or {}
    return {
        "_id": doc["run_id"],
        "run_id": doc["run_id"],
        "course_id": doc.get("course_id"),
        "run_at": doc.get("run_at"),
        "created_at": doc.get("created_at"),
        "finished_at": doc.get("finished_at"),
        "oid": doc.get("_id"),  # the run document's _id: last tie-breaker, as before
        "k": doc.get("k"),
        "students": metadata.get("total_students") if isinstance(metadata, dict) else None,
    }


#: the run-document fields a summary is built from.
SUMMARY_FIELDS: dict[str, int] = {
    "_id": 1, "run_id": 1, "course_id": 1, "run_at": 1, "created_at": 1, "finished_at": 1, "k": 1,
    "metadata.total_students": 1,
}


def sync_run_summaries(db: Any, *, force: bool = False) -> int:
    """Rebuild ``run_summaries`` when it does not match the finished runs; returns documents changed."""
    with _locked(db):
        runs = _col(db, "course_clusters")
        summaries = _col(db, "run_summaries")
        if not force and runs.count_documents({"status": "finished"}) == summaries.count_documents({}):
            return 0
        finished = {d["run_id"]: d for d in list(runs.find({"status": "finished"}, SUMMARY_FIELDS))}
        have = {d["_id"] for d in list(summaries.find({}, {"_id": 1}))}
        ops: list[Any] = [DeleteOne({"_id": rid}) for rid in have - set(finished)]
        ops += [ReplaceOne({"_id": rid}, run_summary(d), upsert=True) for rid, d in finished.items()
                if force or rid not in have]
        for start in range(0, len(ops), _BATCH):
            summaries.bulk_write(ops[start : start + _BATCH], ordered=True)
        if ops:
            log.info("run_summaries: %d documents rebuilt", len(ops))
        return len(ops)
