"""Grouping models (collection ``grouping_models``): one document per (course, version).

A course's grouping model (feature scaling, feature set, k, centroids, group ids) is fitted once and
then reused by later runs, which place students into it (see ``analytics.grouping``). Every fit or
regrouping saves a new version; a run records the version it used (``grouping.model_version``), so the
model in force is the one the latest *finished* run names: a crashed run's model is never used.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from .base import NO_ID, Repository

__all__ = ["ModelRepository"]


class ModelRepository(Repository):
    collection_name = "grouping_models"

    def save(self, course_id: int, model: dict[str, Any], *, run_as_of: Any = None) -> int:
        """Store a new version of the course's model; returns its version number (1, 2, ...)."""
        body = self._safe(dict(model))
        body.pop("_id", None)
        for _ in range(5):  # two writers racing for one version: the loser takes the next
            last = self._col.find({"course_id": int(course_id)}, {"_id": 0, "version": 1},
                                  sort=[("version", -1)], limit=1)
            version = int(last[0]["version"]) + 1 if last else 1
            doc = {**body, "course_id": int(course_id), "version": version, "created_at": self._now(),
                   "run_as_of": self._safe(run_as_of)}
            try:
                self._col.insert_one(doc)
            except DuplicateKeyError:
                continue
            return version
        raise RuntimeError(f"could not save a grouping model version for course {course_id}")

    def get(self, course_id: int, version: int | None = None) -> dict | None:
        """One version (default: the newest saved)."""
        query: dict[str, Any] = {"course_id": int(course_id)}
        if version is not None:
            query["version"] = int(version)
        found = self._col.find(query, NO_ID, sort=[("version", -1)], limit=1)
        return found[0] if found else None

    def list(self, course_id: int) -> list[dict]:
        """Every version of the course's model, newest first, without centroids and scaling."""
        return self._col.find({"course_id": int(course_id)},
                              {"_id": 0, "centroids": 0, "mean": 0, "scale": 0, "log_scale": 0},
                              sort=[("version", -1)])

    def prune(self, course_id: int, keep: set[int] | list[int], *, keep_latest: int = 3) -> int:
        """Delete versions not in ``keep`` and older than the newest ``keep_latest``."""
        versions = [int(d["version"]) for d in self._col.find({"course_id": int(course_id)},
                                                              {"_id": 0, "version": 1}, sort=[("version", -1)])]
        spare = set(versions[: max(keep_latest, 0)]) | {int(v) for v in keep}
        doomed = [v for v in versions if v not in spare]
        if not doomed:
            return 0
        return self._col.delete_many({"course_id": int(course_id), "version": {"$in": doomed}})

    def delete_course(self, course_id: int) -> int:
        return self._col.delete_many({"course_id": int(course_id)})
