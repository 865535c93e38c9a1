from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs

from analytics import KSelector, elbow_k


@pytest.mark.parametrize("k", [2, 3, 4, 6])
@pytest.mark.parametrize("seed", [0, 1])
def test_finds_k_of_separated_blobs(k, seed):
    X, _ = make_blobs(n_samples=300, centers=k, n_features=5, cluster_std=0.6, center_box=(-15, 15),
                      random_state=seed)
    sel = KSelector(random_state=0).fit(X)
    assert sel.k_ == k
    assert set(sel.votes_) == {"elbow", "silhouette", "davies_bouldin"}
    assert list(sel.scores_.columns) == ["inertia", "silhouette", "davies_bouldin", "calinski_harabasz"]
    assert sel.scores_.index.tolist() == list(range(2, 11))
    assert f"k={k}" in sel.reason_


def test_elbow_kneedle_hand_curve():
    ks = np.arange(1, 9)
    y = np.array([100, 40, 12, 10, 9, 8.5, 8, 7.6])
    assert elbow_k(ks, y)[0] == 3
    # a straight line has no knee: smallest k
    k, how = elbow_k(ks, 100 - 10.0 * ks)
    assert k == 1 and "no" in how


def test_bounds_by_samples_and_distinct_rows():
    X = np.repeat(np.array([[0.0, 0], [5, 5], [10, 0]]), 3, axis=0)  # 9 rows, 3 distinct
    sel = KSelector().fit(X)
    assert sel.scores_.index.max() == 3 and sel.k_ == 3
    with pytest.raises(ValueError, match="too few"):
        KSelector().fit(np.zeros((5, 2)))


def test_sampled_scoring_is_deterministic():
    X, _ = make_blobs(n_samples=3000, centers=4, n_features=4, random_state=3)
    a = KSelector(max_score_samples=1000, silhouette_samples=500).fit(X)
    b = clone(a).fit(X)
    assert a.n_scored_ == 1000 and a.k_ == b.k_ == 4
    assert a.scores_.equals(b.scores_)
    assert "sample" in a.reason_


def test_silhouette_from_distances_matches_sklearn():
    from sklearn.metrics import silhouette_score

    from analytics.k_selection import pairwise_distances_once, silhouette_from_distances

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    labels = rng.integers(0, 4, size=300)
    labels[7] = 9  # a singleton cluster scores 0, as in sklearn
    D = pairwise_distances_once(X)
    assert silhouette_from_distances(D, labels) == pytest.approx(silhouette_score(X, labels), abs=1e-10)
    assert np.isnan(silhouette_from_distances(D, np.zeros(300)))


def test_sampled_silhouette_uses_one_sample_for_every_k():
    X, _ = make_blobs(n_samples=1500, centers=4, n_features=5, cluster_std=0.8, center_box=(-15, 15),
                      random_state=1)
    full = KSelector(random_state=0).fit(X)
    sampled = KSelector(random_state=0, silhouette_samples=400).fit(X)
    assert full.n_silhouette_ == 1500 and sampled.n_silhouette_ == 400
    assert sampled.k_ == full.k_ == 4
    # same sample for every k: the sampled curve tracks the exact one closely
    diff = (sampled.scores_["silhouette"] - full.scores_["silhouette"]).abs()
    assert diff.max() < 0.03
    assert "same fixed sample of 400" in sampled.reason_
