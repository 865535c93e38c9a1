"""Sign-in, server-side sessions, lockout, roles and the one course-access guard.

Users live in the store's ``users`` collection as ``{username, name, email, password_hash, role,
courses: [int], created_at, uid, session_version}``; only bcrypt hashes are stored.  Roles: ``admin``
(every course, settings, schedules, users) and ``instructor`` (only the courses an admin granted).

Sessions (see storage/repositories/security.py) live on the server: the browser holds a random token
in an HttpOnly, SameSite=Lax cookie (Secure over HTTPS) set by the ``/auth/session`` route of
``ui.web``; every script run checks the session against the store, so a sign-out, a password, role or
grant change, or removing the user ends every session of that user at its next request. Failed
sign-ins are slowed after ``COHORTLENS_SLOW_AFTER`` (3) and locked after ``COHORTLENS_LOCK_AFTER`` (10)
per user, ``COHORTLENS_CLIENT_LOCK_AFTER`` (30) per client address, for ``COHORTLENS_LOCK_MINUTES``
(15); an admin unlocks under Settings. Sign-ins, failures, lockouts and sign-outs go to the audit log.

Every path to a course's data — sidebar picker, ``?course=`` query parameter, session state, loaders,
exports, Run now — goes through :func:`require_course`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.parse
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
import streamlit as st

from jobs.accounts import ADMIN_ENV, ROLES, check_password, ensure_admin, hash_password, make_user  # noqa: F401
from ui.i18n import t
from ui.resources import SESSION_KEYS, data_dir, get_store

__all__ = [
    "ROLES",
    "COOKIE_NAME",
    "make_user",
    "ensure_admin",
    "cookie_key",
    "credentials",
    "authenticator",
    "attempt_login",
    "lock_status",
    "unlock",
    "end_sessions",
    "audit",
    "client_address",
    "SESSION_COOKIE",
    "login",
    "logout_button",
    "current_user",
    "is_admin",
    "all_courses",
    "allowed_courses",
    "require_course",
    "require_admin",
    "forbid",
]

COOKIE_NAME = "cohortlens_auth"  # the former streamlit-authenticator cookie (no longer trusted)
SESSION_COOKIE = "cohortlens_session"
SID_KEY = "_auth_sid"
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt()).decode("ascii")  # unknown users cost the same
COOKIE_ENV = "COHORTLENS_COOKIE_KEY"


def _env_num(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def policy() -> dict[str, float]:
    """Session and lockout settings (environment, else defaults)."""
    return {
        "session_s": _env_num("COHORTLENS_SESSION_HOURS", 168) * 3600,
        "idle_s": _env_num("COHORTLENS_SESSION_IDLE_HOURS", 12) * 3600,
        "slow_after": _env_num("COHORTLENS_SLOW_AFTER", 3),
        "lock_after": _env_num("COHORTLENS_LOCK_AFTER", 10),
        "client_lock_after": _env_num("COHORTLENS_CLIENT_LOCK_AFTER", 30),
        "lock_s": _env_num("COHORTLENS_LOCK_MINUTES", 15) * 60,
        "window_s": max(_env_num("COHORTLENS_LOCK_MINUTES", 15) * 60, 3600),
    }


def cookie_key(folder: str | Path | None = None) -> str:
    """Signing key kept for compatibility: env, then st.secrets["auth"]["cookie_key"], else
    ``{data_dir}/.cookie_key``. Sessions no longer depend on it (they are server-side)."""
    env = os.environ.get(COOKIE_ENV)
    if env:
        return env
    try:
        key = st.secrets["auth"]["cookie_key"]
        if key:
            return str(key)
    except Exception:  # no secrets file / no [auth] section
        pass
    path = Path(folder or data_dir()) / ".cookie_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        except FileExistsError:  # another process wrote it first
            pass
    return path.read_text().strip()


def credentials(store: Any) -> dict:
    """Users as ``{"usernames": {name: {name, email, roles}}}`` (no hashes leave the store)."""
    users = {}
    for u in store.users.list():
        users[str(u["username"]).lower()] = {"name": u.get("name") or u["username"], "email": u.get("email") or "",
                                             "roles": [u.get("role", "instructor")]}
    return {"usernames": users}


def client_address() -> str | None:
    """The browser's address as Streamlit saw it (None in tests)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001 - no context outside a browser session
        return None
    return ip if isinstance(ip, str) and ip else None


