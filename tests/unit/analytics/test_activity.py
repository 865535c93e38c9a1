from __future__ import annotations

import pandas as pd
import pytest

from analytics import activity_report

from .conftest import Course, log_rows, ts


def test_activity_report_per_date():
    rows = [(10, "\\mod_resource\\event\\course_module_viewed", ts(2026, 3, 9, 8)),
            (10, "\\mod_page\\event\\course_module_viewed", ts(2026, 3, 9, 9)),
            (11, "\\mod_quiz\\event\\course_module_viewed", ts(2026, 3, 9, 23, 30)),  # 10 Mar in UTC+7
            (99, "\\mod_forum\\event\\course_module_viewed", ts(2026, 3, 9, 10)),     # teacher views count
            (10, "\\mod_forum\\event\\post_created", ts(2026, 3, 9, 11)),             # not a view
            (11, "\\core\\event\\course_viewed", ts(2026, 3, 11, 9)),                 # not module level
            (11, "\\mod_url\\event\\course_module_viewed", ts(2026, 3, 12, 9)),
            (10, "\\mod_assign\\event\\course_module_viewed", ts(2026, 3, 12, 10))]
    c = Course(course={"id": 5, "fullname": "Course five", "shortname": "c5"},
               students=pd.DataFrame({"id": [10, 11]}), logs=log_rows(rows),
               teachers=pd.DataFrame({"id": [99]}))
    rep = activity_report(c)
    assert [r["date"] for r in rep] == ["2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12"]
    d = rep[0]
    assert (d["file_views"], d["video_views"], d["quiz_views"], d["forum_views"]) == (1, 1, 1, 1)
    assert d["total_views"] == 4 and d["active_days"] == 1 and d["num_students"] == 2 and d["num_teachers"] == 1
    assert d["avg_activity_per_student_per_day"] == 2.0
    assert d["course_id"] == 5 and d["course_name"] == "Course five"
    assert rep[1]["total_views"] == 0 and rep[1]["active_days"] == 0
    assert rep[1]["avg_activity_per_student_per_day"] == 0.0
    assert rep[2]["total_views"] == 0 and rep[2]["active_users"] == 1
    assert (rep[3]["url_views"], rep[3]["assignment_views"]) == (1, 1)
    local = activity_report(c, timezone="Asia/Ho_Chi_Minh")
    by_date = {r["date"]: r for r in local}
    assert by_date["2026-03-10"]["quiz_views"] == 1 and by_date["2026-03-09"]["quiz_views"] == 0
    assert by_date["2026-03-09"]["avg_activity_per_student_per_day"] == pytest.approx(1.5)


def test_activity_report_empty():
    c = Course(course={"id": 1}, students=pd.DataFrame({"id": [1]}), logs=log_rows([]).reindex(
        columns=["eventname", "timecreated"]))
    assert activity_report(c) == []
