"""Per-student features from one course's logs and quiz grades (vectorised, no per-student loops).

Input is a ``CourseData``-like object (duck-typed): ``.course`` dict, ``.students`` / ``.logs`` /
``.grades`` / ``.teachers`` DataFrames with Moodle's own column names, ``.timezone`` and
``.extracted_at``. Output is one row per enrolled student, indexed by ``user_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

__all__ = [
    "ACTIVITY_COLUMNS",
    "MIX_COLUMNS",
    "TEMPORAL_COLUMNS",
    "PERFORMANCE_COLUMNS",
    "RECENCY_COLUMNS",
    "FEATURE_COLUMNS",
    "COUNT_COLUMNS",
    "DEFAULT_WEIGHTS",
    "ENGAGEMENT_FORMULA",
    "NIGHT_HOURS",
    "SESSION_GAP_SECONDS",
    "RECENCY_HORIZON_DAYS",
    "RECENT_DAYS",
    "TREND_WEEKS",
    "classify_events",
    "extract_features",
    "LOG_COLUMNS_READ",
    "engagement_score",
]

#: Activity by type: every student log row falls into exactly one of the first 11 columns.
ACTIVITY_COLUMNS = [
    "course_views",
    "resource_views",
    "page_views",
    "url_views",
    "forum_views",
    "forum_posts",
    "quiz_views",
    "quiz_attempt_events",
    "assignment_views",
    "submissions",
    "other_events",
    "total_events",
]
TEMPORAL_COLUMNS = [
    "active_days",
    "active_span_days",
    "events_per_active_day",
    "sessions",
    "weekly_regularity",
    "night_share",
    "weekend_share",
    "days_since_last_activity",
]
PERFORMANCE_COLUMNS = ["quiz_attempts", "mean_quiz_pct", "quiz_completion_share", "grade_trend"]
#: What a student does, independent of how much: shares of their events (0 when inactive).
MIX_COLUMNS = ["content_share", "forum_share", "quiz_share", "assignment_share"]
_MIX_PARTS = {
    "content_share": ["resource_views", "page_views", "url_views"],
    "forum_share": ["forum_views", "forum_posts"],
    "quiz_share": ["quiz_views", "quiz_attempt_events"],
    "assignment_share": ["assignment_views", "submissions"],
}
#: Who is slipping (or picking up) lately: events in the last ``RECENT_DAYS`` days before ``now`` and the
#: relative slope of the student's weekly event counts over the last ``TREND_WEEKS`` whole weeks.
RECENCY_COLUMNS = ["events_last_14d", "activity_trend"]
FEATURE_COLUMNS = ACTIVITY_COLUMNS + MIX_COLUMNS + TEMPORAL_COLUMNS + PERFORMANCE_COLUMNS + RECENCY_COLUMNS
#: Heavy-tailed counts (log1p before scaling).
COUNT_COLUMNS = ACTIVITY_COLUMNS + ["active_days", "active_span_days", "events_per_active_day", "sessions",
                                    "quiz_attempts", "days_since_last_activity", "events_last_14d"]

#: Every log column the analytics read (extract_features, window_features, activity_report): the
#: pipeline drops the others after loading (at 20,000 students they are ~290 MB of the ~490 MB log).
#: A new reader of another column must be added here (tests compare results on the trimmed frame).
LOG_COLUMNS_READ = ("timecreated", "userid", "anonymous", "eventname", "component", "action", "target",
                    "contextinstanceid", "contextlevel")

DEFAULT_WEIGHTS: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.2)
NIGHT_HOURS = (0, 6)  # local hours [0, 6) count as night
SESSION_GAP_SECONDS = 30 * 60
RECENCY_HORIZON_DAYS = 28.0
RECENT_DAYS = 14
TREND_WEEKS = 4  # activity_trend: 7-day bins ending at ``now``, whole bins inside the course window only
MIN_TREND_QUIZZES = 3  # a slope over fewer graded quizzes is mostly noise; it is 0 then

ENGAGEMENT_FORMULA = (
    "Engagement score (0-100) = 100 x weighted mean of four parts, each between 0 and 1:\n"
    "- activity (default weight 0.3): log(1 + events) / log(1 + the course's 95th-percentile events), "
    "capped at 1;\n"
    "- regularity (0.3): share of the course's weeks so far in which the student was active;\n"
    "- performance (0.2): average quiz score with unattempted quizzes counted as 0 "
    "(mean quiz % x share of quizzes attempted); left out, and the other weights rescaled, when the "
    "course has no graded quizzes;\n"
    "- recency (0.2): 1 - days since last activity / 28, floored at 0 (active today = 1, "
    "4 weeks or more ago = 0).\n"
    "The weights are configurable; they are rescaled to sum to 1."
)

_CATS = ACTIVITY_COLUMNS[:-1]  # the 11 exclusive categories
_CAT_INDEX = {c: i for i, c in enumerate(_CATS)}
_SUBMISSION_EVENTS = {
    "assessable_submitted", "submission_created", "submission_updated", "assessable_uploaded",
    "submission_status_updated",
}
_FORUM_POST_EVENTS = {"discussion_created", "post_created", "assessable_uploaded"}
_QUIZ_ATTEMPT_EVENTS = {"attempt_started", "attempt_submitted"}
_PAGE_COMPONENTS = {"mod_page", "mod_book", "mod_h5pactivity", "mod_hvp", "mod_lesson"}
_RESOURCE_COMPONENTS = {"mod_resource", "mod_folder"}


def _classify_one(eventname: str, component: str, action: str, target: str) -> str:
    """Map one (eventname, component, action, target) combination to an activity category."""
    ev = (eventname or "").strip().lower()
    comp = (component or "").strip().lower()
    act = (action or "").strip().lower()
    tgt = (target or "").strip().lower()
    short = ""
    if ev:
        parts = [p for p in ev.split("\\") if p]
        if len(parts) >= 3:
            comp = comp or parts[0]
            if comp in ("", "core") and parts[0] != "core":
                comp = parts[0]
            short = parts[-1]
        else:
            short = parts[-1] if parts else ""
    if not short and (tgt or act):
        short = f"{tgt}_{act}" if tgt and act else (tgt or act)
    viewed = act == "viewed" or short.endswith("_viewed") or short.endswith("viewed")
    if short == "course_viewed" or (comp == "core" and tgt == "course" and act == "viewed"):
        return "course_views"
    if comp.startswith("assignsubmission_") or comp == "mod_assign":
        if short in _SUBMISSION_EVENTS or act in ("submitted", "uploaded"):
            return "submissions"
        if viewed:
            return "assignment_views"
        return "other_events"
    if comp in _RESOURCE_COMPONENTS:
        return "resource_views" if viewed else "other_events"
    if comp in _PAGE_COMPONENTS:
        return "page_views" if viewed else "other_events"
    if comp == "mod_url":
        return "url_views" if viewed else "other_events"
    if comp == "mod_forum":
        if short in _FORUM_POST_EVENTS or (act in ("created", "uploaded") and tgt in ("post", "discussion")):
            return "forum_posts"
        if viewed:
            return "forum_views"
        return "other_events"
    if comp == "mod_quiz":
        if short in _QUIZ_ATTEMPT_EVENTS or (tgt == "attempt" and act in ("started", "submitted")):
            return "quiz_attempt_events"
        if viewed:
            return "quiz_views"
        return "other_events"
    return "other_events"


def _str_col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name].astype("object").where(df[name].notna(), "").astype(str)
    return pd.Series("", index=df.index, dtype=object)


def classify_events(logs: pd.DataFrame) -> np.ndarray:
    """Category code (index into the first 11 ``ACTIVITY_COLUMNS``) for every log row.

    Works on the distinct (eventname, component, action, target) combinations only, so 10M rows with a
    few hundred distinct events cost one factorisation, not 10M Python calls.
    """
    return _classify(logs, None)


def _classify(logs: pd.DataFrame, within: np.ndarray | None) -> np.ndarray:
    """``classify_events`` of the rows where ``within`` (a boolean mask) is True, as if the frame held
    only those rows, without copying them: codes for every row (rows outside the mask get
    ``other_events``; callers index the rows they use)."""
    n = len(logs)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    cols = [c for c in ("eventname", "component", "action", "target") if c in logs.columns]
    if not cols:
        return np.full(n, _CAT_INDEX["other_events"], dtype=np.int8)
    # Moodle's eventname fixes component/action/target; factorise eventname first and fall back to the
    # other three only for rows without an eventname.
    codes = np.full(n, _CAT_INDEX["other_events"], dtype=np.int8)
    if "eventname" in logs.columns:
        ev_col = logs["eventname"]
        if isinstance(ev_col.dtype, pd.CategoricalDtype):  # already factorised: use its codes
            ev_codes = ev_col.cat.codes.to_numpy()
            ev_uniques = [str(u) for u in ev_col.cat.categories]
        else:
            ev_codes, ev_uniques = pd.factorize(ev_col, use_na_sentinel=True)
            ev_uniques = [str(u) for u in ev_uniques]
        # Component/action/target for each distinct eventname, from its first row (identical in Moodle).
        if within is None:
            firsts = pd.Series(ev_codes).drop_duplicates()
        else:   # rows outside the mask get a code no event has (-2): their "first row" is never asked for
            firsts = pd.Series(np.where(within, ev_codes, np.array(-2, dtype=ev_codes.dtype))).drop_duplicates()
        first_row = dict(zip(firsts.to_numpy().tolist(), firsts.index.tolist()))
        table = np.empty(len(ev_uniques), dtype=np.int8)
        for code, ev in enumerate(ev_uniques):
            row = first_row.get(code, -1)
            if row >= 0:
                comp, act, tgt = (_cell(logs, c, row) for c in ("component", "action", "target"))
            else:
                comp = act = tgt = ""
            table[code] = _CAT_INDEX[_classify_one(ev, comp, act, tgt)]
        has = ev_codes >= 0
        # An empty eventname string is the same as missing.
        empty_codes = [i for i, u in enumerate(ev_uniques) if not u.strip()]
        if empty_codes:
            has &= ~np.isin(ev_codes, empty_codes)
        codes[has] = table[ev_codes[has]]
        missing = ~has
    else:
        missing = np.ones(n, dtype=bool)
    if within is not None:
        missing &= within
    if missing.any():
        sub = logs.loc[missing, [c for c in ("component", "action", "target") if c in logs.columns]]
        if sub.shape[1]:
            keyframe = pd.DataFrame({c: _str_col(sub, c) for c in ("component", "action", "target")})
            grp = keyframe.groupby(["component", "action", "target"], sort=False).ngroup().to_numpy()
            uniq = keyframe.drop_duplicates().reset_index(drop=True)
            # ngroup numbers groups in order of first appearance with sort=False, as drop_duplicates does.
            table = np.array(
                [_CAT_INDEX[_classify_one("", r.component, r.action, r.target)] for r in uniq.itertuples()],
                dtype=np.int8,
            )
            codes[missing] = table[grp]
    return codes


def _cell(df: pd.DataFrame, col: str, row: int) -> str:
    if col not in df.columns:
        return ""
    v = df[col].iloc[row]
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _resolve_now(data: Any, now: datetime | None, tmax: float | None) -> float:
    if now is None:
        now = getattr(data, "extracted_at", None)
    if now is not None:
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.timestamp()
    if tmax is not None:
        return float(tmax)
    # no moment given and no activity at all: every feature is 0 whatever "now" is; never the wall clock
    start = (getattr(data, "course", None) or {}).get("startdate") if isinstance(getattr(data, "course", None),
                                                                              dict) else None
    return float(start or 0.0)


def _local_offsets(t: np.ndarray, tz: str) -> np.ndarray:
    """UTC offset in seconds for each unix time, computed once per distinct hour (DST-safe)."""
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    if tz in ("UTC", "Etc/UTC", "GMT"):
        return np.zeros(len(t), dtype=np.int64)
    hours = t // 3600
    hmin, hmax = int(hours.min()), int(hours.max())
    grid = pd.to_datetime(np.arange(hmin, hmax + 1, dtype=np.int64) * 3600, unit="s", utc=True)
    local = grid.tz_convert(ZoneInfo(tz)).tz_localize(None)
    offs = np.asarray((local - grid.tz_localize(None)).total_seconds(), dtype=np.float64).astype(np.int64)
    hours -= hmin
    return offs[hours]


def _local_offset_at(ts: float, tz: str) -> int:
    return int(_local_offsets(np.array([int(ts)], dtype=np.int64), tz)[0])


def engagement_score(features: pd.DataFrame, weights: Sequence[float] = DEFAULT_WEIGHTS,
                     *, has_quizzes: bool | None = None) -> pd.Series:
    """The composite described in ``ENGAGEMENT_FORMULA`` (0..100) from a features frame."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (4,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights={tuple(weights)!r} must be 4 non-negative numbers with a positive sum")
    total = features["total_events"].to_numpy(dtype=float)
    p95 = float(np.percentile(total, 95)) if len(total) else 0.0
    denom = np.log1p(max(p95, 1.0))
    activity = np.clip(np.log1p(total) / denom, 0.0, 1.0)
    regularity = np.clip(features["weekly_regularity"].to_numpy(dtype=float), 0.0, 1.0)
    performance = np.clip(
        features["mean_quiz_pct"].to_numpy(dtype=float) / 100.0
        * features["quiz_completion_share"].to_numpy(dtype=float), 0.0, 1.0)
    recency = np.clip(1.0 - features["days_since_last_activity"].to_numpy(dtype=float)
                      / RECENCY_HORIZON_DAYS, 0.0, 1.0)
    recency = np.where(total > 0, recency, 0.0)
    if has_quizzes is None:
        has_quizzes = bool((features["quiz_completion_share"] > 0).any())
    if not has_quizzes:
        w = w.copy()
        w[2] = 0.0
        if w.sum() <= 0:
            w = np.array([1.0, 1.0, 0.0, 1.0])
    parts = np.vstack([activity, regularity, performance, recency])
    score = 100.0 * (w @ parts) / w.sum()
    return pd.Series(np.round(score, 4), index=features.index, name="engagement_score")


