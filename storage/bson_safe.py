"""Turn numpy / pandas / Python values into plain, BSON-encodable Python (the write boundary)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["to_bson_safe", "utc", "ensure_utc", "redact"]

UTC = dt.UTC

_PASSTHROUGH = (str, bytes, bool, int, type(None), Decimal)

# name/value pairs that must never reach the database or a log (tokens, keys, passwords), written as
# a query or form (name=value, name%3Dvalue), JSON ("name": "value") or a header (name: value).
_SECRET_RE = re.compile(
    r"""(?i)(?P<key>\b(?:ws|private|access_|refresh_)?token|api[_-]?key|\bkey|password|passwd|secret"""
    r"""|moodle_(?:standard|custom)_token|cookie_key)(?P<sep>["']?\s*[:=]\s*["']?|%3D)(?P<value>[^&\s"',;}\])]+)"""
)
_URI_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+):(?P<value>[^@\s]+)@", re.IGNORECASE)
_HEADER = re.compile(r"(?i)(?P<head>authorization:\s*(?:bearer|basic)\s+|x-goog-api-key:\s*)(?P<value>\S+)")


def redact(text: str) -> str:
    """Replace the values of token-like pairs, URI passwords and auth headers with ``***``."""
    out = _SECRET_RE.sub(lambda m: f"{m.group('key')}{m.group('sep')}***", str(text))
    out = _URI_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", out)
    return _HEADER.sub(lambda m: f"{m.group('head')}***", out)


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC datetime; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc(value: Any) -> dt.datetime | None:
    """Coerce a datetime-like (datetime, date, pd.Timestamp, np.datetime64, ISO string) to aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = pd.Timestamp(value)
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
        return value.floor("us").to_pydatetime()
    if isinstance(value, dt.datetime):
        return ensure_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a datetime: {value!r}")


def _is_missing_scalar(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return False


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_PLAIN_NUMBERS = _PLAIN_SCALARS | {float}
_STR_KEYS = frozenset({str})


def to_bson_safe(value: Any) -> Any:
    """Return ``value`` with every nested numpy/pandas value made plain Python.

    - dict keys become ``str``; tuples, sets and arrays become lists;
    - numpy scalars become ``int`` / ``float`` / ``bool`` / ``str``;
    - ``pd.Timestamp``, ``np.datetime64`` and naive datetimes become aware UTC datetimes
      (a naive value is assumed to be UTC already); ``date`` becomes midnight UTC;
    - NaN, NaT, ``pd.NA`` and ``None`` become ``None``;
    - timedeltas become seconds (float); Series become lists, DataFrames lists of records.
    """
    kind = type(value)  # exact plain types first: most values of big documents are these
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return None if value != value else value
    if kind is dict:
        kinds = set(map(type, value.values()))
        if kinds <= _PLAIN_NUMBERS and _STR_KEYS.issuperset(map(type, value)):   # (a record of plain values)
            return {k: None if v != v else v for k, v in value.items()} if float in kinds else dict(value)
        return {k if type(k) is str else str(k): to_bson_safe(v) for k, v in value.items()}
    if kind is list:
        kinds = set(map(type, value))
        if kinds <= _PLAIN_SCALARS:          # (a list of ids, of labels): a copy, checked in C
            return list(value)
        if kinds <= _PLAIN_NUMBERS:          # (feature values): NaN -> None
            return [None if v != v else v for v in value]
        return [to_bson_safe(v) for v in value]
    if isinstance(value, bool | str | bytes) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): to_bson_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_bson_safe(v) for v in items]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "mM":
            return [to_bson_safe(v) for v in value]
        return [to_bson_safe(v) for v in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return [to_bson_safe(r) for r in value.to_dict("records")]
    if isinstance(value, pd.Series | pd.Index):
        return [to_bson_safe(v) for v in value.tolist()]
    if _is_missing_scalar(value):
        return None
    if isinstance(value, pd.Timestamp | np.datetime64 | dt.datetime | dt.date):
        return utc(value)
    if isinstance(value, pd.Timedelta | np.timedelta64 | dt.timedelta):
        td = pd.Timedelta(value)
        return None if pd.isna(td) else td.total_seconds()
    if isinstance(value, np.generic):
        return to_bson_safe(value.item())
    if isinstance(value, float | int | Decimal):
        return value
    if isinstance(value, Enum):
        return to_bson_safe(value.value)
    if isinstance(value, PurePath):
        return str(value)
    try:  # pd.NA-like objects and other scalar missing markers
        if pd.isna(value) is True:
            return None
    except (TypeError, ValueError):
        pass
    return value
