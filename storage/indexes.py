"""Every index of the database, in one place. ``ensure_indexes`` is idempotent."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import OperationFailure

__all__ = ["EMBEDDED_SKIP", "INDEXES", "OBSOLETE_INDEXES", "ensure_indexes"]

log = logging.getLogger(__name__)

# collection -> [(keys, options)]; explicit names keep re-creation a no-op on both backends.
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    "course_clusters": [
        ([("run_id", 1)], {"name": "run_id_unique", "unique": True}),
        ([("course_id", 1), ("run_id", 1)], {"name": "course_run_unique", "unique": True}),
        ([("course_id", 1), ("status", 1), ("run_at", -1)], {"name": "course_status_run_at"}),
    ],
    # one document per (course, student) with _id "<course_id>:<user_id>" (the _id is the
    # uniqueness: no unique compound index, which litemongo checks expensively on every write)
    "user_cluster_history": [
        ([("course_id", 1)], {"name": "course_id"}),
        # MongoDB only (see EMBEDDED_SKIP): the embedded store answers these through course_id / _id
        ([("user_id", 1)], {"name": "user_id"}),
        ([("history.run_id", 1)], {"name": "history_run_id"}),
    ],
    # one small document per finished run (_id = run_id), see repositories/runs.py
    "run_summaries": [
        ([("course_id", 1), ("run_at", -1)], {"name": "course_run_at"}),
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
    "grouping_models": [
        ([("course_id", 1), ("version", 1)], {"name": "course_version_unique", "unique": True}),
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
    "api_tokens": [
        ([("token_hash", 1)], {"name": "token_hash_unique", "unique": True}),
        ([("token_id", 1)], {"name": "token_id_unique", "unique": True}),
        ([("username", 1)], {"name": "username"}),
    ],
    "users": [
        ([("username", 1)], {"name": "username_unique", "unique": True}),
    ],
    "llm_cache": [
        ([("key", 1)], {"name": "key_unique", "unique": True}),
    ],
    "interventions": [
        ([("intervention_id", 1)], {"name": "intervention_id_unique", "unique": True}),
        ([("course_id", 1), ("created_at", -1)], {"name": "course_created_at"}),
        ([("course_id", 1), ("user_id", 1)], {"name": "course_user"}),
    ],
}

#: collection -> indexes NOT kept on the embedded store. Its query engine (mongomock inside litemongo)
#: keeps every declared index as an in-memory hash map updated in Python on every write; a multikey
#: index on ``history.run_id`` holds one entry per student per run (a million at 20,000 students x 52
#: runs) and doubled the cost of recording a run. Every query on these fields also names ``course_id``
#: or ``_id``, which the embedded store indexes.
EMBEDDED_SKIP: dict[str, set[str]] = {
    "user_cluster_history": {"user_id", "history_run_id"},
}

#: collection -> index names of older layouts, dropped by ``ensure_indexes`` when present.
OBSOLETE_INDEXES: dict[str, set[str]] = {
    # the unique (course_id, user_id) index and the indexes of the short-lived run-chunk layout
    "user_cluster_history": {"course_user_unique", "course_user", "course_run_chunk", "user_ids_course"},
}


def _drop_obsolete(col: Any, names: set[str]) -> None:
    try:
        present = {ix.get("name") for ix in col.list_indexes()}
        for name in sorted(names & present):
            col.drop_index(name)
            log.info("index %s.%s dropped (obsolete)", col.name, name)
    except OperationFailure as exc:  # e.g. no rights to drop an index on a shared database
        log.warning("obsolete indexes of %s not dropped: %s", col.name, exc)


def ensure_indexes(db: Any) -> list[str]:
    """Create every index on ``db`` (a :class:`storage.Store` or a pymongo ``Database``).

    Idempotent: existing indexes with the same name and keys are left alone, obsolete ones
    (``OBSOLETE_INDEXES``) are dropped. Re-syncs the run summaries last (see ``storage.migrations``).
    Returns ``"collection.index"`` names.
    """
    from .migrations import sync_run_summaries

    created = []
    embedded = getattr(db, "backend", None) == "embedded"
    for collection, specs in INDEXES.items():
        col = db.collection(collection) if hasattr(db, "collection") else db[collection]
        skip = EMBEDDED_SKIP.get(collection, set()) if embedded else set()
        if collection in OBSOLETE_INDEXES or skip:
            _drop_obsolete(col, OBSOLETE_INDEXES.get(collection, set()) | skip)
        for keys, options in specs:
            if options["name"] in skip:
                continue
            try:
                col.create_index(keys, **options)
            except OperationFailure as exc:  # same keys under another name/options on a shared db
                log.warning("index %s.%s not created: %s", collection, options["name"], exc)
                continue
            created.append(f"{collection}.{options['name']}")
    sync_run_summaries(db)
    return created
