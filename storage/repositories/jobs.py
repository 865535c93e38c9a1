"""cluster_jobs: one record per job (queued -> running -> succeeded|failed|skipped|interrupted)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from storage.bson_safe import redact

from .base import NO_ID, Repository, new_id

__all__ = ["JobRepository", "JOB_STATUSES", "TERMINAL_STATUSES", "ACTIVE_STATUSES", "TRIGGERS", "error_doc"]

TRIGGERS = ("schedule", "manual", "retry", "cli")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "skipped", "interrupted")
TERMINAL_STATUSES = ("succeeded", "failed", "skipped", "interrupted")
ACTIVE_STATUSES = ("queued", "running")
# ties (same created_at, e.g. under a fake clock) fall back to insertion order via _id
_NEWEST_FIRST = [("created_at", -1), ("_id", -1)]
_MAX_MESSAGE = 2000


def error_doc(error: BaseException | dict | str | None) -> dict | None:
    """``{type, message}`` from an exception / dict / string, secrets redacted, message capped."""
    if error is None:
        return None
    if isinstance(error, BaseException):
        kind, message = type(error).__name__, str(error)
    elif isinstance(error, dict):
        kind, message = str(error.get("type") or "Error"), str(error.get("message") or "")
    else:
        kind, message = "Error", str(error)
    return {"type": kind, "message": redact(message)[:_MAX_MESSAGE]}


def _statuses(status: str | Iterable[str] | None) -> Any:
    if status is None:
        return None
    if isinstance(status, str):
        return status
    return {"$in": list(status)}


class JobRepository(Repository):
    """Job records (collection ``cluster_jobs``); see DESIGN.md "Storage" and issue 5."""

    collection_name = "cluster_jobs"

    def create(
        self,
        course_ids: Iterable[int],
        trigger: str,
        *,
        scheduled_for: dt.datetime | None = None,
        parent_job_id: str | None = None,
        job_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Insert a ``queued`` job and return its id (uuid4 hex)."""
        if trigger not in TRIGGERS:
            raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
        course_ids = [int(c) for c in course_ids]
        job_id = job_id or new_id()
        doc = {
            **(extra or {}),
            "job_id": job_id,
            "course_ids": course_ids,
            "trigger": trigger,
            "status": "queued",
            "created_at": self._now(),
            "started_at": None,
            "finished_at": None,
            "heartbeat_at": None,
            "owner": None,
            "attempts": [],
            "attempt_count": 0,
            "progress": {"stage": "queued", "done": 0, "total": len(course_ids), "message": "", "course_id": None},
            "stats": {},
            "error": None,
            "scheduled_for": scheduled_for,
            "parent_job_id": parent_job_id,
            "result": {},
        }
        self._col.insert_one(self._safe(doc))
        return job_id

    def get(self, job_id: str) -> dict | None:
        return self._col.find_one({"job_id": job_id}, NO_ID)

    def recent(
        self, limit: int = 50, course_id: int | None = None, status: str | Iterable[str] | None = None
    ) -> list[dict]:
        """Newest first; optionally only jobs touching ``course_id`` and/or with ``status``."""
        query: dict[str, Any] = {}
        if course_id is not None:
            query["course_ids"] = int(course_id)
        if status is not None:
            query["status"] = _statuses(status)
        return self._col.find(query, NO_ID, sort=_NEWEST_FIRST, limit=limit)

    def since(self, when: dt.datetime, course_id: int | None = None, *, oldest_first: bool = False) -> list[dict]:
        """Jobs created at or after ``when`` (health figures), newest first (ties: last inserted first)."""
        query: dict[str, Any] = {"created_at": {"$gte": self._safe(when)}}
        if course_id is not None:
            query["course_ids"] = int(course_id)
        order = [("created_at", 1), ("_id", 1)] if oldest_first else _NEWEST_FIRST
        return self._col.find(query, NO_ID, sort=order)

    def claim(self, job_id: str, owner: dict[str, Any], *, now: dt.datetime | None = None) -> dict | None:
        """Atomically move a ``queued`` job to ``running`` for ``owner`` ({host, pid, id}).

        Returns the claimed job, or ``None`` when someone else got it (or it is not queued).
        """
        now = self._now(now)
        return self._col.find_one_and_update(
            {"job_id": job_id, "status": "queued"},
            {"$set": {"status": "running", "owner": self._safe(owner), "started_at": now, "heartbeat_at": now}},
            projection=NO_ID,
        )

    def claim_next(self, owner: dict[str, Any], *, now: dt.datetime | None = None) -> dict | None:
        """Atomically claim the oldest queued job that is due (no ``scheduled_for`` or one in the past)."""
        now = self._now(now)
        return self._col.find_one_and_update(
            {"status": "queued", "$or": [{"scheduled_for": None}, {"scheduled_for": {"$lte": now}}]},
            {"$set": {"status": "running", "owner": self._safe(owner), "started_at": now, "heartbeat_at": now}},
            projection=NO_ID,
            sort=[("created_at", 1), ("_id", 1)],
        )

    def set_status(
        self,
        job_id: str,
        status: str,
        *,
        error: BaseException | dict | str | None = None,
        stats: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        progress: dict[str, Any] | None = None,
        expected: str | Iterable[str] | None = None,
        now: dt.datetime | None = None,
    ) -> bool:
        """Set the status (terminal ones stamp ``finished_at``); only if currently ``expected``.

        Returns whether the job was updated.
        """
        if status not in JOB_STATUSES:
            raise ValueError(f"status must be one of {JOB_STATUSES}, not {status!r}")
        now = self._now(now)
        fields: dict[str, Any] = {"status": status}
        if status in TERMINAL_STATUSES:
            fields["finished_at"] = now
        elif status == "queued":
            fields.update(finished_at=None, owner=None)
        if error is not None:
            fields["error"] = error_doc(error)
        if stats is not None:
            fields["stats"] = self._safe(stats)
        if result is not None:
            fields["result"] = self._safe(result)
        if progress is not None:
            fields.update({f"progress.{k}": v for k, v in self._safe(progress).items()})
        query: dict[str, Any] = {"job_id": job_id}
        if expected is not None:
            query["status"] = _statuses(expected)
        return self._col.update_one(query, {"$set": fields}).matched_count == 1

    def set_result(self, job_id: str, course_id: int, summary: dict[str, Any]) -> None:
        """Record one course's outcome under ``result.<course_id>``."""
        self._col.update_one({"job_id": job_id}, {"$set": {f"result.{int(course_id)}": self._safe(summary)}})

    def update_stats(self, job_id: str, stats: dict[str, Any]) -> None:
        """Merge ``stats`` into the job's stats."""
        fields = {f"stats.{k}": v for k, v in self._safe(stats).items()}
        if fields:
            self._col.update_one({"job_id": job_id}, {"$set": fields})

    def start_attempt(self, job_id: str, *, now: dt.datetime | None = None) -> int:
        """Open a new attempt (status ``running``) and return its number (1, 2, ...)."""
        now = self._now(now)
        doc = self._col.find_one_and_update(
            {"job_id": job_id},
            {"$inc": {"attempt_count": 1}, "$set": {"heartbeat_at": now}},
            projection={"_id": 0, "attempt_count": 1},
        )
        if doc is None:
            raise LookupError(f"no job {job_id}")
        number = int(doc["attempt_count"])
        attempt = {
            "number": number,
            "started_at": now,
            "finished_at": None,
            "status": "running",
            "error_type": None,
            "error_message": None,
        }
        self._col.update_one({"job_id": job_id}, {"$push": {"attempts": attempt}})
        return number

    def finish_attempt(
        self,
        job_id: str,
        status: str,
        *,
        number: int | None = None,
        error: BaseException | dict | str | None = None,
        now: dt.datetime | None = None,
    ) -> bool:
        """Close attempt ``number`` (default: the latest) with ``status`` and the error, if any."""
        now = self._now(now)
        if number is None:
            doc = self._col.find_one({"job_id": job_id}, {"_id": 0, "attempt_count": 1})
            if doc is None or not doc.get("attempt_count"):
                return False
            number = int(doc["attempt_count"])
        err = error_doc(error) or {"type": None, "message": None}
        result = self._col.update_one(
            {"job_id": job_id, "attempts.number": number},
            {
                "$set": {
                    "attempts.$.finished_at": now,
                    "attempts.$.status": status,
                    "attempts.$.error_type": err["type"],
                    "attempts.$.error_message": err["message"],
                }
            },
        )
        return result.matched_count == 1

    def heartbeat(self, job_id: str, owner_id: str | None = None, *, now: dt.datetime | None = None) -> bool:
        """Stamp ``heartbeat_at`` on a running job (optionally only if still owned by ``owner_id``)."""
        query: dict[str, Any] = {"job_id": job_id, "status": "running"}
        if owner_id is not None:
            query["owner.id"] = owner_id
        return self._col.update_one(query, {"$set": {"heartbeat_at": self._now(now)}}).matched_count == 1

    def update_progress(self, job_id: str, progress: dict[str, Any], *, now: dt.datetime | None = None) -> None:
        """Merge ``progress`` (stage, done, total, message, course_id) and beat the heart."""
        fields = {f"progress.{k}": v for k, v in self._safe(progress).items()}
        fields["heartbeat_at"] = self._now(now)
        self._col.update_one({"job_id": job_id}, {"$set": fields})

    def stale(self, before: dt.datetime | None = None, *, heartbeat_before: dt.datetime | None = None) -> list[dict]:
        """Running jobs whose last heartbeat (or start, if none) is older than ``before``.

        ``heartbeat_before`` is accepted as another name for ``before``.
        """
        when = before if before is not None else heartbeat_before
        if when is None:
            raise TypeError("stale() needs a time: stale(before)")
        before = self._safe(when)
        return self._col.find(
            {
                "status": "running",
                "$or": [
                    {"heartbeat_at": {"$lt": before}},
                    {"heartbeat_at": None, "started_at": {"$lt": before}},
                    {"heartbeat_at": None, "started_at": None},
                ],
            },
            NO_ID,
            sort=[("created_at", 1), ("_id", 1)],
        )

    def running(self) -> list[dict]:
        """Every running job, oldest first."""
        return self._col.find({"status": "running"}, NO_ID, sort=[("created_at", 1), ("_id", 1)])

    def running_for_course(
        self, course_id: int, statuses: Iterable[str] = ("running",)
    ) -> dict | None:
        """The oldest job with one of ``statuses`` (default running) that covers ``course_id``."""
        return self._col.find_one(
            {"course_ids": int(course_id), "status": _statuses(list(statuses))},
            NO_ID,
            sort=[("created_at", 1), ("_id", 1)],
        )

    def due_retries(self, now: dt.datetime | None = None) -> list[dict]:
        """Queued jobs whose ``scheduled_for`` has come (oldest due first)."""
        return self._col.find(
            {"status": "queued", "scheduled_for": {"$ne": None, "$lte": self._now(now)}},
            NO_ID,
            sort=[("scheduled_for", 1), ("_id", 1)],
        )

    def queued(self) -> list[dict]:
        """Every queued job, oldest first (scheduled ones included)."""
        return self._col.find({"status": "queued"}, NO_ID, sort=[("created_at", 1), ("_id", 1)])

    def delete_older_than(self, when: dt.datetime) -> int:
        """Delete finished job records created before ``when``; returns how many."""
        return self._col.delete_many(
            {"created_at": {"$lt": self._safe(when)}, "status": {"$in": list(TERMINAL_STATUSES)}}
        )
