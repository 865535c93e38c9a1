"""The grouping model: placement with a margin, and when a run fits, places or regroups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics import cluster_students
from analytics.grouping import (
    BETTER_K_RUNS,
    GroupingModel,
    decide,
    model_from_result,
    place,
)


def _blobs(seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6]], dtype=float)
    X = np.vstack([rng.normal(c, 0.6, size=(40, 2)) for c in centres]) + shift
    return pd.DataFrame(X, columns=["a", "b"], index=pd.Index(range(1000, 1120), name="user_id"))


@pytest.fixture(scope="module")
def fitted():
    f = _blobs()
    result = cluster_students(f, k_range=(2, 6))
    mapping = {int(r): 10 + int(r) for r in result.centroids.index}
    return f, result, model_from_result(result, mapping, window_days=28)


def test_model_roundtrip_and_placement_reproduces_the_fit(fitted):
    f, result, model = fitted
    assert model.k == 3 == result.k
    again = GroupingModel.from_doc(model.to_doc())
    placed = place(again, f)
    expected = result.labels.map(lambda r: 10 + int(r))
    assert (placed.labels == expected.reindex(placed.labels.index)).all()
    assert placed.silhouette == pytest.approx(result.quality["silhouette"], abs=1e-6)
    with pytest.raises(ValueError, match="missing"):
        again.transform(f[["a"]])
    with pytest.raises(ValueError, match="inconsistent"):
        GroupingModel.from_doc({**model.to_doc(), "cluster_ids": [1]})


def test_a_student_near_the_boundary_stays_unless_clearly_closer_elsewhere(fitted):
    f, result, model = fitted
    scaled = model.transform(f)
    C = np.asarray(model.centroids)
    uid = int(f.index[0])
    home = int(np.argmin(((C - scaled.loc[uid].to_numpy()) ** 2).sum(axis=1)))
    other = (home + 1) % 3
    prev = pd.Series({uid: model.cluster_ids[home]})
    # a point just past the midpoint (in the scaled space) between home and another centre
    mid = C[home] + 0.53 * (C[other] - C[home])
    raw = mid * np.asarray(model.scale) + np.asarray(model.mean)
    probe = pd.DataFrame([raw], columns=["a", "b"], index=pd.Index([uid], name="user_id"))
    assert place(model, probe, prev).labels[uid] == model.cluster_ids[home]          # kept by the margin
    assert place(model, probe, None).labels[uid] == model.cluster_ids[other]          # nearest without history
    far = C[home] + 0.9 * (C[other] - C[home])
    probe.iloc[0] = far * np.asarray(model.scale) + np.asarray(model.mean)
    assert place(model, probe, prev).labels[uid] == model.cluster_ids[other]          # a real move


def _decide(model, placement, **kw):
    base = dict(evidence=None, pinned_k=None, regroup_requested=False, term_start=None, placement=placement,
                vote_k=model.k, votes={"elbow": model.k, "silhouette": model.k, "davies_bouldin": model.k},
                scores=pd.DataFrame({"silhouette": {2: 0.3, 3: 0.6, 4: 0.4}}), window_days=28)
    base.update(kw)
    return decide(model, **base)


def test_decide_fit_place_and_the_regroup_triggers(fitted):
    f, result, model = fitted
    placement = place(model, f)
    assert decide(None, evidence=None, pinned_k=None, regroup_requested=False, term_start=None, placement=None,
                  vote_k=3, votes={}, scores=None).action == "fit"
    assert _decide(model, placement).action == "place"
    assert _decide(model, placement, regroup_requested=True).action == "regroup"
    pinned = _decide(model, placement, pinned_k=4)
    assert pinned.action == "regroup" and pinned.k == 4
    assert _decide(model, None).action == "regroup"                       # features changed
    model.term_start = datetime(2026, 1, 5, tzinfo=UTC)
    assert _decide(model, placement, term_start=datetime(2026, 8, 31, tzinfo=UTC)).action == "regroup"
    model.term_start = None


def test_a_clearly_better_k_must_win_several_runs(fitted):
    f, result, model = fitted
    placement = place(model, f)
    scores = pd.DataFrame({"silhouette": {2: 0.3, 3: 0.5, 4: 0.62}})
    votes = {"elbow": 3, "silhouette": 4, "davies_bouldin": 4}
    ev = None
    for i in range(BETTER_K_RUNS):
        d = _decide(model, placement, evidence=ev, vote_k=4, votes=votes, scores=scores)
        ev = d.evidence
        assert d.action == ("regroup" if i == BETTER_K_RUNS - 1 else "place"), (i, d)
    assert d.k == 4
    # one run of disagreement resets the count
    d1 = _decide(model, placement, vote_k=4, votes=votes, scores=scores)
    d2 = _decide(model, placement, evidence=d1.evidence)
    assert d2.evidence["better_k_runs"] == 0


def test_a_worse_fit_must_last_longer_than_a_window_and_a_refit_must_help(fitted):
    f, result, model = fitted
    rng = np.random.default_rng(5)                                # behaviour spread out: no groups left
    moved = pd.DataFrame(rng.uniform(-1, 7, size=f.shape), columns=f.columns, index=f.index)
    placement = place(model, moved)
    assert placement.silhouette < model.fit_silhouette - 0.12
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    helps = pd.DataFrame({"silhouette": {2: 0.3, 3: placement.silhouette + 0.2, 4: 0.2}})
    ev, actions = None, []
    for week in range(6):
        d = _decide(model, placement, evidence=ev, scores=helps, now=t0 + timedelta(weeks=week))
        ev = d.evidence
        actions.append(d.action)
        if d.action == "regroup":
            break
    assert actions == ["place"] * 4 + ["regroup"]                 # 2+ runs and 28 days after it began
    no_help = pd.DataFrame({"silhouette": {2: 0.3, 3: placement.silhouette + 0.01, 4: 0.2}})
    ev = None
    for week in range(6):
        d = _decide(model, placement, evidence=ev, scores=no_help, now=t0 + timedelta(weeks=week))
        ev = d.evidence
        assert d.action == "place"


def test_a_course_wide_lull_moves_nobody():
    """Everyone's counts fall to a fifth (exam weeks, a holiday): relative counts keep every student where
    they were; measured against the fit's scale instead, many would "move"."""
    import dataclasses
    from datetime import date

    from analytics.window import RATE_COLUMNS, window_features
    from moodle.demo import CHANGE_COURSE, DemoSite

    site = DemoSite(11, anchor=date(2026, 2, 2), courses=[CHANGE_COURSE])
    as_of = site.week_start(CHANGE_COURSE.course_id, 6)
    data = site.course_data(CHANGE_COURSE.course_id, as_of)
    frame = data.course_frame()
    features, _ = window_features(data, as_of, start=frame.start, end=frame.end)
    result = cluster_students(features)
    model = model_from_result(result, {int(r): int(r) for r in result.centroids.index})
    before = place(model, features).labels
    lull = features.copy()
    for col in RATE_COLUMNS:
        lull[col] = lull[col] * 0.2
    assert (place(model, lull, before).labels != before).sum() == 0
    absolute = dataclasses.replace(model, relative_counts=False)
    assert (place(absolute, lull, before).labels != before).sum() > 0.05 * len(before)
    assert GroupingModel.from_doc(model.to_doc()).relative_counts
