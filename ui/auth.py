"""Login (streamlit-authenticator 0.4.2), roles and the one course-access guard.

Users live in the store's ``users`` collection as ``{username, name, email, password_hash, role,
courses: [int], created_at}``; only bcrypt hashes are stored.  Roles: ``admin`` (every course,
settings, schedules, users) and ``instructor`` (only the courses an admin granted).

Every path to a course's data — sidebar picker, ``?course=`` query parameter, session state, loaders,
exports, Run now — goes through :func:`require_course`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth

from jobs.accounts import ADMIN_ENV, ROLES, ensure_admin, make_user  # noqa: F401 - re-exported
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

COOKIE_NAME = "cohortlens_auth"
COOKIE_ENV = "COHORTLENS_COOKIE_KEY"


def cookie_key(folder: str | Path | None = None) -> str:
    """Cookie signing key: env, then st.secrets["auth"]["cookie_key"], else ``{data_dir}/.cookie_key``."""
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
    """The authenticator's credentials dict built from the users collection (hashes only)."""
    users = {}
    for u in store.users.list():
        users[str(u["username"]).lower()] = {
            "name": u.get("name") or u["username"],
            "email": u.get("email") or "",
            "password": u["password_hash"],
            "roles": [u.get("role", "instructor")],
        }
    return {"usernames": users}


def authenticator(store: Any | None = None) -> stauth.Authenticate:
    """A fresh authenticator for this script run (credentials change when an admin edits users)."""
    return stauth.Authenticate(credentials(store or get_store()), COOKIE_NAME, cookie_key(), 30.0,
                               auto_hash=False)


def login(auth: stauth.Authenticate, store: Any | None = None) -> dict | None:
    """Render the login form when needed; returns the logged-in user document or None (form shown)."""
    store = store or get_store()
    fields = {"Form name": t("auth.title"), "Username": t("auth.username"), "Password": t("auth.password"),
              "Login": t("auth.login")}
    try:
        auth.login(location="main", fields=fields, key="login_form")
    except Exception as exc:  # e.g. a cookie for a deleted user: LoginError
        st.session_state["authentication_status"] = None
        st.error(t("auth.error", msg=str(exc)))
        return None
    status = st.session_state.get("authentication_status")
    if status is False:
        st.error(t("auth.wrong"))
        return None
    if not status:
        st.info(t("auth.hint"))
        return None
    user = current_user(store)
    if user is None:  # logged in by a cookie but the user was removed
        st.session_state["authentication_status"] = None
        st.error(t("auth.gone"))
        return None
    return user


def logout_button(auth: stauth.Authenticate) -> bool:
    """Logout button in the sidebar (clears the cookie and the session's course choice).

    Returns True when the user has just signed out (the caller shows the login form and stops)."""

    def _clear(_info: dict) -> None:
        st.session_state.pop(SESSION_KEYS["course"], None)

    # key: not "logout", which the authenticator uses as a session-state flag
    auth.logout(t("auth.logout"), location="sidebar", key="logout_button", callback=_clear)
    return not st.session_state.get("authentication_status")


def current_user(store: Any | None = None) -> dict | None:
    """The logged-in user's document, read from the store (roles and grants are never taken from the
    browser or session state)."""
    if not st.session_state.get("authentication_status"):
        return None
    username = st.session_state.get("username")
    if not username:
        return None
    return (store or get_store()).users.get(str(username).lower())


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
