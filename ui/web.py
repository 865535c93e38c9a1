"""HTTP routes of the sign-in: the HttpOnly session cookie is set and cleared here, never by script.

``routes()`` are mounted on the st.App (app.py):

- ``POST /auth/session`` (form fields ``ticket`` and ``next``, sent by the page ``ui.auth.login``
  draws after a good password) exchanges the one-time ticket of that sign-in (valid 2 minutes) for
  the session token, sets it as the ``cohortlens_session`` cookie (HttpOnly, SameSite=Lax, Path=/,
  Secure when the request came over HTTPS, also behind a proxy that says so in
  ``X-Forwarded-Proto``) and redirects (303) to ``next`` (a path on this site only). The ticket
  travels in the request body, never in a URL (so not in access logs, history or Referer); a
  request whose ``Origin`` (or ``Sec-Fetch-Site``) says another site sent it is refused (403) before
  the ticket is looked at, so another site cannot sign a browser into an account of its choosing.
  A GET of ``/auth/session`` redeems nothing and redirects to the site root.
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


def base_path() -> str:
    """The server's URL prefix (``server.baseUrlPath``) as "/prefix", or "" at the root."""
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


#: the sign-in form body is two short fields; anything longer is not ours
_MAX_BODY = 4096


def _same_site(request: Any) -> bool:
    """Whether the browser says this request came from a page of this site (form POSTs carry
    ``Origin``; Fetch Metadata ``Sec-Fetch-Site`` where sent). A request with neither (not a browser)
    is allowed: without a ticket it can do nothing."""
    site = request.headers.get("sec-fetch-site", "").strip().lower()
    if site and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin", "").strip()
    if not origin:
        return True
    if origin == "null":
        return False
    host = urllib.parse.urlsplit(origin).netloc.lower()
    allowed = {request.headers.get("host", "").lower(),
               *(h.strip().lower() for h in request.headers.get("x-forwarded-host", "").split(",") if h.strip())}
    return bool(host) and host in allowed


async def _form(request: Any) -> dict[str, str]:
    """The url-encoded form fields of a small POST body ({} when too long or not a form)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            return {}
    try:
        fields = urllib.parse.parse_qs(body.decode("ascii"), max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in fields.items() if v}


async def session_route(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse

    from ui.auth import policy

    if not _same_site(request):
        resp = PlainTextResponse("cross-site sign-in refused", status_code=403)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    form = await _form(request)
    ticket = form.get("ticket") or ""
    target = safe_next(form.get("next"), base_path())
    try:
        result = await run_in_threadpool(lambda: _store().sessions.redeem(ticket))
    except Exception:  # noqa: BLE001 - a damaged store: the page shows the maintenance message
        result = None
    resp = _redirect(target)
    if result:
        token, _session = result
        resp.set_cookie(COOKIE, token, max_age=int(policy()["session_s"]), path=base_path() or "/",
                        httponly=True, samesite="lax", secure=_secure(request))
    return resp


async def session_get_route(request: Any) -> Any:
    """A GET of /auth/session (an old link, a bookmark) redeems nothing: back to the site root."""
    return _redirect(base_path() + "/")


async def logout_route(request: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    token = request.cookies.get(COOKIE)
    if token:
        try:
            await run_in_threadpool(lambda: _store().sessions.end_token(token))
        except Exception:  # noqa: BLE001
            pass
    resp = _redirect(base_path() + "/")
    resp.delete_cookie(COOKIE, path=base_path() or "/", httponly=True, samesite="lax", secure=_secure(request))
    return resp


MIDDLEWARE: list = []


def routes() -> list:
    """The Starlette routes to pass to ``st.App(routes=...)`` (marks this process as serving them)."""
    from starlette.routing import Route

    mark_mounted(True)
    return [Route("/auth/session", session_route, methods=["POST"]),
            Route("/auth/session", session_get_route, methods=["GET"]),
            Route("/auth/logout", logout_route, methods=["GET"])]
