"""An instructor granted course 101 tries to reach course 102 by every path, and fails each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import APP, PAGES, Creds, errors, login, new_app, signed_in, table

FORBIDDEN = "You do not have access to course 102"


@pytest.fixture(scope="module")
def _teacher_session(populated):
    return login(new_app(), "teacher101", Creds.teacher)


@pytest.fixture()
def teacher(_teacher_session):
    _teacher_session.session_state["lang"] = "en"
    return _teacher_session.switch_page(PAGES["overview"]).run()


def _no_course_102_data(at) -> None:
    assert not at.get("plotly_chart")
    assert not at.get("download_button")
    for frame in at.dataframe:  # no row names course 102 (a count that happens to be 102 is fine)
        text = frame.value.to_string()
        assert "102 ·" not in text and "Academic Writing" not in text


def test_picker_lists_only_granted_course(teacher):
    box = teacher.selectbox(key="course_picker")
    assert len(box.options) == 1 and box.options[0].startswith("101")
    assert box.value == 101
    courses = table(teacher, "Course")
    assert len(courses) == 1 and courses.iloc[0, 0].startswith("101")


def test_settings_page_is_not_offered(teacher):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        teacher.switch_page(PAGES["settings"])  # not registered for an instructor
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(APP).parent / PAGES["settings"]), default_timeout=60)
    signed_in(at, "teacher101")
    at.session_state["lang"] = "en"
    at.run()  # opened directly, the page itself refuses
    assert "This page is for administrators only." in errors(at)
    assert not at.text_input


def test_query_parameter_is_refused(populated):
    at = new_app()
    at.query_params["course"] = "102"
    at = login(at, "teacher101", Creds.teacher)
    assert any(FORBIDDEN in e for e in errors(at))
    _no_course_102_data(at)
    # the bad parameter is dropped, so the next interaction recovers on the granted course
    at.run()
    assert at.selectbox(key="course_picker").value == 101


def test_session_state_is_refused(populated):
    at = new_app()
    at.session_state["course_id"] = 102  # a tampered session
    at = login(at, "teacher101", Creds.teacher)
    assert any(FORBIDDEN in e for e in errors(at)), errors(at)
    _no_course_102_data(at)
    assert at.session_state["course_id"] is None  # cleared: the next run falls back to 101
    at.run()
    assert at.selectbox(key="course_picker").value == 101
    assert not errors(at)


@pytest.mark.parametrize("page", ["overview", "clusters", "transitions", "diagnostics", "activity", "jobs"])
def test_each_page_refuses_a_forbidden_course_on_its_own(populated, page):
    """Each page file, run without the router (as a deep link would), still goes through the guard."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(APP).parent / PAGES[page]), default_timeout=60)
    signed_in(at, "teacher101")
    at.session_state["lang"] = "en"
    at.session_state["course_id"] = 102
    at.run()
    assert not at.exception, at.exception
    assert any(FORBIDDEN in e for e in errors(at)), errors(at)
    _no_course_102_data(at)
    assert not [b for b in at.button if b.key in {"run_now", "run_all"}]  # no Run now for 102


def _probe() -> None:
    """Runs inside AppTest: call the loaders / export / run-now guard for course 102 directly."""
    import streamlit as st

    from ui import loaders
    from ui.auth import require_course

    which = st.session_state["probe"]
    if which == "latest":
        st.write(loaders.latest_run(102))
    elif which == "runs":
        st.write(loaders.run_list(102))
    elif which == "activity":
        st.write(loaders.activity(102))
    elif which == "run_by_id":
        st.write(loaders.run_by_id(st.session_state["run_id"]))
    elif which == "snapshot":
        st.write(loaders.snapshot(st.session_state["run_id"])[0])
    elif which == "submit":
        require_course(102)
        st.write("SUBMITTED")
    st.write("REACHED")


@pytest.mark.parametrize("which", ["latest", "runs", "activity", "run_by_id", "snapshot", "submit"])
def test_loaders_exports_and_run_now_guard(populated, which):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_probe, default_timeout=30)
    signed_in(at, "teacher101")
    at.session_state["probe"] = which
    at.session_state["lang"] = "en"
    at.session_state["run_id"] = populated.runs.latest(102)["run_id"]
    at.run()
    assert not at.exception, at.exception
    assert any(FORBIDDEN in e for e in errors(at))
    assert "REACHED" not in [m.value for m in at.markdown]


def test_instructor_run_all_submits_only_granted(teacher, populated, monkeypatch):
    import jobs.runner

    seen: list[list[int]] = []
    monkeypatch.setattr(jobs.runner, "submit", lambda store, ids, trigger="manual", **kw: seen.append(list(ids))
                        or "job-test-1")
    at = teacher.switch_page(PAGES["jobs"]).run()
    at.button(key="run_all").click().run()
    assert seen == [[101]]


def test_instructor_jobs_history_hides_other_courses(teacher, populated):
    job_id = populated.jobs.create([102], "manual")
    populated.jobs.set_status(job_id, "failed", error={"type": "Test", "message": "job of course 102"})
    at = teacher.switch_page(PAGES["jobs"]).run()
    text = " ".join(f.value.to_string() for f in at.dataframe)
    assert job_id not in text
    admin_view = [j["job_id"] for j in populated.jobs.recent(limit=50)]
    assert job_id in admin_view  # it exists; the instructor just cannot see it


def test_logout_returns_to_the_login_form(populated):
    at = login(new_app(), "teacher101", Creds.teacher)
    at.button(key="logout_button").click().run()
    assert not at.exception
    assert not at.session_state["authentication_status"]
    assert len(at.text_input) == 2  # the sign-in form again
    assert not at.get("plotly_chart") and not at.dataframe


@pytest.mark.parametrize("page", ["overview", "clusters", "jobs", "import", "settings"])
def test_a_page_file_run_without_login_shows_nothing(populated, page):
    """Before anyone signs in, Streamlit may serve a pages/ file by its name without the router:
    the page itself asks for a login and draws no data, no uploader, no scheduler state."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(APP).parent / PAGES[page]), default_timeout=60)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, at.exception
    assert errors(at) == ["Please sign in first."]
    assert not at.get("plotly_chart") and not at.dataframe and not at.get("file_uploader")
    assert not at.metric and not at.button

