"""HTTP routes of the sign-in: the HttpOnly session cookie is set and cleared here, never by script.

``routes()`` are mounted on the st.App (app.py):

- ``GET /auth/session?ticket=...&next=/page`` exchanges the one-time ticket of a fresh sign-in (made
  by ``ui.auth.login``, valid 2 minutes) for the session token, sets it as the ``cohortlens_session``
  cookie (HttpOnly, SameSite=Lax, Path=/, Secure when the request came over HTTPS, also behind a
  proxy that says so in ``X-Forwarded-Proto``) and redirects to ``next`` (a path on this site only).
- ``GET /auth/logout`` ends the session of the cookie and deletes the cookie.

Responses are ``Cache-Control: no-store``; tickets and tokens are never logged.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

__all__ = ["routes", "MIDDLEWARE", "mounted", "mark_mounted", "safe_next", "COOKIE"]

COOKIE = "cohortlens_session"
_MOUNTED = {"value": False}


def mounted() -> bool:
    """Whether the routes are served by this process (False under AppTest or a plain script)."""
    return _MOUNTED["value"]


def mark_mounted(value: bool = True) -> None:
    _MOUNTED["value"] = value


def safe_next(value: str | None, base: str = "") -> str:
    """A same-site path to return to (anything else -> the site root)."""
    root = (base.rstrip("/") or "") + "/"
    text = str(value or "")
    parts = urllib.parse.urlsplit(text)
    if not text.startswith("/") or text.startswith("//") or "\\" in text or parts.scheme or parts.netloc:
        return root
    if parts.path.startswith("/auth/"):
        return root
    return text


def _secure(request: Any) -> bool:
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or proto == "https"


def _base() -> str:
    try:
        from streamlit import config

        base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    except Exception:  # noqa: BLE001
        base = ""
    return f"/{base}" if base else ""


def _store() -> Any:
    from storage import open_store

    return open_store()


def _redirect(url: str) -> Any:
    from starlette.responses import RedirectResponse

    resp = RedirectResponse(url, status_code=303)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


async def session_route(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    from ui.auth import policy

    ticket = request.query_params.get("ticket") or ""
    target = safe_next(request.query_params.get("next"), _base())
    try:
        result = await run_in_threadpool(lambda: _store().sessions.redeem(ticket))
    except Exception:  # noqa: BLE001 - a damaged store: the page shows the maintenance message
        result = None
    resp = _redirect(target)
    if result:
        token, _session = result
        resp.set_cookie(COOKIE, token, max_age=int(policy()["session_s"]), path=_base() or "/",
                        httponly=True, samesite="lax", secure=_secure(request))
    return resp


async def logout_route(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    token = request.cookies.get(COOKIE)
    if token:
        try:
            await run_in_threadpool(lambda: _store().sessions.end_token(token))
        except Exception:  # noqa: BLE001
            pass
    resp = _redirect(_base() + "/")
    resp.delete_cookie(COOKIE, path=_base() or "/", httponly=True, samesite="lax", secure=_secure(request))
    return resp


MIDDLEWARE: list = []


def routes() -> list:
    """The Starlette routes to pass to ``st.App(routes=...)`` (marks this process as serving them)."""
    from starlette.routing import Route

    mark_mounted(True)
    return [Route("/auth/session", session_route, methods=["GET"]),
            Route("/auth/logout", logout_route, methods=["GET"])]
