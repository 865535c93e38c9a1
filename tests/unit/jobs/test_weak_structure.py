"""Honest structure: a course whose students are all alike says "no clear groups" and raises no move alerts."""

from __future__ import annotations

from datetime import date

import pandas as pd

from jobs.pipeline import run_course
from moodle.demo import DemoCourseSpec, DemoSite
from ui.grouping import at_risk_frame, ranking_frame


def test_one_behaviour_type_course_has_no_clear_groups(store, config, monkeypatch):
    from moodle import sources

    spec = DemoCourseSpec(401, "All Alike", "AA401", 150, type_mix={"steady": 1.0}, drift_rate=0.0)
    site = DemoSite(3, anchor=date(2026, 1, 5), courses=[spec])
    monkeypatch.setattr(sources, "demo_site", lambda config=None: site)
    first = run_course(401, source="demo", store=store, as_of=site.week_start(401, 7), config=config)
    second = run_course(401, source="demo", store=store, as_of=site.week_start(401, 8), config=config)
    assert first["structure"] == second["structure"] == "weak"
    run = store.runs.get(second["run_id"])
    assert run["structure"]["clear"] is False and "no clear groups" in run["structure"]["reason"]
    assert run["structure"]["best_silhouette"] < 0.25
    assert run["alerts"] == []                      # moves between groups that are not real: no alert


def test_two_types_are_clear():
    from analytics.clustering import cluster_students
    from analytics.grouping import structure_check
    from analytics.window import window_features

    spec = DemoCourseSpec(402, "Two Kinds", "TK402", 150, type_mix={"steady": 0.5, "passive_reader": 0.5},
                          drift_rate=0.0)
    site = DemoSite(3, anchor=date(2026, 1, 5), courses=[spec])
    data = site.course_data(402, site.week_start(402, 8))
    frame = data.course_frame()
    features, _ = window_features(data, site.week_start(402, 8), start=frame.start, end=frame.end)
    result = cluster_students(features)
    check = structure_check(result.scores, result.votes)
    assert check["clear"] and result.k == 2


def test_ranking_and_at_risk_frames():
    snap = pd.DataFrame({"user_id": [1, 2, 3, 4], "engagement_score": [80.0, 10.0, 10.0, 55.0],
                         "days_since_last_activity": [1.0, 3.0, 20.0, 2.0], "total_events": [40, 2, 1, 20]})
    ranked = ranking_frame(snap)
    assert ranked["user_id"].tolist() == [1, 4, 2, 3] and ranked.index[0] == 1
    risk = at_risk_frame(snap, limit=2)
    assert risk["user_id"].tolist() == [3, 2]        # the lowest engagement, longest idle first
    assert ranking_frame(pd.DataFrame()).empty
