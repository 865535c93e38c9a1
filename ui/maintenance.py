"""The maintenance page: shown instead of any page while the store cannot be opened safely.

No traceback and no server path reaches the browser: the message names only the damaged
collections (file names inside the data folder); the full paths go to the server log.
"""

from __future__ import annotations

import logging
import sqlite3

import streamlit as st

from ui.i18n import t

__all__ = ["maintenance", "is_store_damage"]

log = logging.getLogger("cohortlens.ui")


def is_store_damage(exc: BaseException) -> bool:
    """A damaged store (found at open, or by SQLite while reading)."""
    from storage.integrity import StoreDamaged

    if isinstance(exc, StoreDamaged):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and any(
        w in str(exc).lower() for w in ("malformed", "not a database", "disk image", "corrupt"))


def _in_script() -> bool:
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        return get_script_run_ctx() is not None
    except Exception:  # noqa: BLE001
        return False


def maintenance(exc: BaseException) -> None:
    """Show the maintenance message and stop the page (outside a script run: do nothing)."""
    log.error("store unavailable: %s", exc)
    if not _in_script():
        return
    names = sorted(set(getattr(exc, "collections", []) or []))
    lang = st.session_state.get("lang")
    if lang is None:  # the store holds the language setting: use the configured default
        try:
            from ui.resources import get_config

            lang = getattr(get_config(), "language", None)
        except Exception:  # noqa: BLE001
            lang = None
    st.title(t("maint.title", lang=lang))
    st.warning(t("maint.body", lang=lang))
    if names:
        st.caption(t("maint.files", lang=lang, files=", ".join(names)))
    st.stop()
