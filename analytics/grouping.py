"""A course's grouping model: fit once, place students into it every run, refit only when it stops fitting.

Re-clustering every week moves group boundaries, and a moved boundary looks like students moving. So the
first run of a course *fits* a model (feature scaling, feature set, k, centroids, group ids) and later runs
*place* every student into those same groups in that same space: a student changes group only when the
student's own behaviour moved them closer to another group's centre (by a margin, so that noise around a
boundary does not flip them back and forth).

The model is refitted (a *regrouping*) only when

- an admin asks, or pins a k different from the model's, or the feature set / term changed;
- the fit got worse over more than one run: the placed groups' separation (silhouette in the model's
  space) fell well below the fit's, or students sit much further from their centres than at the fit;
- a clearly better k keeps winning: the fresh k vote backs another k by at least two of three criteria
  with a clearly higher silhouette, over several consecutive runs.

A regrouping matches the new groups to the old ids (member overlap) and is never counted as students
moving. Everything here is pure: the caller stores :meth:`GroupingModel.to_doc` and the run's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score

from .selection import FeatureSelector

__all__ = [
    "GroupingModel",
    "Placement",
    "Decision",
    "model_from_result",
    "place",
    "decide",
    "structure_check",
    "PLACE_MARGIN",
    "QUALITY_DROP",
    "SPREAD_RATIO",
    "QUALITY_RUNS",
    "REFIT_GAIN",
    "BETTER_K_GAIN",
    "BETTER_K_RUNS",
    "WEAK_SILHOUETTE",
]

#: A placed student leaves their previous group only when another centre is closer by this relative
#: margin (distance to the previous centre > (1 + margin) x distance to the nearest).
PLACE_MARGIN = 0.15
#: Fit got worse: silhouette of the placed groups this much below the fit's ...
QUALITY_DROP = 0.12
#: ... or the mean squared distance to the own centre this many times the fit's ...
SPREAD_RATIO = 3.0
#: ... for this many consecutive runs, and only while a fresh fit at the same k would separate the students
#: clearly better than the placed groups (silhouette at least ``REFIT_GAIN`` higher): students in the
#: middle of a real change lower the separation of any grouping, and refitting would not help then.
QUALITY_RUNS = 2
REFIT_GAIN = 0.05
#: A better k: the vote's k has a silhouette at least this much above the model's k (same fresh data) ...
BETTER_K_GAIN = 0.03
#: ... and at least two criteria back it, for this many consecutive runs.
BETTER_K_RUNS = 3
#: Weak structure: no k reaches this silhouette and the three criteria do not agree.
WEAK_SILHOUETTE = 0.25


@dataclass
class GroupingModel:
    """What a course's groups are: the scaling, the feature set, k, the centres and their ids."""

    features_in: list[str]
    features_used: list[str]
    log_columns: list[str]
    log_scale: dict[str, float]
    mean: list[float]
    scale: list[float]
    share_damping: float
    centroids: list[list[float]]
    cluster_ids: list[int]
    fit_silhouette: float | None = None
    fit_spread: float | None = None
    k_pinned: bool = False
    term_start: Any = None
    window_days: int | None = None
    version: int | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: counts are measured relative to the course's own median in each run's window (the fit's scaling
    #: otherwise): a course-wide lull or rush (exam weeks, holidays, the usual decline over a term) does
    #: not push everyone across a group boundary, while a student who changes relative to the others moves.
    relative_counts: bool = True

    @property
    def k(self) -> int:
        return len(self.cluster_ids)

    # -- storage ---------------------------------------------------------------------------------
    def to_doc(self) -> dict[str, Any]:
        return {
            "features_in": list(self.features_in), "features_used": list(self.features_used),
            "log_columns": list(self.log_columns),
            "log_scale": {str(k): float(v) for k, v in self.log_scale.items()},
            "mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale],
            "share_damping": float(self.share_damping),
            "centroids": [[float(v) for v in row] for row in self.centroids],
            "cluster_ids": [int(c) for c in self.cluster_ids], "k": self.k,
            "fit_silhouette": None if self.fit_silhouette is None else float(self.fit_silhouette),
            "fit_spread": None if self.fit_spread is None else float(self.fit_spread),
            "k_pinned": bool(self.k_pinned), "term_start": self.term_start, "window_days": self.window_days,
            "version": self.version, "reason": self.reason, "extra": dict(self.extra),
            "relative_counts": bool(self.relative_counts),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> GroupingModel:
        try:
            model = cls(
                features_in=[str(c) for c in doc["features_in"]],
                features_used=[str(c) for c in doc["features_used"]],
                log_columns=[str(c) for c in doc.get("log_columns") or []],
                log_scale={str(k): float(v) for k, v in (doc.get("log_scale") or {}).items()},
                mean=[float(v) for v in doc["mean"]], scale=[float(v) for v in doc["scale"]],
                share_damping=float(doc.get("share_damping") or 0.0),
                centroids=[[float(v) for v in row] for row in doc["centroids"]],
                cluster_ids=[int(c) for c in doc["cluster_ids"]],
                fit_silhouette=doc.get("fit_silhouette"), fit_spread=doc.get("fit_spread"),
                k_pinned=bool(doc.get("k_pinned")), term_start=doc.get("term_start"),
                window_days=doc.get("window_days"), version=doc.get("version"), reason=doc.get("reason") or "",
                extra=dict(doc.get("extra") or {}), relative_counts=bool(doc.get("relative_counts", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"grouping model document is incomplete or malformed: {exc}") from exc
        d = len(model.features_used)
        if len(model.mean) != d or len(model.scale) != d or any(len(r) != d for r in model.centroids) \
                or len(model.centroids) != len(model.cluster_ids) or model.k < 1:
            raise ValueError("grouping model document has inconsistent sizes")
        return model

    # -- the model's space -------------------------------------------------------------------------
    def selector(self) -> FeatureSelector:
        sel = FeatureSelector(share_damping=self.share_damping)
        sel.features_in_ = list(self.features_in)
        sel.n_features_in_ = len(self.features_in)
        sel.features_used_ = list(self.features_used)
        sel.features_dropped_ = []
        sel.log_columns_ = list(self.log_columns)
        sel.log_scale_ = dict(self.log_scale)
        sel.mean_ = np.asarray(self.mean, dtype=float)
        sel.scale_ = np.asarray(self.scale, dtype=float)
        return sel

    def missing_features(self, features: pd.DataFrame) -> list[str]:
        return [c for c in self.features_in if c not in features.columns]

    def transform(self, features: pd.DataFrame) -> pd.DataFrame:
        """Students in the model's space (same log transform, damping and scaling as at the fit)."""
        missing = self.missing_features(features)
        if missing:
            raise ValueError(f"features {missing} of the grouping model are missing")
        numeric = features[self.features_in].apply(pd.to_numeric, errors="coerce").astype(float).fillna(0.0)
        sel = self.selector()
        if self.relative_counts:
            sel.log_scale_ = {c: FeatureSelector._log_scale(numeric[c].to_numpy(dtype=float))
                              for c in self.log_columns if c in numeric.columns}
        return sel.transform(numeric)

    def distances(self, scaled: pd.DataFrame) -> np.ndarray:
        X = scaled.to_numpy(dtype=float)
        C = np.asarray(self.centroids, dtype=float)
        return np.sqrt(((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2))


def model_from_result(result: Any, mapping: dict[int, int], *, k_pinned: bool = False, term_start: Any = None,
                      window_days: int | None = None, reason: str = "") -> GroupingModel:
    """A model from a ``ClusteringResult`` (its fitted selector and centroids) and raw -> stable ids."""
    sel = result.selector
    if sel is None:
        raise ValueError("the clustering result has no fitted feature selector")
    raw = sorted(int(r) for r in result.centroids.index)
    centroids = result.centroids.loc[raw, sel.features_used_].to_numpy(dtype=float)
    X = result.scaled[sel.features_used_].to_numpy(dtype=float)
    lab = result.labels.to_numpy().astype(int)
    pos = {r: i for i, r in enumerate(raw)}
    own = centroids[[pos[int(v)] for v in lab]]
    spread = float(((X - own) ** 2).sum(axis=1).mean()) if len(X) else None
    sil = result.quality.get("silhouette") if getattr(result, "quality", None) else None
    sil = float(sil) if sil is not None and np.isfinite(sil) else None
    return GroupingModel(
        features_in=list(sel.features_in_), features_used=list(sel.features_used_),
        log_columns=list(sel.log_columns_), log_scale=dict(sel.log_scale_),
        mean=[float(v) for v in sel.mean_], scale=[float(v) for v in sel.scale_],
        share_damping=float(sel.share_damping or 0.0), centroids=centroids.tolist(),
        cluster_ids=[int(mapping[r]) for r in raw], fit_silhouette=sil, fit_spread=spread,
        k_pinned=bool(k_pinned), term_start=term_start, window_days=window_days, reason=reason,
    )


@dataclass
class Placement:
    """Students placed into a model's groups."""

    labels: pd.Series            # user_id -> stable cluster id
    scaled: pd.DataFrame         # students in the model's space
    distances: pd.DataFrame      # user_id x cluster id
    silhouette: float | None     # of the placed groups, in the model's space
    spread: float | None         # mean squared distance to the own centre
    kept_by_margin: int          # students who stayed only thanks to the margin
    silhouette_samples: pd.Series


def place(model: GroupingModel, features: pd.DataFrame, previous: pd.Series | None = None, *,
          margin: float = PLACE_MARGIN, sample_limit: int = 3000) -> Placement:
    """Each student's group in ``model``: the nearest centre, except that a student stays in their previous
    group (``previous``: user_id -> cluster id) while its centre is within ``(1 + margin)`` times the
    nearest distance."""
    scaled = model.transform(features)
    d = model.distances(scaled)
    ids = np.asarray(model.cluster_ids, dtype=np.int64)
    nearest = d.argmin(axis=1)
    choice = nearest.copy()
    kept = 0
    if previous is not None and len(previous):
        prev = pd.Series(previous).reindex(scaled.index)
        col = {int(c): i for i, c in enumerate(ids)}
        pidx = np.array([col.get(int(v), -1) if pd.notna(v) else -1 for v in prev.to_numpy()], dtype=np.int64)
        has = pidx >= 0
        rows = np.flatnonzero(has)
        d_prev = d[rows, pidx[rows]]
        d_best = d[rows, nearest[rows]]
        stay = d_prev <= (1.0 + margin) * d_best
        kept = int((stay & (pidx[rows] != nearest[rows])).sum())
        choice[rows[stay]] = pidx[rows[stay]]
    labels = pd.Series(ids[choice], index=scaled.index, name="cluster_id").astype("int64")
    labels.index.name = "user_id"
    X = scaled.to_numpy(dtype=float)
    spread = float((d[np.arange(len(d)), choice] ** 2).mean()) if len(d) else None
    sil = None
    samples = pd.Series(np.nan, index=scaled.index, name="silhouette")
    if len(np.unique(choice)) >= 2 and len(X) >= 3:
        from .clustering import per_student_silhouette

        vals = per_student_silhouette(X, choice)
        samples = pd.Series(vals, index=scaled.index, name="silhouette")
        sil = float(np.nanmean(vals)) if len(X) <= sample_limit else float(
            silhouette_score(X, choice, sample_size=sample_limit, random_state=0))
    dist = pd.DataFrame(d, index=scaled.index, columns=[int(c) for c in ids])
    return Placement(labels=labels, scaled=scaled, distances=dist, silhouette=sil, spread=spread,
                     kept_by_margin=kept, silhouette_samples=samples)


def structure_check(scores: pd.DataFrame, votes: dict[str, int]) -> dict[str, Any]:
    """Is there group structure worth naming? Weak when the criteria disagree (no k backed by two) and no
    k reaches ``WEAK_SILHOUETTE``. Returns ``{clear, best_silhouette, agreement, reason}``."""
    sil = pd.to_numeric(scores.get("silhouette", pd.Series(dtype=float)), errors="coerce").dropna()
    best = float(sil.max()) if len(sil) else float("nan")
    tally: dict[int, int] = {}
    for v in (votes or {}).values():
        tally[int(v)] = tally.get(int(v), 0) + 1
    agreement = max(tally.values()) if tally else 0
    weak_sep = not np.isfinite(best) or best < WEAK_SILHOUETTE
    clear = not (weak_sep and agreement < 2)
    if clear:
        reason = (f"{agreement} of 3 criteria agree; best silhouette {best:.2f}" if np.isfinite(best)
                  else f"{agreement} of 3 criteria agree")
    else:
        reason = (f"no clear groups in this course: the three criteria disagree and no k separates the "
                  f"students well (best silhouette {best:.2f} < {WEAK_SILHOUETTE:g})")
    return {"clear": bool(clear), "best_silhouette": None if not np.isfinite(best) else round(best, 4),
            "agreement": int(agreement), "reason": reason}


@dataclass
class Decision:
    """What a run does with the course's model."""

    action: str                  # "fit" (first), "place" or "regroup"
    reason: str
    k: int | None                # k for a fit / regroup (None = let the vote choose)
    evidence: dict[str, Any]     # carried to the next run
    checks: dict[str, Any]


def decide(model: GroupingModel | None, *, evidence: dict[str, Any] | None, pinned_k: int | None,
           regroup_requested: bool, term_start: Any, placement: Placement | None, vote_k: int | None,
           votes: dict[str, int] | None, scores: pd.DataFrame | None, window_days: int | None = None,
           now: Any = None) -> Decision:
    """Fit, place or regroup (see the module docstring). ``placement`` is this run's placement into
    ``model`` (None when the model could not place: missing features); ``vote_k``/``votes``/``scores`` are
    the fresh k vote on this run's features; ``now`` the run's moment (a poor fit must also have lasted
    longer than one behaviour window: students in the middle of a real change mix old and new behaviour in
    their window and lower any grouping's separation until the window has passed)."""
    ev = {**_fresh(), **(evidence or {})}
    checks: dict[str, Any] = {}
    if model is None:
        return Decision("fit", "first grouping of this course", pinned_k, _fresh(), checks)
    if regroup_requested:
        return Decision("regroup", "an administrator asked for a regrouping", pinned_k or model.k, _fresh(), checks)
    if pinned_k is not None and int(pinned_k) != model.k:
        return Decision("regroup", f"k pinned to {pinned_k} (the groups had k={model.k})", int(pinned_k),
                        _fresh(), checks)
    if term_start is not None and model.term_start is not None and _day(term_start) != _day(model.term_start):
        return Decision("regroup", "a new term started (the course's start date changed)", pinned_k,
                        _fresh(), checks)
    if window_days is not None and model.window_days is not None and int(window_days) != int(model.window_days):
        return Decision("regroup", f"the behaviour window changed ({model.window_days} -> {window_days} days)",
                        pinned_k or model.k, _fresh(), checks)
    if placement is None:
        return Decision("regroup", "the course's features changed, so the old groups cannot be used",
                        pinned_k or model.k, _fresh(), checks)
    # -- fit quality --------------------------------------------------------------------------------
    worse = []
    fresh = np.nan
    if scores is not None and "silhouette" in scores:
        fresh = float(pd.to_numeric(scores["silhouette"], errors="coerce").get(model.k, np.nan))
    gain = fresh - placement.silhouette if placement.silhouette is not None and np.isfinite(fresh) else np.nan
    checks["refit_gain"] = None if not np.isfinite(gain) else round(float(gain), 4)
    if placement.silhouette is not None and model.fit_silhouette is not None:
        drop = model.fit_silhouette - placement.silhouette
        checks["silhouette_drop"] = round(float(drop), 4)
        if drop > QUALITY_DROP:
            worse.append(f"separation fell from {model.fit_silhouette:.2f} to {placement.silhouette:.2f}")
    if placement.spread is not None and model.fit_spread:
        ratio = placement.spread / model.fit_spread
        checks["spread_ratio"] = round(float(ratio), 4)
        if ratio > SPREAD_RATIO:
            worse.append(f"students sit {ratio:.1f}x further from their group centres than at the fit")
    sizes = placement.labels.value_counts()
    empty = [int(c) for c in model.cluster_ids if int(sizes.get(c, 0)) == 0]
    checks["empty_groups"] = empty
    if worse and np.isfinite(gain) and gain < REFIT_GAIN:
        checks["not_refitting"] = (f"a fresh fit with k={model.k} would not separate the students better "
                                   f"(silhouette {fresh:.2f} vs {placement.silhouette:.2f})")
        worse = []
    ev["quality_runs"] = int(ev.get("quality_runs") or 0) + 1 if worse else 0
    if not worse:
        ev["worse_since"] = None
    elif ev["quality_runs"] == 1 or ev.get("worse_since") is None:
        ev["worse_since"] = now
    lasted = True
    if worse and now is not None and ev.get("worse_since") is not None and window_days:
        lasted = (pd.Timestamp(now) - pd.Timestamp(ev["worse_since"])).total_seconds() >= int(window_days) * 86400
    checks["worse_runs"] = ev["quality_runs"]
    # -- a clearly better k -----------------------------------------------------------------------
    better = None
    if pinned_k is None and vote_k is not None and scores is not None and int(vote_k) != model.k:
        tally = sum(1 for v in (votes or {}).values() if int(v) == int(vote_k))
        sil = pd.to_numeric(scores.get("silhouette"), errors="coerce") if "silhouette" in scores else None
        s_vote = float(sil.get(int(vote_k), np.nan)) if sil is not None else np.nan
        s_model = float(sil.get(model.k, np.nan)) if sil is not None else np.nan
        checks["vote_k"] = int(vote_k)
        checks["vote_gain"] = None if not np.isfinite(s_vote - s_model) else round(s_vote - s_model, 4)
        if tally >= 2 and np.isfinite(s_vote) and np.isfinite(s_model) and s_vote - s_model >= BETTER_K_GAIN:
            better = int(vote_k)
    if better is not None and better == ev.get("k_candidate"):
        ev["better_k_runs"] = int(ev.get("better_k_runs") or 0) + 1
    elif better is not None:
        ev["k_candidate"], ev["better_k_runs"] = better, 1
    else:
        ev["k_candidate"], ev["better_k_runs"] = None, 0
    checks["worse"] = worse
    if ev["better_k_runs"] >= BETTER_K_RUNS:
        return Decision("regroup", f"k={better} fitted the students clearly better than k={model.k} for "
                                   f"{ev['better_k_runs']} runs in a row", better, _fresh(), checks)
    if ev["quality_runs"] >= QUALITY_RUNS and lasted:
        return Decision("regroup", "the groups no longer fit for " f"{ev['quality_runs']} runs in a row ("
                        + "; ".join(worse) + ")", pinned_k or model.k, _fresh(), checks)
    why = "placed into the existing groups"
    if worse:
        why += f" (watching: {'; '.join(worse)})"
    return Decision("place", why, None, ev, checks)


def _fresh() -> dict[str, Any]:
    return {"quality_runs": 0, "better_k_runs": 0, "k_candidate": None, "worse_since": None}


def _day(value: Any) -> str:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").strftime("%Y-%m-%d")
