"""Composite widgets used by more than one page or too long for a page: the schedule editor."""

from __future__ import annotations

from typing import Any

import streamlit as st

from ui import loaders
from ui.common import fmt_dt
from ui.i18n import current_language, t
from ui.resources import SESSION_KEYS
from ui.shaping import schedule_words

__all__ = ["schedule_editor", "job_progress", "DONE"]

DONE = {"succeeded", "failed", "skipped", "interrupted", "partial", "cancelled"}


def schedule_editor(store: Any, config: Any, sched: Any, *, editable: bool, courses: list[int]) -> None:
    """The nightly schedule: read-only for instructors; for admins cron + timezone (validated, with the
    next three run times), enabled flag and per-course enable flags, applied at once and saved."""
    from jobs.config import course_settings, effective_settings, save_settings
    from jobs.scheduler import reschedule, validate_cron

    eff = effective_settings(store, config)
    if not editable:
        st.caption(t("jb.schedule_ro", cron=schedule_words(eff.schedule, current_language()), tz=eff.timezone,
                     state=t("jb.on") if eff.enabled else t("jb.off")))
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    cron = c1.text_input(t("jb.cron"), value=eff.schedule, key="sched_cron")
    tz = c2.text_input(t("jb.tz"), value=eff.timezone, key="sched_tz")
    enabled = c3.checkbox(t("jb.enabled"), value=bool(eff.enabled), key="sched_enabled")
    try:
        fires = validate_cron(cron, tz)
        st.caption(t("jb.in_words", words=schedule_words(cron, current_language())))
        st.caption(t("jb.next", times=", ".join(f.strftime("%Y-%m-%d %H:%M %Z") for f in fires)))
        valid = True
    except ValueError as exc:
        st.error(t("jb.invalid", msg=str(exc)))
        valid = False
    flags = course_settings(store)
    on = [c for c in courses if flags.get(c, {}).get("enabled", True)]
    chosen = st.multiselect(t("jb.course_enabled"), courses, default=on, key="sched_courses")
    if st.button(t("common.save"), key="save_schedule", disabled=not valid):
        save_settings(store, schedule=" ".join(cron.split()), timezone=tz.strip(), enabled=bool(enabled),
                      courses={c: {**flags.get(c, {}), "enabled": c in chosen} for c in set(courses) | set(flags)})
        if sched is not None:
            reschedule(sched, cron, tz.strip(), bool(enabled), store=store, config=config)
        st.success(t("common.saved"))
        nxt = sched.get_job("nightly") if sched is not None else None
        if nxt is not None:
            st.caption(fmt_dt(getattr(nxt, "next_run_time", None)))


@st.fragment(run_every=2)
def job_progress() -> None:
    """Live progress of the session's active job (polls the job record every 2 s); when it ends, clears
    the loaders and reruns the app so the new run shows at once."""
    job_id = st.session_state.get(SESSION_KEYS["job"])
    if not job_id:
        return
    job = loaders.job_record(job_id)
    if job is None:
        st.session_state[SESSION_KEYS["job"]] = None
        return
    prog = job.get("progress") or {}
    status = job.get("status", "queued")
    if status in DONE:
        loaders.clear_loaders()
        st.session_state[SESSION_KEYS["job"]] = None
        st.session_state["last_job_done"] = job_id
        st.rerun()
    done, total = prog.get("done") or 0, prog.get("total") or len(job.get("course_ids") or []) or 1
    stage = prog.get("stage") or status
    fraction = prog.get("fraction")  # overall share of the job done (runner), else courses done
    value = min(1.0, float(fraction) if fraction is not None else float(done) / float(total))
    st.progress(value, text=t("jb.progress", job=job_id, status=f"{status} · {stage}"))
