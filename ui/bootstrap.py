"""The dashboard's handle on the process-wide service (scheduler, demo bootstrap) of jobs.service.

Under ``streamlit run app.py`` the server's lifespan has started the service before any visitor:
every session reuses it. When the dashboard script runs without that server (AppTest), the first
session starts it, and releasing the resource cache stops it.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from jobs import service as _service_module
from jobs.service import BOOTSTRAP_ENV
from ui.resources import get_config

__all__ = ["scheduler", "start_background", "bootstrap_status", "service", "BOOTSTRAP_ENV"]

log = logging.getLogger("cohortlens.ui")


def _release(svc: Any) -> None:
    """Stop the service only if this cache started it (never the server's, e.g. on "Clear cache")."""
    if svc is not None and getattr(svc, "started_by", "") == "session" and _service_module.current() is svc:
        _service_module.stop(grace_s=0)


@st.cache_resource(show_spinner=False, on_release=_release)
def _session_service() -> Any:
    try:
        return _service_module.start(get_config(), started_by="session")
    except Exception as exc:  # the store cannot open: the pages show that; never a traceback here
        log.error("background service did not start: %s", exc.__class__.__name__)
        return None


def service() -> Any:
    """The running service of this process (the server's, else one started for this script)."""
    return _service_module.current() or _session_service()


def scheduler() -> Any:
    """The process's BackgroundScheduler (nightly cron, retries); None if it cannot start."""
    svc = service()
    return getattr(svc, "scheduler", None)


def start_background() -> None:
    """Make sure the service runs (idempotent; never blocks on the demo bootstrap)."""
    service()


def bootstrap_status() -> dict[str, Any]:
    """``{"state", "error", "progress"}`` of the demo bootstrap."""
    svc = service()
    if svc is None:
        return {"state": "off", "error": None, "progress": {}}
    return svc.bootstrap.as_dict()
