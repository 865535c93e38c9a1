from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from analytics import ENGAGEMENT_FORMULA, FEATURE_COLUMNS, classify_events, extract_features

from .conftest import Course, log_rows, ts

CV = "\\core\\event\\course_viewed"
RES = "\\mod_resource\\event\\course_module_viewed"
FOLDER = "\\mod_folder\\event\\course_module_viewed"
BOOK = "\\mod_book\\event\\chapter_viewed"
URL = "\\mod_url\\event\\course_module_viewed"
FREAD = "\\mod_forum\\event\\discussion_viewed"
FPOST = "\\mod_forum\\event\\post_created"
FDISC = "\\mod_forum\\event\\discussion_created"
QVIEW = "\\mod_quiz\\event\\course_module_viewed"
QSTART = "\\mod_quiz\\event\\attempt_started"
QSUB = "\\mod_quiz\\event\\attempt_submitted"
AVIEW = "\\mod_assign\\event\\course_module_viewed"
ASUB = "\\mod_assign\\event\\assessable_submitted"
ASUB2 = "\\assignsubmission_file\\event\\submission_created"
OTHER = "\\core\\event\\user_graded"


def _course(logs: pd.DataFrame, *, tz: str = "UTC", now: datetime | None = None, grades=None) -> Course:
    students = pd.DataFrame({"id": [10, 11, 12], "fullname": ["A", "B", "C"]})
    c = Course(course={"id": 5, "fullname": "C5", "shortname": "c5", "startdate": ts(2026, 3, 2)},
               students=students, logs=logs, timezone=tz,
               extracted_at=now or datetime(2026, 3, 16, 12, tzinfo=UTC))
    if grades is not None:
        c.grades = grades
    return c


def test_classify_events_maps_every_type():
    logs = log_rows([(1, e, 0) for e in (CV, RES, FOLDER, BOOK, URL, FREAD, FPOST, FDISC, QVIEW, QSTART,
                                         QSUB, AVIEW, ASUB, ASUB2, OTHER)])
    names = ["course_views", "resource_views", "page_views", "url_views", "forum_views", "forum_posts",
             "quiz_views", "quiz_attempt_events", "assignment_views", "submissions", "other_events"]
    got = [names[c] for c in classify_events(logs)]
    assert got == ["course_views", "resource_views", "resource_views", "page_views", "url_views",
                   "forum_views", "forum_posts", "forum_posts", "quiz_views", "quiz_attempt_events",
                   "quiz_attempt_events", "assignment_views", "submissions", "submissions", "other_events"]


def test_classify_events_without_eventname_uses_component_action_target():
    logs = pd.DataFrame({"component": ["mod_forum", "mod_quiz", "core"], "action": ["created", "viewed", "viewed"],
                         "target": ["post", "course_module", "course"]})
    assert classify_events(logs).tolist() == [5, 6, 0]


def test_counts_temporal_and_zero_rows():
    # Monday 2026-03-09 UTC. Student 10: two sessions on Monday (gap 40 min), one at night on Saturday.
    mon = ts(2026, 3, 9, 10, 0)
    rows = [(10, CV, mon), (10, RES, mon + 600), (10, FREAD, mon + 600 + 2400), (10, FPOST, mon + 3100),
            (10, QSUB, ts(2026, 3, 14, 2, 30)),
            (11, CV, ts(2026, 3, 2, 9)),   # student 11: one event in week 1
            (99, CV, mon)]                 # a teacher: ignored
    f = extract_features(_course(log_rows(rows)))
    assert list(f.columns) == FEATURE_COLUMNS + ["engagement_score"]
    assert f.index.name == "user_id" and f.index.tolist() == [10, 11, 12]
    a = f.loc[10]
    assert (a.course_views, a.resource_views, a.forum_views, a.forum_posts, a.quiz_attempt_events) == (1, 1, 1, 1, 1)
    assert a.total_events == 5
    assert a.forum_share == pytest.approx(2 / 5)
    assert a.active_days == 2
    assert a.active_span_days == 6          # Mon 9 .. Sat 14 inclusive
    assert a.events_per_active_day == 2.5
    assert a.sessions == 3                  # Monday split by the 40-minute gap, plus Saturday
    assert a.night_share == pytest.approx(1 / 5)
    assert a.weekend_share == pytest.approx(1 / 5)
    # weeks from the course start (Mon 2 Mar) to now (Mon 16 Mar): 3; active in 1 of them
    assert a.weekly_regularity == pytest.approx(1 / 3)
    assert a.days_since_last_activity == pytest.approx((ts(2026, 3, 16, 12) - ts(2026, 3, 14, 2, 30)) / 86400)
    # inactive student: zero counts and shares; days since last activity = whole window (14.5 days)
    c = f.loc[12]
    assert (c[[x for x in FEATURE_COLUMNS if x != "days_since_last_activity"]] == 0).all()
    assert c.days_since_last_activity == pytest.approx(14.5)
    assert c.engagement_score == 0
    assert f.loc[11, "total_events"] == 1 and f.loc[11, "weekly_regularity"] == pytest.approx(1 / 3)
    assert ((f.engagement_score >= 0) & (f.engagement_score <= 100)).all()
    assert f.loc[10, "engagement_score"] > f.loc[11, "engagement_score"]


