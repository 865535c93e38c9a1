"""to_bson_safe: every numpy / pandas value becomes something BSON encodes, NaN-likes become None."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import bson
import numpy as np
import pandas as pd
import pytest

from storage import redact, to_bson_safe, utc

UTC = dt.UTC


def test_numpy_scalars_become_python() -> None:
    out = to_bson_safe({"i": np.int64(3), "f": np.float32(1.5), "b": np.bool_(True), "u": np.uint8(7)})
    assert out == {"i": 3, "f": 1.5, "b": True, "u": 7}
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    bson.encode(out)


def test_missing_values_become_none() -> None:
    out = to_bson_safe([np.nan, float("nan"), pd.NaT, pd.NA, None, np.float64("nan"), np.datetime64("NaT")])
    assert out == [None] * 7


def test_arrays_tuples_sets_and_keys() -> None:
    out = to_bson_safe({1: (1, 2), (2, 3): {3, 1, 2}, "a": np.array([[1, 2], [3, 4]]), "n": np.array([1.0, np.nan])})
    assert out == {"1": [1, 2], "(2, 3)": [1, 2, 3], "a": [[1, 2], [3, 4]], "n": [1.0, None]}
    bson.encode(out)


def test_timestamps_become_aware_utc() -> None:
    naive = pd.Timestamp("2026-03-01 08:00")
    local = pd.Timestamp("2026-03-01 08:00", tz="Asia/Ho_Chi_Minh")
    out = to_bson_safe({
        "naive_ts": naive,
        "local_ts": local,
        "naive_dt": dt.datetime(2026, 3, 1, 8, 0),
        "aware_dt": dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "np": np.datetime64("2026-03-01T08:00:00.123456789"),
        "date": dt.date(2026, 3, 1),
    })
    assert out["naive_ts"] == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert out["local_ts"] == dt.datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert out["naive_dt"] == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert out["aware_dt"] == dt.datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    assert out["np"] == dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert out["date"] == dt.datetime(2026, 3, 1, tzinfo=UTC)
    for value in out.values():
        assert isinstance(value, dt.datetime) and value.utcoffset() == dt.timedelta(0)
        assert type(value) is dt.datetime  # not a pd.Timestamp
    bson.encode(out)


def test_pandas_containers_and_records_from_pandas3() -> None:
    frame = pd.DataFrame({"a": [1, None], "b": ["x", None], "t": [pd.Timestamp("2026-01-01"), pd.NaT]})
    records = to_bson_safe(frame.to_dict("records"))
    assert records == [
        {"a": 1.0, "b": "x", "t": dt.datetime(2026, 1, 1, tzinfo=UTC)},
        {"a": None, "b": None, "t": None},
    ]
    assert to_bson_safe(frame) == records
    assert to_bson_safe(pd.Series([1, 2], dtype="Int64").astype("Int64").reindex([0, 1, 2])) == [1, 2, None]
    bson.encode({"r": records})


def test_timedelta_and_misc() -> None:
    assert to_bson_safe(pd.Timedelta(seconds=90)) == 90.0
    assert to_bson_safe(dt.timedelta(minutes=1)) == 60.0
    assert to_bson_safe(np.timedelta64(5, "s")) == 5.0
    assert to_bson_safe(Decimal("1.5")) == Decimal("1.5")
    assert to_bson_safe(float("inf")) == float("inf")
    assert to_bson_safe("text") == "text"
    assert to_bson_safe(b"raw") == b"raw"


def test_plain_documents_are_unchanged() -> None:
    doc = {"a": 1, "b": [1.5, "x", {"c": None}], "d": True}
    assert to_bson_safe(doc) == doc


def test_raw_numpy_fails_without_it() -> None:
    """The reason the helper exists: pymongo's bson refuses numpy integers."""
    with pytest.raises(bson.errors.InvalidDocument):
        bson.encode({"k": np.int64(3)})
    bson.encode(to_bson_safe({"k": np.int64(3)}))


def test_utc_helper_and_redact() -> None:
    assert utc("2026-01-01T02:00:00+02:00") == dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert utc(None) is None
    with pytest.raises(TypeError):
        utc(3)
    text = "GET https://m.example/webservice/rest/server.php?wstoken=test-token-abc&wsfunction=x failed"
    assert "test-token-abc" not in redact(text)
    assert "wsfunction=x" in redact(text)


@pytest.mark.parametrize("text", [
    "https://m.example/webservice/rest/server.php?wstoken=SECRETVALUE123&x=1",
    '{"wstoken": "SECRETVALUE123"}',
    "wstoken%3DSECRETVALUE123",
    "token: SECRETVALUE123",
    "access_token=SECRETVALUE123",
    "mongodb+srv://user:" + "SECRETVALUE123" + "@cluster.example/db",
    "Authorization: Bearer SECRETVALUE123",
    "x-goog-api-key: SECRETVALUE123",
    "MOODLE_CUSTOM_TOKEN = 'SECRETVALUE123'",
])
def test_redact_every_written_form(text):
    from storage.bson_safe import redact

    out = redact(text)
    assert "SECRETVALUE123" not in out and "***" in out


def test_plain_lists_are_copied_and_nan_becomes_none() -> None:
    ids = [1, 2, 3, "a", None, True]
    out = to_bson_safe(ids)
    assert out == ids and out is not ids
    assert to_bson_safe([1.5, float("nan"), 2, None, "x"]) == [1.5, None, 2, None, "x"]
    assert to_bson_safe([np.int64(3), 1.0, float("nan")]) == [3, 1.0, None]
    assert type(to_bson_safe([np.int64(3)])[0]) is int
    assert to_bson_safe([[1, float("nan")], (2,)]) == [[1, None], [2]]


def test_plain_records_are_copied_and_nan_becomes_none() -> None:
    rec = {"a": 1, "b": "x", "c": None, "d": True}
    out = to_bson_safe(rec)
    assert out == rec and out is not rec
    assert to_bson_safe({"a": 1.5, "b": float("nan"), "c": 2}) == {"a": 1.5, "b": None, "c": 2}
    assert to_bson_safe({1: 2, "x": float("nan")}) == {"1": 2, "x": None}
    assert to_bson_safe({"n": np.float64("nan"), "i": np.int32(4)}) == {"n": None, "i": 4}
