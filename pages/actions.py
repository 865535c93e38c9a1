"""Action list: whom to contact now and why; message them through Moodle; the contacts and what came of them."""

from __future__ import annotations

from functools import partial

import streamlit as st

from ui import actions
from ui.common import Labels, fmt_dt, header, need_course, run_page, to_csv_bytes, to_excel_bytes
from ui.i18n import current_language, t


def _send_form(cid: int, run: dict, frame, table) -> None:
    st.subheader(t("act.contact"))
    if actions.uses_demo_moodle(cid):
        st.info(t("act.demo_channel"))
    who = {int(r.user_id): f"{r.fullname or r.user_id} · {r.reason}" for r in table.itertuples()}
    lang = current_language()
    key = f"act_pick_{lang}"  # one widget per language (its labels are the reasons in that language)
    if key not in st.session_state:
        st.session_state[key] = [u for u in st.session_state.get("act_chosen", []) if u in who]
    chosen = st.multiselect(t("act.pick"), list(who), key=key, format_func=Labels(who), placeholder=t("common.choose"))
    st.session_state["act_chosen"] = chosen
    if st.session_state.get("act_template_lang") != lang:  # the template follows the reader's language
        st.session_state["act_template"] = actions.default_template(lang)
        st.session_state["act_template_lang"] = lang
    template = st.text_area(t("act.template"), key="act_template", height=170, help=t("act.template_help"))
    if chosen:
        first = frame[frame["user_id"] == chosen[0]].iloc[0].to_dict()
        st.caption(t("act.preview"))
        st.code(actions.fill_message(template, first, run), language=None, wrap_lines=True)
    if st.button(t("act.send", n=len(chosen)), key="act_send", type="primary", disabled=not chosen):
        docs = actions.send(cid, run, frame, chosen, template)
        ok = sum(1 for d in docs if d["status"] == "sent")
        if ok:
            st.success(t("act.sent", n=ok))
        for d in docs:
            if d["status"] != "sent":
                st.error(t("act.failed", name=d.get("student_name") or d["user_id"],
                           msg=actions.error_words(d, lang)))


def body() -> None:
    header("act.title", "act.subtitle")
    cid = need_course()
    with st.spinner(t("common.loading")):
        run, frame = actions.course_actions(cid)
    if run is None:
        st.info(t("common.no_run"))
        return
    st.caption(t("act.based_on", date=fmt_dt(run.get("as_of") or run.get("run_at")), n=len(frame),
                 total=(run.get("metadata") or {}).get("total_students")))
    table = actions.action_table(run, frame)
    f1, f2, f3 = st.columns([2, 2, 2])
    query = f1.text_input(t("common.search"), key="act_search")
    groups = sorted(set(table["group"])) if not table.empty else []
    group = f2.selectbox(t("cl.filter_cluster"), [None, *groups], key="act_group",
                         format_func=Labels({None: t("cl.all")}))
    codes = ["at_risk", "gone_quiet", "fading", "moved_down", "unusual"]
    kinds = f3.multiselect(t("act.filter_reason"), codes, key="act_kinds", placeholder=t("common.choose"),
                           format_func=Labels({c: t(f"act.kind.{c}") for c in codes}))
    shown = table
    if query:
        q = query.strip()
        shown = shown[shown["fullname"].str.contains(q, case=False, regex=False)
                      | shown["user_id"].astype(str).str.contains(q, regex=False)
                      | shown["email"].str.contains(q, case=False, regex=False)]
    if group is not None:
        shown = shown[shown["group"] == group]
    if kinds:
        keep = {int(r["user_id"]) for r in frame.to_dict("records") if {x["code"] for x in r["reasons"]} & set(kinds)}
        shown = shown[shown["user_id"].isin(keep)]
    if table.empty:
        st.success(t("act.nobody"))
    st.dataframe(shown.rename(columns=actions.column_labels()), hide_index=True, key="act_table",
                 column_config={t("act.col.reason"): st.column_config.TextColumn(width="large")})
    stem = f"cohortlens_actions_course{cid}_{fmt_dt(run.get('run_at'), with_time=False)}"
    d1, d2, d3, _ = st.columns([1, 1, 1.4, 1.6])
    export = shown.rename(columns=actions.column_labels())
    d1.download_button(t("common.download_csv"), partial(to_csv_bytes, export), f"{stem}.csv", "text/csv",
                       key="act_csv")
    d2.download_button(t("common.download_xlsx"), partial(to_excel_bytes, export, "actions"), f"{stem}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="act_xlsx")
    d3.download_button(t("rep.button"), partial(actions.report_pdf, cid, run, frame),
                       f"cohortlens_report_course{cid}_{current_language()}.pdf", "application/pdf", key="act_pdf",
                       icon=":material/picture_as_pdf:")
    if not table.empty:
        _send_form(cid, run, frame, shown if not shown.empty else table)

    st.subheader(t("act.log"))
    log, summary = actions.interventions_frame(cid)
    m1, m2, m3 = st.columns(3)
    m1.metric(t("act.m.contacted"), summary["contacted"])
    m2.metric(t("act.m.followed"), summary["followed_up"])
    m3.metric(t("act.m.reengaged"), summary["re_engaged"])
    if log.empty:
        st.caption(t("act.no_log"))
    else:
        st.dataframe(log.rename(columns=actions.intervention_labels()), hide_index=True, key="act_log")


run_page(body)
