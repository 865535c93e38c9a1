"""How a run's groups were made, for the pages: the window they describe, regroupings, weak structure,
and the admin's controls (pin k, ask for a regrouping). Pages call these; the logic lives here."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.common import fmt_dt
from ui.i18n import t

__all__ = ["explained_changes", "grouping_state", "window_text", "grouping_notes", "regrouping_runs", "weak_structure_panel", "admin_grouping_controls",
           "at_risk_frame", "ranking_frame"]


def window_text(run: dict | None) -> str | None:
    """"Groups describe the 4 weeks 5 Oct – 2 Nov (counts per week)" for a run, None before windows."""
    win = (run or {}).get("window") or {}
    if not win.get("start") or not win.get("end"):
        return None
    weeks = float(win.get("weeks") or 0)
    text = t("gp.window", weeks=f"{weeks:.0f}" if abs(weeks - round(weeks)) < 0.05 else f"{weeks:.1f}",
             start=fmt_dt(win["start"], with_time=False), end=fmt_dt(win["end"], with_time=False))
    if win.get("clamped"):
        text += " " + t("gp.clamped")
    return text


def explained_changes(movers: pd.DataFrame, fallback: pd.Series) -> pd.Series:
    """Each mover's own changes in plain words ("forum posts per week 0.2 -> 3.1; ...") in the reader's
    language, from the run (``explanations``); ``fallback`` for runs stored before explanations."""
    from ui.i18n import current_language

    if "explanations" not in movers:
        return fallback
    lang = current_language()
    text = movers["explanations"].map(lambda e: (e or {}).get(lang) if isinstance(e, dict) else None)
    return text.where(text.notna() & (text != ""), fallback)


def grouping_state(run: dict | None) -> str:
    """One word for a course's latest run: regrouped / no clear groups / kept / first grouping / —."""
    if not run:
        return "—"
    if not ((run.get("structure") or {}).get("clear", True)):
        return t("gp.state.weak")
    action = (run.get("grouping") or {}).get("action")
    return {"regroup": t("gp.state.regroup"), "fit": t("gp.state.fit"), "place": t("gp.state.place")}.get(action, "—")


def grouping_notes(run: dict | None) -> None:
    """Window caption; a regrouping or "no clear groups" notice when the run has one."""
    if not run:
        return
    text = window_text(run)
    if text:
        st.caption(text)
    grouping = run.get("grouping") or {}
    if grouping.get("action") == "regroup":
        st.warning(t("gp.regrouped", reason=grouping.get("reason") or "",
                     n=(run.get("transitions") or {}).get("regrouped", 0)), icon="🔁")
    structure = run.get("structure") or {}
    if structure and not structure.get("clear", True):
        st.warning(t("gp.weak", sil=structure.get("best_silhouette")), icon="🌫️")


def regrouping_runs(runs: list[dict]) -> list[str]:
    """Labels of the runs (among full run documents) that were regroupings, oldest first."""
    out = []
    for r in runs:
        if ((r or {}).get("grouping") or {}).get("action") == "regroup":
            out.append(fmt_dt(r.get("run_at"), with_time=False))
    return out


