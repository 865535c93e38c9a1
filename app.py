"""CohortLens server: ``streamlit run app.py``.

An ``st.App`` (Streamlit's ASGI application) around the dashboard script ``dashboard.py``:

- ``lifespan``: at server start, before any visitor, the process-wide service starts (store, recovery
  of jobs whose process died, the scheduler with the nightly cron, the admin account on a fresh store
  with its password printed once, the demo backfill); at shutdown it stops cleanly.
- ``routes``: the JSON API under ``/api/`` (package ``api``), served by the same server.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import streamlit as st

from api import api_routes
from ui import web  # /auth/session and /auth/logout: the HttpOnly session cookie (i13)

DASHBOARD = Path(__file__).resolve().with_name("dashboard.py")


def _no_pages_folder_mode() -> None:
    """Tell Streamlit, before the first visitor, that this app routes with ``st.navigation``.

    Streamlit decides whether an app is a legacy ``pages/``-folder app when the FIRST session of the
    process starts (``PagesManager.uses_pages_directory``, a process-wide flag) and only clears the
    flag when a script calls ``st.navigation``. Our page scripts live in ``pages/`` next to
    ``dashboard.py``, so on a freshly started server the first session's first run went through
    Streamlit's pages-folder router: dashboard.py ran as a page named "dashboard", its widgets got
    ids under that page, and the next run (in ``st.navigation`` mode) gave them other ids, so the
    first "Sign in" submit was dropped; a deep link such as /groups got "Page not found" from that
    router. Setting the flag here gives the first session what every later session gets.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - a Streamlit without it
        PagesManager = None  # noqa: N806
    if PagesManager is None or not hasattr(PagesManager, "uses_pages_directory"):  # pragma: no cover
        print("CohortLens: WARNING: this Streamlit has no PagesManager.uses_pages_directory; the first "
              "session after a server start may run in pages-folder mode", file=sys.stderr, flush=True)
        return
    PagesManager.uses_pages_directory = False


_no_pages_folder_mode()


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    from jobs import service
    from storage.integrity import StoreDamaged

    try:
        svc = await anyio.to_thread.run_sync(service.start)
    except StoreDamaged as exc:  # nothing starts; every page shows the maintenance message (ui.maintenance)
        print(f"CohortLens: MAINTENANCE: {exc}", file=sys.stderr, flush=True)
        yield {"service": None}
        return
    nxt = getattr(svc.scheduler.get_job("nightly"), "next_run_time", None) if svc.scheduler else None
    print(f"CohortLens: scheduler {'running' if svc.running else 'NOT running: ' + str(svc.scheduler_error)}"
          f"{f'; next nightly run {nxt.isoformat()}' if nxt else ''}", file=sys.stderr, flush=True)
    try:
        yield {"service": svc}
    finally:
        interrupted = await anyio.to_thread.run_sync(service.stop)
        print(f"CohortLens: stopped the scheduler ({len(interrupted)} running job(s) marked interrupted)",
              file=sys.stderr, flush=True)


app = st.App(DASHBOARD, lifespan=lifespan, routes=[*api_routes(), *web.routes()])
