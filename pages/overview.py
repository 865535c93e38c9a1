"""Overview: every course I may see, its last and next run, groups, alerts and movers."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from ui import loaders
from ui.bootstrap import bootstrap_status, scheduler
from ui.common import feature_label, fmt_dt, header, run_page, selected_course
from ui.grouping import grouping_notes, grouping_state, weak_structure_panel
from ui.i18n import current_language, t
from ui.resources import get_config, get_store
from ui.shaping import movers_frame
from ui.student import student_options


def _next_run() -> tuple[str, object]:
    """The nightly run's next time (text) and the effective settings (per-course flags)."""
    try:
        from jobs.config import effective_settings
        from jobs.scheduler import scheduler_status

        nxt = scheduler_status(scheduler()).get("nightly_next_run")
        eff = effective_settings(get_store(), get_config())
    except Exception:  # no scheduler: shown as "schedule off"
        nxt, eff = None, None
    return (fmt_dt(nxt) if nxt else t("ov.schedule_off")), eff


def _included(eff: object, cid: int) -> bool:
    if eff is None:
        return True
    nightly = getattr(eff, "nightly_courses", None)
    return eff.course_enabled(cid) and (not nightly or cid in nightly)


@st.fragment(run_every=3)
def _bootstrap_banner() -> None:
    status = bootstrap_status()
    if status["state"] == "running":
        prog = status["progress"]
        if prog.get("message") != st.session_state.get("_bootstrap_step"):  # a course finished: show it
            st.session_state["_bootstrap_step"] = prog.get("message")
            loaders.clear_loaders()
        if prog.get("fraction") is not None:
            st.progress(min(1.0, float(prog["fraction"])),
                        text=t("ov.bootstrap", pct=f"{float(prog['fraction']):.0%}", step=prog.get("message", "")))
        else:
            st.info(t("ov.bootstrap_running"), icon="⏳")
    elif status["state"] == "failed":
        st.warning(t("ov.bootstrap_failed", msg=status["error"]))
    elif status["state"] == "done" and not st.session_state.get("_bootstrap_seen"):
        st.session_state["_bootstrap_seen"] = True
        loaders.clear_loaders()
        st.rerun()


def body() -> None:
    header("ov.title", "ov.subtitle")
    _bootstrap_banner()
    courses = loaders.course_list()
    if not courses:
        st.info(t("ov.no_courses"))
        return
    next_run, eff = _next_run()
    rows = []
    for c in courses:
        cid = int(c["id"])
        run = loaders.latest_run(cid)
        trans = (run or {}).get("transitions") or {}
        rows.append({
            t("ov.col.course"): loaders.course_name(cid),
            t("ov.col.last_run"): fmt_dt((run or {}).get("run_at")),
            t("ov.col.next_run"): next_run if _included(eff, cid) else t("ov.schedule_off"),
            t("ov.col.clusters"): (run or {}).get("k"),
            t("ov.col.students"): ((run or {}).get("metadata") or {}).get("total_students"),
            t("ov.col.moved"): trans.get("moved"),
            t("ov.col.alerts"): len((run or {}).get("alerts") or []),
            t("gp.col.state"): grouping_state(run),
        })
    st.subheader(t("ov.courses"))
    if all(r[t("ov.col.clusters")] is None for r in rows):
        st.info(t("ov.empty"))
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="overview_table")

    cid = selected_course()
    run = loaders.latest_run(cid) if cid is not None else None
    if run is None:
        return
    name = loaders.course_name(cid)
    grouping_notes(run)
    if not (run.get("structure") or {}).get("clear", True):
        weak_structure_panel(run, loaders.snapshot(run["run_id"])[0])
    left, right = st.columns(2)
    with left:
        st.subheader(t("ov.alerts", course=name))
        alerts = run.get("alerts") or []
        if not alerts:
            st.caption(t("ov.no_alerts"))
        for a in alerts:
            st.warning((a.get("messages") or {}).get(current_language()) or a.get("message") or str(a))
    with right:
        st.subheader(t("ov.movers", course=name))
        movers = run.get("movers") or []
        if not movers:
            st.caption(t("ov.no_movers"))
        else:
            frame = movers_frame(run, current_language(), partial(feature_label, run), student_options(cid), limit=10)
            cols = {"user_id": t("cl.col.user_id"), "name": t("cl.col.fullname"), "from": t("tr.col.from"),
                    "to": t("tr.col.to"), "delta": t("tr.col.delta"), "changed": t("tr.col.changed")}
            st.dataframe(frame[[c for c in cols if c in frame]].rename(columns=cols), hide_index=True,
                         key="overview_movers")


run_page(body)
