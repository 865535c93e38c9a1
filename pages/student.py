"""One student: their figures over time against the course, their path through the groups, their contacts."""

from __future__ import annotations

import streamlit as st

from ui import actions, figures, loaders, student
from ui.common import Labels, chart, cluster_names, feature_label, fmt_dt, header, need_course, run_page
from ui.i18n import t
from ui.shaping import student_path_rows


def body() -> None:
    header("stu.title", "stu.subtitle")
    cid = need_course()
    options = student.student_options(cid)
    if not options:
        st.info(t("common.no_run"))
        return
    ids = list(options)
    wanted = st.query_params.get("student")
    if wanted is not None and wanted.isdigit() and int(wanted) in options:
        st.session_state.setdefault("stu_pick", int(wanted))
    if st.session_state.get("stu_pick") not in options:
        st.session_state["stu_pick"] = ids[0]
    uid = st.selectbox(t("stu.pick"), ids, key="stu_pick", format_func=Labels(options))
    st.query_params["student"] = str(uid)
    run = loaders.latest_run(cid) or {}
    names = cluster_names(run)
    now = student.student_now(cid, uid)
    st.subheader(now.get("fullname") or str(uid))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("stu.group"), names.get(int(now["cluster_id"]), "—") if now.get("cluster_id") is not None else "—")
    m2.metric(t("act.col.engagement"), f"{float(now.get('engagement_score', 0)):.0f}" if now else "—")
    m3.metric(t("act.col.days_inactive"), f"{float(now.get('days_since_last_activity', 0)):.0f}" if now else "—")
    m4.metric(t("act.col.email"), now.get("email") or "—")

    trend = student.student_trend(cid, uid)
    if trend.empty:
        st.caption(t("tr.no_history"))
    else:
        cols = st.columns(2)
        for i, f in enumerate(student.TREND_FEATURES):
            part = trend[trend["feature"] == f]
            if part.empty:
                continue
            with cols[i % 2]:
                chart(figures.student_vs_course(part, title=feature_label(run, f), x_title=t("fig.run_date"),
                                                student_label=t("stu.this_student"), course_label=t("stu.course_median")),
                      "", f"fig_stu_{f}")
    st.caption(t("stu.trend_caption"))

    st.subheader(t("tr.student"))
    path = student_path_rows(loaders.student_history(cid, uid))
    if path:
        changes = sum(1 for p in path if p.get("transition_type") == "moved")
        chart(figures.student_path(path, names, title=t("fig.path"), x_title=t("fig.run_date"), y_title=t("fig.group")),
              figures.caption_path(changes, t), "fig_stu_path")
    else:
        st.caption(t("tr.no_history"))

    st.subheader(t("stu.contacts"))
    contacts = actions.student_interventions(cid, uid)
    if contacts.empty:
        st.caption(t("act.no_log"))
    else:
        st.dataframe(contacts.drop(columns=["user_id", "fullname"]).rename(columns=actions.intervention_labels()),
                     hide_index=True, key="stu_contacts")
    st.caption(t("stu.as_of", date=fmt_dt(run.get("as_of") or run.get("run_at"))))


run_page(body)
