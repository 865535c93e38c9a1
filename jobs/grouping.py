"""The place-or-regroup step of a run: keep the course's groups unless they stop fitting.

``group_course`` takes this run's (windowed) features, the previous finished run and the course's stored
grouping model, and returns the students' groups with everything the run document and the snapshot need.
The decision itself (``analytics.grouping.decide``) is pure; this module reads the model named by the
previous run from ``store.models`` and prepares the new version to save (the pipeline saves it just before
the run document, so a crashed run's model is never used: the next run follows the latest finished run).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Grouped", "group_course", "previous_model"]

log = logging.getLogger(__name__)


@dataclass
class Grouped:
    """One run's groups (stable ids) and how they were made."""

    k: int
    pinned: bool
    labels: pd.Series                 # user_id -> stable cluster id
    scaled: pd.DataFrame              # students in the grouping space
    projection: pd.DataFrame          # x, y (PCA of ``scaled``)
    silhouette_samples: pd.Series
    centroids: pd.DataFrame           # stable id x features_used (grouping space)
    scores: pd.DataFrame              # the fresh k vote's scores (diagnostics)
    votes: dict[str, int]
    reason: str
    features_used: list[str]
    features_dropped: list[dict]
    quality: dict[str, float | None]
    vote_k: int
    action: str                       # fit | place | regroup
    grouping: dict[str, Any]          # the run document's ``grouping`` block (model_version set on save)
    structure: dict[str, Any]
    model_doc: dict[str, Any] | None  # a new model version to save (fit / regroup), else None
    model_version: int | None         # the version in force (None until a new one is saved)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def regrouped(self) -> bool:
        return self.action == "regroup"


def previous_model(store: Any, course_id: int, previous: dict | None) -> tuple[Any, dict]:
    """``(GroupingModel | None, evidence)`` named by the previous finished run (None when it has none
    or the document cannot be read: the run then fits afresh)."""
    from analytics.grouping import GroupingModel

    block = (previous or {}).get("grouping") or {}
    version = block.get("model_version")
    models = getattr(store, "models", None)
    if version is None or models is None:
        return None, {}
    try:
        doc = models.get(course_id, int(version))
        if doc is None:
            log.warning("course %s: grouping model v%s is missing; fitting afresh", course_id, version)
            return None, {}
        return GroupingModel.from_doc(doc), dict(block.get("evidence") or {})
    except (ValueError, TypeError) as exc:
        log.warning("course %s: grouping model v%s unusable (%s); fitting afresh", course_id, version, exc)
        return None, {}


def _projection(scaled: pd.DataFrame) -> pd.DataFrame:
    from sklearn.decomposition import PCA

    X = scaled.to_numpy(dtype=float)
    if X.shape[1] >= 2 and X.shape[0] >= 2:
        proj = PCA(n_components=2, random_state=0).fit_transform(X)
    else:
        proj = np.c_[X[:, 0] if X.shape[1] else np.zeros(len(X)), np.zeros(len(X))]
    return pd.DataFrame(proj, index=scaled.index, columns=["x", "y"])


def _quality(scaled: pd.DataFrame, labels: pd.Series, silhouette: float | None) -> dict[str, float | None]:
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    X = scaled.to_numpy(dtype=float)
    lab = labels.reindex(scaled.index).to_numpy()
    out: dict[str, float | None] = {"silhouette": silhouette, "davies_bouldin": None, "calinski_harabasz": None}
    if len(np.unique(lab)) >= 2 and len(X) > len(np.unique(lab)):
        out["davies_bouldin"] = float(davies_bouldin_score(X, lab))
        out["calinski_harabasz"] = float(calinski_harabasz_score(X, lab))
    return out


