from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_samples

from analytics import cluster_students, per_student_silhouette


def _features(n=240, k=3, seed=0):
    X, y = make_blobs(n_samples=n, centers=k, n_features=4, cluster_std=0.5, random_state=seed)
    idx = pd.Index(np.arange(100, 100 + n), name="user_id")
    return pd.DataFrame(X, index=idx, columns=["mean_quiz_pct", "night_share", "weekend_share", "grade_trend"]), y


def test_result_shape_and_contents():
    f, y = _features()
    r = cluster_students(f)
    assert r.k == 3 and not r.pinned
    assert adjusted_rand_score(y, r.labels) == 1.0
    assert r.labels.index.equals(f.index) and set(r.labels) == {0, 1, 2}
    assert r.scaled.index.equals(f.index) and list(r.scaled.columns) == r.features_used
    assert r.centroids.shape == (3, len(r.features_used))
    assert r.projection.columns.tolist() == ["x", "y"] and r.projection.index.equals(f.index)
    assert r.silhouette_samples.between(-1, 1).all()
    assert set(r.quality) == {"silhouette", "davies_bouldin", "calinski_harabasz"}
    d = r.diagnostics()
    assert d["chosen_k"] == 3 and len(d["scores"]) == 9 and isinstance(d["scores"][0]["inertia"], float)


def test_pinned_k_and_rerun_identical():
    f, _ = _features()
    r = cluster_students(f, k=5)
    assert r.k == 5 and r.pinned and r.vote_k == 3 and "pinned" in r.reason
    a, b = cluster_students(f), cluster_students(f)
    assert a.labels.equals(b.labels)
    with pytest.raises(ValueError):
        cluster_students(f, k=1)


def test_too_few_students():
    f, _ = _features()
    with pytest.raises(ValueError, match="n_students"):
        cluster_students(f.iloc[:2])


def test_approximate_per_student_silhouette_close_to_exact():
    X, y = make_blobs(n_samples=2500, centers=4, random_state=0)
    exact = silhouette_samples(X, y)
    approx = per_student_silhouette(X, y, max_exact=600)
    assert np.abs(exact - approx).mean() < 0.02


def test_per_student_silhouette_reference_size_and_threshold():
    X, y = make_blobs(n_samples=2500, centers=4, random_state=1)
    exact = silhouette_samples(X, y)
    small_ref = per_student_silhouette(X, y, max_exact=2000, reference_size=300)
    assert not np.allclose(small_ref, exact)  # above the threshold: approximated
    assert abs(small_ref.mean() - exact.mean()) < 0.02
    assert np.allclose(per_student_silhouette(X, y, max_exact=3000), exact)


def test_quality_silhouette_is_exact_at_small_size():
    from sklearn.metrics import silhouette_score

    f, _ = _features(n=300, k=3, seed=4)
    r = cluster_students(f)
    assert r.quality["silhouette"] == pytest.approx(
        silhouette_score(r.scaled.to_numpy(), r.labels.to_numpy()), abs=1e-9)
