"""Recent behaviour inside the course's time frame: the features groups are made from.

A run looks at the course "as of" a moment. That moment is first moved into the course's frame (after
the end, "now" is the end; before the start, the start), so a finished course is described as it was at
its end, never against the wall clock. Behaviour features then describe a *window* ending there: the
last ``window_days`` days (default four weeks), or everything since the start when the course is younger.
Counts become rates per week of the window, so a run in week 3 and one in week 12 measure students on the
same scale. Cumulative context (events, active days, quiz results and engagement since the start) is kept
beside them in ``*_to_date`` columns, shown but never clustered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .features import ACTIVITY_COLUMNS, DEFAULT_WEIGHTS, extract_features, log_seconds

__all__ = ["DEFAULT_WINDOW_DAYS", "RATE_COLUMNS", "CONTEXT_COLUMNS", "Window", "window_features",
           "resolve_window"]

DEFAULT_WINDOW_DAYS = 28
#: Window counts divided by the window's length in weeks (per-week rates).
RATE_COLUMNS: tuple[str, ...] = (*ACTIVITY_COLUMNS, "active_days", "sessions", "quiz_attempts")
#: Cumulative figures since the course start kept beside the window (``<name>_to_date``).
_CONTEXT_BASE = ("total_events", "active_days", "quiz_attempts", "mean_quiz_pct", "quiz_completion_share",
                 "engagement_score")
CONTEXT_COLUMNS: tuple[str, ...] = tuple(f"{c}_to_date" for c in _CONTEXT_BASE)


@dataclass(frozen=True)
class Window:
    """The period a run's groups describe (aware UTC datetimes)."""

    start: datetime
    end: datetime
    days: int                 # the configured length
    as_of: datetime           # the run's moment before clamping into the frame
    clamped: bool             # True when the frame moved "now" (before the start / after the end)

    @property
    def weeks(self) -> float:
        return max((self.end - self.start).total_seconds() / (7 * 86400.0), 1.0)

    def to_doc(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "days": int(self.days), "weeks": round(self.weeks, 3),
                "as_of": self.as_of, "clamped": bool(self.clamped), "counts": "per week"}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_window(now: datetime, *, start: datetime | None, end: datetime | None,
                   window_days: int = DEFAULT_WINDOW_DAYS, first_log: datetime | None = None) -> Window:
    """The window for a run at ``now`` in a course framed by ``start``/``end`` (None = unknown/open).

    ``now`` is clamped into the frame; the window starts ``window_days`` earlier, never before the start
    (or, when the start is unknown, the first log).
    """
    if window_days is None or int(window_days) < 1:
        raise ValueError(f"window_days={window_days!r} must be a positive number of days")
    as_of = _utc(now)
    moment = as_of
    if end is not None and moment > _utc(end):
        moment = _utc(end)
    if start is not None and moment < _utc(start):
        moment = _utc(start)
    floor = _utc(start) if start is not None else (_utc(first_log) if first_log is not None else None)
    w_start = moment - timedelta(days=int(window_days))
    if floor is not None and w_start < floor:
        w_start = min(floor, moment)
    return Window(start=w_start, end=moment, days=int(window_days), as_of=as_of, clamped=moment != as_of)


class _View:
    """A CourseData-like view of one period (what ``extract_features`` reads)."""

    def __init__(self, data: Any, rows: np.ndarray | None, seconds: np.ndarray, grades: pd.DataFrame | None,
                 start: datetime, end: datetime) -> None:
        self.course = {**(getattr(data, "course", None) or {}), "startdate": int(start.timestamp())}
        self.students = data.students
        self.logs = data.logs
        # the period's rows as a mask over the whole log (no copy of them: extract_features reads it)
        self.log_rows = rows
        self.log_seconds = seconds
        self.grades = grades
        self.teachers = getattr(data, "teachers", None)
        self.timezone = getattr(data, "timezone", "UTC")
        self.extracted_at = end


