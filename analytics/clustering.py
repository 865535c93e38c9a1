"""Selection + k vote + the final KMeans, bundled in a ``ClusteringResult``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_samples,
)
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from .k_selection import KSelector
from .selection import FeatureSelector

__all__ = ["ClusteringResult", "cluster_students", "per_student_silhouette", "EXACT_SILHOUETTE_MAX",
           "SILHOUETTE_REFERENCE_SIZE"]

#: Per-student silhouette (shown, not voted on) is exact up to this many students; above, each student's
#: a(i), b(i) are measured against a fixed-seed stratified reference sample of
#: ``SILHOUETTE_REFERENCE_SIZE`` students (same definition, distances to sampled members only).
EXACT_SILHOUETTE_MAX = 2000
SILHOUETTE_REFERENCE_SIZE = 1000


@dataclass
class ClusteringResult:
    """Everything a run keeps about its clustering (see docs/contracts.md)."""

    k: int
    labels: pd.Series
    scores: pd.DataFrame
    votes: dict[str, int]
    reason: str
    pinned: bool
    features_used: list[str]
    features_dropped: list[dict]
    scaled: pd.DataFrame
    centroids: pd.DataFrame
    silhouette_samples: pd.Series
    projection: pd.DataFrame
    quality: dict[str, float] = field(default_factory=dict)
    vote_k: int | None = None
    selector: FeatureSelector | None = None

    def diagnostics(self) -> dict:
        """The run document's ``diagnostics`` block (plain Python values)."""
        scores = [{"k": int(k), **{c: _num(v) for c, v in row.items()}}
                  for k, row in self.scores.to_dict(orient="index").items()]
        return {"scores": scores, "votes": {c: int(v) for c, v in self.votes.items()},
                "chosen_k": int(self.k), "reason": self.reason, "pinned": bool(self.pinned)}


def _num(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def per_student_silhouette(X: np.ndarray, labels: np.ndarray, *, random_state: int = 0,
                           max_exact: int = EXACT_SILHOUETTE_MAX,
                           reference_size: int | None = SILHOUETTE_REFERENCE_SIZE) -> np.ndarray:
    """Silhouette of every sample: exact up to ``max_exact`` samples, against a sample above.

    Above ``max_exact``, a(i) and b(i) are mean distances to the members of a fixed-seed reference
    sample of ``reference_size`` points (``None`` = ``max_exact``; stratified by cluster, at least 2 per
    cluster), computed in chunks. Its mean is within about 0.01 of the exact silhouette on the
    benchmark data; it is for display (the k vote uses ``KSelector``'s own silhouette).
    """
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels)
    n = len(labels)
    uniq = np.unique(labels)
    if len(uniq) < 2 or n < 3:
        return np.full(n, np.nan)
    if n <= max_exact:
        return silhouette_samples(X, labels)
    size = int(reference_size or max_exact)
    rng = np.random.default_rng(random_state)
    ref = []
    for lab in uniq:
        members = np.flatnonzero(labels == lab)
        m = max(2, int(round(size * len(members) / n)))
        ref.append(rng.choice(members, size=min(m, len(members)), replace=False))
    ref_idx = np.sort(np.concatenate(ref))
    R, rl = X[ref_idx], labels[ref_idx]
    lab_pos = {lab: i for i, lab in enumerate(uniq)}
    rl_pos = np.array([lab_pos[v] for v in rl])
    counts = np.bincount(rl_pos, minlength=len(uniq)).astype(float)
    onehot = np.zeros((len(rl), len(uniq)))
    onehot[np.arange(len(rl)), rl_pos] = 1.0
    own = np.array([lab_pos[v] for v in labels])
    is_ref = np.zeros(n, dtype=bool)
    is_ref[ref_idx] = True
    out = np.empty(n)
    rr = (R**2).sum(axis=1)
    for s in range(0, n, 4096):
        e = min(s + 4096, n)
        B = X[s:e]
        d2 = (B**2).sum(axis=1)[:, None] + rr[None, :] - 2.0 * B @ R.T
        d = np.sqrt(np.maximum(d2, 0.0))
        sums = d @ onehot  # chunk x clusters
        cnt = np.broadcast_to(counts, sums.shape).copy()
        o = own[s:e]
        cnt[np.arange(e - s), o] -= is_ref[s:e]  # a point does not count itself
        means = np.divide(sums, cnt, out=np.full_like(sums, np.nan), where=cnt > 0)
        a = means[np.arange(e - s), o]
        means[np.arange(e - s), o] = np.inf
        b = means.min(axis=1)
        val = (b - a) / np.maximum(a, b)
        val[~np.isfinite(val)] = 0.0
        out[s:e] = val
    return out


