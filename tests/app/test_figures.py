"""Pure parts of the UI: figure builders, data shaping, strings (no AppTest, no store)."""

from __future__ import annotations

import re
import string

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from ui import figures
from ui.i18n import STRINGS, t
from ui.shaping import assignments_from_history, fmt_changed, heatmap_frame, jobs_frame, members_frame

CLUSTERS = [
    {"cluster_id": 0, "name": "Steady", "size": 30, "share": 0.6, "user_ids": list(range(30)),
     "stats": {"mean": {"a": 1.0, "b": 5.0}, "std": {"a": 0.5, "b": 1.0}}},
    {"cluster_id": 3, "name": "Crammers", "size": 20, "share": 0.4, "user_ids": list(range(30, 50)),
     "stats": {"mean": {"a": 3.0, "b": 2.0}, "std": {"a": 0.5, "b": 1.0}}},
]
RUN = {"clusters": CLUSTERS, "features_used": ["a", "b"],
       "anomalies": [{"user_id": 31, "feature": "a", "value": 9, "z": 4.2, "reason": "a very high"}],
       "diagnostics": {"scores": [{"k": k, "inertia": 100 / k, "silhouette": 0.2 + 0.01 * k,
                                   "davies_bouldin": 1.5 - 0.05 * k} for k in range(2, 8)]}}


def _titles(fig: go.Figure) -> tuple[str, str]:
    return fig.layout.xaxis.title.text, fig.layout.yaxis.title.text


def test_size_bar_has_one_bar_per_cluster_with_hover():
    fig = figures.cluster_size_bar(CLUSTERS, x_title="Group", y_title="Students")
    assert [tr.y[0] for tr in fig.data] == [30, 20]
    assert all("students" in tr.hovertemplate for tr in fig.data)
    assert _titles(fig) == ("Group", "Students")
    assert fig.data[0].marker.color == figures.cluster_color(0) != figures.cluster_color(3)


def test_heatmap_is_zscored_against_course():
    z = heatmap_frame(RUN)
    # pooled course mean of a = 0.6*1 + 0.4*3 = 1.8; Steady is below, Crammers above
    assert z.loc["Steady", "a"] < 0 < z.loc["Crammers", "a"]
    fig = figures.cluster_heatmap(z)
    assert fig.data[0].zmid == 0 and fig.data[0].z.shape == (2, 2)
    snap = pd.DataFrame({"a": [1.0] * 30 + [3.0] * 20, "b": [5.0] * 30 + [2.0] * 20})
    z2 = heatmap_frame(RUN, snap)
    assert z2.loc["Steady", "a"] == pytest.approx((1 - 1.8) / snap["a"].std(ddof=0))


def test_student_map_colours_by_cluster():
    pts = pd.DataFrame({"user_id": range(50), "x": np.arange(50.0), "y": np.arange(50.0),
                        "cluster_id": [0] * 30 + [3] * 20, "engagement_score": 50.0})
    fig = figures.student_map(pts, {0: "Steady", 3: "Crammers"})
    assert [tr.name for tr in fig.data] == ["Steady", "Crammers"]
    assert sum(len(tr.x) for tr in fig.data) == 50


def test_sankey_two_runs_counts_movers():
    before = {u: 0 for u in range(10)}
    after = {u: (0 if u < 7 else 1) for u in range(10)}
    fig = figures.sankey_two_runs(before, after, {0: "A"}, {0: "A", 1: "B"})
    link = fig.data[0].link
    assert sorted(link.value) == [3, 7] and sum(link.value) == 10
    assert list(fig.data[0].node.label) == ["A", "A", "B"]  # the run's name heads its column instead
    assert [a.text for a in fig.layout.annotations] == ["<b>before</b>", "<b>after</b>"]
    # readable: 14 px labels, whole students in the hover ("2 students", never "2.00 students")
    assert fig.data[0].textfont.size >= 14 and ",.0f" in fig.data[0].link.hovertemplate
    assert "sinh viên" in figures.sankey_two_runs(before, after, {0: "A"}, {0: "A", 1: "B"},
                                                   unit="sinh viên").data[0].link.hovertemplate


