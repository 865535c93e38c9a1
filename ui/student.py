"""One student: features over time against the course, path through the groups, contacts (access-checked).

Names are read from the run snapshots for the instructor's eyes only; nothing here reaches an LLM.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ui import loaders
from ui.auth import require_course

__all__ = ["TREND_FEATURES", "student_options", "student_trend", "student_now"]

#: the features drawn over time (student vs course median)
TREND_FEATURES = ("engagement_score", "events_last_14d", "days_since_last_activity", "active_days")
#: the latest run's columns the pickers and the student's header read (not the whole ~60-column frame)
NOW_COLUMNS = ("user_id", "fullname", "email", "cluster_id", "engagement_score", "days_since_last_activity")


def student_options(course_id: int) -> dict[int, str]:
    """user_id -> "Name (id)" of the latest run's students, sorted by name."""
    cid = require_course(course_id)
    run = loaders.latest_run(cid)
    if run is None:
        return {}
    snap, _ = loaders.snapshot_columns(cid, run["run_id"], NOW_COLUMNS)
    if snap.empty:
        ids = sorted({int(u) for c in run.get("clusters") or [] for u in c.get("user_ids") or []})
        return {u: str(u) for u in ids}
    names = snap["fullname"].astype(str) if "fullname" in snap else pd.Series("", index=snap.index)
    pairs = sorted(zip(snap["user_id"].astype(int), names, strict=True), key=lambda p: (p[1].lower(), p[0]))
    return {u: f"{n} ({u})" if n else str(u) for u, n in pairs}


def student_now(course_id: int, user_id: int) -> dict[str, Any]:
    """The student's row of the latest run (``NOW_COLUMNS``: group, name, email, engagement, days
    inactive), empty when absent."""
    cid = require_course(course_id)
    run = loaders.latest_run(cid)
    if run is None:
        return {}
    snap, _ = loaders.snapshot_columns(cid, run["run_id"], NOW_COLUMNS)
    if snap.empty:
        return {}
    row = snap[snap["user_id"].astype(int) == int(user_id)]
    return row.iloc[0].to_dict() if len(row) else {}


def student_trend(course_id: int, user_id: int, limit: int = 12,
                  features: tuple[str, ...] = TREND_FEATURES) -> pd.DataFrame:
    """Long frame ``run_at, feature, student, course_median`` over the course's last ``limit`` runs."""
    cid = require_course(course_id)
    runs = loaders.run_index(cid, limit=limit)
    wanted = tuple(dict.fromkeys(("user_id", *features)))
    parts = []
    for run in reversed(runs):
        # the few columns drawn, not the whole frame; a run whose snapshot is no longer kept is skipped
        snap, meta = loaders.snapshot_columns(cid, run["run_id"], wanted)
        if not snap.empty and "user_id" in snap:
            parts.append((run["run_id"], snap, meta))
    # the pipeline writes the run's as_of (its data time) into the snapshot's meta too; only a run
    # whose meta lacks it has its run document read
    missing = [rid for rid, _, meta in parts if meta.get("as_of") is None]
    times = loaders.run_fields(cid, missing, ("as_of", "run_at")) if missing else {}
    rows = []
    for run_id, snap, meta in parts:
        when = meta.get("as_of") or (times.get(run_id) or {}).get("as_of") or (times.get(run_id) or {}).get("run_at")
        mine = snap[snap["user_id"].astype(int) == int(user_id)]
        for f in features:
            if f not in snap:
                continue
            rows.append({"run_at": when, "feature": f,
                         "student": float(mine[f].iloc[0]) if len(mine) else None,
                         "course_median": float(pd.to_numeric(snap[f], errors="coerce").median())})
    return pd.DataFrame(rows, columns=["run_at", "feature", "student", "course_median"])
