"""Every index of the database, in one place. ``ensure_indexes`` is idempotent."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import OperationFailure

__all__ = ["INDEXES", "ensure_indexes"]

log = logging.getLogger(__name__)

# collection -> [(keys, options)]; explicit names keep re-creation a no-op on both backends.
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    "course_clusters": [
        ([("run_id", 1)], {"name": "run_id_unique", "unique": True}),
        ([("course_id", 1), ("run_id", 1)], {"name": "course_run_unique", "unique": True}),
        ([("course_id", 1), ("status", 1), ("run_at", -1)], {"name": "course_status_run_at"}),
    ],
    "user_cluster_history": [
        ([("course_id", 1), ("user_id", 1)], {"name": "course_user_unique", "unique": True}),
    ],
    "cluster_snapshots": [
        ([("run_id", 1), ("chunk", 1)], {"name": "run_chunk_unique", "unique": True}),
        ([("course_id", 1), ("chunk", 1), ("run_at", -1)], {"name": "course_chunk_run_at"}),
    ],
    "cluster_jobs": [
        ([("job_id", 1)], {"name": "job_id_unique", "unique": True}),
        ([("status", 1), ("created_at", -1)], {"name": "status_created_at"}),
        ([("course_ids", 1), ("status", 1)], {"name": "course_ids_status"}),
        ([("status", 1), ("scheduled_for", 1)], {"name": "status_scheduled_for"}),
        ([("created_at", -1)], {"name": "created_at"}),
    ],
    "locks": [
        ([("key", 1)], {"name": "key_unique", "unique": True}),
    ],
    "activity_reports": [
        ([("course_id", 1), ("extraction_date", 1)], {"name": "course_date_unique", "unique": True}),
    ],
    "courses": [
        ([("course_id", 1)], {"name": "course_id_unique", "unique": True}),
    ],
    "settings": [
        ([("key", 1)], {"name": "key_unique", "unique": True}),
    ],
    "alerts": [
        ([("course_id", 1), ("created_at", -1)], {"name": "course_created_at"}),
        ([("run_id", 1)], {"name": "run_id"}),
    ],
    "users": [
        ([("username", 1)], {"name": "username_unique", "unique": True}),
    ],
    "llm_cache": [
        ([("key", 1)], {"name": "key_unique", "unique": True}),
    ],
}


def ensure_indexes(db: Any) -> list[str]:
    """Create every index on ``db`` (a :class:`storage.Store` or a pymongo ``Database``).

    Idempotent: existing indexes with the same name and keys are left alone. Returns
    ``"collection.index"`` names.
    """
    created = []
    for collection, specs in INDEXES.items():
        col = db.collection(collection) if hasattr(db, "collection") else db[collection]
        for keys, options in specs:
            try:
                col.create_index(keys, **options)
            except OperationFailure as exc:  # same keys under another name/options on a shared db
                log.warning("index %s.%s not created: %s", collection, options["name"], exc)
                continue
            created.append(f"{collection}.{options['name']}")
    return created
