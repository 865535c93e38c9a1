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


def student_options(course_id: int) -> dict[int, str]:
    """user_id -> "Name (id)" of the latest run's students, sorted by name."""
    cid = require_course(course_id)
    run = loaders.latest_run(cid)
    if run is None:
        return {}
    snap, _ = loaders.snapshot(run["run_id"])
    if snap.empty:
        ids = sorted({int(u) for c in run.get("clusters") or [] for u in c.get("user_ids") or []})
        return {u: str(u) for u in ids}
    names = snap["fullname"].astype(str) if "fullname" in snap else pd.Series("", index=snap.index)
    pairs = sorted(zip(snap["user_id"].astype(int), names, strict=True), key=lambda p: (p[1].lower(), p[0]))
    return {u: f"{n} ({u})" if n else str(u) for u, n in pairs}


def student_now(course_id: int, user_id: int) -> dict[str, Any]:
    """The student's row of the latest run (features, group, name, email), empty when absent."""
    cid = require_course(course_id)
    run = loaders.latest_run(cid)
    if run is None:
        return {}
    snap, _ = loaders.snapshot(run["run_id"])
    if snap.empty:
        return {}
    row = snap[snap["user_id"].astype(int) == int(user_id)]
    return row.iloc[0].to_dict() if len(row) else {}


def student_trend(course_id: int, user_id: int, limit: int = 12,
                  features: tuple[str, ...] = TREND_FEATURES) -> pd.DataFrame:
    """Long frame ``run_at, feature, student, course_median`` over the course's last ``limit`` runs."""
    cid = require_course(course_id)
    rows = []
    for run in reversed(loaders.run_list(cid, limit=limit)):
        snap, _ = loaders.snapshot(run["run_id"])
        if snap.empty or "user_id" not in snap:
            continue
        mine = snap[snap["user_id"].astype(int) == int(user_id)]
        for f in features:
            if f not in snap:
                continue
            rows.append({"run_at": run.get("as_of") or run.get("run_at"), "feature": f,
                         "student": float(mine[f].iloc[0]) if len(mine) else None,
                         "course_median": float(pd.to_numeric(snap[f], errors="coerce").median())})
    return pd.DataFrame(rows, columns=["run_at", "feature", "student", "course_median"])
