"""The Import page (issue 11): a new course id by default, confirmation before importing into an
existing course, dates checked before import, the typed name kept, "done" with a link to the groups,
item maxima asked when the gradebook lacks them; Settings: upload retention and course dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.conftest import PAGES, Creds, errors, login, new_app, wait_for_job

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOG = ("edify_excerpt.csv", (FIXTURES / "edify_excerpt.csv").read_bytes(), "text/csv")


@pytest.fixture()
def admin(populated):
    """A fresh signed-in session per test (the Import page keeps its widgets' state per session)."""
    at = login(new_app(), "admin", Creds.admin)
    at.session_state["lang"] = "en"
    return at.switch_page(PAGES["overview"]).run()


def test_new_course_by_default_and_confirm_before_replacing(admin, populated):
    at = admin.switch_page(PAGES["import"]).run()
    at.file_uploader(key="import_log").set_value(LOG)
    at.run()
    assert not at.exception and not errors(at), errors(at)
    cid = at.number_input(key="import_course_id").value
    assert populated.courses.get(cid) is None and cid > 9000          # not the sidebar's course
    assert not at.button(key="import_submit").disabled
    at.number_input(key="import_course_id").set_value(101).run()      # an existing course
    assert any("already exists" in w.value for w in at.warning)
    assert at.button(key="import_submit").disabled
    at.checkbox(key="import_confirm_101").check().run()
    assert not at.button(key="import_submit").disabled


def test_import_keeps_the_typed_name_and_says_done_with_a_link(admin, populated):
    at = admin.switch_page(PAGES["import"]).run()
    at.file_uploader(key="import_log").set_value(LOG)
    at.run()
    cid = at.number_input(key="import_course_id").value
    at.text_input(key="import_course_name").input("My typed name").run()
    at.button(key="import_submit").click().run()
    assert not at.exception, at.exception
    job = wait_for_job(populated, at.session_state["active_job_id"])
    doc = populated.courses.get(cid)
    assert doc["fullname"] == "My typed name" and Path(doc["upload"]["path"]).is_file()
    for _ in range(3):
        at.run()
    assert not at.exception
    if job["result"][str(cid)]["status"] == "succeeded":
        assert any("Done: course" in s.value for s in at.success)
        assert any(getattr(link, "label", "") == "See the groups" for link in at.get("page_link"))
    else:  # a tiny excerpt may be too small to cluster: the page says why, not "done"
        assert any(f"course {cid}" in e for e in errors(at))


def test_gradebook_without_ranges_asks_for_the_maximum(admin):
    at = admin.switch_page(PAGES["import"]).run()
    at.file_uploader(key="import_log").set_value(LOG)
    book = b"First name,Last name,Quiz: Quiz 1 (Real)\nAna,Souza,7.5\n"
    at.file_uploader(key="import_grades").set_value(("grades.csv", book, "text/csv"))
    at.run()
    assert not at.exception
    assert any("Maximum of Quiz 1" == n.label for n in at.number_input)


def test_settings_sets_upload_retention(admin, populated):
    at = admin.switch_page(PAGES["settings"]).run()
    at.number_input(key="import_retention").set_value(7)
    at.button(key="FormSubmitter:imports_form-Save").click().run()
    assert not at.exception
    assert populated.settings.get("import_retention_days") == 7