def cluster_students(features: pd.DataFrame, *, k_range: tuple[int, int] = (2, 10), random_state: int = 0,
                     k: int | None = None, selector: FeatureSelector | None = None,
                     n_init: int = 10, max_score_samples: int = 6000,
                     n_threads: int | None = 1) -> ClusteringResult:
    """Select features, vote on k (unless ``k`` is pinned) and cluster with KMeans.

    Parameters
    ----------
    features : DataFrame
        From ``extract_features`` (index user_id). Non-numeric columns are ignored.
    k_range : (int, int), default=(2, 10)
        Inclusive range of k scored; bounded by n_students - 1 and the number of distinct students.
    random_state : int, default=0
    k : int, default=None
        Pinned k (the instructor's choice); scores and votes are still computed for the diagnostics.
    selector : FeatureSelector, default=None
        Unfitted selector to use (default ``FeatureSelector()``).
    n_init : int, default=10
        KMeans restarts per k.
    max_score_samples : int, default=6000
        Above this many students the per-k scoring runs on a fixed-seed sample (final fit on all).
    n_threads : int or None, default=1
        Threads for KMeans (see ``KSelector``).

    Raises
    ------
    ValueError
        Fewer than 3 students, or too few distinct students for 2 clusters.
    """
    with threadpool_limits(limits=n_threads):
        return _cluster(features, k_range=k_range, random_state=random_state, k=k, selector=selector,
                        n_init=n_init, max_score_samples=max_score_samples, n_threads=n_threads)


def _cluster(features: pd.DataFrame, *, k_range: tuple[int, int], random_state: int, k: int | None,
             selector: FeatureSelector | None, n_init: int, max_score_samples: int,
             n_threads: int | None) -> ClusteringResult:
    numeric = features.select_dtypes(include=[np.number])
    n = len(numeric)
    if n < 3:
        raise ValueError(f"n_students={n} should be >= 3 to form clusters")
    sel = selector if selector is not None else FeatureSelector()
    sel.fit(numeric)
    scaled = sel.transform(numeric)
    X = scaled.to_numpy(dtype=float)
    ks = KSelector(k_range[0], k_max=k_range[1], n_init=n_init, random_state=random_state,
                   max_score_samples=max_score_samples, n_threads=n_threads)
    lo, hi = ks.k_bounds(X)
    pinned = k is not None
    if hi < lo:
        raise ValueError(f"n_students={n} with too few distinct feature vectors to form {lo} clusters")
    ks.fit(X)
    vote_k = ks.k_
    scores = ks.scores_.copy()
    reason = ks.reason_
    if pinned:
        kk = int(k)  # type: ignore[arg-type]
        distinct = len(np.unique(X, axis=0))
        if not 2 <= kk <= min(n - 1, distinct):
            raise ValueError(f"pinned k={kk} should be between 2 and {min(n - 1, distinct)} for "
                             f"{n} students")
        reason = (f"k={kk} was pinned for this course; the vote alone would choose k={vote_k}. "
                  f"Vote: {reason}")
    else:
        kk = vote_k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if ks.n_scored_ == n and kk in ks.models_:
            km = ks.models_[kk]
        else:
            km = KMeans(n_clusters=kk, n_init=n_init, random_state=random_state).fit(X)
    raw = km.labels_.astype(int)
    labels = pd.Series(raw, index=numeric.index, name="label")
    labels.index.name = numeric.index.name or "user_id"
    centroids = pd.DataFrame(km.cluster_centers_, columns=sel.features_used_)
    centroids.index.name = "label"
    n_lab = len(np.unique(raw))
    if n_lab >= 2:
        sil_vals = per_student_silhouette(X, raw, random_state=random_state)
        # exact mean silhouette up to EXACT_SILHOUETTE_MAX students; above, the mean of the
        # reference-sample estimates (measured within 0.01 of the exact value at 10,000 students)
        quality = {
            "silhouette": float(np.mean(sil_vals)),
            "davies_bouldin": float(davies_bouldin_score(X, raw)),
            "calinski_harabasz": float(calinski_harabasz_score(X, raw)),
        }
    else:
        sil_vals = np.full(n, np.nan)
        quality = {"silhouette": float("nan"), "davies_bouldin": float("nan"),
                   "calinski_harabasz": float("nan")}
    if pinned and kk not in scores.index:
        scores.loc[kk] = [float(km.inertia_) * (ks.n_scored_ / n), quality["silhouette"],
                          quality["davies_bouldin"], quality["calinski_harabasz"]]
        scores = scores.sort_index()
    if X.shape[1] >= 2:
        proj = PCA(n_components=2, random_state=random_state).fit_transform(X)
    else:
        proj = np.c_[X[:, 0], np.zeros(n)]
    projection = pd.DataFrame(proj, index=labels.index, columns=["x", "y"])
    return ClusteringResult(
        k=int(kk), labels=labels, scores=scores, votes=dict(ks.votes_), reason=reason, pinned=pinned,
        features_used=list(sel.features_used_), features_dropped=list(sel.features_dropped_),
        scaled=scaled.set_axis(labels.index), centroids=centroids,
        silhouette_samples=pd.Series(sil_vals, index=labels.index, name="silhouette"),
        projection=projection, quality=quality, vote_k=int(vote_k), selector=sel,
    )
