"""The one-course input bundle that every source (demo, Moodle REST, log export) produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

__all__ = ["CourseData", "CourseFrame", "frame_from_course", "LOG_COLUMNS", "STUDENT_COLUMNS", "GRADE_COLUMNS", "empty_logs", "grades_frame"]

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


def _moment(value: Any) -> datetime | None:
    """Aware UTC datetime from a datetime / unix seconds / ISO text; None for 0, "" or None."""
    if value is None or value == "" or (isinstance(value, int | float) and value <= 0):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if hasattr(value, "to_pydatetime"):
        return _moment(value.to_pydatetime())
    try:
        return _moment(float(str(value)))
    except ValueError:
        pass
    try:
        return _moment(datetime.fromisoformat(str(value).strip()))
    except ValueError as exc:
        raise ValueError(f"course frame: {value!r} is not a date/time") from exc


@dataclass(frozen=True)
class CourseFrame:
    """A course's time frame: when it starts and ends, and the zone its days are counted in.

    ``start`` / ``end`` are aware UTC datetimes (None = not known / open-ended). ``source`` says where
    they came from: ``moodle`` (the course's startdate/enddate), ``data`` (first/last log of an
    import), ``user`` (given on import, e.g. ``--course-start``) or ``admin`` (edited in settings).
    Analytics compute everything "as of" :meth:`clamp` of the run's moment: after the end, "now" is the
    end; activity outside the frame is left out of behaviour features.
    """

    start: datetime | None = None
    end: datetime | None = None
    timezone: str = "UTC"
    source: str = "moodle"

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _moment(self.start))
        object.__setattr__(self, "end", _moment(self.end))
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"course frame: end {self.end.isoformat()} is not after start "
                             f"{self.start.isoformat()}")

    def clamp(self, moment: datetime) -> datetime:
        """``moment`` moved into the frame (before the start -> the start, after the end -> the end)."""
        moment = _moment(moment) or moment
        if self.end is not None and moment > self.end:
            moment = self.end
        if self.start is not None and moment < self.start:
            moment = self.start
        return moment

    def contains(self, moment: datetime) -> bool:
        moment = _moment(moment) or moment
        return (self.start is None or moment >= self.start) and (self.end is None or moment <= self.end)

    def to_doc(self) -> dict[str, Any]:
        """Plain fields for a store document: ``{start, end, timezone, source}``."""
        return {"start": self.start, "end": self.end, "timezone": self.timezone, "source": self.source}

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> CourseFrame | None:
        if not doc or (doc.get("start") is None and doc.get("end") is None):
            return None
        return cls(doc.get("start"), doc.get("end"), str(doc.get("timezone") or "UTC"),
                   str(doc.get("source") or "admin"))


def frame_from_course(course: dict | None, logs: pd.DataFrame | None = None, *, timezone: str = "UTC",
                      start: Any = None, end: Any = None) -> CourseFrame:
    """A course's frame: ``start``/``end`` when given (source ``user``), else Moodle's
    ``startdate``/``enddate`` (unix seconds, 0 = none; source ``moodle``), else the first/last log time
    (source ``data``). An end at or before the start is ignored (Moodle allows one by mistake)."""
    course = course or {}
    s, e = _moment(start), _moment(end)
    source = "user" if (s is not None or e is not None) else "moodle"
    s = s or _moment(course.get("startdate"))
    e = e or _moment(course.get("enddate"))
    if s is None and e is None:
        source = "data"
    if (s is None or e is None) and logs is not None and len(logs) and "timecreated" in logs.columns:
        t = pd.to_numeric(logs["timecreated"], errors="coerce").dropna()
        if len(t):
            if s is None:
                s = _moment(float(t.min()))
            if e is None and source == "data":   # an open-ended Moodle course stays open-ended
                e = _moment(float(t.max()))
    if s is not None and e is not None and e <= s:
        e = None
    return CourseFrame(s, e, timezone or "UTC", source)


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
    #: the course's time frame when the source set it explicitly (an import's ``--course-start``); else
    #: :meth:`course_frame` derives it from ``course`` startdate/enddate, then from the logs.
    frame: CourseFrame | None = None

    @property
    def course_id(self) -> int:
        return int(self.course["id"])

    def course_frame(self) -> CourseFrame:
        """The course's :class:`CourseFrame` (``frame`` if set, else from startdate/enddate, else logs)."""
        if self.frame is not None:
            return self.frame
        return frame_from_course(self.course, self.logs, timezone=self.timezone)

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
