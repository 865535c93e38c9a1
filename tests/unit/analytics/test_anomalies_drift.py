from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import detect_anomalies, feature_drift, psi


def test_detect_anomalies_flags_outlier_with_reason():
    f = pd.DataFrame({"forum_posts": [1.0] * 19 + [100.0], "night_share": [0.2] * 20},
                     index=pd.Index(range(1, 21), name="user_id"))
    a = detect_anomalies(f)
    assert a.user_id.tolist() == [20] and a.feature.tolist() == ["forum_posts"]
    assert a.z.iloc[0] == pytest.approx((100 - 5.95) / f.forum_posts.std(ddof=0), rel=1e-3)
    assert "above" in a.reason.iloc[0] and "forum posts" in a.reason.iloc[0]
    assert detect_anomalies(f, z=5).empty
    assert list(detect_anomalies(f.iloc[:3]).columns) == ["user_id", "feature", "value", "z", "reason"]


def test_psi_and_drift():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 2000)
    assert psi(a, a) == pytest.approx(0.0)
    assert psi(a, rng.normal(0, 1, 2000)) < 0.05
    assert psi(a, rng.normal(1.0, 1, 2000)) > 0.25
    prev = pd.DataFrame({"x": a, "y": a})
    cur = pd.DataFrame({"x": rng.normal(0, 1, 2000), "y": rng.normal(1.0, 1, 2000), "z": 1.0})
    d = feature_drift(prev, cur).set_index("feature")
    assert list(d.index) == ["x", "y"]
    assert not d.loc["x", "shifted"] and d.loc["y", "shifted"]
    assert d.loc["y", "p_value"] < 1e-6 and d.loc["y", "ks"] > 0.3
    assert feature_drift(None, cur).empty
