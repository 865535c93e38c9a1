"""Diagnostics: why this k, how well the groups separate, which features were used, what drifted."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import figures, loaders
from ui.auth import current_user
from ui.common import chart, cluster_names, feature_label, fmt_dt, header, need_course, run_page
from ui.grouping import admin_grouping_controls, grouping_notes
from ui.i18n import t
from ui.resources import get_store
from ui.shaping import scores_frame


def body() -> None:
    header("dg.title", "dg.subtitle")
    cid = need_course()
    run = loaders.latest_run(cid)
    if run is None:
        st.info(t("common.no_run"))
        return
    diag = run.get("diagnostics") or {}
    chosen = diag.get("chosen_k", run.get("k"))
    votes = diag.get("votes") or {}
    knee = votes.get("elbow")
    quality = run.get("quality") or {}
    st.caption(t("common.run_at", date=fmt_dt(run.get("run_at")), k=chosen,
                 students=(run.get("metadata") or {}).get("total_students"))
               + " · " + t("dg.quality", sil=quality.get("silhouette"), db=quality.get("davies_bouldin")))
    grouping_notes(run)
    scores = scores_frame(run)
    left, right = st.columns(2)
    with left:
        chart(figures.elbow_chart(scores, knee=knee, chosen=chosen, title=t("fig.elbow"), x_title=t("fig.k"),
                                  y_title=t("fig.inertia"), knee_label=t("fig.knee"), chosen_label=t("fig.chosen")),
              figures.caption_elbow(knee, chosen, t), "fig_elbow")
    with right:
        chart(figures.quality_chart(scores, chosen=chosen, title=t("fig.quality"), x_title=t("fig.k"),
                                    y_left=t("fig.sil_axis"), y_right=t("fig.db_axis"), chosen_label=t("fig.chosen")),
              figures.caption_quality(chosen, t), "fig_quality")

    st.subheader(t("dg.votes"))
    st.dataframe(pd.DataFrame({t("dg.col.criterion"): list(votes), t("dg.col.k"): list(votes.values())}),
                 hide_index=True, key="votes_table")
    st.info(t("dg.pinned") if diag.get("pinned") else t("dg.reason", k=chosen, reason=diag.get("reason", "")))
    if run.get("grouping"):
        st.caption(t("gp.how", reason=run["grouping"].get("reason", "")))
    admin_grouping_controls(get_store(), cid, run, current_user())

    snap, _meta = loaders.snapshot(run["run_id"])
    if not snap.empty and "silhouette" in snap:
        sil = snap[["user_id", "cluster_id", "silhouette"]]
        chart(figures.silhouette_plot(sil, cluster_names(run), average=quality.get("silhouette"),
                                      title=t("fig.silhouette"), x_title=t("fig.sil_x"), y_title=t("fig.sil_y")),
              figures.caption_silhouette(quality.get("silhouette"), t), "fig_silhouette")
    else:
        st.info(t("cl.no_snapshot"))

    k1, k2 = st.columns(2)
    with k1:
        st.subheader(t("dg.kept"))
        st.dataframe(pd.DataFrame({t("dg.col.name"): [feature_label(run, f) for f in run.get("features_used") or []]}), hide_index=True,
                     key="kept_table")
    with k2:
        st.subheader(t("dg.dropped"))
        dropped = pd.DataFrame(run.get("features_dropped") or [], columns=["name", "reason"])
        dropped["name"] = [feature_label(run, f) for f in dropped["name"]]
        st.dataframe(dropped.rename(columns={"name": t("dg.col.name"), "reason": t("dg.col.reason")}),
                     hide_index=True, key="dropped_table")

    st.subheader(t("dg.drift"))
    drift = run.get("drift") or []
    if not drift:
        st.caption(t("dg.no_drift"))
    else:
        shifted = sum(1 for d in drift if d.get("shifted"))
        chart(figures.drift_bar([{**d, "feature": feature_label(run, d.get("feature"))} for d in drift], title=t("fig.drift"), x_title=t("fig.psi"), y_title=t("fig.feature")),
              figures.caption_drift(shifted, t), "fig_drift")


run_page(body)
