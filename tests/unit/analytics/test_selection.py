from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from analytics import FeatureSelector, KSelector
from analytics.selection import split_score


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, n)
    return pd.DataFrame({
        "total_events": np.where(g, rng.poisson(300, n), rng.poisson(5, n)).astype(float),
        "sessions": np.zeros(n),
        "night_share": np.where(g, 0.6, 0.0) + rng.normal(0, 0.02, n).clip(0),
        "grade_trend": rng.normal(0.3, 0.1, n),
        "engagement_score": rng.uniform(0, 100, n),
    })


def test_drops_constant_correlated_and_excluded_with_reasons():
    X = _frame()
    X["night_copy"] = X["night_share"] * 2 + 0.001
    sel = FeatureSelector(min_split_score=None).fit(X)
    reasons = {d["name"]: d["reason"] for d in sel.features_dropped_}
    assert "constant" in reasons["sessions"]
    assert "excluded" in reasons["engagement_score"]
    dropped_pair = {"night_share", "night_copy"} & set(reasons)
    assert len(dropped_pair) == 1 and "correlated with" in reasons[dropped_pair.pop()]
    assert set(sel.features_used_) | set(reasons) == set(X.columns)
    assert "total_events" in sel.log_columns_
    Z = sel.transform(X)
    assert list(Z.columns) == sel.features_used_
    assert np.allclose(Z.mean(), 0, atol=1e-9) and np.allclose(Z.std(ddof=0), 1)


def test_near_constant_and_cap():
    X = _frame()
    X["rare"] = 0.0
    X.loc[X.index[:2], "rare"] = 1.0  # 1% non-zero
    sel = FeatureSelector(max_features=1, min_split_score=None).fit(X)
    reasons = {d["name"]: d["reason"] for d in sel.features_dropped_}
    assert "near-constant" in reasons["rare"]
    assert len(sel.features_used_) == 1
    capped = [n for n, r in reasons.items() if "cap" in r]
    assert capped == ["grade_trend"]  # no group structure: lowest split score


def test_structureless_feature_dropped_by_split_score():
    sel = FeatureSelector().fit(_frame())
    reasons = {d["name"]: d["reason"] for d in sel.features_dropped_}
    assert "no group structure" in reasons["grade_trend"]
    assert len(sel.features_used_) == 1 and sel.features_used_[0] in {"total_events", "night_share"}


def test_split_score_values():
    rng = np.random.default_rng(1)
    assert split_score(rng.normal(size=20000)) == pytest.approx(2 / np.pi, abs=0.02)
    assert split_score(np.r_[np.zeros(50), np.ones(50)]) == pytest.approx(1.0)
    assert split_score(np.ones(10)) == 0.0


def test_estimator_api():
    sel = FeatureSelector(max_features=5)
    assert clone(sel).get_params()["max_features"] == 5
    with pytest.raises(NotFittedError):
        sel.transform(_frame())
    assert sel.fit(_frame()) is sel
    assert list(sel.get_feature_names_out()) == sel.features_used_
    arr = FeatureSelector(log_columns=[]).fit_transform(_frame().to_numpy())
    assert arr.shape[0] == 200
    with pytest.raises(ValueError):
        FeatureSelector(corr_threshold=2).fit(_frame())
    with pytest.raises(ValueError):
        FeatureSelector().fit(_frame().assign(total_events=np.nan))


def test_shares_damped_for_students_with_few_events():
    X = pd.DataFrame({"total_events": [1.0, 1, 300, 300, 5, 600], "forum_share": [1.0, 0, 1, 0, 0.5, 0.5],
                      "mean_quiz_pct": [10.0, 20, 30, 40, 50, 60]})
    sel = FeatureSelector(log_columns=[], min_split_score=None, corr_threshold=1.0).fit(X)
    damped = sel._damp(X)["forum_share"].to_numpy()
    assert damped == pytest.approx([1 / 6, 0, 300 / 305, 0, 0.25, 0.5 * 600 / 605])
    assert FeatureSelector(share_damping=0)._damp(X).equals(X)


@parametrize_with_checks([FeatureSelector(min_split_score=None), KSelector(k_max=4, n_init=2)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_recent_events_shown_but_not_clustered():
    rng = np.random.default_rng(0)
    f = pd.DataFrame({"total_events": np.r_[rng.normal(50, 5, 50), rng.normal(400, 20, 50)],
                      "events_last_14d": rng.poisson(20, 100).astype(float),
                      "activity_trend": np.tile([-0.8, 0.5], 50) + rng.normal(0, 0.1, 100)})
    sel = FeatureSelector().fit(f)
    reasons = {d["name"]: d["reason"] for d in sel.features_dropped_}
    assert "events_last_14d" not in sel.features_used_ and "not clustered" in reasons["events_last_14d"]
    assert "activity_trend" in sel.features_used_
