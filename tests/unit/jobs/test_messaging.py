"""Contacting students from an action list through the demo Moodle stand-in, and a later run telling
whether they re-engaged (real pipeline, real store, real HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from analytics.actions import action_list, outcome
from jobs.clock import FakeClock, utcnow
from jobs.messaging import channel_for, demo_moodle, send_contacts
from jobs.pipeline import run_course

T0 = (utcnow() - timedelta(days=8)).replace(microsecond=0)


def test_contacts_are_sent_logged_and_followed_up(store, config, small_site):
    first = run_course(202, source="demo", store=store, as_of=T0, config=config)
    run = store.runs.get(first["run_id"])
    snap, _ = store.snapshots.load(run["run_id"])
    assert {"fullname", "email"} <= set(snap.columns) and snap["email"].str.contains("@").all()
    archetypes = {int(c["cluster_id"]): c["profile"].get("archetype") for c in run["clusters"]}
    todo = action_list(snap, archetypes=archetypes, as_of=run["as_of"], quiet_days=0.0)  # everyone idle > 0 days
    assert len(todo) >= 2
    chosen = todo.head(2).to_dict("records")
    inbox = demo_moodle(config)
    before = len(inbox.messages)
    store.clock = FakeClock(T0 + timedelta(hours=1))  # contacted an hour after that run
    docs = send_contacts(store, config, course_id=202, sender="teacher", language="en", run_id=run["run_id"],
                         course=store.courses.get(202),
                         items=[{"user_id": r["user_id"], "name": r["fullname"], "text": f"Hello {r['fullname']}",
                                 "reasons": r["reasons"], "reason": {"en": "x", "vi": "y"},
                                 "before": {"cluster_id": r["cluster_id"], "engagement": r["engagement"]}}
                                for r in chosen])
    assert [d["status"] for d in docs] == ["sent", "sent"] and all(d["channel"] == "demo_moodle" for d in docs)
    assert [m["touserid"] for m in inbox.messages[before:]] == [r["user_id"] for r in chosen]
    logged = store.interventions.for_course(202)
    assert {d["user_id"] for d in logged} == {r["user_id"] for r in chosen}
    assert all(d["sender"] == "teacher" and d["moodle_msgid"] > 0 for d in logged)

    # a week later the next run shows, per contacted student, whether they were active again
    later = run_course(202, source="demo", store=store, as_of=T0 + timedelta(days=7), config=config)
    later_run = store.runs.get(later["run_id"])
    later_snap, _ = store.snapshots.load(later["run_id"])
    rows = {int(r["user_id"]): r for r in later_snap.to_dict("records")}
    outs = [outcome(d, rows.get(int(d["user_id"])), later_run["as_of"]) for d in logged]
    assert all(o["re_engaged"] in (True, False) and o["cluster_after"] is not None for o in outs)


def test_refusals_are_logged_as_failed(store, config, small_site):
    first = run_course(202, source="demo", store=store, as_of=T0, config=config)
    snap, _ = store.snapshots.load(first["run_id"])
    uid = int(snap["user_id"].iloc[0])
    inbox = demo_moodle(config)
    inbox.faults.deny_sendmessage = True
    try:
        docs = send_contacts(store, config, course_id=202, sender="t", language="vi", course=store.courses.get(202),
                             items=[{"user_id": uid, "name": "A", "text": "Chào A"}])
    finally:
        inbox.faults.deny_sendmessage = False
    assert docs[0]["status"] == "failed" and docs[0]["error_code"] == "nopermissions"
    assert store.interventions.for_user(202, uid)[0]["status"] == "failed"
    with pytest.raises(ValueError, match="status"):
        store.interventions.add_many([{**docs[0], "status": "maybe", "intervention_id": None}])


def test_a_moodle_course_uses_the_configured_site(config):
    from dataclasses import replace

    moodle = replace(config, moodle_url="https://moodle.example.edu", moodle_standard_token="t" * 32)
    assert channel_for({"source": "moodle"}, moodle) == "moodle"
    assert channel_for({"source": "demo"}, moodle) == "demo_moodle"
    assert channel_for({"source": "moodle"}, config) == "demo_moodle"  # no site configured: never pretend
