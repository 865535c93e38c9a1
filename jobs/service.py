"""The process-wide background service: store, recovery, scheduler, first-start setup (no Streamlit).

One :class:`Service` per process. ``app.py``'s lifespan starts it when the server starts (no visitor
needed) and stops it at shutdown; ``python -m jobs worker`` runs one in the foreground; the dashboard
script reuses whichever is running (``ui.bootstrap``), and starts one itself only when no server
lifespan did (AppTest runs the script without a server).

Start: open the store, recover jobs whose owner died, build the scheduler (nightly cron, maintenance:
recovery, due retries, claiming queued course jobs), create the admin account on an empty store
(password printed once), start the demo backfill in a thread. Stop: shut the scheduler down, give
running jobs of this process a short grace, then mark the ones still running ``interrupted`` (a retry
follows for scheduled ones), so no job stays ``running`` after the process is gone.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from jobs.config import Config, load_config

__all__ = ["Service", "start", "stop", "current", "BOOTSTRAP_ENV", "SHUTDOWN_GRACE_ENV"]

log = logging.getLogger("cohortlens.service")

BOOTSTRAP_ENV = "COHORTLENS_BOOTSTRAP"  # "0" disables the demo bootstrap (tests with their own data)
SHUTDOWN_GRACE_ENV = "COHORTLENS_SHUTDOWN_GRACE"  # seconds running jobs get at shutdown (default 10)
_OFF = {"0", "false", "no", "off"}

_LOCK = threading.RLock()
_CURRENT: Service | None = None


@dataclass
class BootstrapStatus:
    """State of the background demo bootstrap, shared by every session of this process."""

    state: str = "idle"  # idle | running | done | failed | off
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    thread: threading.Thread | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "error": self.error, "progress": dict(self.progress)}


@dataclass
class Service:
    store: Any
    config: Config
    scheduler: Any = None
    scheduler_error: str | None = None
    bootstrap: BootstrapStatus = field(default_factory=BootstrapStatus)
    started_by: str = "server"  # server | session | worker
    started_at: float = field(default_factory=time.time)
    pid: int = field(default_factory=os.getpid)
    admin_created: bool = False
    recovered: list[dict] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return bool(self.scheduler is not None and getattr(self.scheduler, "running", False))


def current() -> Service | None:
    """The service running in this process, if any."""
    svc = _CURRENT
    return svc if svc is not None and svc.pid == os.getpid() else None


def _run_bootstrap(status: BootstrapStatus, store: Any, config: Config) -> None:
    try:
        from jobs.bootstrap import ensure_demo

        def report(message: str, fraction: float) -> None:
            status.progress.update({"message": str(message), "fraction": float(fraction)})

        result = ensure_demo(store, config, progress=report)
        if isinstance(result, dict):
            status.progress.update(result)
        status.state = "done"
    except Exception as exc:  # shown on Overview; never stops the server
        from jobs.errors import describe_error

        err = describe_error(exc, config.secrets)
        status.state = "failed"
        status.error = f"{err['type']}: {err['message']}"
        log.error("demo bootstrap failed: %s", status.error)


def start(config: Config | None = None, *, started_by: str = "server", out: TextIO | None = None,
          bootstrap: bool | None = None, first_start: bool = True, nightly: bool = True) -> Service:
    """Start the process's service (idempotent: a running one is returned as it is)."""
    global _CURRENT
    with _LOCK:
        svc = current()
        if svc is not None:
            return svc
        config = config or load_config()
        from storage import open_store

        try:
            store = open_store(config.mongodb_uri, data_dir=config.data_dir)
        except Exception as exc:  # the server still starts: health says critical, pages show the problem
            from jobs.errors import describe_error

            err = describe_error(exc, config.secrets, data_dir=config.data_dir)
            svc = Service(store=None, config=config, started_by=started_by,
                          scheduler_error=f"the store did not open: {err['message']}")
            print(f"CohortLens: cannot open the store: {err['type']}: {err['message']}", file=sys.stderr,
                  flush=True)
            _CURRENT = svc
            return svc
        svc = Service(store=store, config=config, started_by=started_by)
        if first_start:
            from jobs.accounts import ensure_admin

            try:
                svc.admin_created = ensure_admin(store, out=out)
            except Exception as exc:  # the dashboard shows the store problem; the server keeps serving it
                log.error("first-start setup failed: %s", exc.__class__.__name__)
        try:
            from jobs.runner import recover

            svc.recovered = recover(store, config)
        except Exception as exc:  # never stop the server for a recovery problem
            log.error("recovery at start failed: %s", exc.__class__.__name__)
        try:
            from jobs.scheduler import build_scheduler

            svc.scheduler = build_scheduler(store, config, recover_at_start=False, nightly=nightly,
                                            role=started_by)
        except Exception as exc:  # the dashboard still works without a scheduler; health shows it
            svc.scheduler_error = f"{type(exc).__name__}: {exc}"
            log.error("scheduler did not start: %s", exc.__class__.__name__)
        want_bootstrap = bootstrap if bootstrap is not None else \
            os.environ.get(BOOTSTRAP_ENV, "1").strip().lower() not in _OFF
        if want_bootstrap:
            svc.bootstrap.state = "running"
            svc.bootstrap.thread = threading.Thread(target=_run_bootstrap, args=(svc.bootstrap, store, config),
                                                    name="cohortlens-bootstrap", daemon=True)
            svc.bootstrap.thread.start()
        else:
            svc.bootstrap.state = "off"
        _CURRENT = svc
        log.info("service started by %s (pid %s); scheduler %s", started_by, svc.pid,
                 "running" if svc.running else "not running")
        return svc


def _grace_s() -> float:
    try:
        return max(0.0, float(os.environ.get(SHUTDOWN_GRACE_ENV, "10")))
    except ValueError:
        return 10.0


def stop(grace_s: float | None = None) -> list[dict]:
    """Stop the process's service: scheduler down, running jobs of this process given ``grace_s``
    seconds, then marked ``interrupted``. Returns the interrupted jobs."""
    global _CURRENT
    with _LOCK:
        svc = current()
        if svc is None:
            return []
        _CURRENT = None
    if svc.scheduler is not None and getattr(svc.scheduler, "running", False):
        try:
            svc.scheduler.shutdown(wait=False)
        except Exception as exc:  # already stopped
            log.debug("scheduler shutdown: %s", exc.__class__.__name__)
    from jobs.runner import interrupt_own_jobs, own_running_jobs

    if svc.store is None:
        return []
    deadline = time.monotonic() + (_grace_s() if grace_s is None else grace_s)
    try:
        while own_running_jobs(svc.store) and time.monotonic() < deadline:
            time.sleep(0.2)
        out = interrupt_own_jobs(svc.store, svc.config, reason="the process stopped (server shutdown)")
    except Exception as exc:  # the store is gone: recovery at the next start marks them
        log.error("could not mark this process's jobs at shutdown: %s", exc.__class__.__name__)
        out = []
    log.info("service stopped (%d running job(s) marked interrupted)", len(out))
    return out
