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

DASHBOARD = Path(__file__).resolve().with_name("dashboard.py")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    from jobs import service

    svc = await anyio.to_thread.run_sync(service.start)
    nxt = getattr(svc.scheduler.get_job("nightly"), "next_run_time", None) if svc.scheduler else None
    print(f"CohortLens: scheduler {'running' if svc.running else 'NOT running: ' + str(svc.scheduler_error)}"
          f"{f'; next nightly run {nxt.isoformat()}' if nxt else ''}", file=sys.stderr, flush=True)
    try:
        yield {"service": svc}
    finally:
        interrupted = await anyio.to_thread.run_sync(service.stop)
        print(f"CohortLens: stopped the scheduler ({len(interrupted)} running job(s) marked interrupted)",
              file=sys.stderr, flush=True)


app = st.App(DASHBOARD, lifespan=lifespan, routes=api_routes())
