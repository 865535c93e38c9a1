"""Course activity report per date (seed 002: the user_activity_etl fields)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .features import _local_offsets, unix_seconds

__all__ = ["activity_report", "REPORT_COMPONENTS", "REPORT_FIELDS"]

_UTC_NAMES = ("UTC", "Etc/UTC", "GMT")   # _local_offsets: zero offsets
_BITMAP_MAX = 64 << 20                   # days x user-id range cells for the distinct-users bitmap

#: View counters of the report and the Moodle component each one counts (seed 002's SQL).
REPORT_COMPONENTS = {
    "file_views": "mod_resource",
    "video_views": "mod_page",
    "forum_views": "mod_forum",
    "quiz_views": "mod_quiz",
    "assignment_views": "mod_assign",
    "url_views": "mod_url",
}
REPORT_FIELDS = ["date", "course_id", "course_name", "course_shortname", "num_students", "num_teachers",
                 *REPORT_COMPONENTS, "total_views", "active_days", "avg_activity_per_student_per_day",
                 "active_users"]


def _int_or_float(col: pd.Series) -> np.ndarray:
    """A numeric column's values (integers as they are: no float copy of a big int column)."""
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
        return col.to_numpy()
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)


def _distinct_per_day(didx: np.ndarray, uid: np.ndarray, nd: int) -> np.ndarray:
    """Distinct user ids per day index (a days x id-range bitmap; a hash of the pairs when the ids
    spread too wide for one)."""
    if len(uid) == 0:
        return np.zeros(nd, dtype=np.int64)
    umin, umax = int(uid.min()), int(uid.max())
    width = umax - umin + 1
    if nd * width <= _BITMAP_MAX:
        seen = np.zeros(nd * width, dtype=bool)
        cell = didx * width
        cell += uid
        cell -= umin
        seen[cell] = True
        del cell
        return seen.reshape(nd, width).sum(axis=1, dtype=np.int64)
    pairs = pd.DataFrame({"d": didx, "u": uid}).drop_duplicates()
    return np.bincount(pairs["d"].to_numpy(), minlength=nd)


def _lower_codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Factorise a text column once; string work happens on the distinct values only."""
    if isinstance(col.dtype, pd.CategoricalDtype):  # already factorised (-1 = missing)
        return col.cat.codes.to_numpy(), [str(u).lower() for u in col.cat.categories]
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    return codes, [str(u).lower() for u in uniques]


def _component(logs: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Component per row as (codes, names); from the eventname ("\\mod_quiz\\event\\...") where the
    column is empty. Works on the distinct values only (no per-row strings)."""
    n = len(logs)
    names: list[str] = [""]
    pos = {"": 0}

    def code_table(values: list[str]) -> np.ndarray:
        # the last entry ("") answers the missing code -1 (numpy reads index -1 as the last entry)
        out = np.empty(len(values) + 1, dtype=np.int32)
        for i, v in enumerate([*values, ""]):
            out[i] = pos.setdefault(v, len(pos))
            if out[i] == len(names):
                names.append(v)
        return out

    comp = np.zeros(n, dtype=np.int32)
    if "component" in logs.columns:
        codes, uniq = _lower_codes(logs["component"])
        comp = code_table(uniq)[codes]
    if "eventname" in logs.columns:
        codes, uniq = _lower_codes(logs["eventname"])
        parsed = []
        for u in uniq:
            parts = [p for p in u.split("\\") if p]
            parsed.append(parts[0] if len(parts) >= 3 else "")
        ev_comp = code_table(parsed)[codes]
        comp = np.where(comp == 0, ev_comp, comp)
    return comp, names


