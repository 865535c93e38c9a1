"""user_cluster_history: one document per (course, user) with the list of that user's runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo import UpdateOne

from .base import NO_ID, Repository

__all__ = ["HistoryRepository"]

_BATCH = 1000


class HistoryRepository(Repository):
    """Per-student cluster history (collection ``user_cluster_history``)."""

    collection_name = "user_cluster_history"

    def record(self, course_id: int, run_id: str, timestamp: dt.datetime, rows: list[dict[str, Any]]) -> int:
        """Append one entry per row (user_id, cluster_id, transition_type, previous_cluster_id).

        Idempotent per run: entries of ``run_id`` already present are replaced. Returns rows written.
        """
        self.pull_run(course_id, run_id)
        when = self._safe(timestamp)
        ops = []
        for row in self._safe(rows):
            entry = {
                "run_id": run_id,
                "timestamp": when,
                "cluster_id": row.get("cluster_id"),
                "transition_type": row.get("transition_type"),
                "previous_cluster_id": row.get("previous_cluster_id"),
            }
            entry.update({k: v for k, v in row.items() if k not in entry and k != "user_id"})
            ops.append(
                UpdateOne(
                    {"course_id": course_id, "user_id": row["user_id"]},
                    {
                        # kept in time order even when runs are written out of order (backfill)
                        "$push": {"history": {"$each": [entry], "$sort": {"timestamp": 1}}},
                        "$set": {"last_updated": when},
                    },
                    upsert=True,
                )
            )
        for start in range(0, len(ops), _BATCH):
            self._col.bulk_write(ops[start : start + _BATCH], ordered=False)
        return len(ops)

    def pull_run(self, course_id: int, run_id: str) -> int:
        """Remove ``run_id``'s entries from every student of the course; returns documents changed."""
        result = self._col.update_many(
            {"course_id": course_id, "history.run_id": run_id},
            {"$pull": {"history": {"run_id": run_id}}},
        )
        return int(result.modified_count)

    def for_user(self, course_id: int, user_id: int) -> dict | None:
        """The student's document (``history`` oldest first)."""
        return self._col.find_one({"course_id": course_id, "user_id": user_id}, NO_ID)

    def for_course(self, course_id: int) -> list[dict]:
        """Every student's document of the course, by user_id."""
        return self._col.find({"course_id": course_id}, NO_ID, sort=[("user_id", 1)])

    def at_run(self, course_id: int, run_id: str) -> dict[int, dict]:
        """user_id -> that student's entry for ``run_id``."""
        out: dict[int, dict] = {}
        for doc in self._col.find({"course_id": course_id, "history.run_id": run_id}, NO_ID):
            for entry in doc.get("history", []):
                if entry.get("run_id") == run_id:
                    out[doc["user_id"]] = entry
        return out

    def count(self, course_id: int) -> int:
        """Number of students with a history in the course."""
        return self._col.count_documents({"course_id": course_id})