def test_timezone_changes_night_and_weekend():
    # 2026-03-13 20:00 UTC is Saturday 03:00 in Ho Chi Minh City (UTC+7)
    rows = [(10, CV, ts(2026, 3, 13, 20))]
    utc = extract_features(_course(log_rows(rows)))
    hcm = extract_features(_course(log_rows(rows), tz="Asia/Ho_Chi_Minh"))
    assert (utc.loc[10, "night_share"], utc.loc[10, "weekend_share"]) == (0, 0)
    assert (hcm.loc[10, "night_share"], hcm.loc[10, "weekend_share"]) == (1, 1)
    # the timezone argument overrides data.timezone
    assert extract_features(_course(log_rows(rows)), timezone="Asia/Ho_Chi_Minh").loc[10, "night_share"] == 1


def test_now_defaults_and_future_logs_ignored():
    rows = [(10, CV, ts(2026, 3, 9)), (10, CV, ts(2026, 3, 20))]
    c = _course(log_rows(rows))
    f = extract_features(c)  # extracted_at 16 Mar: the 20 Mar row is after "now"
    assert f.loc[10, "total_events"] == 1
    c.extracted_at = None
    g = extract_features(c)  # now = latest log time
    assert g.loc[10, "total_events"] == 2 and g.loc[10, "days_since_last_activity"] == 0


def test_grades_performance():
    grades = pd.DataFrame({
        "userid": [10, 10, 10, 11, 11, 12],
        "itemmodule": ["quiz", "quiz", "quiz", "quiz", "quiz", "assign"],
        "iteminstance": [1, 2, 3, 1, 2, 9],
        "graderaw": [5.0, 7.0, 9.0, 8.0, np.nan, 50.0],
        "grademin": 0.0, "grademax": 10.0,
        "gradedatesubmitted": [ts(2026, 3, 3), ts(2026, 3, 5), ts(2026, 3, 7), ts(2026, 3, 3), np.nan, 0],
    })
    f = extract_features(_course(log_rows([(10, CV, ts(2026, 3, 9))]), grades=grades))
    assert f.loc[10, "quiz_attempts"] == 3 and f.loc[10, "mean_quiz_pct"] == pytest.approx(70)
    assert f.loc[10, "quiz_completion_share"] == 1.0
    assert f.loc[10, "grade_trend"] == pytest.approx(20.0)  # +20 points per quiz
    assert f.loc[11, "quiz_attempts"] == 1 and f.loc[11, "mean_quiz_pct"] == 80
    assert f.loc[11, "quiz_completion_share"] == pytest.approx(1 / 3)
    assert f.loc[11, "grade_trend"] == 0  # fewer than 3 quizzes
    assert f.loc[12, "quiz_attempts"] == 0  # the assignment grade is not a quiz


def test_engagement_formula_and_weights():
    rows = [(10, CV, ts(2026, 3, 9)), (11, CV, ts(2026, 3, 2))]
    a = extract_features(_course(log_rows(rows)), weights=(1, 0, 0, 0))
    b = extract_features(_course(log_rows(rows)), weights=(0, 0, 0, 1))
    assert a.loc[10, "engagement_score"] == a.loc[11, "engagement_score"]  # same activity
    assert b.loc[10, "engagement_score"] > b.loc[11, "engagement_score"]  # more recent
    assert "0.3" in ENGAGEMENT_FORMULA and "recency" in ENGAGEMENT_FORMULA
    with pytest.raises(ValueError):
        extract_features(_course(log_rows(rows)), weights=(0, 0, 0, 0))


def test_no_students_and_no_logs():
    c = _course(log_rows([(10, CV, ts(2026, 3, 9))]).iloc[:0])
    f = extract_features(c)
    assert len(f) == 3 and (f.total_events == 0).all()
    c.students = c.students.iloc[:0]
    assert extract_features(c).empty


def test_vectorised_speed_one_million_rows():
    rng = np.random.default_rng(0)
    n, m = 2000, 1_000_000
    evs = np.array([CV, RES, FREAD, FPOST, QVIEW, QSUB, AVIEW, ASUB, URL, BOOK])
    logs = pd.DataFrame({"eventname": evs[rng.integers(0, len(evs), m)], "component": "",
                         "userid": rng.integers(1, n + 1, m),
                         "timecreated": ts(2026, 3, 2) + rng.integers(0, 14 * 86400, m)})
    c = Course(course={"id": 1, "startdate": ts(2026, 3, 2)}, students=pd.DataFrame({"id": np.arange(1, n + 1)}),
               logs=logs, timezone="Europe/Paris", extracted_at=datetime(2026, 3, 16, tzinfo=UTC))
    f = extract_features(c)          # speed: ``python -m bench --only features`` (no timing asserted here)
    assert f.total_events.sum() == m


