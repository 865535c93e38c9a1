"""The small collections: activity_reports, courses, settings, alerts, users, llm_cache."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pymongo import UpdateOne

from .base import NO_ID, Repository

__all__ = [
    "ActivityRepository",
    "AlertRepository",
    "CourseRepository",
    "LlmCacheRepository",
    "SettingsRepository",
    "UserRepository",
    "COURSE_DEFAULTS",
    "USER_ROLES",
]

#: defaults of a course document on first insert.
COURSE_DEFAULTS: dict[str, Any] = {
    "fullname": "",
    "shortname": "",
    "source": "demo",
    "enabled": True,
    "k_pinned": None,
    "timezone": "UTC",
}
USER_ROLES = ("admin", "instructor", "viewer")
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|api_?key|mongodb_uri|credential)")


def _find_secret(key: str, value: Any) -> str | None:
    """The first key (path) that looks like it holds a secret with a non-empty text value."""
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find_secret(f"{key}.{k}", v)
            if found:
                return found
        return None
    if isinstance(value, str) and value and _SECRET_KEY.search(key.rsplit(".", 1)[-1]):
        return key
    return None


class ActivityRepository(Repository):
    """Per course and extraction date activity figures (collection ``activity_reports``)."""

    collection_name = "activity_reports"

    def upsert(self, course_id: int, rows: Iterable[dict[str, Any]]) -> int:
        """Insert or replace one document per row, keyed by ``extraction_date`` (or ``date``)."""
        now = self._now()
        ops = []
        for row in self._safe(list(rows)):
            day = row.get("extraction_date", row.get("date"))
            if day is None:
                raise ValueError("an activity row needs an extraction_date (or date)")
            row = {**row, "course_id": course_id, "extraction_date": day, "updated_at": now}
            row.pop("_id", None)
            ops.append(UpdateOne({"course_id": course_id, "extraction_date": day}, {"$set": row}, upsert=True))
        if ops:
            self._col.bulk_write(ops, ordered=False)
        return len(ops)

    def list(self, course_id: int) -> list[dict]:
        """The course's rows, oldest date first."""
        return self._col.find({"course_id": course_id}, NO_ID, sort=[("extraction_date", 1)])

    def delete_course(self, course_id: int) -> int:
        return self._col.delete_many({"course_id": course_id})


class CourseRepository(Repository):
    """Known courses and their per-course flags (collection ``courses``)."""

    collection_name = "courses"
    _FLAGS = ("enabled", "k_pinned", "timezone", "source", "fullname", "shortname", "frame", "window_days",
              "regroup_requested")

    def upsert(self, course: dict[str, Any]) -> int:
        """Insert or update a course by ``course_id`` (or ``id``); flags keep their value unless given."""
        body = self._safe(course)
        body.pop("_id", None)
        course_id = body.get("course_id", body.get("id"))
        if course_id is None:
            raise ValueError("a course needs an id")
        course_id = int(course_id)
        body.update(course_id=course_id, id=course_id, updated_at=self._now())
        on_insert = {k: v for k, v in COURSE_DEFAULTS.items() if k not in body}
        update: dict[str, Any] = {"$set": body}
        if on_insert:
            update["$setOnInsert"] = on_insert
        self._col.update_one({"course_id": course_id}, update, upsert=True)
        return course_id

    def list(self, *, enabled_only: bool = False) -> list[dict]:
        """Courses by id."""
        query = {"enabled": True} if enabled_only else {}
        return self._col.find(query, NO_ID, sort=[("course_id", 1)])

    def get(self, course_id: int) -> dict | None:
        return self._col.find_one({"course_id": int(course_id)}, NO_ID)

    def set_flags(self, course_id: int, **flags: Any) -> bool:
        """Set ``enabled`` / ``k_pinned`` / ``timezone`` / ...; returns whether the course exists."""
        unknown = set(flags) - set(self._FLAGS)
        if unknown:
            raise ValueError(f"unknown course flags: {sorted(unknown)}")
        fields = {**self._safe(flags), "updated_at": self._now()}
        return self._col.update_one({"course_id": int(course_id)}, {"$set": fields}).matched_count == 1

    def set_frame(self, course_id: int, start: Any, end: Any, *, timezone: str | None = None,
                  source: str = "admin") -> bool:
        """Set the course's time frame ``{start, end, timezone, source}`` (aware datetimes; None = open).

        A frame with ``source="admin"`` wins over the one the data source reports (runs keep it);
        ``start=end=None`` clears the admin's frame so the source's own applies again. Returns whether the
        course exists. Raises ValueError when the end is not after the start.
        """
        start, end = self._safe(start), self._safe(end)
        if start is not None and end is not None and end <= start:
            raise ValueError(f"course {course_id}: the end ({end}) must be after the start ({start})")
        if start is None and end is None:
            return self.set_flags(course_id, frame=None)
        doc = self.get(course_id) or {}
        tz = timezone or (doc.get("frame") or {}).get("timezone") or doc.get("timezone") or "UTC"
        return self.set_flags(course_id, frame={"start": start, "end": end, "timezone": tz, "source": source})

    def request_regroup(self, course_id: int, requested: bool = True, *, by: str | None = None) -> bool:
        """Ask the next run to refit the course's groups (a regrouping); ``False`` withdraws the ask."""
        value = {"at": self._now(), "by": by} if requested else None
        return self.set_flags(course_id, regroup_requested=value)

    def delete(self, course_id: int) -> bool:
        return self._col.delete_one({"course_id": int(course_id)}) == 1


