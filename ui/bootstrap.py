"""Once per process: the scheduler (cached, shut down on release) and the demo bootstrap thread."""

from __future__ import annotations

import inspect
import logging
import os
import threading
from typing import Any

import streamlit as st

from ui.resources import get_config, get_store

__all__ = ["scheduler", "start_background", "bootstrap_status", "BOOTSTRAP_ENV"]

log = logging.getLogger("cohortlens.ui")
BOOTSTRAP_ENV = "COHORTLENS_BOOTSTRAP"  # "0" disables the demo bootstrap (tests with their own data)


def _shutdown(sched: Any) -> None:
    if sched is not None and getattr(sched, "running", False):
        sched.shutdown(wait=False)


@st.cache_resource(show_spinner=False, on_release=_shutdown)
def scheduler() -> Any:
    """The process's BackgroundScheduler (nightly cron, retries); None if it cannot start."""
    try:
        from jobs.scheduler import build_scheduler

        return build_scheduler(get_store(), get_config())
    except Exception as exc:  # the dashboard still works without a scheduler; Jobs > Health shows it
        log.error("scheduler did not start: %s", exc.__class__.__name__)
        return None


class _Bootstrap:
    """State of the background demo bootstrap, shared by every session of this process."""

    def __init__(self) -> None:
        self.state = "idle"  # idle | running | done | failed | off
        self.error: str | None = None
        self.progress: dict[str, Any] = {}
        self.thread: threading.Thread | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "error": self.error, "progress": dict(self.progress)}


def _run(status: _Bootstrap, store: Any, config: Any) -> None:
    try:
        from jobs.bootstrap import ensure_demo

        def report(message: str, fraction: float) -> None:
            status.progress.update({"message": str(message), "fraction": float(fraction)})

        kwargs: dict[str, Any] = {}
        if "progress" in inspect.signature(ensure_demo).parameters:
            kwargs["progress"] = report
        result = ensure_demo(store, config, **kwargs)
        if isinstance(result, dict):
            status.progress.update(result)
        status.state = "done"
    except Exception as exc:  # shown on Overview; never crashes the app
        from ui.common import redact

        status.state = "failed"
        status.error = redact(f"{type(exc).__name__}: {exc}")
        log.error("demo bootstrap failed: %s", status.error)


@st.cache_resource(show_spinner=False)
def _bootstrap() -> _Bootstrap:
    status = _Bootstrap()
    if os.environ.get(BOOTSTRAP_ENV, "1").strip().lower() in {"0", "false", "no", "off"}:
        status.state = "off"
        return status
    status.state = "running"
    status.thread = threading.Thread(target=_run, args=(status, get_store(), get_config()),
                                     name="cohortlens-bootstrap", daemon=True)
    status.thread.start()
    return status


def start_background() -> None:
    """Start the scheduler and the demo bootstrap (idempotent; never blocks on the bootstrap)."""
    scheduler()
    _bootstrap()


def bootstrap_status() -> dict[str, Any]:
    """``{"state", "error", "progress"}`` of the demo bootstrap."""
    return _bootstrap().as_dict()
