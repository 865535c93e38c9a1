"""Feature selection before clustering: log-transform, scale, drop near-constant and redundant features."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from .features import COUNT_COLUMNS, MIX_COLUMNS

__all__ = ["FeatureSelector", "DEFAULT_EXCLUDE", "SHARE_COLUMNS", "split_score"]

#: Shares of a student's own events; damped towards 0 for students with few events (see Notes).
SHARE_COLUMNS: tuple[str, ...] = (*MIX_COLUMNS, "night_share", "weekend_share")

#: Not clustered by default: the engagement score is a composite of the other features, and shown only.
#: ``events_last_14d`` is shown (and used by profiles) but not clustered: as a clustering feature it
#: mostly re-weights "how much" (it tracks total_events) and it lowered recovery in our checks
#: (synthetic 400 students: true k 4 -> 3, ARI 1.0 -> 0.69; demo course 101 week 10: k 5 -> 2,
#: ARI vs the current-week types 0.37 -> 0.06). ``activity_trend`` goes through selection like the others.
#: ``*_to_date`` columns (analytics.window) are cumulative context beside the window: shown, not clustered.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    "engagement_score", "events_last_14d", "total_events_to_date", "active_days_to_date",
    "quiz_attempts_to_date", "mean_quiz_pct_to_date", "quiz_completion_share_to_date",
    "engagement_score_to_date")
_EXCLUDE_REASONS = {
    **{c: "excluded: cumulative context since the course start, shown beside the window but not clustered"
       for c in DEFAULT_EXCLUDE if c.endswith("_to_date")},
    "engagement_score": "excluded: a composite of other features, shown but not clustered",
    "events_last_14d": "excluded: recent activity is shown but not clustered (it mostly repeats total "
                       "activity and lowered type recovery in testing)",
}


def split_score(v: np.ndarray) -> float:
    """Share of a feature's variance explained by its best split into two groups (1-D 2-means).

    About 0.64 for a normal distribution, near 1 for two well-separated groups, 0 for a constant.
    Exact: sort once, then every split point from prefix sums.
    """
    x = np.sort(np.asarray(v, dtype=float))
    n = len(x)
    if n < 2:
        return 0.0
    total = float(((x - x.mean()) ** 2).sum())
    if total <= 1e-12 * max(1.0, float(np.abs(x).max()) ** 2) * n:
        return 0.0
    cs = np.cumsum(x)[:-1]
    n1 = np.arange(1, n, dtype=float)
    n2 = n - n1
    m1 = cs / n1
    m2 = (x.sum() - cs) / n2
    between = n1 * n2 / n * (m1 - m2) ** 2
    return float(min(between.max() / total, 1.0))


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Log-transform heavy-tailed counts, standardise, drop near-constant and highly correlated features.

    Parameters
    ----------
    log_columns : sequence of str or None, default=None
        Columns that get ``log1p`` before scaling. ``None`` = the count columns of
        ``analytics.features.COUNT_COLUMNS`` that are present (any other non-negative column whose
        skewness exceeds ``skew_threshold`` too).
    skew_threshold : float, default=2.0
        Extra non-negative columns with a larger skewness are log-transformed as well.
    max_mode_share : float, default=0.98
        A feature whose most common value covers at least this share of the students is near-constant.
    min_std : float, default=1e-6
        A feature whose (transformed) standard deviation is below this is constant.
    corr_threshold : float, default=0.95
        Of each pair with ``|r| >`` this, one is dropped (see Notes).
    max_features : int or None, default=20
        Cap on the number of kept features.
    exclude : sequence of str, default=("engagement_score",)
        Columns never used for clustering (kept as dropped with reason "excluded").
    min_split_score : float or None, default=0.68
        Features whose ``split_score`` is below this show no group structure on their own (a normal,
        structureless feature scores about 0.64) and are dropped, as long as at least two features
        remain. ``None`` or 0 keeps them.
    share_damping : float, default=5.0
        Shares of a student's own events (``SHARE_COLUMNS``) are multiplied by ``n / (n + share_damping)``
        where n is the student's ``total_events``, before scaling (only in the clustering space; the
        features frame keeps the plain shares). A student with 2 events then cannot look like a
        "100% forum" student; at 300 events the damping is under 2%.

    Attributes
    ----------
    features_in_ : list of str
        Columns seen in ``fit``.
    log_columns_ : list of str
        Columns that were log-transformed.
    features_used_ : list of str
        Kept columns, in input order.
    features_dropped_ : list of dict
        ``{"name", "reason"}`` for every column not kept.
    mean_, scale_ : ndarray
        Standardisation of the kept columns (after the log transform).
    correlation_ : DataFrame
        Correlation matrix of the transformed candidate columns.
    split_score_ : dict
        Feature -> split score of the non-constant candidates.

    Notes
    -----
    "More informative" is measured by ``split_score``: the share of a feature's variance explained by its
    best split into two groups (about 0.64 for a normal, unstructured feature; near 1 when students form
    clear groups on it). Redundancy rule: pairs are visited from the highest ``|r|`` down; of a pair the
    feature with the lower split score is dropped (a tie drops the one later in column order). The cap
    then repeatedly drops the remaining feature with the lowest split score (ties: the later one).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [0, 1, 2, 3], "b": [0, 2, 4, 6.1], "c": [1, 1, 1, 1]})
    >>> sel = FeatureSelector(log_columns=[]).fit(X)
    >>> sel.features_used_
    ['a']
    >>> [d["name"] for d in sel.features_dropped_]
    ['c', 'b']
    """

    def __init__(self, log_columns: Sequence[str] | None = None, *, skew_threshold: float = 2.0,
                 max_mode_share: float = 0.98, min_std: float = 1e-6, corr_threshold: float = 0.95,
                 max_features: int | None = 20, exclude: Sequence[str] = DEFAULT_EXCLUDE,
                 min_split_score: float | None = 0.68, share_damping: float = 5.0) -> None:
        self.log_columns = log_columns
        self.skew_threshold = skew_threshold
        self.max_mode_share = max_mode_share
        self.min_std = min_std
        self.corr_threshold = corr_threshold
        self.max_features = max_features
        self.exclude = exclude
        self.min_split_score = min_split_score
        self.share_damping = share_damping

    def _as_frame(self, X: pd.DataFrame | np.ndarray, min_samples: int = 1) -> pd.DataFrame:
        """Validate (2-D, finite, dense, real) and return a float frame; arrays get columns x0, x1, ..."""
        if isinstance(X, pd.DataFrame):
            frame = X.apply(pd.to_numeric, errors="coerce").astype(float)
            check_array(frame.to_numpy(), dtype=np.float64, ensure_min_samples=min_samples)
            return frame
        arr = check_array(X, dtype=np.float64, ensure_min_samples=min_samples)
        return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])

    def _damp(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not self.share_damping or "total_events" not in frame.columns:
            return frame
        cols = [c for c in SHARE_COLUMNS if c in frame.columns]
        if not cols:
            return frame
        n = frame["total_events"].to_numpy(dtype=float).clip(0, None)
        out = frame.copy()
        factor = n / (n + float(self.share_damping))
        for c in cols:
            out[c] = out[c].to_numpy(dtype=float) * factor
        return out

    def _log(self, frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
        out = frame.copy()
        scales = getattr(self, "log_scale_", {})
        for c in cols:
            v = np.clip(out[c].to_numpy(dtype=float), 0.0, None)
            out[c] = np.log1p(v / scales.get(c, 1.0))
        return out

    @staticmethod
    def _log_scale(v: np.ndarray) -> float:
        pos = v[v > 0]
        return float(np.median(pos)) if len(pos) else 1.0

    def fit(self, X: pd.DataFrame | np.ndarray, y: object = None) -> FeatureSelector:
        """Learn which columns to keep and their scaling."""
        if not 0.0 < self.max_mode_share <= 1.0:
            raise ValueError(f"max_mode_share={self.max_mode_share} should be in (0, 1]")
        if not 0.0 < self.corr_threshold <= 1.0:
            raise ValueError(f"corr_threshold={self.corr_threshold} should be in (0, 1]")
        if self.max_features is not None and self.max_features < 1:
            raise ValueError(f"max_features={self.max_features} should be >= 1 or None")
        frame = self._damp(self._as_frame(X, min_samples=2))
        if len(frame) < 1:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        if not np.isfinite(frame.to_numpy()).all():
            raise ValueError("Input contains NaN or infinity.")
        self.features_in_ = list(frame.columns)
        self.n_features_in_ = len(self.features_in_)
        dropped: list[dict] = []
        excluded = set(self.exclude or ())
        cand = []
        for c in self.features_in_:
            if c in excluded:
                dropped.append({"name": c, "reason": _EXCLUDE_REASONS.get(
                    c, "excluded: a composite of other features, shown but not clustered")})
            else:
                cand.append(c)
        # Log transform
        if self.log_columns is None:
            logc = [c for c in cand if c in COUNT_COLUMNS]
            for c in cand:
                v = frame[c].to_numpy()
                if c not in logc and v.min() >= 0 and len(v) > 2 and v.std() > 0:
                    skew = float(((v - v.mean()) ** 3).mean() / v.std() ** 3)
                    if skew > self.skew_threshold:
                        logc.append(c)
        else:
            logc = [c for c in self.log_columns if c in cand]
        self.log_columns_ = logc
        self.log_scale_ = {c: self._log_scale(frame[c].to_numpy(dtype=float)) for c in logc}
        work = self._log(frame[cand], logc)
        # Near-constant
        kept = []
        for c in cand:
            v = work[c].to_numpy()
            std = float(v.std())
            if std < self.min_std * (1.0 + abs(float(v.mean()))):
                dropped.append({"name": c, "reason": f"constant (every student has {v[0]:.4g})"})
                continue
            mode_share = float(pd.Series(v).value_counts(normalize=True).iloc[0])
            if mode_share >= self.max_mode_share:
                dropped.append({"name": c, "reason": f"near-constant ({mode_share:.1%} of students share "
                                                     f"one value, threshold {self.max_mode_share:.0%})"})
                continue
            kept.append(c)
        corr = work[kept].corr().fillna(0.0) if kept else pd.DataFrame()
        self.correlation_ = corr
        # How much group structure each feature shows on its own (see Notes)
        self.split_score_ = {c: split_score(work[c].to_numpy(dtype=float)) for c in kept}
        if self.min_split_score:
            weak = [c for c in kept if self.split_score_[c] < self.min_split_score]
            strong = [c for c in kept if c not in weak]
            if len(strong) >= 2:
                for c in weak:
                    dropped.append({"name": c, "reason": f"no group structure (split score "
                                                         f"{self.split_score_[c]:.2f} < {self.min_split_score:g})"})
                kept = strong
                corr = corr.loc[kept, kept]
        # Correlated pairs, strongest first
        if len(kept) > 1:
            a = corr.to_numpy().copy()
            np.fill_diagonal(a, 0.0)
            absr = np.abs(a)
            alive = np.ones(len(kept), dtype=bool)
            score = np.array([self.split_score_[c] for c in kept])
            iu, ju = np.triu_indices(len(kept), 1)
            order = np.argsort(-absr[iu, ju], kind="stable")
            for p in order:
                i, j = iu[p], ju[p]
                r = a[i, j]
                if abs(r) <= self.corr_threshold:
                    break
                if not (alive[i] and alive[j]):
                    continue
                drop, keep = (i, j) if score[i] < score[j] - 1e-9 else (j, i)
                alive[drop] = False
                dropped.append({"name": kept[drop], "reason": f"correlated with {kept[keep]} (r={r:.2f}, "
                                                              f"|r| > {self.corr_threshold:g}); "
                                                              f"{kept[keep]} shows clearer groups"})
            if self.max_features is not None:
                while alive.sum() > self.max_features:
                    idx = np.flatnonzero(alive)
                    rev = score[idx][::-1]  # reversed so that a tie picks the later column
                    worst = idx[len(idx) - 1 - int(np.argmin(rev))]
                    alive[worst] = False
                    dropped.append({"name": kept[worst], "reason": f"over the cap of {self.max_features} "
                                    f"features: weakest group structure left (split score "
                                    f"{score[worst]:.2f})"})
            kept = [c for c, a_ in zip(kept, alive) if a_]
        if not kept:
            raise ValueError("No usable feature: every feature is constant or excluded")
        self.features_used_ = kept
        self.features_dropped_ = dropped
        vals = work[kept].to_numpy(dtype=float)
        self.mean_ = vals.mean(axis=0)
        scale = vals.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Log-transform and standardise the kept columns (a DataFrame for a DataFrame, else an array)."""
        check_is_fitted(self, "features_used_")
        is_frame = isinstance(X, pd.DataFrame)
        frame = self._damp(self._as_frame(X))
        if is_frame:
            missing = [c for c in self.features_in_ if c not in frame.columns]
            if missing:
                raise ValueError(f"X has different columns than during fit (missing {missing})")
        elif frame.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {frame.shape[1]} features, but FeatureSelector is expecting "
                             f"{self.n_features_in_} features as input")
        work = self._log(frame[self.features_used_], [c for c in self.log_columns_ if c in self.features_used_])
        vals = (work.to_numpy(dtype=float) - self.mean_) / self.scale_
        if not is_frame:
            return vals
        return pd.DataFrame(vals, index=frame.index, columns=self.features_used_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "features_used_")
        return np.asarray(self.features_used_, dtype=object)
