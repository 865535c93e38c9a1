"""Students far from the course on some feature (|z| above a threshold), with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .profiles import FEATURE_LABELS

__all__ = ["detect_anomalies"]


def detect_anomalies(features: pd.DataFrame, *, z: float = 3.0, columns: list[str] | None = None,
                     min_students: int = 5) -> pd.DataFrame:
    """Flag every (student, feature) whose z-score is beyond ``z`` in absolute value.

    z = (value - course mean) / course standard deviation (population); features with zero spread are
    skipped, and so are courses with fewer than ``min_students`` students (a z-score means little there).
    Returns columns ``user_id, feature, value, z, reason`` sorted by |z| (largest first).
    """
    cols_out = ["user_id", "feature", "value", "z", "reason"]
    if z <= 0:
        raise ValueError(f"z={z} should be > 0")
    num = features.select_dtypes(include=[np.number])
    if columns is not None:
        num = num[[c for c in columns if c in num.columns]]
    if len(num) < min_students or num.shape[1] == 0:
        return pd.DataFrame(columns=cols_out)
    vals = num.to_numpy(dtype=float)
    mu = np.nanmean(vals, axis=0)
    sd = np.nanstd(vals, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        zz = (vals - mu) / np.where(sd > 0, sd, np.nan)
    hit = np.isfinite(zz) & (np.abs(zz) > z)
    r, c = np.nonzero(hit)
    if len(r) == 0:
        return pd.DataFrame(columns=cols_out)
    names = np.asarray(num.columns)[c]
    zv = zz[r, c]
    v = vals[r, c]
    reasons = [
        f"{FEATURE_LABELS.get(f, (f,))[0]} = {val:.4g} is {abs(s):.1f} SD {'above' if s > 0 else 'below'} "
        f"the course mean ({m:.4g}; threshold {z:g} SD)"
        for f, val, s, m in zip(names, v, zv, mu[c])
    ]
    out = pd.DataFrame({"user_id": np.asarray(num.index)[r].astype(np.int64), "feature": names,
                        "value": v, "z": np.round(zv, 4), "reason": reasons})
    order = np.lexsort((out["feature"].to_numpy(), out["user_id"].to_numpy(), -np.abs(out["z"].to_numpy())))
    return out.iloc[order].reset_index(drop=True)
