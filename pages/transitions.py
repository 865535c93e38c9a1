"""Transitions: who moved between groups — two runs, the last N runs, movers, one student's path."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import figures, loaders, student
from ui.common import Labels, chart, cluster_names, feature_label, header, need_course, run_label, run_page
from ui.grouping import grouping_notes, regrouping_runs
from ui.i18n import current_language, t
from ui.shaping import movers_frame, student_path_rows


def _two_runs(runs: list[dict]) -> None:
    ids = [r["run_id"] for r in runs]
    labels = {r["run_id"]: run_label(r) for r in runs}
    a, b = st.columns(2)
    before = a.selectbox(t("tr.from"), ids, index=1, format_func=labels.get, key="tr_from")
    after = b.selectbox(t("tr.to"), ids, index=0, format_func=labels.get, key="tr_to")
    if before == after:
        st.info(t("tr.same"))
        return
    run_a, run_b = loaders.run_by_id(before), loaders.run_by_id(after)  # only the two shown are read
    assign_a, assign_b = loaders.run_assignment(before), loaders.run_assignment(after)
    common = set(assign_a) & set(assign_b)
    moved = sum(1 for u in common if assign_a[u] != assign_b[u])
    fig = figures.sankey_two_runs(assign_a, assign_b, cluster_names(run_a), cluster_names(run_b),
                                  labels=(labels[before][:10], labels[after][:10]), title=t("fig.sankey"),
                                  unit=t("fig.unit_students"))
    chart(fig, figures.caption_sankey(moved, len(common), t), "fig_sankey_two")


def _across(runs: list[dict]) -> None:
    n = st.slider(t("tr.last_n"), 2, min(12, len(runs)), min(4, len(runs)), key="tr_last_n")
    chosen = list(reversed(runs[:n]))  # oldest first
    full = [loaders.run_by_id(r["run_id"]) for r in chosen]  # only the runs drawn are read
    regrouped = regrouping_runs(full[1:])
    if regrouped:
        st.info(t("gp.regroupings", dates=", ".join(regrouped)), icon="🔁")
    assignments = [loaders.run_assignment(r["run_id"]) for r in chosen]  # member lists of each run
    names = [cluster_names(r) for r in full]
    labels = [run_label(r)[:10] for r in chosen]
    fig = figures.sankey_runs(assignments, names, labels, title=t("fig.sankey_n", n=n), unit=t("fig.unit_students"))
    first, last = assignments[0], assignments[-1]
    common = set(first) & set(last)
    moved = sum(1 for u in common if first[u] != last[u])
    chart(fig, figures.caption_sankey(moved, len(common), t), "fig_sankey_n")


def body() -> None:
    header("tr.title", "tr.subtitle")
    cid = need_course()
    runs = loaders.run_index(cid)  # dates and k of the last 52 runs for the pickers: no run document read
    if not runs:
        st.info(t("common.no_run"))
        return
    if len(runs) < 2:
        st.info(t("tr.need_two"))
    else:
        tab_two, tab_n = st.tabs([t("tr.two"), t("tr.across")])
        with tab_two:
            _two_runs(runs)
        with tab_n:
            _across(runs)

    latest = loaders.latest_run(cid) or {}
    grouping_notes(latest)
    names = cluster_names(latest)
    who = student.student_options(cid)
    st.subheader(t("tr.movers"))
    movers = movers_frame(latest, current_language(), partial(feature_label, latest), who)
    if movers.empty:
        st.caption(t("ov.no_movers"))
    else:
        cols = {"user_id": t("cl.col.user_id"), "name": t("cl.col.fullname"), "from": t("tr.col.from"),
                "to": t("tr.col.to"), "delta": t("tr.col.delta"), "changed": t("tr.col.changed")}
        st.dataframe(movers.rename(columns=cols), hide_index=True, key="movers_table")

    st.subheader(t("tr.student"))
    members = sorted({int(u) for c in latest.get("clusters") or [] for u in c.get("user_ids") or []})
    default = int(movers["user_id"].iloc[0]) if not movers.empty else (members[0] if members else None)
    if default is None:
        return
    uid = st.selectbox(t("tr.student_pick"), members, index=members.index(default) if default in members else 0,
                       key="tr_student", format_func=Labels(who))
    path = student_path_rows(loaders.student_history(cid, uid))
    if not path:
        st.caption(t("tr.no_history"))
        return
    changes = sum(1 for p in path if p.get("transition_type") == "moved")
    chart(figures.student_path(path, names, title=t("fig.path"), x_title=t("fig.run_date"), y_title=t("fig.group")),
          figures.caption_path(changes, t), "fig_path")


run_page(body)
