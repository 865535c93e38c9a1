"""Benchmark 1: ``analytics.extract_features`` vs the same per-student aggregation in DuckDB SQL.

Both read the same in-memory CourseData (the demo generator at scale). The SQL does the same work as
ours: students only, logs up to "now", anonymous rows dropped; every row classified into the 11
activity categories (the same rules, applied to the distinct event kinds and joined back on the
eventname, which fixes component/action/target in Moodle; every demo row has one); local time
through a per-hour UTC-offset table (DST-safe, like ours); per student: counts by category, total,
shares of content / forum / quiz / assignment events, night and weekend shares, active days, active span, events per active day, sessions split at 30 min
gaps (window ``lag``), weekly regularity, days since last activity; quiz performance from the grades
(attempted quizzes, mean %, completion share, least-squares trend over >= 3 quizzes); the engagement
score (course 95th percentile, weights); zeros for inactive students. The two results are compared
column by column, so the baseline is checked to be the same computation, not a cheaper one.
DuckDB runs with its default threads (both cores); ours is single-threaded numpy/pandas.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from bench.common import Result, best_of, demo_site

__all__ = ["run", "duckdb_features", "course_for_rows", "ROWS_PER_STUDENT"]

#: log rows per student after ten weeks of the default demo mix (measured; used only to size courses)
ROWS_PER_STUDENT = 223
TARGET_RATIO = 3.0
QUICK_ROWS = [200_000]
FULL_ROWS = [1_000_000, 10_000_000]

_SQL = r"""
WITH kinds AS (
    SELECT eventname, component, action, target,
           lower(coalesce(nullif(component, ''), split_part(eventname, '\', 2))) AS comp,
           lower(coalesce(action, '')) AS act,
           lower(coalesce(target, '')) AS tgt,
           lower(regexp_extract(eventname, '([^\\]*)$', 1)) AS short
    FROM (SELECT DISTINCT eventname, component, action, target FROM logs)
), classified AS (
    SELECT eventname, component, action, target,
        CASE
          WHEN short = 'course_viewed' OR (comp = 'core' AND tgt = 'course' AND act = 'viewed') THEN 0
          WHEN comp LIKE 'assignsubmission\_%' ESCAPE '\' OR comp = 'mod_assign' THEN
            CASE WHEN short IN ('assessable_submitted', 'submission_created', 'submission_updated',
                                'assessable_uploaded', 'submission_status_updated')
                      OR act IN ('submitted', 'uploaded') THEN 9
                 WHEN act = 'viewed' OR short LIKE '%viewed' THEN 8 ELSE 10 END
          WHEN comp IN ('mod_resource', 'mod_folder') THEN
            CASE WHEN act = 'viewed' OR short LIKE '%viewed' THEN 1 ELSE 10 END
          WHEN comp IN ('mod_page', 'mod_book', 'mod_h5pactivity', 'mod_hvp', 'mod_lesson') THEN
            CASE WHEN act = 'viewed' OR short LIKE '%viewed' THEN 2 ELSE 10 END
          WHEN comp = 'mod_url' THEN CASE WHEN act = 'viewed' OR short LIKE '%viewed' THEN 3 ELSE 10 END
          WHEN comp = 'mod_forum' THEN
            CASE WHEN short IN ('discussion_created', 'post_created', 'assessable_uploaded')
                      OR (act IN ('created', 'uploaded') AND tgt IN ('post', 'discussion')) THEN 5
                 WHEN act = 'viewed' OR short LIKE '%viewed' THEN 4 ELSE 10 END
          WHEN comp = 'mod_quiz' THEN
            CASE WHEN short IN ('attempt_started', 'attempt_submitted')
                      OR (tgt = 'attempt' AND act IN ('started', 'submitted')) THEN 7
                 WHEN act = 'viewed' OR short LIKE '%viewed' THEN 6 ELSE 10 END
          ELSE 10
        END AS cat
    FROM kinds
), rows AS (
    SELECT l.userid AS uid, l.timecreated AS t, c.cat
    FROM logs l
    JOIN students s ON s.id = l.userid
    JOIN classified c ON c.eventname = l.eventname
    WHERE l.timecreated <= $now AND coalesce(l.anonymous, 0) = 0
), hours AS (
    SELECT h, CAST(epoch(timezone($tz, to_timestamp(h * 3600))) AS BIGINT) - h * 3600 AS off
    FROM range((SELECT min(t) // 3600 FROM rows), (SELECT max(t) // 3600 FROM rows) + 1) r(h)
), loc AS (
    SELECT r.uid, r.t, r.cat, (r.t + hours.off) // 86400 AS day, ((r.t + hours.off) % 86400) // 3600 AS hour
    FROM rows r JOIN hours ON hours.h = r.t // 3600
), sess AS (
    SELECT *, (lag(t) OVER (PARTITION BY uid ORDER BY t)) AS prev_t FROM loc
), agg AS (
    SELECT uid,
        count(*) FILTER (WHERE cat = 0) AS course_views, count(*) FILTER (WHERE cat = 1) AS resource_views,
        count(*) FILTER (WHERE cat = 2) AS page_views, count(*) FILTER (WHERE cat = 3) AS url_views,
        count(*) FILTER (WHERE cat = 4) AS forum_views, count(*) FILTER (WHERE cat = 5) AS forum_posts,
        count(*) FILTER (WHERE cat = 6) AS quiz_views, count(*) FILTER (WHERE cat = 7) AS quiz_attempt_events,
        count(*) FILTER (WHERE cat = 8) AS assignment_views, count(*) FILTER (WHERE cat = 9) AS submissions,
        count(*) FILTER (WHERE cat = 10) AS other_events, count(*) AS total_events,
        count(DISTINCT day) AS active_days,
        max(day) - min(day) + 1 AS active_span_days,
        count(*) FILTER (WHERE prev_t IS NULL OR t - prev_t > 1800) AS sessions,
        count(DISTINCT (day + 3) // 7) FILTER (WHERE (day + 3) // 7 >= $week_start) AS weeks_active,
        count(*) FILTER (WHERE hour < 6) / count(*) AS night_share,
        count(*) FILTER (WHERE (day + 3) % 7 >= 5) / count(*) AS weekend_share,
        max(t) AS last_t
    FROM sess GROUP BY uid
), quiz AS (
    SELECT g.userid, g.iteminstance, g.graderaw, coalesce(g.grademin, 0) AS gmin, g.grademax AS gmax,
           coalesce(nullif(g.gradedatesubmitted, 0), nullif(g.gradedategraded, 0), g.iteminstance) AS tkey
    FROM grades g WHERE lower(g.itemmodule) = 'quiz'
), graded AS (
    SELECT q.userid AS uid,
           least(greatest((q.graderaw - q.gmin) / (q.gmax - q.gmin) * 100.0, 0.0), 100.0) AS pct,
           row_number() OVER (PARTITION BY q.userid ORDER BY q.tkey) - 1 AS x
    FROM quiz q JOIN students s ON s.id = q.userid
    WHERE q.graderaw IS NOT NULL AND NOT isnan(q.graderaw) AND q.gmax - q.gmin > 0
), perf AS (
    SELECT uid, count(*) AS quiz_attempts, avg(pct) AS mean_quiz_pct,
           CASE WHEN count(*) >= 3 THEN coalesce(regr_slope(pct, x), 0) ELSE 0 END AS grade_trend
    FROM graded GROUP BY uid
), feat AS (
    SELECT s.id AS user_id,
        coalesce(a.course_views, 0) AS course_views, coalesce(a.resource_views, 0) AS resource_views,
        coalesce(a.page_views, 0) AS page_views, coalesce(a.url_views, 0) AS url_views,
        coalesce(a.forum_views, 0) AS forum_views, coalesce(a.forum_posts, 0) AS forum_posts,
        coalesce(a.quiz_views, 0) AS quiz_views, coalesce(a.quiz_attempt_events, 0) AS quiz_attempt_events,
        coalesce(a.assignment_views, 0) AS assignment_views, coalesce(a.submissions, 0) AS submissions,
        coalesce(a.other_events, 0) AS other_events, coalesce(a.total_events, 0) AS total_events,
        coalesce((a.resource_views + a.page_views + a.url_views) / a.total_events, 0) AS content_share,
        coalesce((a.forum_views + a.forum_posts) / a.total_events, 0) AS forum_share,
        coalesce((a.quiz_views + a.quiz_attempt_events) / a.total_events, 0) AS quiz_share,
        coalesce((a.assignment_views + a.submissions) / a.total_events, 0) AS assignment_share,
        coalesce(a.active_days, 0) AS active_days, coalesce(a.active_span_days, 0) AS active_span_days,
        coalesce(a.total_events / a.active_days, 0) AS events_per_active_day,
        coalesce(a.sessions, 0) AS sessions,
        least(coalesce(a.weeks_active, 0) / $n_weeks, 1.0) AS weekly_regularity,
        coalesce(a.night_share, 0) AS night_share, coalesce(a.weekend_share, 0) AS weekend_share,
        CASE WHEN a.uid IS NULL THEN $window_days
             ELSE greatest($now - a.last_t, 0) / 86400.0 END AS days_since_last_activity,
        coalesce(p.quiz_attempts, 0) AS quiz_attempts, coalesce(p.mean_quiz_pct, 0) AS mean_quiz_pct,
        least(coalesce(p.quiz_attempts, 0) / greatest((SELECT count(DISTINCT iteminstance) FROM quiz), 1), 1.0)
            AS quiz_completion_share,
        coalesce(p.grade_trend, 0) AS grade_trend
    FROM students s LEFT JOIN agg a ON a.uid = s.id LEFT JOIN perf p ON p.uid = s.id
), course AS (
    SELECT quantile_cont(total_events, 0.95) AS p95, bool_or(quiz_completion_share > 0) AS has_quiz FROM feat
), parts AS (
    SELECT f.*,
        least(ln(1 + f.total_events) / ln(1 + greatest(c.p95, 1)), 1.0) AS p_activity,
        least(greatest(f.weekly_regularity, 0), 1) AS p_regularity,
        least(greatest(f.mean_quiz_pct / 100.0 * f.quiz_completion_share, 0), 1) AS p_performance,
        CASE WHEN f.total_events > 0 THEN least(greatest(1 - f.days_since_last_activity / 28.0, 0), 1)
             ELSE 0 END AS p_recency,
        CASE WHEN c.has_quiz THEN $w3 ELSE 0 END AS w3
    FROM feat f, course c
)
SELECT * EXCLUDE (p_activity, p_regularity, p_performance, p_recency, w3),
    round(100.0 * ($w1 * p_activity + $w2 * p_regularity + w3 * p_performance + $w4 * p_recency)
          / ($w1 + $w2 + w3 + $w4), 4) AS engagement_score
FROM parts ORDER BY user_id
"""

_LOG_COLUMNS = ["userid", "timecreated", "eventname", "component", "action", "target", "anonymous"]
_GRADE_COLUMNS = ["userid", "itemmodule", "iteminstance", "graderaw", "grademin", "grademax",
                  "gradedatesubmitted", "gradedategraded"]


def _window(data: Any, tz: str, now: datetime) -> dict[str, float]:
    """The scalar parameters both implementations derive from the course: now, window, weeks."""
    from zoneinfo import ZoneInfo

    now_ts = int(now.timestamp())
    start = float(data.course.get("startdate") or 0)
    if not 0 < start <= now_ts:
        start = float(pd.to_numeric(data.logs["timecreated"]).min())
    zone = ZoneInfo(tz)

    def local_day(ts: float) -> int:
        dt_ = datetime.fromtimestamp(int(ts), UTC).astimezone(zone)
        return (int(ts) + int(dt_.utcoffset().total_seconds())) // 86400

    week_now = (local_day(now_ts) + 3) // 7
    week_start = (local_day(start) + 3) // 7
    return {"now": now_ts, "week_start": week_start, "n_weeks": float(max(week_now - week_start + 1, 1)),
            "window_days": max((now_ts - start) / 86400.0, 0.0)}


def duckdb_features(data: Any, *, now: datetime, tz: str | None = None,
                    weights: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.2),
                    con: Any = None) -> pd.DataFrame:
    """The same features as ``extract_features`` computed by DuckDB over ``data``'s DataFrames."""
    import duckdb

    tz = tz or data.timezone or "UTC"
    own = con is None
    con = con or duckdb.connect()
    try:
        con.register("logs", data.logs[_LOG_COLUMNS])
        con.register("students", data.students[["id"]].astype({"id": "int64"}))
        con.register("grades", data.grades[[c for c in _GRADE_COLUMNS if c in data.grades.columns]])
        params = _window(data, tz, now)
        params.update(tz=tz, w1=weights[0], w2=weights[1], w3=weights[2], w4=weights[3])
        frame = con.execute(_SQL, params).df()
    finally:
        for name in ("logs", "students", "grades"):
            try:
                con.unregister(name)
            except Exception:  # already gone
                pass
        if own:
            con.close()
    return frame.set_index("user_id").astype(float)


def course_for_rows(rows: int, course_id: int = 801) -> tuple[Any, datetime]:
    """(CourseData with about ``rows`` log rows, its now): ten weeks of a demo course sized to fit."""
    n_students = max(50, int(round(rows / ROWS_PER_STUDENT)))
    site = demo_site([(course_id, n_students)])
    anchor = site.anchor
    now = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC) + timedelta(weeks=10)
    return site.course_data(course_id, now), now


def compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, float]:
    """Largest absolute difference per column both sides compute (rows aligned by user id). Columns
    only ours computes (the recency features) are extra work on our side, not compared."""
    theirs = theirs.reindex(ours.index)
    diffs = {}
    for col in ours.columns:
        if col not in theirs.columns:
            continue
        a = ours[col].to_numpy(dtype=float)
        b = theirs[col].to_numpy(dtype=float)
        diffs[col] = float(np.nanmax(np.abs(a - b))) if len(a) else 0.0
        if np.isnan(b).any() and not np.isnan(a).any():
            diffs[col] = float("inf")
    return diffs


def run(quick: bool = False, log: Any = print) -> list[Result]:
    """Ours vs DuckDB at 1M and 10M rows (quick: 200k)."""
    import duckdb

    from analytics import extract_features

    sizes = QUICK_ROWS if quick else FULL_ROWS
    results = []
    for target_rows in sizes:
        log(f"  features: generating ~{target_rows:,} log rows with the demo generator ...")
        data, now = course_for_rows(target_rows)
        n_rows = len(data.logs)
        repeat = 3 if n_rows <= 2_000_000 else 2
        ours_s, ours = best_of(lambda d=data, n=now: extract_features(d, now=n), repeat)
        con = duckdb.connect()
        duck_s, duck = best_of(lambda d=data, n=now, c=con: duckdb_features(d, now=n, con=c), repeat)
        con.close()
        diffs = compare(ours, duck)
        worst = max(diffs, key=diffs.get)
        same = all(v <= 1e-6 * max(1.0, float(np.nanmax(np.abs(ours[c].to_numpy())))) for c, v in diffs.items())
        ratio = ours_s / duck_s
        results.append(Result(
            bench="features", case=f"{n_rows:,} log rows, {len(data.students):,} students",
            figure=ours_s, unit="s", baseline=duck_s, baseline_label="DuckDB SQL, same aggregation",
            ratio=ratio, ratio_label="ours/duckdb", target=f"<= {TARGET_RATIO:g}x DuckDB",
            passed=ratio <= TARGET_RATIO,
            notes=("results equal" if same else f"RESULTS DIFFER: {worst} by {diffs[worst]:.3g}")
            + f"; best of {repeat}",
            extra={"rows": n_rows, "students": len(data.students), "max_abs_diff": diffs,
                   "duckdb_threads": _duck_threads()},
        ))
        log(f"  features: {n_rows:,} rows ours {ours_s:.2f}s duckdb {duck_s:.2f}s ratio {ratio:.2f} "
            f"({'same results' if same else 'DIFFERENT: ' + worst})")
        del data, ours, duck
    return results


def _duck_threads() -> int:
    import duckdb

    with duckdb.connect() as con:
        return int(con.execute("SELECT current_setting('threads')").fetchone()[0])
