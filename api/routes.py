"""Starlette routes of the JSON API."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["API_VERSION", "api_routes"]

API_VERSION = "1.0.0"


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class ApiJSON(JSONResponse):
    """JSON with ISO datetimes; every API response is one."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_default, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _context() -> tuple[Any, Any, Any]:
    """(store, config, scheduler) of the running service, else a store opened from the config."""
    from jobs.service import current

    svc = current()
    if svc is not None:
        return svc.store, svc.config, svc.scheduler
    from jobs.config import load_config
    from storage import open_store

    config = load_config()
    return open_store(config.mongodb_uri, data_dir=config.data_dir), config, None


async def health(request: Request) -> ApiJSON:
    import anyio

    from jobs.ops import overall_health

    def compute() -> dict:
        store, config, scheduler = _context()
        return overall_health(store, config, scheduler=scheduler)

    out = await anyio.to_thread.run_sync(compute)
    out["api_version"] = API_VERSION
    return ApiJSON(out, status_code=200)


def api_routes() -> list[Route]:
    return [Route("/api/health", health, methods=["GET"])]
