"""The one-course input bundle that every source (demo, Moodle REST, log export) produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

__all__ = ["CourseData", "LOG_COLUMNS", "STUDENT_COLUMNS", "GRADE_COLUMNS", "empty_logs", "grades_frame"]

#: logstore_standard_log columns, in Moodle's own names.
LOG_COLUMNS = [
    "id", "eventname", "component", "action", "target", "objecttable", "objectid", "crud",
    "edulevel", "contextid", "contextlevel", "contextinstanceid", "userid", "courseid",
    "relateduserid", "anonymous", "other", "timecreated", "origin", "ip", "realuserid",
]
STUDENT_COLUMNS = ["id", "fullname", "email", "roles", "firstaccess", "lastaccess", "lastcourseaccess"]
GRADE_COLUMNS = [
    "userid", "id", "itemtype", "itemmodule", "iteminstance", "itemname", "graderaw", "grademin",
    "grademax", "gradedatesubmitted", "gradedategraded",
]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


_LOG_DTYPES = {
    "id": "int64", "objectid": "Int64", "edulevel": "int64", "contextid": "int64", "contextlevel": "int64",
    "contextinstanceid": "int64", "userid": "int64", "courseid": "int64", "relateduserid": "Int64",
    "anonymous": "int64", "timecreated": "int64", "realuserid": "Int64",
}


def empty_logs() -> pd.DataFrame:
    """A log frame with no rows but the same columns and dtypes as a full one."""
    return pd.DataFrame({c: pd.Series(dtype=_LOG_DTYPES.get(c, "str")) for c in LOG_COLUMNS})


@dataclass
class CourseData:
    """One course's inputs as DataFrames whose columns keep Moodle's own field names.

    ``students`` holds active students only (role shortname ``student``, not suspended);
    ``logs`` holds every user's rows (teachers too) — feature extraction keeps students only.
    ``timecreated`` is an int of Unix seconds; ``graderaw`` is NaN for an ungraded item.
    """

    course: dict
    students: pd.DataFrame = field(default_factory=lambda: _empty(STUDENT_COLUMNS))
    logs: pd.DataFrame = field(default_factory=lambda: empty_logs())
    grades: pd.DataFrame = field(default_factory=lambda: _empty(GRADE_COLUMNS))
    teachers: pd.DataFrame = field(default_factory=lambda: _empty(["id", "fullname", "roles"]))
    source: str = "demo"
    timezone: str = "UTC"
    extracted_at: datetime | None = None
    suspended_students: int = 0

    @property
    def course_id(self) -> int:
        return int(self.course["id"])

    def summary(self) -> dict:
        """Counts for logs and job records (no personal data)."""
        return {
            "course_id": self.course_id,
            "students": int(len(self.students)),
            "teachers": int(len(self.teachers)),
            "events": int(len(self.logs)),
            "grade_rows": int(len(self.grades)),
            "source": self.source,
        }


def grades_frame(usergrades: list[dict], *, modules: tuple[str, ...] | None = ("quiz",)) -> pd.DataFrame:
    """gradereport ``usergrades`` entries -> one row per (userid, item) with GRADE_COLUMNS.

    Keeps items whose ``itemmodule`` is in ``modules`` (None keeps every item, the course total too).
    ``graderaw`` None becomes NaN.
    """
    rows = []
    for ug in usergrades:
        uid = int(ug["userid"])
        for it in ug.get("gradeitems", []):
            if modules is not None and it.get("itemmodule") not in modules:
                continue
            row = {"userid": uid}
            for k in GRADE_COLUMNS[1:]:
                row[k] = it.get(k)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=GRADE_COLUMNS)
    for col in ("graderaw", "grademin", "grademax"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in ("userid", "id", "iteminstance"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    for col in ("gradedatesubmitted", "gradedategraded"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return frame