def test_sankey_across_runs_links_consecutive_runs_only():
    runs = [{1: 0, 2: 0, 3: 1}, {1: 0, 2: 1, 3: 1}, {1: 1, 2: 1, 3: 1}]
    fig = figures.sankey_runs(runs, [{0: "A", 1: "B"}] * 3, ["w1", "w2", "w3"])
    assert sum(fig.data[0].link.value) == 6  # 3 students x 2 steps
    assert len(fig.data[0].node.label) == 2 + 2 + 1  # run 3 has only group B
    assert sorted(set(fig.data[0].node.x)) == [0.001, 0.5, 0.999]  # one column per run, never overlapping
    assert fig.layout.height >= 420


def test_diagnostic_charts_mark_knee_and_chosen_k():
    scores = pd.DataFrame(RUN["diagnostics"]["scores"])
    elbow = figures.elbow_chart(scores, knee=3, chosen=4)
    names = [tr.name for tr in elbow.data]
    assert "knee (k=3)" in names and "chosen k (k=4)" in names
    assert elbow.layout.yaxis.title.text.startswith("Inertia")
    quality = figures.quality_chart(scores, chosen=4)
    assert {tr.name for tr in quality.data} == {"silhouette", "Davies-Bouldin"}
    assert quality.layout.shapes[0].x0 == 4
    sil = figures.silhouette_plot(pd.DataFrame({"user_id": range(6), "cluster_id": [0, 0, 0, 3, 3, 3],
                                                "silhouette": [0.5, 0.4, -0.1, 0.3, 0.2, 0.6]}),
                                  {0: "A", 3: "B"}, average=0.3)
    assert len(sil.data) == 2 and list(sil.data[0].x) == sorted(sil.data[0].x)


def test_drift_activity_and_path():
    drift = figures.drift_bar([{"feature": "a", "psi": 0.3, "ks": 0.2, "p_value": 0.01, "shifted": True},
                               {"feature": "b", "psi": 0.05, "ks": 0.1, "p_value": 0.5, "shifted": False}])
    assert list(drift.data[0].y) == ["b", "a"]
    act = figures.activity_trends([{"extraction_date": "2026-01-02", "file_views": 3, "quiz_views": 4,
                                    "total_views": 7, "avg_activity_per_student_per_day": 0.5},
                                   {"extraction_date": "2026-01-01", "file_views": 1, "quiz_views": 1,
                                    "total_views": 2, "avg_activity_per_student_per_day": 0.1}])
    assert [tr.name for tr in act.data][:2] == ["File views", "Quiz views"] and act.layout.barmode == "stack"
    assert list(act.data[0].x) == ["2026-01-01", "2026-01-02"]
    path = figures.student_path([{"timestamp": "2026-01-01", "cluster_id": 0, "transition_type": "initial"},
                                 {"timestamp": "2026-01-08", "cluster_id": 3, "transition_type": "moved"}],
                                {0: "A", 3: "B"})
    assert list(path.data[0].y) == ["A", "B"]


def test_captions_translate():
    assert figures.caption_sankey(3, 10) == "3 of 10 students changed group between these runs."
    vi = figures.caption_sankey(3, 10, lambda k, **kw: t(k, lang="vi", **kw))
    assert vi.startswith("3 trên 10")


def test_members_frame_flags_anomalies_and_falls_back_without_snapshot():
    m = members_frame(RUN)
    assert len(m) == 50 and set(m["cluster"]) == {"Steady", "Crammers"}
    assert m.loc[m["user_id"] == 31, "anomaly"].item() == "a very high"
    assert (m["anomaly"] != "").sum() == 1


def test_shaping_helpers():
    docs = [{"user_id": 1, "history": [{"run_id": "r1", "cluster_id": 0}, {"run_id": "r2", "cluster_id": 2}]},
            {"user_id": 2, "history": [{"run_id": "r2", "cluster_id": 1}]}]
    assert assignments_from_history(docs, ["r1", "r2"]) == [{1: 0}, {1: 2, 2: 1}]
    assert fmt_changed([{"feature": "quiz", "delta": -1.5}, "forum"]) == "quiz (-1.50), forum"
    assert fmt_changed([{"feature": "quiz_views", "before": 1, "after": 9, "change": 8, "z": 2.345}]) \
        == "quiz_views (+2.3 SD)"
    frame = jobs_frame([{"job_id": "j", "course_ids": [101, 102], "status": "failed",
                         "error": {"type": "X", "message": "boom"}}], visible={101})
    assert frame.loc[0, "courses"] == "101" and frame.loc[0, "error"] == "X: boom"