def group_course(features: pd.DataFrame, *, model: Any, evidence: dict, prev_labels: pd.Series | None,
                 pinned_k: int | None, regroup_requested: bool, term_start: Any, window_days: int | None,
                 k_max: int, next_id: int, previous_centroids: pd.DataFrame | None = None,
                 now: Any = None) -> Grouped:
    """Place the students into ``model`` or (re)fit it; see ``analytics.grouping``."""
    from analytics import assign_stable_ids, cluster_students
    from analytics.grouping import decide, model_from_result, place, structure_check

    vote = cluster_students(features, k_range=(2, k_max), random_state=0, k=pinned_k)
    structure = structure_check(vote.scores, vote.votes)
    placement = None
    if model is not None and not model.missing_features(features):
        try:
            placement = place(model, features, prev_labels)
        except ValueError as exc:
            log.warning("placing into the grouping model failed: %s", exc)
    decision = decide(model, evidence=evidence, pinned_k=pinned_k, regroup_requested=regroup_requested,
                      term_start=term_start, placement=placement, vote_k=vote.vote_k, votes=vote.votes,
                      scores=vote.scores, window_days=window_days, now=now)
    if decision.action == "fit" and prev_labels is not None and len(prev_labels):
        # earlier runs of this course exist but no model (they predate models, or it was lost): the
        # new groups are matched to the old ids and nobody counts as moving
        decision.action = "regroup"
        decision.reason = "first stored grouping model of this course (its earlier groups had none)"
    grouping: dict[str, Any] = {
        "action": decision.action, "reason": decision.reason, "evidence": decision.evidence,
        "checks": decision.checks, "regrouping": decision.action == "regroup",
        "previous_model_version": getattr(model, "version", None) if model is not None else None,
        "model_version": getattr(model, "version", None) if decision.action == "place" else None,
        "margin": None,
    }
    if decision.action == "place" and placement is not None:
        from analytics.grouping import PLACE_MARGIN

        grouping["margin"] = PLACE_MARGIN
        grouping["kept_by_margin"] = placement.kept_by_margin
        labels = placement.labels
        centroids = pd.DataFrame(model.centroids, index=model.cluster_ids, columns=model.features_used)
        reason = (f"Students were placed into the course's existing {model.k} groups (fitted "
                  f"{_when(model)}); this week's vote alone would choose k={vote.vote_k}. {vote.reason}")
        return Grouped(
            k=model.k, pinned=bool(model.k_pinned or pinned_k is not None), labels=labels,
            scaled=placement.scaled, projection=_projection(placement.scaled),
            silhouette_samples=placement.silhouette_samples, centroids=centroids, scores=vote.scores,
            votes=dict(vote.votes), reason=reason, features_used=list(model.features_used),
            features_dropped=[{"name": c, "reason": "not in the course's grouping model"}
                              for c in features.columns if c not in model.features_used],
            quality=_quality(placement.scaled, labels, placement.silhouette), vote_k=int(vote.vote_k),
            action="place", grouping=grouping, structure=structure, model_doc=None,
            model_version=getattr(model, "version", None))
    # fit or regroup: a fresh KMeans (keeping the model's k unless told otherwise)
    k = decision.k if decision.k is not None else pinned_k
    result = vote if (k is None or int(k) == vote.k) else cluster_students(
        features, k_range=(2, k_max), random_state=0, k=int(k))
    if decision.action == "fit":
        mapping = assign_stable_ids(result.labels, None, next_id=next_id,
                                    engagement=features.get("engagement_score"))
    else:
        same_space = model is not None and list(model.features_used) == list(result.features_used)
        mapping = assign_stable_ids(result.labels, prev_labels, centroids=result.centroids if same_space else None,
                                    previous_centroids=previous_centroids if same_space else None,
                                    next_id=next_id)
    new_model = model_from_result(result, mapping, k_pinned=pinned_k is not None, term_start=term_start,
                                  window_days=window_days, reason=decision.reason)
    labels = result.labels.map(lambda raw: int(mapping[int(raw)])).astype("int64")
    labels.index.name = "user_id"
    labels.name = "cluster_id"
    centroids = result.centroids.copy()
    centroids.index = [int(mapping[int(i)]) for i in centroids.index]
    reason = result.reason if decision.action == "fit" else f"Regrouping: {decision.reason}. {result.reason}"
    quality = {key: (float(v) if v is not None and np.isfinite(v) else None)
               for key, v in (result.quality or {}).items()}
    return Grouped(
        k=int(result.k), pinned=bool(result.pinned), labels=labels, scaled=result.scaled,
        projection=result.projection, silhouette_samples=result.silhouette_samples, centroids=centroids,
        scores=vote.scores if result is vote else _merge_scores(vote.scores, result.scores),
        votes=dict(vote.votes), reason=reason, features_used=list(result.features_used),
        features_dropped=list(result.features_dropped), quality=quality, vote_k=int(vote.vote_k),
        action=decision.action, grouping=grouping, structure=structure, model_doc=new_model.to_doc(),
        model_version=None)


def _merge_scores(vote: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    extra = other.loc[[k for k in other.index if k not in vote.index]]
    return pd.concat([vote, extra]).sort_index() if len(extra) else vote


def _when(model: Any) -> str:
    at = (model.extra or {}).get("fitted_as_of")
    if at is None:
        return f"model v{model.version}" if model.version is not None else "earlier"
    return f"as of {pd.Timestamp(at).strftime('%Y-%m-%d')}, model v{model.version}"
