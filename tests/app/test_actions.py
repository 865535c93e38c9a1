"""Action list page: an instructor sees whom to contact and why, messages two students through the demo
Moodle stand-in (real client, real HTTP), and sees the contacts logged; languages switch every text."""

from __future__ import annotations

import pytest

from tests.app.conftest import PAGES, Creds, errors, login, new_app, table


@pytest.fixture(scope="module")
def teacher(populated):
    at = login(new_app(), "teacher101", Creds.teacher)
    at.session_state["lang"] = "en"
    return at


def test_action_list_lists_students_with_plain_reasons(teacher):
    at = teacher.switch_page(PAGES["actions"]).run()
    assert not at.exception and not errors(at), (at.exception, errors(at))
    frame = table(at, "Why contact")
    assert len(frame) >= 2
    assert {"Name", "Email", "Group", "Last active", "Days inactive", "Change since last run"} <= set(frame.columns)
    assert frame["Why contact"].str.len().min() > 5
    assert frame["Email"].str.contains("@").all()
    assert len(at.get("download_button")) == 3  # CSV, Excel, the PDF report
    # filter by reason narrows (or keeps) the list, never widens it
    at.multiselect(key="act_kinds").set_value(["gone_quiet"]).run()
    quiet = table(at, "Why contact")
    assert len(quiet) <= len(frame)
    assert quiet["Why contact"].str.contains("no activity for").all()
    at.multiselect(key="act_kinds").set_value([]).run()


def test_message_two_students_and_see_the_contacts(teacher, populated):
    from jobs.messaging import demo_moodle

    at = teacher.switch_page(PAGES["actions"]).run()
    frame = table(at, "Why contact")
    two = [int(u) for u in frame["Student id"].head(2)]
    inbox = demo_moodle()
    before = len(inbox.messages)
    at.multiselect(key="act_pick_en").set_value(two).run()
    assert "Hello" in at.text_area(key="act_template").value
    at.button(key="act_send").click().run()
    assert not errors(at), errors(at)
    assert any("Sent 2 messages" in s.value for s in at.success)
    got = inbox.messages[before:]
    assert sorted(m["touserid"] for m in got) == sorted(two)
    name = frame.loc[frame["Student id"] == two[0], "Name"].iloc[0]
    assert any(m["text"].startswith(f"Hello {name}") for m in got)
    log = table(at, "Re-engaged?")
    assert set(two) <= set(log["Student id"])
    assert (log["Channel"] == "Demo Moodle (not delivered)").all()
    docs = populated.interventions.for_course(101)
    assert {d["user_id"] for d in docs} >= set(two)
    assert all(d["status"] == "sent" and d["sender"] == "teacher101" and d["reason"]["vi"] and d["reason"]["en"]
               for d in docs if d["user_id"] in two)


def test_refusals_are_shown_and_logged(teacher, populated):
    from jobs.messaging import demo_moodle

    inbox = demo_moodle()
    at = teacher.switch_page(PAGES["actions"]).run()
    one = int(table(at, "Why contact")["Student id"].iloc[-1])
    inbox.faults.messaging_disabled = True
    try:
        at.multiselect(key="act_pick_en").set_value([one]).run()
        at.button(key="act_send").click().run()
    finally:
        inbox.faults.messaging_disabled = False
    assert any("messaging is turned off" in e for e in errors(at)), errors(at)
    failed = [d for d in populated.interventions.for_user(101, one) if d["status"] == "failed"]
    assert failed and failed[0]["error_code"] == "disabled"


def test_vietnamese_action_list(teacher):
    teacher.session_state["lang"] = "vi"
    try:
        at = teacher.switch_page(PAGES["actions"]).run()
        frame = table(at, "Lý do liên hệ")
        assert "Chào" in at.text_area(key="act_template").value
        text = " ".join(frame["Lý do liên hệ"])
        assert "no activity" not in text and ("không hoạt động" in text or "nhóm" in text)
    finally:
        teacher.session_state["lang"] = "en"



@pytest.mark.parametrize("lang", ["en", "vi"])
def test_course_report_is_a_real_pdf_in_each_language(populated, lang):
    """The report the PDF button builds: pages, the three sections in the language, charts drawn by kaleido."""
    import io
    from functools import partial

    from pypdf import PdfReader

    from analytics.actions import action_list
    from ui.actions import action_table
    from ui.i18n import t
    from ui.localize import localize_run
    from ui.report import course_report_pdf

    runs = populated.runs.list(101, limit=3)
    run = populated.runs.get(runs[0]["run_id"])
    snap, _ = populated.snapshots.load(run["run_id"])
    archetypes = {int(c["cluster_id"]): c["profile"].get("archetype") for c in run["clusters"]}
    local = localize_run(run, lang)
    table = action_table(local, action_list(snap, archetypes=archetypes, as_of=run["as_of"]), lang, previous={})
    assignments = [{int(u): int(c["cluster_id"]) for c in populated.runs.get(r["run_id"])["clusters"]
                    for u in c["user_ids"]} for r in reversed(runs)]
    pdf = course_report_pdf(local, course_name="101", t=partial(t, lang=lang), assignments=assignments,
                            run_labels=["a", "b", "c"], actions=table, contacts={"contacted": 2, "followed_up": 0,
                                                                                 "re_engaged": 0})
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(p.extract_text() for p in reader.pages)
    assert pdf.startswith(b"%PDF") and len(reader.pages) >= 2
    for key in ("rep.groups", "rep.movement", "rep.actions"):
        assert t(key, lang=lang) in text
    assert local["clusters"][0]["name"] in text
    images = sum(len([x for x in (p["/Resources"].get("/XObject") or {}).values()
                      if x.get_object().get("/Subtype") == "/Image"]) for p in reader.pages)
    assert images >= 2  # the group sizes and the movement charts


def test_report_keeps_chromium_pipe_noise_to_one_line():
    """choreographer's handled 'JSONError decoding message. Ignoring' keeps its line but loses the traceback
    (a traceback in the server log means a failure); its other errors keep theirs."""
    import io
    import logging

    from ui import report

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    pipe_log = report.quiet_handled_pipe_noise()
    assert pipe_log is not None and hasattr(pipe_log, "debug2")  # choreographer's own logger, not a plain one
    pipe_log.addHandler(handler)
    try:
        try:
            raise ValueError("half a message")
        except ValueError:
            pipe_log.exception("JSONError decoding message. Ignoring")
        assert buf.getvalue() == "JSONError decoding message. Ignoring\n"
        try:
            raise ValueError("broken pipe")
        except ValueError:
            pipe_log.exception("Error in trying to decode JSON off our read.")
        assert "Traceback" in buf.getvalue() and "broken pipe" in buf.getvalue()
    finally:
        pipe_log.removeHandler(handler)
