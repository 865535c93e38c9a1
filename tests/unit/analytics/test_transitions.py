from __future__ import annotations

import pandas as pd
import pytest

from analytics import compute_transitions, detect_alerts, rank_movers, transition_summary


def _s(d):
    return pd.Series(d, name="cluster_id")


def test_compute_transitions_types():
    prev = _s({1: 0, 2: 0, 3: 1, 9: 1})
    cur = _s({1: 0, 2: 1, 3: 1, 4: 2})
    t = compute_transitions(prev, cur).set_index("user_id")
    assert list(t.columns) == ["previous_cluster_id", "cluster_id", "transition_type"]
    assert t.transition_type.to_dict() == {1: "stable", 2: "moved", 3: "stable", 4: "initial"}
    assert str(t.previous_cluster_id.dtype) == "Int64" and pd.isna(t.loc[4, "previous_cluster_id"])
    first = compute_transitions(None, cur)
    assert (first.transition_type == "initial").all()
    summ = transition_summary(compute_transitions(prev, cur))
    assert (summ["stable"], summ["moved"], summ["initial"]) == (2, 1, 1)
    assert {"from": 0, "to": 1, "count": 1} in summ["matrix"]


def test_rank_movers_by_engagement_drop():
    prev = _s({1: 0, 2: 0, 3: 0})
    cur = _s({1: 1, 2: 1, 3: 0})
    pf = pd.DataFrame({"engagement_score": [80.0, 70, 60], "total_events": [100.0, 50, 10],
                       "night_share": [0.1, 0.1, 0.1]}, index=[1, 2, 3])
    cf = pd.DataFrame({"engagement_score": [20.0, 65, 60], "total_events": [10.0, 45, 10],
                       "night_share": [0.1, 0.5, 0.1]}, index=[1, 2, 3])
    m = rank_movers(compute_transitions(prev, cur), pf, cf, top_n_features=1)
    assert m.user_id.tolist() == [1, 2]
    assert m.delta.tolist() == [-60.0, -5.0]
    assert m.loc[0, "changed"][0]["feature"] == "total_events"
    assert m.loc[1, "changed"][0]["feature"] == "night_share"
    assert rank_movers(compute_transitions(None, cur), None, cf).empty


def test_detect_alerts():
    prev_sizes = {0: 100, 1: 100, 2: 10}
    sizes = {0: 60, 1: 140, 3: 10}
    prev = _s({i: (0 if i < 50 else 1) for i in range(100)})
    cur = _s({i: (1 if i < 20 else (0 if i < 50 else 1)) for i in range(100)})
    t = compute_transitions(prev, cur)
    alerts = detect_alerts(prev_sizes, sizes, t, {0: 80.0, 1: 40.0, 3: 50.0})
    kinds = {(a["type"], a["cluster_id"]) for a in alerts}
    assert {("size_shift", 0), ("size_shift", 1), ("cluster_gone", 2), ("new_cluster", 3),
            ("downward_moves", 1)} <= kinds
    down = next(a for a in alerts if a["type"] == "downward_moves")
    assert down["value"] == pytest.approx(0.2) and "20 of 100" in down["message"]
    assert detect_alerts(None, sizes, t, {}) == []
    calm = detect_alerts({0: 100}, {0: 110}, compute_transitions(None, cur), {0: 1.0})
    assert calm == []