def audit(event: str, *, username: str | None = None, store: Any | None = None, **detail: Any) -> None:
    """Append to the audit log (never fails the caller)."""
    try:
        (store or get_store()).audit.record(event, username=username, client=client_address(), **detail)
    except Exception:  # noqa: BLE001
        import logging

        logging.getLogger("cohortlens.audit").exception("audit write failed")


def _keys(username: str, client: str | None) -> list[str]:
    return [f"user:{username}", *([f"client:{client}"] if client else [])]


def lock_status(store: Any, username: str, client: str | None = None) -> datetime | None:
    """Until when ``username`` (or ``client``) is locked out, or None."""
    p = policy()
    now = store.now()
    since = now - timedelta(seconds=p["window_s"])
    for key, limit in zip(_keys(username, client), (p["lock_after"], p["client_lock_after"]), strict=False):
        stamps = store.login_failures.recent(key, since=since)
        if len(stamps) >= limit:
            until = stamps[-1] + timedelta(seconds=p["lock_s"])
            if until > now:
                return until
    return None


def unlock(store: Any, key: str, *, by: str | None = None) -> int:
    """Clear the failed sign-ins of ``user:<name>`` or ``client:<address>`` (admin action)."""
    removed = store.login_failures.unlock(key)
    audit("unlock", username=by, store=store, key=key)
    return removed


def attempt_login(store: Any, username: str, password: str, client: str | None = None,
                  *, sleep: Any = time.sleep) -> tuple[str, Any]:
    """One sign-in attempt: ``("ok", user)``, ``("locked", until)`` or ``("wrong", None)``.

    Locked accounts are refused before the password is checked; failures from the ``slow_after``-th
    on are answered slower (up to 3 s)."""
    p = policy()
    username = str(username or "").strip().lower()[:128]
    keys = _keys(username, client)
    until = lock_status(store, username, client)
    if until is None:
        since = store.now() - timedelta(seconds=p["window_s"])
        failures = max(store.login_failures.count(k, since=since) for k in keys)
        if failures >= p["slow_after"]:
            sleep(min(0.5 * (failures - p["slow_after"] + 1), 3.0))
        # counted BEFORE the password is checked, so parallel attempts cannot race past the lock
        ids = store.login_failures.add(keys)
        since = store.now() - timedelta(seconds=p["window_s"])
        over = [k for k, limit in zip(keys, (p["lock_after"], p["client_lock_after"]), strict=False)
                if store.login_failures.count(k, since=since) > limit]
        if over:
            store.login_failures.remove(ids)
            until = lock_status(store, username, client) or store.now() + timedelta(seconds=p["lock_s"])
    if until is not None:
        audit("login_locked", username=username, store=store)
        return "locked", until
    user = store.users.get(username) if username else None
    ok = check_password(password or "", (user or {}).get("password_hash") or _DUMMY_HASH)  # same cost for unknown users
    if not (ok and user):
        audit("login_failed", username=username, store=store)
        until = lock_status(store, username, client)
        if until is not None:
            audit("locked_out", username=username, store=store, until=until.isoformat())
        return "wrong", None
    store.login_failures.remove(ids)
    store.login_failures.unlock(f"user:{username}")
    return "ok", user


def end_sessions(store: Any, username: str, *, by: str | None = None, reason: str = "sign-out") -> None:
    """End every session of ``username`` (its cookies no longer sign in)."""
    store.users.end_sessions(username)
    store.sessions.end_user(username)
    audit("sessions_ended", username=by or username, store=store, user=username, reason=reason)


class _Auth:
    """What app.py passes between ``login`` and ``logout_button`` (kept for the call shape)."""

    def __init__(self, store: Any) -> None:
        self.store = store


def authenticator(store: Any | None = None) -> _Auth:
    return _Auth(store or get_store())


def _requested_path() -> str:
    """The page (path and query) the browser asked for, to return to after signing in."""
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001
        url = ""
    url = url if isinstance(url, str) else ""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    query = urllib.parse.urlencode([(k, v) for k, v in st.query_params.items()]) if st.query_params else ""
    return path + (f"?{query}" if query else "")


def _in_browser() -> bool:
    """A real browser connection to a server that serves ui.web's routes (not AppTest)."""
    from ui import web

    try:
        host = st.context.headers.get("host")
    except Exception:  # noqa: BLE001
        host = None
    return web.mounted() and isinstance(host, str) and bool(host)


def _redirect(url: str) -> None:
    """Send the browser to ``url`` (same origin) and stop this run."""
    st.html(f"<script>window.location.replace({json.dumps(url)});</script>", unsafe_allow_javascript=True)
    st.stop()