def test_every_string_exists_in_both_languages_with_same_placeholders():
    assert set(STRINGS["en"]) == set(STRINGS["vi"])
    fields = string.Formatter()
    for key, en in STRINGS["en"].items():
        vi = STRINGS["vi"][key]
        assert vi.strip(), key
        names = {f for _, f, _, _ in fields.parse(en) if f}
        assert names == {f for _, f, _, _ in fields.parse(vi) if f}, key


def test_every_key_used_in_the_ui_is_defined():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    used: set[str] = set()
    for path in [root / "dashboard.py", *(root / "pages").glob("*.py"), *(root / "ui").glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']""", path.read_text()))
    missing = sorted(k for k in used if k not in STRINGS["en"])
    assert not missing, missing


def test_activity_chart_axes_never_negative_and_plain_legends():
    rows = [{"extraction_date": f"2026-01-0{d}", "file_views": d, "quiz_views": 0, "total_views": d,
             "avg_activity_per_student_per_day": 0.0 if d == 1 else 0.5} for d in range(1, 4)]
    fig = figures.activity_trends(rows, labels={"file_views": "File views", "quiz_views": "Quiz views"})
    assert {tr.name for tr in fig.data if tr.type == "bar"} == {"File views", "Quiz views"}
    assert fig.layout.yaxis.rangemode == "tozero" and fig.layout.yaxis2.rangemode == "tozero"


def test_activity_headline_covers_the_report_period():
    from ui.shaping import activity_headline

    frame = pd.DataFrame({"extraction_date": ["2026-01-01", "2026-01-02", "2026-01-03"],
                          "total_views": [400, 300, 38], "num_students": [180, 180, 180], "active_days": [1, 1, 1]})
    head = activity_headline(frame)
    assert head["views"] == 738 and head["active_days"] == 3 and head["days"] == 3  # not the last day's 38 / 1
    assert head["avg"] == round(738 / 180 / 3, 2) and str(head["start"]) == "2026-01-01"


@pytest.mark.parametrize(("cron", "en", "vi"), [
    ("0 2 * * *", "every day at 02:00", "hằng ngày lúc 02:00"),
    ("30 7 * * 1", "every Monday at 07:30", "mỗi thứ Hai lúc 07:30"),
    ("0 6 * * 1-5", "on weekdays at 06:00", "các ngày trong tuần (thứ Hai đến thứ Sáu) lúc 06:00"),
    ("*/15 * * * *", "every 15 minutes", "mỗi 15 phút"),
    ("0 3 1 * *", "on day 1 of every month at 03:00", "ngày 1 hằng tháng lúc 03:00"),
    ("0 2 */2 1 *", "0 2 */2 1 *", "0 2 */2 1 *"),  # an unusual line is shown as it is
])
def test_schedule_in_plain_words(cron, en, vi):
    from ui.shaping import schedule_words

    assert schedule_words(cron, "en") == en and schedule_words(cron, "vi") == vi


def test_crontab_weekday_numbers_mean_what_crontab_means():
    """APScheduler counts weekdays from Monday = 0: "1" in a crontab line must still be Monday."""
    from jobs.scheduler import validate_cron

    assert {d.strftime("%a") for d in validate_cron("30 7 * * 1", "UTC", count=4)} == {"Mon"}
    assert {d.strftime("%a") for d in validate_cron("0 6 * * 1-5", "UTC", count=10)} == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert {d.strftime("%a") for d in validate_cron("0 6 * * 0,7", "UTC", count=3)} == {"Sun"}


def test_silhouette_plot_of_a_big_course_is_one_area_per_cluster_with_every_student():
    rng = np.random.default_rng(3)
    n = figures.SILHOUETTE_BARS_MAX + 500
    frame = pd.DataFrame({"user_id": np.arange(n), "cluster_id": rng.integers(0, 3, n), "silhouette": rng.uniform(-1, 1, n)})
    sil = figures.silhouette_plot(frame, {0: "A", 1: "B", 2: "C"}, average=0.1)
    small = figures.silhouette_plot(frame.iloc[:50], {0: "A", 1: "B", 2: "C"})
    assert [tr.type for tr in small.data] == ["bar"] * 3
    assert [tr.type for tr in sil.data] == ["scatter"] * 3 and all(tr.fill == "tozerox" for tr in sil.data)
    for tr, (cid, grp) in zip(sil.data, frame.groupby("cluster_id"), strict=True):
        assert tr.name == "ABC"[cid]
        assert list(tr.x) == sorted(grp["silhouette"])            # every student's value, sorted
        assert sorted(tr.customdata) == sorted(grp["user_id"])    # and who it is, in the hover