def ranking_frame(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Students by engagement (highest first) with their recent activity."""
    if snapshot is None or snapshot.empty or "engagement_score" not in snapshot:
        return pd.DataFrame()
    cols = [c for c in ("user_id", "fullname", "engagement_score", "total_events", "days_since_last_activity",
                        "mean_quiz_pct") if c in snapshot]
    out = snapshot[cols].sort_values("engagement_score", ascending=False, kind="stable").reset_index(drop=True)
    out.index = out.index + 1
    return out


def at_risk_frame(snapshot: pd.DataFrame, limit: int = 10) -> pd.DataFrame:
    """The few students most at risk: lowest engagement, then longest without activity."""
    ranked = ranking_frame(snapshot)
    if ranked.empty:
        return ranked
    keys = ["engagement_score"] + (["days_since_last_activity"] if "days_since_last_activity" in ranked else [])
    asc = [True] + [False] * (len(keys) - 1)
    return ranked.sort_values(keys, ascending=asc, kind="stable").head(limit).reset_index(drop=True)


def _labels() -> dict[str, str]:
    return {"user_id": t("cl.col.user_id"), "fullname": t("gp.col.name"), "engagement_score": t("gp.col.eng"),
            "total_events": t("gp.col.events"), "days_since_last_activity": t("gp.col.idle"),
            "mean_quiz_pct": t("gp.col.quiz")}


def weak_structure_panel(run: dict, snapshot: pd.DataFrame) -> None:
    """What still helps when there are no clear groups: the at-risk few and an engagement ranking."""
    st.subheader(t("gp.at_risk"))
    risk = at_risk_frame(snapshot)
    if risk.empty:
        st.caption(t("cl.no_snapshot"))
        return
    st.dataframe(risk.rename(columns=_labels()).round(1), hide_index=True, key="weak_at_risk")
    with st.expander(t("gp.ranking")):
        st.dataframe(ranking_frame(snapshot).rename(columns=_labels()).round(1), key="weak_ranking")


def admin_grouping_controls(store: Any, course_id: int, run: dict, user: dict | None) -> None:
    """Pin k / unpin / ask for a regrouping (admins only; the next run applies it)."""
    from ui.auth import is_admin

    if not is_admin(user):
        return
    record = store.courses.get(course_id) or {}
    st.subheader(t("gp.admin"))
    pinned = record.get("k_pinned")
    st.caption(t("gp.pinned_now", k=pinned) if pinned else t("gp.not_pinned", k=run.get("k")))
    with st.form("pin_k_form"):
        k = st.number_input(t("gp.k"), min_value=2, max_value=10, value=int(pinned or run.get("k") or 3), step=1)
        pin, unpin, regroup = st.columns(3)
        do_pin = pin.form_submit_button(t("gp.pin"))
        do_unpin = unpin.form_submit_button(t("gp.unpin"))
        do_regroup = regroup.form_submit_button(t("gp.regroup"))
    if do_pin:
        store.courses.set_flags(course_id, k_pinned=int(k))
        st.success(t("gp.pinned_done", k=int(k)))
    elif do_unpin:
        store.courses.set_flags(course_id, k_pinned=None)
        st.success(t("gp.unpinned_done"))
    elif do_regroup:
        store.courses.request_regroup(course_id, by=(user or {}).get("username"))
        st.success(t("gp.regroup_done"))
    elif record.get("regroup_requested"):
        st.info(t("gp.regroup_pending"))
    _frame_form(store, course_id, record)


def _day(value: Any) -> Any:
    if value is None:
        return None
    return pd.Timestamp(value).date()


def _frame_form(store: Any, course_id: int, record: dict) -> None:
    """The course's time frame (start, end) and behaviour window, editable by an admin."""
    from datetime import UTC, datetime, time

    frame = record.get("frame") or {}
    st.caption(t("gp.frame_now", start=fmt_dt(frame.get("start"), with_time=False) if frame.get("start") else "—",
                 end=fmt_dt(frame.get("end"), with_time=False) if frame.get("end") else "—",
                 source=frame.get("source") or "—", days=record.get("window_days") or 28))
    with st.form("frame_form"):
        a, b, c = st.columns(3)
        start = a.date_input(t("gp.start"), value=_day(frame.get("start")), key="frame_start")
        end = b.date_input(t("gp.end"), value=_day(frame.get("end")), key="frame_end")
        days = c.number_input(t("gp.window_days"), min_value=7, max_value=366,
                              value=int(record.get("window_days") or 28), step=7, key="frame_days")
        save, reset = st.columns(2)
        do_save = save.form_submit_button(t("gp.frame_save"))
        do_reset = reset.form_submit_button(t("gp.frame_reset"))
    if do_save:
        s_dt = datetime.combine(start, time(0), UTC) if start else None
        e_dt = datetime.combine(end, time(23, 59, 59), UTC) if end else None
        try:
            store.courses.set_frame(course_id, s_dt, e_dt, timezone=frame.get("timezone"))
            store.courses.set_flags(course_id, window_days=int(days))
            st.success(t("gp.frame_saved"))
        except ValueError as exc:
            st.error(str(exc))
    elif do_reset:
        store.courses.set_frame(course_id, None, None)
        st.success(t("gp.frame_saved"))