def extract_features(data: Any, *, timezone: str | None = None, now: datetime | None = None,
                     weights: tuple[float, float, float, float] = DEFAULT_WEIGHTS) -> pd.DataFrame:
    """Per-student features of one course.

    Parameters
    ----------
    data : CourseData-like
        ``.course``, ``.students``, ``.logs``, ``.grades`` (Moodle column names), ``.timezone``,
        ``.extracted_at``.
    timezone : str, default=None
        IANA zone for night/weekend/day features; ``None`` uses ``data.timezone`` (else UTC).
    now : datetime, default=None
        Reference time for "days since last activity" and elapsed weeks; ``None`` uses
        ``data.extracted_at``, else the latest log time. Logs after ``now`` are ignored.
    weights : tuple of 4 floats, default=(0.3, 0.3, 0.2, 0.2)
        Engagement weights over activity, regularity, performance, recency.

    Returns
    -------
    DataFrame indexed by ``user_id`` (one row per student in ``data.students``; an inactive student
    has zero counts and shares, and ``days_since_last_activity`` equal to the whole observation window),
    columns ``FEATURE_COLUMNS`` + ``engagement_score``.
    """
    tz = timezone or getattr(data, "timezone", None) or "UTC"
    ZoneInfo(tz)  # raises for an unknown zone
    students = data.students
    ids = (pd.to_numeric(students["id"], errors="coerce").dropna().astype(np.int64).drop_duplicates()
           if "id" in students.columns and len(students) else pd.Series([], dtype=np.int64))
    index = pd.Index(ids.to_numpy(), name="user_id", dtype=np.int64)
    n = len(index)
    out = {c: np.zeros(n, dtype=float) for c in FEATURE_COLUMNS}

    logs = data.logs
    # A period of the course (analytics.window) is given as a row mask over the whole log with the rows'
    # unix seconds, instead of a copy of the period's rows: rows outside the mask are treated as absent.
    within = getattr(data, "log_rows", None)
    t_all = getattr(data, "log_seconds", None)
    if t_all is None:
        t_all = log_seconds(logs)
    finite = np.isfinite(t_all)
    if within is not None and len(finite):
        finite &= within
    tmax_all = float(t_all[finite].max()) if finite.any() else None
    now_ts = _resolve_now(data, now, tmax_all)

    # Observation window start: the course start when set and not in the future, else the first log.
    start = float(data.course.get("startdate") or 0) if isinstance(getattr(data, "course", None), dict) else 0.0
    in_window = finite & (t_all <= now_ts)
    if not (0 < start <= now_ts):
        start = float(t_all[in_window].min()) if in_window.any() else now_ts

    off_now = _local_offset_at(now_ts, tz)
    off_start = _local_offset_at(start, tz)
    day_now = (int(now_ts) + off_now) // 86400
    day_start = (int(start) + off_start) // 86400
    week_now = (day_now + 3) // 7  # Monday-aligned week number (1970-01-01 was a Thursday)
    week_start = (day_start + 3) // 7
    n_weeks = max(week_now - week_start + 1, 1)
    window_days = max((now_ts - start) / 86400.0, 0.0)

    if n and len(logs):
        # Rows that count: in the window, not anonymous, by an enrolled student. Built from the candidate
        # rows' positions (one full-length int array at a time: a 20,000-student course has 4.5M rows).
        keep = in_window
        if "anonymous" in logs.columns:
            anon = logs["anonymous"]
            keep = keep & ((anon.to_numpy() if _is_int(anon) else
                            pd.to_numeric(anon, errors="coerce").fillna(0).to_numpy()) == 0)
        ucode = index.get_indexer(_user_ids(logs["userid"], keep))
        sel = ucode >= 0
        uc = ucode[sel]
        del ucode
        rows = keep if keep is not in_window else keep.copy()   # a row mask (the same row order)
        rows[rows] = sel
        del keep, sel
        n_rows = len(uc)
        if n_rows:
            # Classify every row (it works on the distinct event names) and index the codes: copying
            # the selected rows of all log columns first cost more than the classification itself.
            cat = _classify(logs, within) if within is not None else classify_events(logs)
            if n_rows < len(logs):
                cat = cat[rows]
            # integer seconds: the recency features can use the sorted arrays below (same values)
            stamps = logs["timecreated"]
            if _is_int(stamps):
                t = stamps.to_numpy()[rows].astype(np.int64, copy=False)
                recency_in = None
            else:
                t = t_all[rows].astype(np.int64)
                recency_in = None if bool((t == t_all[rows]).all()) else (uc, t_all[rows])
            del rows
            counts = np.zeros((n, len(_CATS)), dtype=float)
            _bincount2(counts, uc, cat)
            del cat
            for j, c in enumerate(_CATS):
                out[c] = counts[:, j]
            total = counts.sum(axis=1)
            out["total_events"] = total
            for mix, parts in _MIX_PARTS.items():
                out[mix] = _safe_div(sum(counts[:, _CAT_INDEX[p]] for p in parts), total)

            # One sort of a packed (student, time) key replaces a lexsort plus gathers (5x faster at
            # 10M rows); everything below works on the sorted arrays.
            t_base = int(t.min())
            key = uc.astype(np.int64)
            del uc
            key <<= 32
            t -= t_base
            key |= t
            del t
            key.sort()
            uc_s = key >> 32
            key &= 0xFFFFFFFF
            key += t_base
            t_s = key
            del key
            # local time, hour and day computed in place (each full-length temporary is 36 MB here)
            if tz in _UTC_NAMES:
                local = t_s
            else:
                local = _local_offsets(t_s, tz)
                local += t_s
            hour = local % 86400
            hour //= 3600
            if local is t_s:
                day_s = local // 86400
            else:
                local //= 86400
                day_s = local
            del local
            night = (hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])
            del hour
            out["night_share"] = _safe_div(np.bincount(uc_s, weights=night, minlength=n), total)
            del night
            weekday = day_s + 3
            weekday %= 7                      # Monday = 0
            weekend = weekday >= 5
            del weekday
            out["weekend_share"] = _safe_div(np.bincount(uc_s, weights=weekend, minlength=n), total)
            del weekend

            first = np.ones(len(uc_s), dtype=bool)
            first[1:] = uc_s[1:] != uc_s[:-1]
            new_day = first.copy()
            new_day[1:] |= day_s[1:] != day_s[:-1]
            active_days = np.bincount(uc_s, weights=new_day, minlength=n)
            del new_day
            week_s = day_s + 3
            week_s //= 7
            new_week = first.copy()
            new_week[1:] |= week_s[1:] != week_s[:-1]
            new_week &= week_s >= week_start
            del week_s
            weeks_active = np.bincount(uc_s[new_week], minlength=n)
            del new_week
            new_session = first.copy()
            new_session[1:] |= (t_s[1:] - t_s[:-1]) > SESSION_GAP_SECONDS
            out["active_days"] = active_days
            out["sessions"] = np.bincount(uc_s, weights=new_session, minlength=n)
            del new_session
            out["weekly_regularity"] = np.clip(weeks_active / n_weeks, 0.0, 1.0)
            out["events_per_active_day"] = _safe_div(total, active_days)
            tmin = np.full(n, np.inf)
            tmaxu = np.full(n, -np.inf)
            np.minimum.at(tmin, uc_s[first], t_s[first])
            last_idx = np.flatnonzero(np.r_[first[1:], True])
            tmaxu[uc_s[last_idx]] = t_s[last_idx]
            dmin = np.full(n, 0)
            dmax = np.full(n, 0)
            dmin[uc_s[first]] = day_s[first]
            dmax[uc_s[last_idx]] = day_s[last_idx]
            del first, last_idx, day_s
            active = total > 0
            out["active_span_days"] = np.where(active, dmax - dmin + 1, 0).astype(float)
            out["days_since_last_activity"] = np.where(
                active, np.maximum(now_ts - tmaxu, 0.0) / 86400.0, window_days)
            if recency_in is None:   # counts only: the sorted rows give the same figures
                _recency(out, uc_s, t_s, now_ts, window_days, n)
            else:
                _recency(out, recency_in[0], recency_in[1], now_ts, window_days, n)
            del uc_s, t_s, recency_in
        else:
            out["days_since_last_activity"] = np.full(n, window_days)
    else:
        out["days_since_last_activity"] = np.full(n, window_days)

    has_quizzes = _performance(data, index, out, logs, t_all, in_window)

    frame = pd.DataFrame(out, index=index, columns=FEATURE_COLUMNS)
    frame["engagement_score"] = engagement_score(frame, weights, has_quizzes=has_quizzes)
    return frame


