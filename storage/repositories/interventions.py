"""Contacts with students (collection ``interventions``): who was contacted, when, why, with what
message, over which channel, and what came of it.

One document per contacted student and message: ``intervention_id``, ``course_id``, ``user_id``,
``student_name``, ``sender`` (dashboard username), ``created_at``, ``reason`` ({"en", "vi"} texts and
the reason ``codes``), ``message`` (the text sent), ``language``, ``channel`` ("moodle" or
"demo_moodle"), ``status`` ("sent" or "failed"), ``error`` (why it failed), ``moodle_msgid`` and
``before``: the student's figures and group in the run the contact was made from (so later runs can
show whether the student re-engaged).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import NO_ID, Repository, new_id

__all__ = ["InterventionRepository", "INTERVENTION_STATUSES", "INTERVENTION_CHANNELS"]

INTERVENTION_STATUSES = ("sent", "failed")
INTERVENTION_CHANNELS = ("moodle", "demo_moodle")
_REQUIRED = ("course_id", "user_id", "sender", "message", "channel", "status")


class InterventionRepository(Repository):
    collection_name = "interventions"

    def add_many(self, docs: Iterable[dict[str, Any]]) -> list[str]:
        """Store contacts (each needs course_id, user_id, sender, message, channel, status); returns ids."""
        now = self._now()
        out: list[dict[str, Any]] = []
        for i, doc in enumerate(docs):
            missing = [k for k in _REQUIRED if doc.get(k) in (None, "")]
            if missing:
                raise ValueError(f"intervention #{i} is missing {', '.join(missing)}")
            if doc["status"] not in INTERVENTION_STATUSES:
                raise ValueError(f"intervention #{i}: status {doc['status']!r} is not one of "
                                 f"{', '.join(INTERVENTION_STATUSES)}")
            if doc["channel"] not in INTERVENTION_CHANNELS:
                raise ValueError(f"intervention #{i}: channel {doc['channel']!r} is not one of "
                                 f"{', '.join(INTERVENTION_CHANNELS)}")
            item = {**doc, "course_id": int(doc["course_id"]), "user_id": int(doc["user_id"]),
                    "intervention_id": doc.get("intervention_id") or new_id()}
            item.setdefault("created_at", now)
            out.append(self._safe(item))
        if out:
            self._col.insert_many(out)
        return [d["intervention_id"] for d in out]

    def for_course(self, course_id: int, limit: int = 500) -> list[dict]:
        """A course's contacts, newest first."""
        return self._col.find({"course_id": int(course_id)}, NO_ID, sort=[("created_at", -1)], limit=limit)

    def for_user(self, course_id: int, user_id: int) -> list[dict]:
        """One student's contacts in a course, newest first."""
        return self._col.find({"course_id": int(course_id), "user_id": int(user_id)}, NO_ID,
                              sort=[("created_at", -1)])

    def count(self, course_id: int | None = None) -> int:
        return self._col.count_documents({} if course_id is None else {"course_id": int(course_id)})

    def delete_course(self, course_id: int) -> int:
        return self._col.delete_many({"course_id": int(course_id)})
