"""Spreadsheet-safe exports: text that a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["safe_cell", "safe_frame"]

#: a cell starting with one of these is a formula (or DDE) to Excel, LibreOffice and Google Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Prefix text that would start a formula with an apostrophe (OWASP "CSV injection")."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (student names, cluster names...) cannot run as formulas.
    Numbers, negative ones included, are left alone."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell)
    return out
