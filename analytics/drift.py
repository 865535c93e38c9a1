"""Per-feature distribution shift between two runs: PSI on fixed bins and the two-sample KS test."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

__all__ = ["psi", "feature_drift", "PSI_THRESHOLD"]

#: Conventional reading of PSI: < 0.1 no shift, 0.1-0.25 moderate, > 0.25 major.
PSI_THRESHOLD = 0.25
_EPS = 1e-4


def psi(reference: np.ndarray, current: np.ndarray, *, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are fixed from the reference: its deciles (duplicates merged, so a feature with many zeros
    gets fewer bins), open at both ends. Empty bins count as a share of 1e-4.
    """
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    r = np.maximum(r, _EPS)
    c = np.maximum(c, _EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def feature_drift(previous_features: pd.DataFrame | None, features: pd.DataFrame, *, bins: int = 10,
                  psi_threshold: float = PSI_THRESHOLD, alpha: float = 0.01,
                  min_ks: float = 0.1) -> pd.DataFrame:
    """One row per feature present in both runs: ``feature, psi, ks, p_value, shifted``.

    ``shifted`` when PSI > ``psi_threshold``, or when the KS test rejects at ``alpha`` with a KS
    statistic of at least ``min_ks`` (large courses make tiny shifts significant; the floor keeps only
    shifts that matter).
    """
    cols = ["feature", "psi", "ks", "p_value", "shifted"]
    if previous_features is None or len(previous_features) == 0 or len(features) == 0:
        return pd.DataFrame(columns=cols)
    a = previous_features.select_dtypes(include=[np.number])
    b = features.select_dtypes(include=[np.number])
    rows = []
    for f in [c for c in b.columns if c in a.columns]:
        x, y = a[f].to_numpy(dtype=float), b[f].to_numpy(dtype=float)
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        if len(x) == 0 or len(y) == 0:
            continue
        p = psi(x, y, bins=bins)
        if np.array_equal(np.unique(x), np.unique(y)) and len(np.unique(x)) == 1:
            ks, pv = 0.0, 1.0
        else:
            res = ks_2samp(x, y, method="asymp")  # exact is impossible for large tied samples and warns
            ks, pv = float(res.statistic), float(res.pvalue)
        shifted = bool(p > psi_threshold or (pv < alpha and ks >= min_ks))
        rows.append({"feature": f, "psi": round(p, 6), "ks": round(ks, 6), "p_value": pv, "shifted": shifted})
    return pd.DataFrame(rows, columns=cols)
