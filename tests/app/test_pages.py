"""AppTest per page: the admin logs in through the form and every page renders its key elements."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app.conftest import PAGES, Creds, errors, login, new_app, table, wait_for_job

#: page -> (title in English, minimum number of plotly charts)
EXPECT = {
    "overview": ("Overview", 0),
    "actions": ("Action list", 0),
    "clusters": ("Clusters", 3),
    "transitions": ("Transitions", 2),
    "student": ("Student", 5),
    "diagnostics": ("Diagnostics", 4),
    "activity": ("Activity", 1),
    "jobs": ("Jobs", 0),
    "import": ("Import a Moodle log", 0),
    "settings": ("Settings", 0),
}


@pytest.fixture(scope="module")
def _admin_session(populated):
    """One signed-in admin session for the module (signing in costs ~2 s: bcrypt + the form runs)."""
    return login(new_app(), "admin", Creds.admin)


@pytest.fixture()
def admin(_admin_session):
    _admin_session.session_state["lang"] = "en"
    return _admin_session.switch_page(PAGES["overview"]).run()


def test_login_form_then_wrong_password(populated):
    at = new_app().run()
    assert not at.exception
    assert len(at.text_input) == 2 and at.button[0].label  # the sign-in form
    assert not at.get("plotly_chart")  # no data before signing in
    at.text_input[0].input("admin")
    at.text_input[1].input("not-the-password")
    at.button[0].click().run()
    assert at.session_state["authentication_status"] is False
    assert errors(at)


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders(admin, page):
    title, charts = EXPECT[page]
    at = admin.switch_page(PAGES[page]).run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    assert title in [t.value for t in at.title]
    assert len(at.get("plotly_chart")) >= charts
    assert at.selectbox(key="course_picker").value == 101


@pytest.mark.parametrize("page", ["student", "actions"])
def test_pages_do_without_an_earlier_runs_snapshot(admin, populated, page):
    """The previous run kept no snapshot (retention, or an older run's snapshot pruned first): the
    student trend leaves that run out, the action list has no "since last run" reasons; neither page
    fails (both raised KeyError before)."""
    col = populated.collection("cluster_snapshots")
    victim = populated.runs.run_ids(101)[1]
    chunks = col.find({"run_id": victim})
    assert chunks
    populated.snapshots.delete_run(victim)
    try:
        at = admin.switch_page(PAGES[page]).run()
        assert not at.exception, at.exception
        assert not errors(at), errors(at)
        if page == "student":
            assert len(at.get("plotly_chart")) == EXPECT["student"][1]  # 4 trends (one point fewer) + path
        else:
            assert EXPECT["actions"][0] in [x.value for x in at.title]
    finally:
        col.insert_many(chunks)  # exactly as it was, for the other tests
    assert populated.snapshots.exists(victim)


def test_overview_lists_both_courses_for_admin(admin):
    courses = table(admin, "Course")
    assert len(courses) >= 2  # an imported course may join later in the session
    assert courses.iloc[:, 0].str.startswith("101").any() and courses.iloc[:, 0].str.startswith("102").any()


def test_clusters_members_search_and_exports(admin):
    at = admin.switch_page(PAGES["clusters"]).run()
    full = table(at, "Student id")
    assert len(full) > 10
    uid = str(full.iloc[0, 0])
    at.text_input(key="members_search").input(uid).run()
    assert 1 <= len(table(at, "Student id")) < len(full)
    kinds = {b.proto.id for b in at.get("download_button")}
    assert len(kinds) == 2  # CSV and Excel


def test_language_switch_to_vietnamese(admin):
    admin.session_state["lang"] = "vi"
    at = admin.run()
    assert "Tổng quan" in [t.value for t in at.title]
    at.session_state["lang"] = "en"


def test_run_now_job_succeeds_and_new_run_visible(admin, populated):
    before = populated.runs.latest(101)["run_id"]
    at = admin.switch_page(PAGES["jobs"]).run()
    at.button(key="run_now").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["active_job_id"]
    assert job_id and any(job_id in s.value for s in at.success)  # the id is shown at once
    job = wait_for_job(populated, job_id)
    assert job["status"] == "succeeded", job.get("error")
    at.run()  # the progress fragment sees the end, clears the loaders and reruns
    at.run()
    after = populated.runs.latest(101)
    assert after["run_id"] != before
    assert not errors(at)
    assert any(job_id in s.value for s in at.success)
    assert job_id in set(table(at, "Job").iloc[:, 0])
    at = at.switch_page(PAGES["clusters"]).run()
    from ui.common import fmt_dt

    assert any(fmt_dt(after["run_at"]) in c.value for c in at.caption)  # the new run, not a cached one


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_import_bad_file_shows_a_clear_error(admin):
    at = admin.switch_page(PAGES["import"]).run()
    bad = (FIXTURES / "log_exports" / "not_a_log_gradebook.csv").read_bytes()
    at.file_uploader(key="import_log").set_value(("grades.csv", bad, "text/csv"))
    at.run()
    assert not at.exception
    assert any("could not be read as a Moodle log export" in e for e in errors(at))
    assert not [b for b in at.button if b.key == "import_submit"]


def test_import_log_export_preview_then_cluster(admin, populated):
    at = admin.switch_page(PAGES["import"]).run()
    at.file_uploader(key="import_log").set_value(("edify_excerpt.csv", (FIXTURES / "edify_excerpt.csv").read_bytes(),
                                                  "text/csv"))
    at.run()
    assert not at.exception and not errors(at), errors(at)
    assert any(s.value.startswith("Preview:") for s in at.success)
    cid = at.number_input(key="import_course_id").value       # a new course id is suggested
    assert populated.courses.get(cid) is None
    at.text_input(key="import_course_name").input("Imported course")
    at.button(key="import_submit").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["active_job_id"]
    job = wait_for_job(populated, job_id)
    assert job["status"] in {"succeeded", "skipped"}, job.get("error")  # a tiny excerpt may be too small
    assert str(job.get("source", "")).startswith("csv:") and "/imports/" in job["source"]
    assert populated.courses.get(cid)["fullname"] == "Imported course"
    at.run()
    assert not at.exception


def test_settings_adds_an_instructor_with_a_hashed_password(admin, populated):
    at = admin.switch_page(PAGES["settings"]).run()
    password = "pw-" + os.urandom(6).hex()
    at.text_input(key="user_name").input("Teacher102")
    at.text_input(key="user_fullname").input("Teacher Two")
    at.text_input(key="user_password").input(password)
    at.selectbox(key="user_role").set_value("instructor")
    at.multiselect(key="user_courses").set_value([102])
    at.button[[b.label for b in at.button].index("Save user")].click().run()
    assert not at.exception and not errors(at), errors(at)
    user = populated.users.get("teacher102")
    assert user["role"] == "instructor" and user["courses"] == [102]
    assert password not in str(user) and user["password_hash"].startswith("$2")
    # the new account can sign in and sees only its course
    other = login(new_app(), "teacher102", password)
    assert other.selectbox(key="course_picker").options[0].startswith("102")
    assert len(other.selectbox(key="course_picker").options) == 1


def test_settings_moodle_tokens_are_written_but_never_shown(admin, tmp_path, monkeypatch):
    import ui.secrets_file

    target = tmp_path / "secrets.toml"
    monkeypatch.setattr(ui.secrets_file, "SECRETS_PATH", target)
    monkeypatch.delenv("MOODLE_STANDARD_TOKEN", raising=False)
    token = "test-token-" + os.urandom(4).hex()
    at = admin.switch_page(PAGES["settings"]).run()
    at.text_input(key="moodle_url").input("https://moodle.example.test")
    at.text_input(key="moodle_std").input(token)
    at.button[[b.label for b in at.button].index("Save Moodle settings")].click().run()
    assert not at.exception
    assert token in target.read_text() and (target.stat().st_mode & 0o777) == 0o600
    at.run()
    # (AppTest keeps what the test typed into the inputs; the browser clears the form on submit)
    shown = " ".join(str(e.value) for e in [*at.caption, *at.markdown, *at.success, *at.info, *at.warning,
                                            *at.error, *at.dataframe])
    assert token not in shown
    assert "Standard token: set" in shown


def test_schedule_editor_validates_cron(admin):
    at = admin.switch_page(PAGES["jobs"]).run()
    at.text_input(key="sched_cron").input("61 2 * * *").run()
    assert any("Invalid schedule" in e for e in errors(at))
    assert at.button(key="save_schedule").disabled
    at.text_input(key="sched_cron").input("30 1 * * 1").run()
    assert not [e for e in errors(at) if "Invalid schedule" in e]
    assert not at.button(key="save_schedule").disabled
    assert any(c.value.startswith("Next runs:") and c.value.count(",") == 2 for c in at.caption)
    at.button(key="save_schedule").click().run()
    assert not at.exception and "Saved." in [s.value for s in at.success]
    from ui.resources import get_store

    assert get_store().settings.get("schedule") == "30 1 * * 1"


def test_a_run_from_elsewhere_shows_without_waiting_for_the_cache(admin, populated):
    """A run written by the nightly job or another process (no clear_loaders call) shows at the next
    rerun: the loaders' cache keys carry the course's newest run id."""
    from datetime import UTC, datetime

    from jobs.pipeline import run_course
    from ui.common import fmt_dt

    at = admin.switch_page(PAGES["clusters"]).run()
    old = populated.runs.latest(101)
    assert any(fmt_dt(old["run_at"]) in c.value for c in at.caption)
    run_course(101, source="demo", store=populated, as_of=datetime.now(UTC).replace(microsecond=0))
    new = populated.runs.latest(101)
    assert new["run_id"] != old["run_id"]
    at.run()
    assert not at.exception
    assert any(fmt_dt(new["run_at"]) in c.value for c in at.caption)


def test_feature_names_are_shown_in_plain_language(admin, populated):
    at = admin.switch_page(PAGES["clusters"]).run()
    run = populated.runs.latest(101)
    labels = run["feature_labels"]
    assert labels["weekly_regularity"]["en"] == "share of weeks active"
    text = "\n".join(m.value for m in at.markdown)
    raw = [f["feature"] for c in run["clusters"] for f in c["top_features"][:4]]
    assert raw and all(labels[f]["en"] in text for f in raw)


def test_member_table_shows_and_searches_student_names(admin, populated):
    run = populated.runs.latest(101)
    frame, _ = populated.snapshots.load(run["run_id"])
    name = str(frame.loc[frame["fullname"] != "", "fullname"].iloc[0])
    at = admin.switch_page(PAGES["clusters"]).run()
    at.text_input(key="members_search").input(name).run()
    shown = table(at, "Name")
    assert "Name" in shown.columns and (shown["Name"] == name).all() and len(shown) >= 1