def _recency(out: dict[str, np.ndarray], uc: np.ndarray, t: np.ndarray, now_ts: float, window_days: float,
             n: int) -> None:
    """``events_last_14d`` and ``activity_trend`` (see ``RECENCY_COLUMNS``), vectorised.

    ``activity_trend``: least-squares slope of the weekly event counts over the last ``TREND_WEEKS``
    7-day bins ending at ``now`` (only bins wholly inside the course window; fewer than 2 -> 0),
    divided by the student's mean weekly count over those bins: about +1.2 when all of them fall in the
    latest week, -1.2 when all fall in the oldest, 0 for a steady student or one with no events there.
    """
    age = now_ts - t  # seconds before now, >= 0 (rows are within the window)
    out["events_last_14d"] = np.bincount(uc[age < RECENT_DAYS * 86400.0], minlength=n).astype(float)
    n_bins = int(min(TREND_WEEKS, window_days // 7))
    if n_bins < 2:
        out["activity_trend"] = np.zeros(n)
        return
    near = age < (n_bins + 1) * 7 * 86400.0       # the rows that can fall in a bin (the rest are older)
    if not near.all():
        age, uc = age[near], uc[near]
    del near
    b = (age // (7 * 86400.0)).astype(np.int64)
    del age
    inb = b < n_bins
    weekly = np.bincount(uc[inb] * n_bins + b[inb], minlength=n * n_bins).reshape(n, n_bins).astype(float)
    x = (n_bins - 1 - np.arange(n_bins, dtype=float))  # oldest bin at x=0, newest at n_bins-1
    xc = x - x.mean()
    slope = weekly @ xc / float((xc**2).sum())
    mean = weekly.mean(axis=1)
    out["activity_trend"] = np.divide(slope, mean, out=np.zeros(n), where=mean > 0)


_UTC_NAMES = ("UTC", "Etc/UTC", "GMT")   # _local_offsets: zero offsets


def _is_int(col: pd.Series) -> bool:
    """A plain numpy integer column (no nulls, no conversion needed)."""
    return isinstance(col.dtype, np.dtype) and col.dtype.kind in "iu"


def _user_ids(col: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The log's user ids at ``rows`` (positions or a row mask) as int64, -1 where missing or not a
    number."""
    values = col.to_numpy() if _is_int(col) else None
    if values is not None:
        return values[rows].astype(np.int64, copy=False)
    uid = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)[rows]
    return np.where(np.isfinite(uid), uid, -1).astype(np.int64)


def log_seconds(logs: pd.DataFrame) -> np.ndarray:
    """The log's ``timecreated`` as unix seconds: the int column itself when it is one (no float copy
    of a 4.5M-row column; every use compares or converts it the same way), else ``unix_seconds``."""
    if "timecreated" not in logs.columns or not len(logs):
        return np.zeros(0)
    col = logs["timecreated"]
    return col.to_numpy() if _is_int(col) else unix_seconds(col)


def unix_seconds(col: pd.Series) -> np.ndarray:
    """Unix seconds as floats (NaN when missing) from ints, numeric strings or datetimes."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col.dtype):
        dt = col if isinstance(col.dtype, pd.DatetimeTZDtype) else col.dt.tz_localize("UTC")
        secs = (dt - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return secs.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _bincount2(counts: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    n, m = counts.shape
    flat = rows.astype(np.int64)
    flat *= m
    flat += cols
    counts += np.bincount(flat, minlength=n * m).reshape(n, m)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _performance(data: Any, index: pd.Index, out: dict[str, np.ndarray], logs: pd.DataFrame,
                 t_all: np.ndarray, in_window: np.ndarray) -> bool:
    """Fill the performance columns from grades (or quiz attempt logs). Returns whether quizzes exist."""
    n = len(index)
    grades = getattr(data, "grades", None)
    if grades is not None and len(grades) and {"userid", "graderaw"} <= set(grades.columns):
        g = grades
        if "itemmodule" in g.columns:
            g = g[g["itemmodule"].astype("object").astype(str).str.lower() == "quiz"]
        if len(g):
            item_key = _item_key(g)
            n_items = int(pd.unique(item_key).size)
            uc = index.get_indexer(pd.to_numeric(g["userid"], errors="coerce").fillna(-1).astype(np.int64))
            raw = pd.to_numeric(g["graderaw"], errors="coerce").to_numpy(dtype=float)
            gmin = (pd.to_numeric(g["grademin"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
                    if "grademin" in g.columns else np.zeros(len(g)))
            gmax = (pd.to_numeric(g["grademax"], errors="coerce").to_numpy(dtype=float)
                    if "grademax" in g.columns else np.full(len(g), 100.0))
            rng = gmax - gmin
            ok = (uc >= 0) & np.isfinite(raw) & np.isfinite(rng) & (rng > 0)
            if n_items == 0:
                return False
            pct = np.clip((raw - gmin) / np.where(rng > 0, rng, 1.0) * 100.0, 0.0, 100.0)
            uc_ok, pct_ok = uc[ok], pct[ok]
            cnt = np.bincount(uc_ok, minlength=n).astype(float)
            # distinct items per student (a duplicated row must not count twice)
            key_ok = np.asarray(pd.factorize(item_key[ok])[0])
            pair = pd.DataFrame({"u": uc_ok, "k": key_ok, "p": pct_ok})
            if pair.duplicated(["u", "k"]).any():
                pair = pair.groupby(["u", "k"], sort=False, as_index=False)["p"].max()
                uc_ok, pct_ok = pair["u"].to_numpy(), pair["p"].to_numpy()
                cnt = np.bincount(uc_ok, minlength=n).astype(float)
                order_time = None
            else:
                order_time = _grade_time(g[ok])
            out["quiz_attempts"] = cnt
            out["mean_quiz_pct"] = _safe_div(np.bincount(uc_ok, weights=pct_ok, minlength=n), cnt)
            out["quiz_completion_share"] = np.clip(cnt / n_items, 0.0, 1.0)
            out["grade_trend"] = _trend(uc_ok, pct_ok, order_time, n)
            return True
    # No grades: quiz attempts from the logs (distinct quizzes with a submitted attempt).
    if len(logs) and "eventname" in logs.columns and "contextinstanceid" in logs.columns:
        codes, uniq = pd.factorize(logs["eventname"], use_na_sentinel=True)
        low = [str(u).lower() for u in uniq]
        quiz_rows = np.isin(codes, [i for i, u in enumerate(low) if "mod_quiz" in u]) & in_window
        if quiz_rows.any():
            sub = np.isin(codes, [i for i, u in enumerate(low) if u.endswith("attempt_submitted")]) & quiz_rows
            n_quizzes = logs.loc[quiz_rows, "contextinstanceid"].nunique()
            uc = index.get_indexer(pd.to_numeric(logs["userid"], errors="coerce").fillna(-1).astype(np.int64))
            sel = sub & (uc >= 0)
            pairs = pd.DataFrame({"u": uc[sel], "q": logs.loc[sel, "contextinstanceid"].to_numpy()})
            pairs = pairs.drop_duplicates()
            cnt = np.bincount(pairs["u"].to_numpy(dtype=np.int64), minlength=n).astype(float)
            out["quiz_attempts"] = cnt
            out["quiz_completion_share"] = np.clip(_safe_div(cnt, np.full(n, max(n_quizzes, 1))), 0, 1)
    return False


def _item_key(g: pd.DataFrame) -> np.ndarray:
    for col in ("iteminstance", "id", "itemname"):
        if col in g.columns and g[col].notna().any():
            return g[col].astype("object").astype(str).to_numpy()
    return np.zeros(len(g), dtype=object)


def _grade_time(g: pd.DataFrame) -> np.ndarray:
    """Time order key of each graded item: submission date, else grading date, else item order."""
    key = np.full(len(g), np.nan)
    for col in ("gradedatesubmitted", "gradedategraded"):
        if col in g.columns:
            v = pd.to_numeric(g[col], errors="coerce").to_numpy(dtype=float)
            v = np.where(v > 0, v, np.nan)
            key = np.where(np.isnan(key), v, key)
    if "iteminstance" in g.columns:
        inst = pd.to_numeric(g["iteminstance"], errors="coerce").to_numpy(dtype=float)
        key = np.where(np.isnan(key), inst, key)
    return np.where(np.isnan(key), 0.0, key)


def _trend(uc: np.ndarray, pct: np.ndarray, order_time: np.ndarray | None, n: int) -> np.ndarray:
    """Least-squares slope of quiz % over each student's quizzes in time order (points per quiz);
    0 for students with fewer than ``MIN_TREND_QUIZZES`` graded quizzes."""
    if len(uc) == 0:
        return np.zeros(n)
    tkey = order_time if order_time is not None else np.zeros(len(uc))
    order = np.lexsort((tkey, uc))
    u, y = uc[order], pct[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = u[1:] != u[:-1]
    starts = np.flatnonzero(first)
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(u)]))
    x = (np.arange(len(u)) - group_start).astype(float)
    cnt = np.bincount(u, minlength=n).astype(float)
    sx = np.bincount(u, weights=x, minlength=n)
    sy = np.bincount(u, weights=y, minlength=n)
    sxy = np.bincount(u, weights=x * y, minlength=n)
    sxx = np.bincount(u, weights=x * x, minlength=n)
    den = cnt * sxx - sx * sx
    num = cnt * sxy - sx * sy
    return np.divide(num, den, out=np.zeros(n), where=(cnt >= MIN_TREND_QUIZZES) & (den > 0))
