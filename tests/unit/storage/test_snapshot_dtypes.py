"""Snapshot columns come back with their dtypes and values, whichever way a column is rebuilt."""

from __future__ import annotations

import numpy as np
import pandas as pd

from storage import Store


def test_numeric_dtypes_and_missing_values_round_trip(store: Store) -> None:
    n = 2_500                                   # two chunks
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "f64": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "f32": rng.normal(size=n).astype("float32"),
            "i32": rng.integers(-5, 5, n).astype("int32"),
            "i64": rng.integers(-2**40, 2**40, n),
            "nullable": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
            "Float": pd.array([None if i % 5 == 0 else i / 3 for i in range(n)], dtype="Float64"),
            "flag": rng.random(n) < 0.5,
            "label": rng.choice(["a", "b"], n),
            "when": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
        },
        index=pd.Index(np.arange(n, dtype="int64") + 10, name="user_id"),
    )
    store.snapshots.save(1, "r", frame, {})
    back, _ = store.snapshots.load("r")
    pd.testing.assert_frame_equal(back, frame)
    part, _ = store.snapshots.load_columns("r", ["i32", "f64", "nullable"])
    pd.testing.assert_frame_equal(part, frame[["i32", "f64", "nullable"]])
