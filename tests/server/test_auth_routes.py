"""The sign-in cookie route over real HTTP against a running ``streamlit run app.py`` (no browser).

``POST /auth/session`` takes the one-time ticket in the form body (never in a URL): it sets the
HttpOnly cookie once per ticket, redirects only to paths on this site, refuses requests another site
sent (``Origin`` / ``Sec-Fetch-Site``) without spending the ticket, and a GET redeems nothing.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import urllib.parse

import pytest

from tests.server.serverproc import ROOT, Server, base_env

_TICKETS = ("import json, sys\nfrom storage import open_store\n"
            "s = open_store(); u = s.users.get('admin')\n"
            "print(json.dumps([s.sessions.create(u, ttl_s=3600)[1] for _ in range(int(sys.argv[1]))]))\n")
_WHO = ("import sys\nfrom storage import open_store\n"
        "found = open_store().sessions.by_token(sys.argv[1])\nprint(found['username'] if found else '-')\n")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("cohortlens_auth_routes")
    env = base_env(data, CLUSTER_JOB_ENABLED="0", COHORTLENS_ADMIN_PASSWORD="Adm-" + secrets.token_urlsafe(12))
    server = Server(data, env)
    server.wait_ready(timeout=90)
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-3000:]


def _tickets(srv: Server, n: int) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _TICKETS, str(n)], cwd=ROOT, env=srv.env, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _who(srv: Server, token: str) -> str:
    out = subprocess.run([sys.executable, "-c", _WHO, token], cwd=ROOT, env=srv.env, capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()[-1]


def _send(srv: Server, method: str, path: str, body: str | None = None,
          headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    head = {"Origin": srv.base, **(headers or {})}
    if body is not None:
        head.setdefault("Content-Type", "application/x-www-form-urlencoded")
    conn.request(method, path, body=body, headers={k: v for k, v in head.items() if v is not None})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def _post(srv: Server, ticket: str, nxt: str = "/groups", **headers: str) -> http.client.HTTPResponse:
    return _send(srv, "POST", "/auth/session", urllib.parse.urlencode({"ticket": ticket, "next": nxt}),
                 {k.replace("_", "-"): v for k, v in headers.items()})


def _cookie(resp: http.client.HTTPResponse) -> str | None:
    for value in resp.headers.get_all("set-cookie") or []:
        if value.startswith("cohortlens_session="):
            return value
    return None


def test_a_posted_ticket_sets_the_cookie_once_and_returns_to_the_page(srv):
    (ticket,) = _tickets(srv, 1)
    resp = _post(srv, ticket, "/groups?course=101")
    assert resp.status == 303 and resp.headers["location"] == "/groups?course=101"
    assert resp.headers["cache-control"] == "no-store"
    cookie = _cookie(resp)
    assert cookie is not None
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attrs and "samesite=lax" in cookie.lower()
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token and token != ticket and _who(srv, token) == "admin"
    again = _post(srv, ticket)  # single use
    assert again.status == 303 and _cookie(again) is None


def test_a_get_never_redeems_a_ticket(srv):
    (ticket,) = _tickets(srv, 1)
    resp = _send(srv, "GET", "/auth/session?" + urllib.parse.urlencode({"ticket": ticket, "next": "/"}))
    assert resp.status == 303 and resp.headers["location"] == "/" and _cookie(resp) is None
    assert _cookie(_post(srv, ticket)) is not None  # the GET did not spend it


def test_another_site_cannot_post_a_ticket(srv):
    (ticket,) = _tickets(srv, 1)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": None, "Sec-Fetch-Site": "cross-site"},
                    {"Origin": f"http://127.0.0.1:{srv.port + 1}"}):
        resp = _send(srv, "POST", "/auth/session", urllib.parse.urlencode({"ticket": ticket}), headers)
        assert resp.status == 403 and _cookie(resp) is None, headers
    assert _cookie(_post(srv, ticket, Sec_Fetch_Site="same-origin")) is not None  # not spent by the refusals


def test_the_redirect_stays_on_this_site_and_bad_bodies_redeem_nothing(srv):
    first, second = _tickets(srv, 2)
    for nxt in ("https://evil.example/x", "//evil.example", "/auth/logout", "javascript:alert(1)"):
        resp = _post(srv, "not-a-ticket", nxt)
        assert resp.status == 303 and resp.headers["location"] == "/" and _cookie(resp) is None, nxt
    big = urllib.parse.urlencode({"ticket": first, "next": "/", "pad": "x" * 5000})
    resp = _send(srv, "POST", "/auth/session", big)
    assert resp.status == 303 and _cookie(resp) is None
    assert _cookie(_post(srv, first)) is not None  # the oversized body did not spend it
    resp = _send(srv, "POST", "/auth/session", json.dumps({"ticket": second}), {"Content-Type": "application/json"})
    assert resp.status == 303 and _cookie(resp) is None
    assert _cookie(_post(srv, second)) is not None
