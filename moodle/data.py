"""The one-course input bundle that every source (demo, Moodle REST, log export) produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

__all__ = ["CourseData", "LOG_COLUMNS", "STUDENT_COLUMNS", "GRADE_COLUMNS"]

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


@dataclass
class CourseData:
    """One course's inputs as DataFrames whose columns keep Moodle's own field names.

    ``students`` holds active students only (role shortname ``student``, not suspended);
    ``logs`` holds every user's rows (teachers too) — feature extraction keeps students only.
    ``timecreated`` is an int of Unix seconds; ``graderaw`` is NaN for an ungraded item.
    """

    course: dict
    students: pd.DataFrame = field(default_factory=lambda: _empty(STUDENT_COLUMNS))
    logs: pd.DataFrame = field(default_factory=lambda: _empty(LOG_COLUMNS))
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