def _post(url: str, fields: dict[str, str]) -> None:
    """Send the browser to ``url`` with a POST of ``fields`` (same origin; the values never appear in
    a URL) and stop this run. The form is built by script: no HTML sanitiser can drop it."""
    st.html("<script>(() => { const f = document.createElement('form'); f.method = 'POST';"
            f" f.action = {json.dumps(url)}; f.target = '_top'; f.style.display = 'none';"
            f" for (const [k, v] of Object.entries({json.dumps(fields)})) {{"
            " const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;"
            " f.appendChild(i); }"
            " document.body.appendChild(f); f.submit(); })();</script>", unsafe_allow_javascript=True)
    st.stop()


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # noqa: BLE001 - AppTest / no browser
        return None
    return token if isinstance(token, str) and token else None


def _clear_state() -> None:
    for key in (SID_KEY, "username", "name", "_auth_restored"):
        st.session_state.pop(key, None)
    st.session_state["authentication_status"] = None
    st.session_state.pop(SESSION_KEYS["course"], None)


def session_valid(store: Any, session: dict | None) -> dict | None:
    """The user of a still-valid session, else None (expired, idle, user gone/re-created/changed)."""
    if not session:
        return None
    p = policy()
    now = store.now()
    expires, seen = session.get("expires_at"), session.get("last_seen")
    if expires is None or expires < now or (seen is not None and seen < now - timedelta(seconds=p["idle_s"])):
        return None
    user = store.users.get(session.get("username") or "")
    if user is None or user.get("uid") != session.get("uid") \
            or int(user.get("session_version") or 0) != int(session.get("version") or 0):
        return None
    return user


def _session_user(store: Any) -> dict | None:
    sid = st.session_state.get(SID_KEY)
    session = store.sessions.get(sid) if sid else None
    user = session_valid(store, session)
    stale = [session] if session is not None and user is None else []
    if user is None:
        token = _cookie_token()
        session = store.sessions.by_token(token) if token else None
        user = session_valid(store, session)
        stale += [session] if session is not None and user is None else []
    for old in stale:
        store.sessions.end(old["sid"])
    if user is None:
        if st.session_state.get(SID_KEY) or st.session_state.get("authentication_status"):
            _clear_state()
            st.session_state["_auth_ended"] = True
        return None
    assert session is not None
    store.sessions.touch(session["sid"])
    st.session_state[SID_KEY] = session["sid"]
    st.session_state["username"] = user["username"]
    st.session_state["name"] = user.get("name") or user["username"]
    st.session_state["authentication_status"] = True
    _language(store, user)
    return user


def _language(store: Any, user: dict) -> None:
    """The user's language survives reloads: restored once per browser session, saved on change."""
    from ui.i18n import LANGUAGES

    saved = (user.get("prefs") or {}).get("language")
    lang_key = SESSION_KEYS["lang"]
    if not st.session_state.get("_auth_restored"):
        st.session_state["_auth_restored"] = True
        if saved in LANGUAGES:
            st.session_state[lang_key] = saved
        return
    current = st.session_state.get(lang_key)
    if current in LANGUAGES and current != saved:
        store.users.set_preference(user["username"], "language", current)


def _users_lost(store: Any) -> None:
    """A store that had users and now has none (users file swapped or emptied): maintenance, never a
    sign-in form nobody can pass (and never a new first start)."""
    if getattr(store, "backend", None) != "embedded" or getattr(store, "data_dir", None) is None:
        return
    if store.users.collection.count_documents({}):
        return
    from storage.integrity import Problem, StoreDamaged, had_users

    if had_users(store.data_dir, store.db_name):
        from ui.maintenance import maintenance

        maintenance(StoreDamaged([Problem(Path(store.data_dir) / store.db_name / "users",
                                          "no users left in a store that had users")], Path(store.data_dir)))


