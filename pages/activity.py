"""Activity: how much the course is used — views by type, active days, activity per student per day."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from ui import figures, loaders
from ui.common import chart, header, need_course, run_page, to_csv_bytes, to_excel_bytes
from ui.i18n import t
from ui.shaping import activity_headline

COLUMNS = ["extraction_date", "num_students", "num_teachers", "file_views", "video_views", "forum_views",
           "quiz_views", "assignment_views", "url_views", "total_views", "active_days",
           "avg_activity_per_student_per_day"]


def body() -> None:
    header("ac.title", "ac.subtitle")
    cid = need_course()
    with st.spinner(t("common.loading")):
        rows = loaders.activity(cid)
    if not rows:
        st.info(t("ac.empty"))
        return
    frame = pd.DataFrame(rows)
    if "extraction_date" not in frame and "date" in frame:
        frame["extraction_date"] = frame["date"]
    frame = frame.sort_values("extraction_date")
    head = activity_headline(frame)
    st.subheader(t("ac.period", start=head["start"], end=head["end"], days=head["days"]))
    m = st.columns(4)
    m[0].metric(t("ac.views"), f"{head['views']:,}")
    m[1].metric(t("ac.students"), head["students"])
    m[2].metric(t("ac.active_days"), t("ac.active_of", n=head["active_days"], days=head["days"]))
    m[3].metric(t("ac.avg"), f"{head['avg']:.2f}")

    chart(figures.activity_trends(frame.to_dict("records"), title=t("fig.activity"), x_title=t("fig.date"),
                                  y_title=t("fig.views"), y2_title=t("fig.avg"),
                                  labels={c: t(f"ac.col.{c}") for c in COLUMNS}),
          figures.caption_activity(len(frame), t), "fig_activity")

    table = frame[[c for c in COLUMNS if c in frame]]
    st.dataframe(table.rename(columns={c: t(f"ac.col.{c}") for c in table.columns}), hide_index=True,
                 key="activity_table")  # exports keep the field names of the activity report
    d1, d2 = st.columns(2)
    stem = f"cohortlens_activity_course{cid}"
    d1.download_button(t("common.download_csv"), partial(to_csv_bytes, table), f"{stem}.csv", "text/csv",
                       key="activity_csv")
    d2.download_button(t("common.download_xlsx"), partial(to_excel_bytes, table, "activity"), f"{stem}.xlsx",
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="activity_xlsx")


run_page(body)