def activity_report(data: Any, *, timezone: str | None = "UTC") -> list[dict]:
    """One dict per date (course timezone ``timezone``; ``None`` = ``data.timezone``), from the first to
    the last date with a log row, dates without views included as zeros.

    Views follow seed 002: rows with ``action == "viewed"`` at module context (``contextlevel == 70``,
    when the column exists), counted by component (mod_resource -> file_views, mod_page -> video_views,
    mod_forum, mod_quiz, mod_assign, mod_url). All users' views count, as in the seed.
    ``total_views`` is their sum; ``active_days`` is 1 on a date with any view, else 0;
    ``avg_activity_per_student_per_day = round(total_views / num_students / active_days, 2)`` (0 when
    either is 0). ``active_users`` (added) counts distinct users with any log row that date.
    """
    tz = timezone or getattr(data, "timezone", None) or "UTC"
    course = data.course if isinstance(getattr(data, "course", None), dict) else {}
    num_students = int(len(data.students)) if data.students is not None else 0
    num_teachers = int(len(data.teachers)) if getattr(data, "teachers", None) is not None else 0
    logs = data.logs
    if logs is None or len(logs) == 0 or "timecreated" not in logs.columns:
        return []
    t = unix_seconds(logs["timecreated"])
    ok = np.isfinite(t)
    if not ok.any():
        return []
    # Per-row arrays are computed on the whole frame and masked: copying every log column is costlier.
    # Small dtypes and early frees: a 20,000-student course has 4.5M rows (36 MB per int64 column).
    sel = None if ok.all() else np.flatnonzero(ok)

    def rows(values: np.ndarray) -> np.ndarray:
        return values if sel is None else values[sel]

    t = rows(t).astype(np.int64)
    if tz in _UTC_NAMES:
        day = t // 86400
    else:                      # in place: each full-length temporary is 36 MB at 20,000 students
        day = _local_offsets(t, tz)
        day += t
        day //= 86400
    del t
    d0, d1 = int(day.min()), int(day.max())
    nd = d1 - d0 + 1
    day -= d0
    didx = day
    if "action" in logs.columns:
        codes, uniq = _lower_codes(logs["action"])
        viewed = rows(np.isin(codes, [i for i, u in enumerate(uniq) if u == "viewed"]))
    else:
        viewed = np.zeros(len(didx), dtype=bool)
    if "contextlevel" in logs.columns:
        viewed = viewed & rows(_int_or_float(logs["contextlevel"]) == 70)
    comp_all, comp_names = _component(logs)
    comp_codes = rows(comp_all)
    del comp_all
    pos = {u: i for i, u in enumerate(comp_names)}
    counts = {}
    for field, c in REPORT_COMPONENTS.items():
        m = viewed & (comp_codes == pos.get(c, -2))
        counts[field] = np.bincount(didx[m], minlength=nd)
    del viewed, comp_codes
    total = sum(counts.values())
    if "userid" in logs.columns:
        col = logs["userid"]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu":
            uid = rows(col.to_numpy()).astype(np.int64, copy=False)
        else:
            uid = rows(pd.to_numeric(col, errors="coerce").fillna(-1).to_numpy(dtype=np.int64))
        active_users = _distinct_per_day(didx, uid, nd)
    else:
        active_users = np.zeros(nd, dtype=int)
    dates = pd.to_datetime(np.arange(d0, d1 + 1) * 86400, unit="s").strftime("%Y-%m-%d")
    rows = []
    for i in range(nd):
        tv = int(total[i])
        ad = 1 if tv > 0 else 0
        avg = round(tv / num_students / ad, 2) if num_students and ad else 0.0
        row = {"date": dates[i], "course_id": int(course.get("id", 0) or 0),
               "course_name": str(course.get("fullname", "")), "course_shortname": str(course.get("shortname", "")),
               "num_students": num_students, "num_teachers": num_teachers}
        row.update({f: int(counts[f][i]) for f in REPORT_COMPONENTS})
        row.update({"total_views": tv, "active_days": ad, "avg_activity_per_student_per_day": float(avg),
                    "active_users": int(active_users[i])})
        rows.append(row)
    return rows
