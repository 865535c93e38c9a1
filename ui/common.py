"""Small Streamlit helpers shared by the pages: page frame, error state, course choice, formatting."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from jobs.exports import safe_frame
from ui.auth import require_course
from ui.i18n import current_language, t
from ui.resources import SESSION_KEYS

__all__ = [
    "feature_label",
    "run_page",
    "header",
    "selected_course",
    "need_course",
    "fmt_dt",
    "display_tz",
    "to_excel_bytes",
    "to_csv_bytes",
    "redact",
    "chart",
    "cluster_names",
    "run_label",
    "Labels",
]

log = logging.getLogger("cohortlens.ui")


def redact(text: str) -> str:
    """Remove anything that looks like a token from a message shown to the user."""
    try:
        from storage.bson_safe import redact as _r

        return _r(str(text))
    except Exception:  # storage not importable: keep the message as it is
        return str(text)


def run_page(body: Callable[[], None]) -> None:
    """Run a page body for a signed-in user; any unexpected error becomes an ``st.error`` (the traceback
    goes to the log). A page file reached without the router (a deep link before anyone signed in, when
    Streamlit still serves ``pages/`` by file name) shows nothing but a request to sign in."""
    from ui.auth import current_user, forbid

    if current_user() is None:
        forbid(t("auth.login_first"))
    try:
        body()
    except Exception as exc:  # st.stop / st.rerun are BaseException and pass through
        from ui.maintenance import is_store_damage, maintenance

        if is_store_damage(exc):
            maintenance(exc)
        log.exception("page failed")
        st.error(t("common.error", msg=redact(f"{type(exc).__name__}: {exc}")))


def header(title_key: str, subtitle_key: str | None = None) -> None:
    st.title(t(title_key))
    if subtitle_key:
        st.caption(t(subtitle_key))


def selected_course() -> int | None:
    """The sidebar's course, through the access guard (None when the user has no course)."""
    value = st.session_state.get(SESSION_KEYS["course"])
    if value is None:
        return None
    return require_course(value)


def need_course() -> int:
    """The selected course, or stop the page with the 'pick a course' message."""
    cid = selected_course()
    if cid is None:
        st.info(t("common.no_course"))
        st.stop()
    assert cid is not None
    return cid


def display_tz() -> ZoneInfo:
    """The timezone times are shown in: the configured course/schedule timezone, else UTC."""
    try:
        from ui.resources import get_config

        return ZoneInfo(str(getattr(get_config(), "timezone", "UTC") or "UTC"))
    except Exception:  # unknown zone or no config: UTC
        return ZoneInfo("UTC")


def fmt_dt(value: Any, with_time: bool = True) -> str:
    """A datetime (or ISO text) as ``YYYY-MM-DD HH:MM`` in :func:`display_tz` (naive = UTC); "—" for nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(display_tz()).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    return str(value)


def _audit_export(fmt: str, frame: pd.DataFrame) -> None:
    """An export goes to the audit log (who, what shape; never the data)."""
    try:
        from ui.auth import audit

        user = st.session_state.get("username")
        if not user:  # a bare call (tests, benchmarks): nobody to attribute, no store to open
            return
        audit("export", username=str(user) if user else None, format=fmt, rows=int(len(frame)),
              course=st.session_state.get(SESSION_KEYS["course"]))
    except Exception:  # noqa: BLE001 - no session (a bare call): nothing to attribute
        log.debug("export not audited", exc_info=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV (UTF-8 with BOM, for Excel) whose text cells cannot run as spreadsheet formulas."""
    _audit_export("csv", frame)
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    """An .xlsx file (openpyxl) of a frame; timezone-aware datetimes are written as UTC."""
    _audit_export("xlsx", frame)
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert("UTC").dt.tz_localize(None)
        elif out[col].dtype == object:
            out[col] = out[col].map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
    out = safe_frame(out)  # names typed by students must not become live formulas
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        out.to_excel(writer, index=False, sheet_name=sheet[:31])
    return buf.getvalue()


def chart(fig: Any, caption: str, key: str) -> None:
    """A plotly chart with its one-line caption underneath."""
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    if caption:
        from ui.plain import md

        st.caption(md(caption))  # captions name groups and courses: plain text


def cluster_names(run: dict | None) -> dict[int, str]:
    """cluster_id -> name for one run."""
    return {int(c["cluster_id"]): str(c.get("name") or f"#{c['cluster_id']}") for c in (run or {}).get("clusters", [])}


def run_label(run: dict) -> str:
    """Short label of a run for pickers: its date and k."""
    return f"{fmt_dt(run.get('run_at'))} · k={run.get('k')}"


class Labels:
    """A picklable ``format_func`` for select widgets: value -> label, else ``str(value)``.

    (Session state must stay serialisable, and AppTest keeps widget format functions in it, so
    lambdas and closures are avoided.)"""

    def __init__(self, mapping: dict) -> None:
        self.mapping = dict(mapping)

    def __call__(self, value: Any) -> str:
        return str(self.mapping.get(value, value))


def feature_label(run: dict | None, name: str) -> str:
    """A feature's plain-language name in the current language (stored with the run), else the name."""
    labels = ((run or {}).get("feature_labels") or {}).get(str(name)) or {}
    return labels.get(current_language()) or labels.get("en") or str(name)