def login(auth: Any = None, store: Any | None = None) -> dict | None:
    """The signed-in user (session checked against the store on every run), else the sign-in form
    is shown and None returned."""
    store = store or getattr(auth, "store", None) or get_store()
    user = _session_user(store)
    if user is not None:
        return user
    _users_lost(store)
    if st.session_state.pop("_auth_ended", False):
        st.info(t("auth.ended"))
    with st.form("login_form", clear_on_submit=True):  # the password never stays in the widget
        st.subheader(t("auth.title"))
        username = st.text_input(t("auth.username"), key="login_username")
        password = st.text_input(t("auth.password"), type="password", key="login_password")
        submitted = st.form_submit_button(t("auth.login"))
    if not submitted:
        st.info(t("auth.hint"))
        return None
    client = client_address()
    outcome, value = attempt_login(store, username, password, client)
    if outcome == "locked":
        st.error(t("auth.locked", until=value.strftime("%Y-%m-%d %H:%M")))
        st.session_state["authentication_status"] = False
        return None
    if outcome != "ok":
        st.error(t("auth.wrong"))
        st.session_state["authentication_status"] = False
        return None
    user = value
    sid, ticket = store.sessions.create(user, ttl_s=policy()["session_s"], client=client)
    audit("login", username=user["username"], store=store)
    st.session_state[SID_KEY] = sid
    st.session_state["_auth_restored"] = False
    lang = st.session_state.get(SESSION_KEYS["lang"])
    if lang and lang != (user.get("prefs") or {}).get("language"):  # the language chosen on the form stays
        store.users.set_preference(user["username"], "language", lang)
    user = _session_user(store)
    if _in_browser():  # hand the browser its HttpOnly cookie, then back to the page it asked for
        from ui import web

        _post(f"{web.base_path()}/auth/session", {"ticket": ticket, "next": _requested_path()})
    return user


def logout_button(auth: Any = None) -> bool:
    """Sign-out button in the sidebar: ends every session of the user (all browsers), clears the
    cookie. Returns True when the user has just signed out (the caller shows the form and stops)."""
    if st.sidebar.button(t("auth.logout"), key="logout_button"):
        store = getattr(auth, "store", None) or get_store()
        username = st.session_state.get("username")
        if username:
            end_sessions(store, str(username))
        _clear_state()
        if _in_browser():
            from ui import web

            _redirect(f"{web.base_path()}/auth/logout")
        return True
    return not st.session_state.get("authentication_status")


def current_user(store: Any | None = None) -> dict | None:
    """The signed-in user's document, read from the store with its session checked (roles and grants
    are never taken from the browser or session state)."""
    store = store or get_store()
    sid = st.session_state.get(SID_KEY)
    session = store.sessions.get(sid) if sid else None
    if session is None:
        token = _cookie_token()
        session = store.sessions.by_token(token) if token else None
    return session_valid(store, session)


def is_admin(user: dict | None) -> bool:
    return bool(user) and user.get("role") == "admin"


@st.cache_data(ttl=60, show_spinner=False)
def _known_courses(_store: Any, store_key: str) -> list[int]:
    ids = {int(c["id"]) for c in _store.courses.list() if c.get("id") is not None}
    ids |= {int(c) for c in _store.runs.courses_with_runs()}  # a distinct over runs: ~0.4 s on a big store
    return sorted(ids)


def all_courses(store: Any | None = None) -> set[int]:
    """Every course the store knows (course list and courses with runs); cached for a minute and
    cleared with the loaders when a job finishes."""
    store = store or get_store()
    return set(_known_courses(store, f"{type(store).__name__}:{id(store)}"))


def allowed_courses(user: dict | None, store: Any | None = None) -> set[int]:
    """Courses this user may see: admin -> all; instructor -> granted ones; nobody -> none."""
    if not user:
        return set()
    if is_admin(user):
        return all_courses(store)
    return {int(c) for c in user.get("courses") or []}


def forbid(message: str) -> None:
    """Stop the page with an error (no traceback, no data)."""
    st.error(message)
    st.stop()


def require_course(course_id: Any) -> int:
    """The single guard: return the course id as int if the current user may see it, else stop the page.

    Clears a forbidden value from session state and the query string so the next interaction recovers.
    """
    user = current_user()
    try:
        cid = int(course_id)
    except (TypeError, ValueError):
        forbid(t("auth.bad_course"))
        raise  # unreachable: st.stop raises
    if user is None:
        forbid(t("auth.login_first"))
    if cid not in allowed_courses(user):
        if st.session_state.get(SESSION_KEYS["course"]) == cid:
            st.session_state[SESSION_KEYS["course"]] = None
        if st.query_params.get("course") == str(cid):
            del st.query_params["course"]
        forbid(t("auth.forbidden", course=cid))
    return cid


def require_admin() -> dict:
    """Stop unless the current user is an admin; returns the user."""
    user = current_user()
    if not is_admin(user):
        forbid(t("auth.admin_only"))
    assert user is not None
    return user