def test_minimal_log_columns_and_datetime_times():
    # e.g. a log export: only eventname, userid and a datetime column
    rows = log_rows([(10, CV, ts(2026, 3, 9, 10)), (10, FPOST, ts(2026, 3, 9, 10, 5)), (11, QSUB, ts(2026, 3, 10))])
    minimal = rows[["eventname", "userid", "contextinstanceid"]].assign(
        timecreated=pd.to_datetime(rows["timecreated"], unit="s", utc=True))
    f = extract_features(_course(minimal))
    g = extract_features(_course(rows))
    pd.testing.assert_frame_equal(f, g)
    assert f.loc[10, "forum_posts"] == 1 and f.loc[11, "quiz_attempt_events"] == 1


def _as_category(logs: pd.DataFrame) -> pd.DataFrame:
    out = logs.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].astype("category")
    return out


def test_category_log_columns_give_identical_features_and_report():
    demo = pytest.importorskip("moodle.demo")
    from datetime import date, timedelta

    from analytics import activity_report

    site = demo.DemoSite(seed=7, anchor=date(2026, 9, 7))
    as_of = datetime(2026, 9, 7, tzinfo=UTC) + timedelta(weeks=5, hours=1)
    data = site.course_data(102, as_of)
    cat_logs = _as_category(data.logs)
    n_cat = sum(isinstance(d, pd.CategoricalDtype) for d in cat_logs.dtypes)
    assert n_cat >= 4 and isinstance(cat_logs["eventname"].dtype, pd.CategoricalDtype)
    plain = extract_features(data)
    data.logs = cat_logs
    categorical = extract_features(data)
    pd.testing.assert_frame_equal(plain, categorical)
    data_obj = site.course_data(102, as_of)
    assert activity_report(data) == activity_report(data_obj)
    # unused categories and missing values do not change anything either
    ev = cat_logs["eventname"].cat.add_categories(["\\mod_forum\\event\\post_created_unused"])
    ev.iloc[0] = np.nan
    cat_logs["eventname"] = ev
    data_obj.logs = data_obj.logs.copy()
    data_obj.logs.loc[data_obj.logs.index[0], "eventname"] = None
    assert classify_events(cat_logs).tolist() == classify_events(data_obj.logs).tolist()
    pd.testing.assert_frame_equal(extract_features(data), extract_features(data_obj))


def test_recency_features():
    # now = Monday 2026-03-30 12:00; course started 2026-03-02 (4 whole weeks before now).
    now = datetime(2026, 3, 30, 12, tzinfo=UTC)
    day = 86400
    n_ts = int(now.timestamp())
    rows = []
    rows += [(10, CV, n_ts - d * day - 3600) for d in range(28)]  # steady: one a day
    rows += [(11, CV, n_ts - (21 + d) * day) for d in range(5)]  # only in the oldest week: slipping
    rows += [(12, CV, n_ts - d * day - 60) for d in range(3)] * 2  # only this week: picking up
    f = extract_features(_course(log_rows(rows), now=now))
    assert f.loc[10, "events_last_14d"] == 14
    assert f.loc[11, "events_last_14d"] == 0
    assert f.loc[12, "events_last_14d"] == 6
    assert abs(f.loc[10, "activity_trend"]) < 1e-9
    # all in the oldest of 4 bins: slope -0.3 x count, mean count / 4 -> -1.2
    assert f.loc[11, "activity_trend"] == pytest.approx(-1.2)
    assert f.loc[12, "activity_trend"] == pytest.approx(1.2)
    # fewer than 2 whole weeks in the window: no trend
    early = extract_features(_course(log_rows(rows[:3]), now=datetime(2026, 3, 10, tzinfo=UTC)))
    assert (early["activity_trend"] == 0).all()


@pytest.mark.parametrize("with_grades", [True, False])
def test_log_columns_read_are_all_the_analytics_need(with_grades: bool) -> None:
    """Features (whole course and a window), the activity report: identical on a log holding only
    LOG_COLUMNS_READ (the pipeline drops the other columns after loading)."""
    demo = pytest.importorskip("moodle.demo")
    import dataclasses
    from datetime import date, timedelta

    from analytics import LOG_COLUMNS_READ, activity_report
    from analytics.window import window_features

    site = demo.DemoSite(seed=7, anchor=date(2026, 9, 7))
    as_of = datetime(2026, 9, 7, tzinfo=UTC) + timedelta(weeks=7, hours=1)
    full = site.course_data(102, as_of)
    if not with_grades:
        full = dataclasses.replace(full, grades=None)
    assert set(LOG_COLUMNS_READ) < set(full.logs.columns)
    lean = dataclasses.replace(full, logs=full.logs[[c for c in full.logs.columns if c in LOG_COLUMNS_READ]])
    pd.testing.assert_frame_equal(extract_features(full), extract_features(lean), check_exact=True)
    start = datetime(2026, 9, 7, tzinfo=UTC)
    for days in (7, 28):
        a, wa = window_features(full, as_of, start=start, window_days=days)
        b, wb = window_features(lean, as_of, start=start, window_days=days)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert wa == wb
    assert activity_report(full) == activity_report(lean)
