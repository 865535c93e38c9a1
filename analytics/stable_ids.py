"""Stable cluster ids across runs: Hungarian matching on member overlap (and centroid distance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

__all__ = ["assign_stable_ids", "relabel", "MIN_OVERLAP", "CENTROID_WEIGHT"]

#: A new cluster inherits an old id only if their member sets overlap at least this much (Jaccard), or,
#: when the centroids are comparable, they lie within ``CENTROID_TOLERANCE`` of each other.
MIN_OVERLAP = 0.1
CENTROID_WEIGHT = 0.5
CENTROID_TOLERANCE = 1.0


def _ordered_initial(labels: pd.Series, engagement: pd.Series | None) -> list[int]:
    raw = sorted(pd.unique(labels.to_numpy()).tolist())
    if engagement is not None:
        eng = engagement.reindex(labels.index)
        means = eng.groupby(labels.to_numpy()).mean()
        return sorted(raw, key=lambda r: (-float(means.get(r, -np.inf)), r))
    sizes = labels.value_counts()
    return sorted(raw, key=lambda r: (-int(sizes.get(r, 0)), r))


def assign_stable_ids(labels: pd.Series, previous: pd.Series | None, *,
                      centroids: pd.DataFrame | None = None, previous_centroids: pd.DataFrame | None = None,
                      next_id: int = 0, engagement: pd.Series | None = None,
                      min_overlap: float = MIN_OVERLAP, centroid_weight: float = CENTROID_WEIGHT,
                      centroid_tolerance: float = CENTROID_TOLERANCE) -> dict[int, int]:
    """Map each raw KMeans label to a stable cluster id.

    Parameters
    ----------
    labels : Series
        user_id -> raw label of this run.
    previous : Series or None
        user_id -> stable cluster id of the last finished run.
    centroids, previous_centroids : DataFrame, optional
        Indexed by raw label / previous stable id; used when they share columns.
    next_id : int, default=0
        First id for clusters that match nothing (never below ``max(previous) + 1``).
    engagement : Series, optional
        user_id -> engagement score; with no previous run, ids 0..k-1 go by mean engagement (highest
        first), else by size.

    Notes
    -----
    Cost of pairing new cluster *i* with old cluster *j* is ``1 - Jaccard(members_i, members_j)`` plus
    ``centroid_weight x distance / max distance`` when the centroids are comparable. The Hungarian
    method (``scipy.optimize.linear_sum_assignment``) minimises the total cost; a pair is kept only if
    its Jaccard is at least ``min_overlap`` or its centroid distance is within ``centroid_tolerance``.
    """
    labels = pd.Series(labels)
    raw_ids = sorted(pd.unique(labels.to_numpy()).tolist())
    if previous is None or len(previous) == 0:
        order = _ordered_initial(labels, engagement)
        return {int(r): int(next_id) + i for i, r in enumerate(order)}
    previous = pd.Series(previous).dropna()
    prev_ids = sorted(int(v) for v in pd.unique(previous.to_numpy()))
    next_free = max(int(next_id), max(prev_ids) + 1)

    # Jaccard via a contingency table on users present in both runs; set sizes use each run's full roster.
    new_sizes = labels.value_counts()
    old_sizes = previous.astype(int).value_counts()
    common = labels.index.intersection(previous.index)
    inter = pd.crosstab(labels.loc[common].to_numpy(), previous.loc[common].astype(int).to_numpy())
    inter = inter.reindex(index=raw_ids, columns=prev_ids, fill_value=0).to_numpy(dtype=float)
    ns = new_sizes.reindex(raw_ids).to_numpy(dtype=float)[:, None]
    os_ = old_sizes.reindex(prev_ids).to_numpy(dtype=float)[None, :]
    jac = inter / np.maximum(ns + os_ - inter, 1.0)
    cost = 1.0 - jac
    dist = None
    if centroids is not None and previous_centroids is not None:
        cols = [c for c in centroids.columns if c in set(previous_centroids.columns)]
        if cols:
            a = centroids.reindex(raw_ids)[cols].to_numpy(dtype=float)
            b = previous_centroids.reindex(prev_ids)[cols].to_numpy(dtype=float)
            if np.isfinite(a).all() and np.isfinite(b).all():
                dist = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
                scale = dist.max() if dist.max() > 0 else 1.0
                cost = cost + centroid_weight * dist / scale
    rows, cols_ = linear_sum_assignment(cost)
    mapping: dict[int, int] = {}
    for i, j in zip(rows, cols_):
        ok = jac[i, j] >= min_overlap or (dist is not None and dist[i, j] <= centroid_tolerance)
        if ok:
            mapping[int(raw_ids[i])] = int(prev_ids[j])
    unmatched = [r for r in raw_ids if r not in mapping]
    # deterministic order for new ids: largest first
    unmatched.sort(key=lambda r: (-int(new_sizes.get(r, 0)), r))
    for r in unmatched:
        mapping[int(r)] = next_free
        next_free += 1
    return mapping


def relabel(labels: pd.Series, mapping: dict[int, int]) -> pd.Series:
    """user_id -> stable cluster id."""
    out = pd.Series(labels).astype(int).map({int(k): int(v) for k, v in mapping.items()})
    if out.isna().any():
        raise KeyError("a label has no stable id in the mapping")
    out = out.astype(int)
    out.name = "cluster_id"
    return out