class SettingsRepository(Repository):
    """Key/value settings (collection ``settings``). Never holds a secret."""

    collection_name = "settings"

    def get(self, key: str, default: Any = None) -> Any:
        doc = self._col.find_one({"key": key}, {"_id": 0, "value": 1})
        return default if doc is None else doc.get("value")

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (plain data) under ``key``; refuses anything that looks like a secret."""
        value = self._safe(value)
        secret = _find_secret(key, value)
        if secret:
            raise ValueError(f"settings never hold secrets (refused {secret!r}); keep it in env or secrets.toml")
        self._col.update_one({"key": key}, {"$set": {"value": value, "updated_at": self._now()}}, upsert=True)

    def all(self) -> dict[str, Any]:
        return {d["key"]: d.get("value") for d in self._col.find({}, NO_ID, sort=[("key", 1)])}

    def delete(self, key: str) -> bool:
        return self._col.delete_one({"key": key}) == 1


class AlertRepository(Repository):
    """Alerts raised by runs (collection ``alerts``)."""

    collection_name = "alerts"

    def add(self, course_id: int, run_id: str, alerts: Iterable[dict[str, Any]]) -> int:
        """Store the alerts of one run (replacing any stored earlier for that run)."""
        now = self._now()
        docs = [
            {**a, "course_id": course_id, "run_id": run_id, "created_at": now, "seq": i}
            for i, a in enumerate(self._safe(list(alerts)))
        ]
        self._col.delete_many({"run_id": run_id})
        self._col.insert_many(docs)
        return len(docs)

    def recent(self, course_id: int | None = None, limit: int = 50) -> list[dict]:
        """Newest first (optionally for one course)."""
        query = {} if course_id is None else {"course_id": course_id}
        return self._col.find(query, NO_ID, sort=[("created_at", -1), ("run_id", 1), ("seq", 1)], limit=limit)

    def for_run(self, run_id: str) -> list[dict]:
        return self._col.find({"run_id": run_id}, NO_ID, sort=[("seq", 1)])

    def delete_run(self, run_id: str) -> int:
        return self._col.delete_many({"run_id": run_id})


class UserRepository(Repository):
    """Dashboard accounts (collection ``users``): username, name, email, role, courses, password_hash.

    Only password hashes are stored; a plain ``password`` field is refused.
    """

    collection_name = "users"

    def get(self, username: str) -> dict | None:
        return self._col.find_one({"username": username}, NO_ID)

    def list(self) -> list[dict]:
        return self._col.find({}, NO_ID, sort=[("username", 1)])

    def upsert(self, user: dict[str, Any]) -> None:
        """Create or update by ``username``. ``role`` defaults to ``instructor``, ``courses`` to []."""
        body = self._safe(user)
        body.pop("_id", None)
        if not body.get("username"):
            raise ValueError("a user needs a username")
        if "password" in body:
            raise ValueError("store password_hash, never a plain password")
        if "role" in body and body["role"] not in USER_ROLES:
            raise ValueError(f"role must be one of {USER_ROLES}")
        body["updated_at"] = self._now()
        on_insert = {k: v for k, v in {"role": "instructor", "courses": [], "created_at": body["updated_at"]}.items()
                     if k not in body}
        update: dict[str, Any] = {"$set": body}
        if on_insert:
            update["$setOnInsert"] = on_insert
        self._col.update_one({"username": body["username"]}, update, upsert=True)

    def delete(self, username: str) -> bool:
        return self._col.delete_one({"username": username}) == 1


class LlmCacheRepository(Repository):
    """Cache of LLM answers by prompt key (collection ``llm_cache``); MutableMapping-like."""

    collection_name = "llm_cache"

    def get(self, key: str, default: Any = None) -> Any:
        doc = self._col.find_one({"key": key}, {"_id": 0, "value": 1})
        return default if doc is None else doc.get("value")

    def set(self, key: str, value: Any) -> None:
        self._col.update_one(
            {"key": key}, {"$set": {"value": self._safe(value), "updated_at": self._now()}}, upsert=True
        )

    def __getitem__(self, key: str) -> Any:
        doc = self._col.find_one({"key": key}, {"_id": 0, "value": 1})
        if doc is None:
            raise KeyError(key)
        return doc.get("value")

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        if self._col.delete_one({"key": key}) == 0:
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return self._col.count_documents({"key": key}) > 0

    def __len__(self) -> int:
        return self._col.count_documents({})

    def keys(self) -> list[str]:
        return [d["key"] for d in self._col.find({}, {"_id": 0, "key": 1}, sort=[("key", 1)])]

    def clear(self) -> int:
        return self._col.delete_many({})
