"""Jobs: Run now with live progress, job history, the nightly schedule (admins) and health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from ui import loaders
from ui.auth import allowed_courses, current_user, is_admin, require_course
from ui.bootstrap import scheduler
from ui.common import fmt_dt, header, redact, run_page, selected_course
from ui.i18n import t
from ui.plain import md
from ui.resources import SESSION_KEYS, get_config, get_store
from ui.shaping import jobs_frame
from ui.widgets import job_progress, schedule_editor


def _submit(course_ids: list[int]) -> None:
    from jobs.runner import submit

    ids = [require_course(c) for c in course_ids]  # every course through the guard
    try:
        job_id = submit(get_store(), ids, "manual")
    except Exception as exc:  # shown, never a traceback
        st.error(t("jb.submit_failed", msg=redact(str(exc))))
        return
    st.session_state[SESSION_KEYS["job"]] = job_id
    st.success(t("jb.queued", job=job_id))


def _finished_banner(cid: int | None) -> None:
    job_id = st.session_state.get("last_job_done")
    if not job_id:
        return
    job = loaders.job_record(job_id) or {}
    status = job.get("status", "?")
    (st.success if status == "succeeded" else st.warning)(t("jb.done", job=job_id, status=status))
    err = job.get("error") or {}
    if err:  # a skipped course is a warning (e.g. too few students), a failure an error
        (st.warning if status == "skipped" else st.error)(md(redact(f"{err.get('type', '')}: {err.get('message', '')}")))
    run = loaders.latest_run(cid) if cid is not None else None
    if run is not None:
        st.info(t("jb.new_run", k=run.get("k"), students=(run.get("metadata") or {}).get("total_students"),
                  date=fmt_dt(run.get("run_at"))))


def _health(rows: list[dict]) -> None:
    from jobs.scheduler import scheduler_status

    status = scheduler_status(scheduler())
    day_ago = datetime.now(UTC) - timedelta(days=1)
    failed = sum(1 for j in rows if j.get("status") == "failed" and j.get("created_at")
                 and _aware(j["created_at"]) >= day_ago)
    running = sum(1 for j in rows if j.get("status") in {"queued", "running"})
    c = st.columns(4)
    c[0].metric(t("jb.scheduler_running"), t("common.yes") if status["running"] else t("common.no"))
    c[1].metric(t("jb.scheduler_next"), fmt_dt(status["nightly_next_run"]))
    c[2].metric(t("jb.running_jobs"), running)
    c[3].metric(t("jb.failed_24h"), failed)
    st.caption(f"{t('jb.store')}: {getattr(get_store(), 'backend', '?')}")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def body() -> None:
    header("jb.title", "jb.subtitle")
    user = current_user()
    cid = selected_course()
    allowed = sorted(allowed_courses(user))
    b1, b2 = st.columns(2)
    if cid is not None and b1.button(t("jb.run_course", course=md(loaders.course_name(cid))), key="run_now",
                                     type="primary"):
        _submit([cid])
    if allowed and b2.button(t("jb.run_all", n=len(allowed)), key="run_all"):
        _submit(allowed)
    job_progress()
    _finished_banner(cid)

    st.subheader(t("jb.history"))
    rows = loaders.jobs(limit=50)
    if not rows:
        st.caption(t("jb.no_jobs"))
    else:
        frame = jobs_frame(rows, None if is_admin(user) else set(allowed))
        labels = {"job_id": t("jb.col.job"), "courses": t("jb.col.courses"), "trigger": t("jb.col.trigger"),
                  "status": t("jb.col.status"), "created_at": t("jb.col.created"),
                  "duration_s": t("jb.col.duration"), "attempts": t("jb.col.attempts"), "error": t("jb.col.error")}
        frame["error"] = frame["error"].map(redact)
        frame["created_at"] = frame["created_at"].map(fmt_dt)
        st.dataframe(frame.rename(columns=labels), hide_index=True, key="jobs_table")

    st.subheader(t("jb.schedule"))
    schedule_editor(get_store(), get_config(), scheduler(), editable=is_admin(user), courses=allowed)
    st.subheader(t("jb.health"))
    _health(rows)


run_page(body)
