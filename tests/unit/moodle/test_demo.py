"""The demo site: Moodle shapes, determinism, time moving, drift, behaviour types that differ."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from moodle.data import GRADE_COLUMNS, LOG_COLUMNS, STUDENT_COLUMNS, CourseData
from moodle.demo import BEHAVIOUR_TYPES, DemoCourseSpec, DemoSite, default_anchor

ANCHOR = date(2026, 1, 5)  # a Monday


def at(week: float) -> datetime:
    return datetime(2026, 1, 5, tzinfo=UTC) + timedelta(weeks=week)


@pytest.fixture(scope="module")
def site() -> DemoSite:
    return DemoSite(7, anchor=ANCHOR)


@pytest.fixture(scope="module")
def data(site: DemoSite) -> CourseData:
    return site.course_data(101, at(6))


def test_default_courses_and_anchor() -> None:
    s = DemoSite()
    assert s.course_ids() == [101, 102, 103]
    assert s.anchor.weekday() == 0
    assert s.anchor == default_anchor()
    assert 50 <= min(s.spec(c).n_students for c in s.course_ids())
    assert max(s.spec(c).n_students for c in s.course_ids()) <= 500


def test_course_data_shapes(data: CourseData) -> None:
    assert data.source == "demo" and data.timezone == "Asia/Ho_Chi_Minh"
    assert data.extracted_at == at(6)
    assert data.course["id"] == 101 and data.course["fullname"]
    assert data.course["startdate"] < data.course["enddate"]
    assert list(data.logs.columns) == LOG_COLUMNS
    assert list(data.students.columns) == STUDENT_COLUMNS
    assert list(data.grades.columns) == GRADE_COLUMNS
    assert len(data.students) == 180 and data.suspended_students == 1
    assert all(r[0]["shortname"] == "student" and r[0]["name"] == "" for r in data.students["roles"])
    assert sorted(r[0]["shortname"] for r in data.teachers["roles"]) == ["editingteacher", "teacher"]
    logs = data.logs
    assert logs["timecreated"].dtype == np.int64
    assert logs["timecreated"].max() <= at(6).timestamp()
    assert logs["timecreated"].is_monotonic_increasing and logs["id"].is_unique
    assert logs["eventname"].str.startswith("\\").all()
    assert set(logs["contextlevel"]) == {50, 70}
    mod = logs[logs["contextlevel"] == 70]
    cmids = set(DemoSite(7, anchor=ANCHOR).modules(101)["cmid"])
    assert set(mod["contextinstanceid"]) <= cmids
    assert (logs.loc[logs["contextlevel"] == 50, "contextinstanceid"] == 101).all()
    assert set(logs["crud"]) <= set("crud") and set(logs["edulevel"]) <= {0, 1, 2}
    comps = set(logs["component"])
    assert {"core", "mod_resource", "mod_page", "mod_url", "mod_forum", "mod_quiz", "mod_assign"} <= comps
    viewed = logs[logs["eventname"] == "\\mod_quiz\\event\\course_module_viewed"]
    assert (viewed["objecttable"] == "quiz").all() and (viewed["target"] == "course_module").all()
    # teachers' rows are in the logs, suspended student's rows too, only up to week 2
    assert logs["userid"].isin(data.teachers["id"]).any()
    suspended = DemoSite(7, anchor=ANCHOR).suspended_user_ids(101)
    assert not data.students["id"].isin(suspended).any()
    s_rows = logs[logs["userid"].isin(suspended)]
    assert s_rows.empty or s_rows["timecreated"].max() < at(2).timestamp() + 7 * 86400
    grades = data.grades
    assert (grades["itemmodule"] == "quiz").all()
    assert grades["graderaw"].isna().any() and grades["graderaw"].notna().any()
    assert grades["graderaw"].dropna().between(0, 10).all()


def test_grade_items_raw_shape(site: DemoSite, data: CourseData) -> None:
    uid = int(data.students["id"].iloc[0])
    entry = site.grade_items_raw(101, uid, at(6))
    assert entry["userid"] == uid and entry["courseid"] == 101
    total = entry["gradeitems"][-1]
    assert total["itemtype"] == "course" and total["itemname"] is None and "cmid" not in total
    assert "weightraw" not in total
    items = entry["gradeitems"][:-1]
    assert {i["itemmodule"] for i in items} == {"quiz", "assign"}
    ungraded = [i for i in items if i["graderaw"] is None]
    assert ungraded and all(i["gradeformatted"] == "-" and i["status"] == "novalue" for i in ungraded)
    assert all("&ndash;" in i["rangeformatted"] for i in entry["gradeitems"])


def test_enrolled_users_and_courses_raw(site: DemoSite) -> None:
    users = site.enrolled_users_raw(101, at(6))
    assert [u["id"] for u in users] == sorted(u["id"] for u in users)
    assert len(users) == 180 + 1 + 2
    assert all(u["roles"][0]["name"] == "" for u in users)
    assert any(u["lastcourseaccess"] == 0 for u in site.enrolled_users_raw(101, at(-1)))
    assert [c["id"] for c in site.courses_raw(include_site=True)] == [1, 101, 102, 103]
    assert site.courses_raw(include_site=True)[0]["format"] == "site"
    assert 1 not in [c["id"] for c in site.courses_raw()]


def test_deterministic_and_seed_sensitive() -> None:
    a = DemoSite(3, anchor=ANCHOR).course_data(102, at(4))
    b = DemoSite(3, anchor=ANCHOR).course_data(102, at(4))
    c = DemoSite(4, anchor=ANCHOR).course_data(102, at(4))
    pd.testing.assert_frame_equal(a.logs, b.logs)
    pd.testing.assert_frame_equal(a.grades, b.grades)
    pd.testing.assert_frame_equal(a.students, b.students)
    assert not a.logs["timecreated"].equals(c.logs["timecreated"]) or len(a.logs) != len(c.logs)


def test_time_moves_and_prefix_is_stable() -> None:
    s1 = DemoSite(7, anchor=ANCHOR)
    late = s1.course_data(102, at(8)).logs
    early = DemoSite(7, anchor=ANCHOR).course_data(102, at(3.5)).logs
    assert len(early) < len(late)
    prefix = late[late["timecreated"] <= at(3.5).timestamp()].reset_index(drop=True)
    # category columns hold the values seen, so a filtered frame may list more categories
    pd.testing.assert_frame_equal(prefix, early.reset_index(drop=True), check_dtype=False,
                                  check_categorical=False)
    before = s1.course_data(102, at(-2)).logs
    assert before.empty and list(before.columns) == LOG_COLUMNS
    assert before["timecreated"].dtype == np.int64


def test_weekly_drift_moves_some_students(site: DemoSite) -> None:
    hist = site.truth_history(103)
    assert set(np.unique(hist.values)) == set(BEHAVIOUR_TYPES)
    for w in range(1, 8):
        moved = (hist[w] != hist[w - 1]).mean()
        assert 0.02 <= moved <= 0.15, (w, moved)
    t = site.truth(103, at(5.5))
    assert t.equals(hist[5].rename("behaviour"))
    assert len(site.truth(103, at(5.5), window_weeks=3)) == len(t)


def test_behaviour_types_differ(site: DemoSite) -> None:
    d = site.course_data(103, at(3))
    truth = site.truth(103, at(2.5))
    logs = d.logs[d.logs["userid"].isin(truth.index)]
    typ = logs["userid"].map(truth)
    per = logs.groupby(typ).size() / truth.value_counts()
    posts = logs[logs["eventname"] == "\\mod_forum\\event\\post_created"].groupby(typ).size() / truth.value_counts()
    reads = logs[logs["component"].isin(["mod_resource", "mod_page"])].groupby(typ).size() / truth.value_counts()
    local = pd.to_datetime(logs["timecreated"], unit="s", utc=True).dt.tz_convert("Asia/Ho_Chi_Minh")
    night = ((local.dt.hour >= 22) | (local.dt.hour < 5)).groupby(typ).mean()
    assert per["disengaged"] < 0.5 * per.drop("disengaged").min()
    assert posts.idxmax() == "forum_social"
    assert reads.idxmax() == "passive_reader"
    assert night.idxmax() == "deadline_crammer"
    g = d.grades.dropna(subset=["graderaw"])
    mean = g.groupby(g["userid"].map(truth))["graderaw"].mean()
    assert mean.idxmax() == "steady" and mean.idxmin() == "disengaged"


def test_spec_validation_and_custom_course() -> None:
    with pytest.raises(ValueError):
        DemoCourseSpec(1, "Site", "S", 10)
    with pytest.raises(ValueError):
        DemoCourseSpec(200, "X", "X", 10, type_mix={"lazy": 1.0})
    spec = DemoCourseSpec(300, "Only steady", "ST", 50, type_mix={"steady": 1.0}, timezone="Europe/Paris",
                          drift_rate=0.0, suspended=0)
    s = DemoSite(1, anchor=ANCHOR, courses=[spec])
    assert set(s.truth(300, at(5))) == {"steady"}
    d = s.course_data(300, at(5))
    assert d.timezone == "Europe/Paris" and d.suspended_students == 0 and len(d.students) == 50
    with pytest.raises(KeyError):
        s.course_data(999, at(1))


def test_log_rows_raw_newest_first_and_limit(site: DemoSite) -> None:
    rows = site.log_rows_raw(102, at(2), limit=20)
    assert len(rows) == 20
    assert rows[0]["timecreated"] >= rows[-1]["timecreated"]
    assert rows[0]["eventname"].startswith("\\") and isinstance(rows[0]["other"], str)


def test_500_students_ten_weeks() -> None:
    """Generates at scale (its speed is measured by ``python -m bench``, not asserted here)."""
    s = DemoSite(5, anchor=ANCHOR, courses=[DemoCourseSpec(150, "Big", "B", 500)])
    d = s.course_data(150, at(10))
    assert len(d.students) == 500 and len(d.logs) > 50_000


def test_thread_safe_generation() -> None:
    from concurrent.futures import ThreadPoolExecutor

    ref = DemoSite(9, anchor=ANCHOR).course_data(102, at(9)).logs
    shared = DemoSite(9, anchor=ANCHOR)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: shared.course_data(102, at(9)).logs, range(4)))
    for logs in results:
        pd.testing.assert_frame_equal(logs, ref)


def test_types_are_recoverable_by_plain_kmeans(site: DemoSite) -> None:
    """Simple per-student aggregates + KMeans(5) find the behaviour types (ARI well above chance)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    d = site.course_data(103, at(4))
    truth = site.truth(103, at(4), window_weeks=4)
    logs = d.logs[d.logs["userid"].isin(truth.index)]
    local = pd.to_datetime(logs["timecreated"], unit="s", utc=True).dt.tz_convert(d.timezone)
    g = logs.assign(
        post=logs["eventname"].str.contains("post_created|discussion_created", regex=True),
        forum=logs["component"] == "mod_forum",
        read=logs["component"].isin(["mod_resource", "mod_page", "mod_url"]),
        night=(local.dt.hour >= 22) | (local.dt.hour < 5),
        weekend=local.dt.day_of_week >= 5,
    ).groupby("userid")
    feats = pd.DataFrame({"n": np.log1p(g.size()), "post": g["post"].mean(), "forum": g["forum"].mean(),
                          "read": g["read"].mean(), "night": g["night"].mean(), "weekend": g["weekend"].mean()})
    grade = d.grades.groupby("userid")["graderaw"].mean()
    feats = feats.join(grade.rename("grade")).reindex(truth.index).fillna(0)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):           # OpenMP threads spin badly on a loaded 2-core box
        labels = KMeans(5, n_init=4, random_state=0).fit_predict(StandardScaler().fit_transform(feats))
    assert adjusted_rand_score(truth, labels) > 0.5
