"""Shared helpers for the analytics tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd


@dataclass
class Course:
    """Minimal CourseData look-alike for hand-computed cases."""

    course: dict
    students: pd.DataFrame
    logs: pd.DataFrame
    grades: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["userid", "itemmodule", "iteminstance", "graderaw", "grademin", "grademax"]))
    teachers: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["id", "fullname"]))
    source: str = "test"
    timezone: str = "UTC"
    extracted_at: datetime | None = None
    suspended_students: int = 0


def ts(*args: int) -> int:
    """Unix seconds of a UTC datetime."""
    return int(datetime(*args, tzinfo=UTC).timestamp())


def log_rows(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    """(userid, eventname, timecreated) -> logstore-like frame (component/action/target from the name)."""
    recs = []
    for uid, ev, t in rows:
        parts = [p for p in ev.split("\\") if p]
        comp = parts[0]
        short = parts[-1]
        action = short.rsplit("_", 1)[-1]
        target = short.rsplit("_", 1)[0]
        recs.append({"eventname": ev, "component": comp, "action": action, "target": target,
                     "contextlevel": 50 if comp == "core" else 70, "contextinstanceid": 1, "userid": uid,
                     "courseid": 5, "anonymous": 0, "timecreated": t})
    return pd.DataFrame(recs)
