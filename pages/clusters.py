"""Clusters: which kinds of learners the course has, and who is in each group."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from ui import figures, loaders
from ui.common import (
    Labels,
    chart,
    cluster_names,
    feature_label,
    fmt_dt,
    header,
    need_course,
    run_page,
    to_csv_bytes,
    to_excel_bytes,
)
from ui.grouping import grouping_notes
from ui.i18n import t
from ui.shaping import heatmap_frame, members_frame


def _card(c: dict, run: dict) -> None:
    profile = c.get("profile") or {}
    with st.container(border=True):
        st.markdown(f"#### {c.get('name')}")
        st.caption(t("cl.size", size=c.get("size"), share=f"{float(c.get('share') or 0):.0%}")
                   + " · " + t(f"cl.source.{profile.get('source', 'rules')}"))
        if profile.get("summary"):
            st.write(profile["summary"])
        tops = c.get("top_features") or []
        if tops:
            st.markdown(f"**{t('cl.top')}**")
            st.markdown("\n".join(
                f"- {feature_label(run, f['feature'])}: {t('cl.above') if f.get('direction') in ('above', 'high', '+') or f.get('z', 0) > 0 else t('cl.below')}"
                f" ({float(f.get('z', 0)):+.1f} SD)" for f in tops[:4]))
        recs = profile.get("recommendations") or []
        if recs:
            with st.expander(t("cl.recommend")):
                st.markdown("\n".join(f"- {r}" for r in recs))


def body() -> None:
    header("cl.title", "cl.subtitle")
    cid = need_course()
    run = loaders.latest_run(cid)
    if run is None:
        st.info(t("common.no_run"))
        return
    st.caption(t("common.run_at", date=fmt_dt(run.get("run_at")), k=run.get("k"),
                 students=(run.get("metadata") or {}).get("total_students")))
    grouping_notes(run)
    clusters = run.get("clusters") or []
    names = cluster_names(run)
    cols = st.columns(min(3, max(1, len(clusters))))
    for i, c in enumerate(clusters):
        with cols[i % len(cols)]:
            _card(c, run)

    with st.spinner(t("common.loading")):
        snap, _meta = loaders.snapshot(run["run_id"])
    left, right = st.columns(2)
    with left:
        chart(figures.cluster_size_bar(clusters, title=t("fig.sizes"), x_title=t("fig.group"),
                                       y_title=t("fig.students")), figures.caption_sizes(clusters, t), "fig_sizes")
    with right:
        chart(figures.cluster_heatmap(heatmap_frame(run, snap).rename(columns=partial(feature_label, run)), title=t("fig.heatmap"), x_title=t("fig.feature"),
                                      y_title=t("fig.group")), figures.caption_heatmap(t), "fig_heatmap")
    if not snap.empty and {"x", "y"} <= set(snap.columns):
        chart(figures.student_map(snap, names, title=t("fig.map"), x_title=t("fig.comp1"), y_title=t("fig.comp2")),
              figures.caption_map(t), "fig_map")
    else:
        st.info(t("cl.no_snapshot"))

    st.subheader(t("cl.members"))
    members = members_frame(run, snap)
    f1, f2, f3 = st.columns([2, 2, 1])
    query = f1.text_input(t("common.search"), key="members_search")
    group = f2.selectbox(t("cl.filter_cluster"), [None, *names], key="members_group",
                         format_func=Labels({None: t("cl.all"), **names}))
    only = f3.checkbox(t("cl.only_anomalies"), key="members_anomalies")
    shown = members
    if query:
        q = query.strip()
        hit = shown["user_id"].astype(str).str.contains(q, regex=False) \
            | shown["cluster"].str.contains(q, case=False, regex=False)
        if "fullname" in shown:
            hit |= shown["fullname"].astype(str).str.contains(q, case=False, regex=False)
        shown = shown[hit]
    if group is not None:
        shown = shown[shown["cluster_id"] == group]
    if only:
        shown = shown[shown["anomaly"] != ""]
    labels = {"user_id": t("cl.col.user_id"), "fullname": t("cl.col.fullname"), "cluster": t("cl.col.cluster"),
              "engagement_score": t("cl.col.engagement"), "silhouette": t("cl.col.silhouette"),
              "anomaly": t("cl.col.anomaly")}
    table = shown.drop(columns=["cluster_id"]).rename(columns=labels)
    st.dataframe(table, hide_index=True, key="members_table")
    export = pd.DataFrame(shown)
    stem = f"cohortlens_course{cid}_{fmt_dt(run.get('run_at'), with_time=False)}"
    d1, d2 = st.columns(2)
    # files are built only when clicked (an .xlsx of 5,000 rows takes ~1 s); access was checked above
    d1.download_button(t("common.download_csv"), partial(to_csv_bytes, export), f"{stem}.csv", "text/csv",
                       key="export_csv")
    d2.download_button(t("common.download_xlsx"), partial(to_excel_bytes, export, "members"), f"{stem}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="export_xlsx")


run_page(body)