def _grade_times(grades: pd.DataFrame) -> np.ndarray:
    t = np.full(len(grades), np.nan)
    for col in ("gradedatesubmitted", "gradedategraded"):
        if col in grades.columns:
            v = pd.to_numeric(grades[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            v = np.where(v > 0, v, np.nan)
            t = np.where(np.isnan(t), v, t)
    return t


def _item_keys(grades: pd.DataFrame) -> pd.Series:
    for col in ("iteminstance", "id", "itemname"):
        if col in grades.columns and grades[col].notna().any():
            return grades[col].astype("object").astype(str)
    return pd.Series("", index=grades.index)


def _grades_between(grades: pd.DataFrame | None, lo: float, hi: float) -> pd.DataFrame | None:
    """Rows of the graded items that were done in [lo, hi] (an item's time = its latest submission or
    grading time; rows of an item nobody has done yet are left out). Ungraded rows of those items stay,
    so completion shares count the items of the period."""
    if grades is None or not len(grades):
        return grades
    t = _grade_times(grades)
    done = pd.Series(t <= hi, index=grades.index) & pd.Series(np.isfinite(t), index=grades.index)
    keys = _item_keys(grades)
    item_time = pd.Series(np.where(done.to_numpy(), t, np.nan), index=grades.index).groupby(keys).max()
    latest = keys.map(item_time).to_numpy(dtype=float)
    keep = np.isfinite(latest) & (latest >= lo) & (latest <= hi)
    out = grades[keep].copy()
    # a grade given after the window's end is not known yet at the run's moment
    late = np.isfinite(t[keep]) & (t[keep] > hi)
    if late.any() and "graderaw" in out.columns:
        out.loc[out.index[late], "graderaw"] = np.nan
    return out


def window_features(data: Any, now: datetime, *, start: datetime | None = None, end: datetime | None = None,
                    window_days: int = DEFAULT_WINDOW_DAYS, timezone: str | None = None,
                    weights: tuple[float, float, float, float] = DEFAULT_WEIGHTS) -> tuple[pd.DataFrame, Window]:
    """Behaviour features of ``data`` over the window ending at ``now`` clamped into [start, end].

    Returns ``(features, window)``: one row per student (index ``user_id``), the columns of
    ``extract_features`` measured inside the window (``RATE_COLUMNS`` per week of the window), then
    ``CONTEXT_COLUMNS`` (since the start, up to the clamped moment). Activity outside the frame is left
    out of both.
    """
    logs = data.logs
    t = log_seconds(logs)
    finite = np.isfinite(t)
    first_log = (datetime.fromtimestamp(float((t if finite.all() else t[finite]).min()), UTC) if finite.any()
                 else None)
    win = resolve_window(now, start=start, end=end, window_days=window_days, first_log=first_log)
    hi = win.end.timestamp()
    lo_frame = start.timestamp() if start is not None else -np.inf
    grades = getattr(data, "grades", None)

    def period(lo: float, begin: datetime) -> pd.DataFrame:
        keep = finite & (t >= lo) & (t <= hi)
        view = _View(data, None if keep.all() else keep, t, _grades_between(grades, lo, hi), begin, win.end)
        return extract_features(view, timezone=timezone, now=win.end, weights=weights)

    feats = period(win.start.timestamp(), win.start)
    for col in RATE_COLUMNS:
        if col in feats.columns:
            feats[col] = feats[col] / win.weeks
    frame_begin = start if start is not None else (first_log or win.start)
    if frame_begin.timestamp() >= win.start.timestamp():
        whole = feats.copy()   # the window is the whole course so far (rates -> totals below)
        for col in RATE_COLUMNS:
            if col in whole.columns:
                whole[col] = whole[col] * win.weeks
    else:
        whole = period(max(lo_frame, frame_begin.timestamp()), frame_begin)
    for base in _CONTEXT_BASE:
        feats[f"{base}_to_date"] = whole[base].reindex(feats.index).to_numpy(dtype=float)
    return feats, win
