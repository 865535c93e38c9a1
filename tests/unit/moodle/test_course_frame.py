"""The course time frame: from Moodle's startdate/enddate, from the data, given by a user or an admin."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from moodle import CourseData, CourseFrame, frame_from_course

START = datetime(2025, 9, 1, tzinfo=UTC)
END = datetime(2025, 12, 20, tzinfo=UTC)


def test_from_moodle_startdate_enddate():
    f = frame_from_course({"startdate": int(START.timestamp()), "enddate": int(END.timestamp())}, timezone="Asia/Ho_Chi_Minh")
    assert (f.start, f.end, f.timezone, f.source) == (START, END, "Asia/Ho_Chi_Minh", "moodle")


def test_moodle_without_enddate_stays_open_ended_and_missing_start_comes_from_logs():
    logs = pd.DataFrame({"timecreated": [int(START.timestamp()) + 5, int(END.timestamp())]})
    f = frame_from_course({"startdate": 0, "enddate": 0}, logs)
    assert f.source == "data" and f.start.timestamp() == START.timestamp() + 5 and f.end == END
    g = frame_from_course({"startdate": int(START.timestamp()), "enddate": 0}, logs)
    assert g.source == "moodle" and g.start == START and g.end is None


def test_given_start_end_win_and_bad_order_is_refused():
    f = frame_from_course({"startdate": 1, "enddate": 2}, start="2025-09-01T00:00:00+00:00", end=END)
    assert f.source == "user" and f.start == START and f.end == END
    with pytest.raises(ValueError, match="not after start"):
        CourseFrame(END, START)
    with pytest.raises(ValueError, match="not a date"):
        CourseFrame("next tuesday", None)


def test_clamp_and_contains():
    f = CourseFrame(START, END)
    assert f.clamp(datetime(2030, 1, 1, tzinfo=UTC)) == END
    assert f.clamp(datetime(2020, 1, 1, tzinfo=UTC)) == START
    mid = datetime(2025, 10, 1, tzinfo=UTC)
    assert f.clamp(mid) == mid and f.contains(mid) and not f.contains(datetime(2026, 1, 1, tzinfo=UTC))
    assert CourseFrame.from_doc(f.to_doc()) == f


def test_course_data_frame_prefers_explicit_frame():
    data = CourseData(course={"id": 5, "startdate": int(START.timestamp()), "enddate": int(END.timestamp())})
    assert data.course_frame().source == "moodle"
    data.frame = CourseFrame(START, None, "UTC", "user")
    assert data.course_frame().end is None and data.course_frame().source == "user"
