"""Process-wide resources for the app: the Store, the Config and the data folder (cached once)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

__all__ = ["get_store", "get_config", "data_dir", "setting", "SESSION_KEYS", "PAGE_FILES"]

#: Session-state keys used across pages (small ids only, never DataFrames).
#: page key -> file, the one list dashboard.py, the page tests and the page benchmark share.
PAGE_FILES = {
    "overview": "pages/overview.py",
    "actions": "pages/actions.py",
    "clusters": "pages/clusters.py",
    "transitions": "pages/transitions.py",
    "student": "pages/student.py",
    "diagnostics": "pages/diagnostics.py",
    "activity": "pages/activity.py",
    "jobs": "pages/jobs.py",
    "import": "pages/import_logs.py",
    "settings": "pages/settings.py",
}

SESSION_KEYS = {
    "course": "course_id",
    "lang": "lang",
    "job": "active_job_id",
}


@st.cache_resource(show_spinner=False)
def get_store() -> Any:
    """The one Store of this process (MongoDB when MONGODB_URI is set, else embedded); the server's
    service's store when one runs (the same object the scheduler and the API use)."""
    from jobs.service import current
    from storage import open_store

    svc = current()
    if svc is not None and svc.store is not None and not getattr(svc.store, "closed", False):
        return svc.store
    return open_store()


@st.cache_resource(show_spinner=False, ttl=60)
def get_config() -> Any:
    """Configuration from env, .streamlit/secrets.toml and defaults (re-read at most once a minute)."""
    from jobs.config import load_config

    return load_config()


def data_dir() -> Path:
    """Folder for the embedded store and files (COHORTLENS_DATA_DIR or config.data_dir or ./data)."""
    env = os.environ.get("COHORTLENS_DATA_DIR")
    if env:
        return Path(env)
    try:
        cfg_dir = getattr(get_config(), "data_dir", None)
    except Exception:  # config not importable yet: fall back to the default
        cfg_dir = None
    return Path(cfg_dir or "data")


def setting(key: str, default: Any = None) -> Any:
    """A value from the store's settings collection (never a secret)."""
    try:
        return get_store().settings.get(key, default)
    except Exception:  # settings are optional; the UI falls back to defaults
        return default
