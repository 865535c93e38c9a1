"""Pages say which window the groups describe; an admin pins k / asks for a regrouping on Diagnostics."""

from __future__ import annotations

import pytest

from tests.app.conftest import PAGES, Creds, errors, login, new_app


@pytest.fixture(scope="module")
def _admin(populated):
    return login(new_app(), "admin", Creds.admin)


@pytest.fixture()
def admin(_admin):
    _admin.session_state["lang"] = "en"
    return _admin.switch_page(PAGES["overview"]).run()


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.mark.parametrize("page", ["overview", "clusters", "transitions", "diagnostics"])
def test_pages_say_which_window_the_groups_describe(admin, page):
    at = admin.switch_page(PAGES[page]).run()
    assert not at.exception and not errors(at)
    assert any("These groups describe behaviour in the 4 weeks" in c for c in _captions(at)), _captions(at)


def test_overview_table_says_how_each_course_was_grouped(admin):
    from tests.app.conftest import table

    courses = table(admin, "Groups")
    assert set(courses["Groups"]) <= {"kept", "first grouping", "regrouped", "no clear groups", "—"}
    assert "kept" in set(courses["Groups"])          # course 101 has three weekly runs


def test_admin_pins_k_unpins_and_requests_a_regrouping(admin, populated):
    store = populated
    at = admin.switch_page(PAGES["diagnostics"]).run()
    assert any("k is not pinned" in c for c in _captions(at))
    labels = [b.label for b in at.button]
    assert {"Pin k", "Unpin", "Regroup at the next run"} <= set(labels)
    at.number_input[0].set_value(3)
    at.button[labels.index("Pin k")].click().run()
    assert not at.exception
    assert store.courses.get(101)["k_pinned"] == 3
    at.button[[b.label for b in at.button].index("Unpin")].click().run()
    assert store.courses.get(101)["k_pinned"] is None
    at.button[[b.label for b in at.button].index("Regroup at the next run")].click().run()
    assert store.courses.get(101)["regroup_requested"]["by"] == "admin"
    store.courses.request_regroup(101, False)     # leave the shared store as it was


def test_instructor_sees_no_grouping_controls(populated):
    at = login(new_app(), "teacher101", Creds.teacher)
    at = at.switch_page(PAGES["diagnostics"]).run()
    assert not at.exception
    assert "Pin k" not in [b.label for b in at.button]


def test_admin_edits_the_time_frame_and_window(admin, populated):
    from datetime import date

    store = populated
    at = admin.switch_page(PAGES["diagnostics"]).run()
    assert any("Time frame:" in c for c in _captions(at))
    at.date_input(key="frame_start").set_value(date(2026, 1, 5))
    at.date_input(key="frame_end").set_value(date(2026, 5, 1))
    at.number_input(key="frame_days").set_value(21)
    at.button[[b.label for b in at.button].index("Save the time frame")].click().run()
    assert not at.exception
    doc = store.courses.get(101)
    assert doc["frame"]["source"] == "admin" and doc["window_days"] == 21
    assert str(doc["frame"]["start"])[:10] == "2026-01-05"
    at.button[[b.label for b in at.button].index("Use the source's dates")].click().run()
    assert store.courses.get(101)["frame"] is None
    store.courses.set_flags(101, window_days=None)   # leave the shared store as it was


def _weak_script():
    import pandas as pd

    from ui.grouping import grouping_notes, weak_structure_panel

    st_state = __import__("streamlit").session_state
    st_state["lang"] = "en"
    run = {"structure": {"clear": False, "best_silhouette": 0.17}, "grouping": {"action": "place"}}
    grouping_notes(run)
    snap = pd.DataFrame({"user_id": [1, 2, 3], "fullname": ["A", "B", "C"], "engagement_score": [70.0, 5.0, 40.0],
                         "days_since_last_activity": [1.0, 25.0, 3.0], "total_events": [30.0, 0.5, 10.0]})
    weak_structure_panel(run, snap)


def test_weak_structure_panel_shows_the_at_risk_few_and_a_ranking():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_weak_script).run()
    assert not at.exception, at.exception
    assert any("No clear groups in this course" in w.value for w in at.warning)
    risk = at.dataframe[0].value
    assert risk.iloc[0]["Name"] == "B" and "Engagement (0-100)" in risk.columns
    assert len(at.dataframe) == 2
