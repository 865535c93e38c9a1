"""User accounts without Streamlit: the rules the Settings page and ``python -m jobs users`` share.

Users live in the store's ``users`` collection as ``{username, name, email, password_hash, role,
courses: [int], created_at}``; only bcrypt hashes are stored (the format streamlit-authenticator
checks at login). Rules:

- a role is ``admin`` or ``instructor``; a user name is 1-64 characters of letters, digits, ``._-@``;
- a new user needs a password; an update with an empty password keeps the stored hash;
- the only admin can be neither demoted nor removed (someone must be able to reach Settings).
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import bcrypt

from jobs.passwords import check_password_policy

__all__ = [
    "ROLES",
    "ADMIN_ENV",
    "hash_password",
    "check_password",
    "make_user",
    "ensure_admin",
    "save_user",
    "set_password",
    "remove_user",
    "public_user",
]

ROLES = ("admin", "instructor")
ADMIN_ENV = "COHORTLENS_ADMIN_PASSWORD"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


def hash_password(password: str) -> str:
    """A bcrypt hash (``$2b$...``), the format streamlit-authenticator verifies."""
    return bcrypt.hashpw(str(password).encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(str(password).encode("utf-8"), str(password_hash).encode("ascii"))
    except ValueError:  # not a bcrypt hash
        return False


def _username(username: str) -> str:
    name = str(username or "").strip().lower()
    if not name:
        raise ValueError("username and password are required")
    if not _NAME.match(name):
        raise ValueError(f"user name {name!r} may hold only letters, digits and . _ - @ (at most 64)")
    return name


def make_user(username: str, password: str, *, role: str = "instructor", name: str | None = None,
              email: str | None = None, courses: Iterable[int] | None = None) -> dict:
    """A user document with the password hashed (the plain password is not kept)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not str(username or "").strip() or not password:
        raise ValueError("username and password are required")
    username = _username(username)
    check_password_policy(password, username)
    return {
        "username": username,
        "name": name or username,
        "email": email or "",
        "password_hash": hash_password(password),
        "role": role,
        "courses": sorted({int(c) for c in courses or []}),
        "created_at": datetime.now(UTC),
    }


def ensure_admin(store: Any, *, out: TextIO | None = None) -> bool:
    """First start with no admin account (e.g. a new store, or only instructors were added with
    ``python -m jobs users add``): create ``admin`` and print its password once. Returns True if created.

    The password is COHORTLENS_ADMIN_PASSWORD when set (never printed), else a random one printed to
    the terminal exactly once; only its hash is stored. Never runs over a store that had users (a
    users file emptied or swapped): that is a damaged store (``StoreDamaged``), not a first start.
    """
    embedded = getattr(store, "backend", None) == "embedded" and getattr(store, "data_dir", None) is not None
    with store.locked():  # two processes starting at once print one password, not two
        users = store.users.list()
        if any(u.get("role") == "admin" for u in users) or any(u["username"] == "admin" for u in users):
            return False
        if embedded and not users:  # instructors but no admin (added from the shell): a real first start
            from storage.integrity import Problem, StoreDamaged, had_users

            if had_users(store.data_dir, store.db_name):
                raise StoreDamaged([Problem(Path(store.data_dir) / store.db_name / "users",
                                            "no users left in a store that had users; first start refused")],
                                   Path(store.data_dir))
        out = out or sys.stdout
        given = os.environ.get(ADMIN_ENV)
        password = given or secrets.token_urlsafe(12)
        try:
            doc = make_user("admin", password, role="admin", name="Administrator")
        except ValueError as exc:  # a weak COHORTLENS_ADMIN_PASSWORD: say so where the operator looks
            print(f"CohortLens: {ADMIN_ENV} refused ({exc}); no admin was created.", file=out, flush=True)
            raise
        store.users.upsert(doc)
        if embedded:
            from storage.integrity import record_manifest

            record_manifest(store.data_dir, store.db_name, had_users=True)
    bar = "=" * 64
    if given:
        print(f"\n{bar}\nCohortLens: created user 'admin' with the password from {ADMIN_ENV}.\n{bar}\n",
              file=out, flush=True)
    else:
        print(f"\n{bar}\nCohortLens first start: created user 'admin'\n  password: {password}\n"
              f"Shown once only; change it under Settings > Users (or: python -m jobs users passwd admin).\n"
              f"{bar}\n", file=out, flush=True)
    return True


def _other_admins(store: Any, username: str) -> list[dict]:
    return [u for u in store.users.list() if u.get("role") == "admin" and u["username"] != username]


def save_user(store: Any, username: str, *, name: str | None = None, password: str = "", role: str,
              courses: Iterable[int] = (), email: str | None = None) -> dict:
    """Create or update a user; an empty password keeps the stored hash (a new user needs one)."""
    username = _username(username)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    existing = store.users.get(username)
    if existing is None and not password:
        raise ValueError("a new user needs a password")
    if existing is not None and existing.get("role") == "admin" and role != "admin" \
            and not _other_admins(store, username):
        raise ValueError(f"{username} is the only admin: make another admin first")
    grants = sorted({int(c) for c in courses or []})
    if email is not None and email and ("@" not in email or any(ch.isspace() for ch in email)):
        raise ValueError(f"not an email address: {email!r}")
    if existing is not None and not password:
        doc = {**existing, "name": name or existing.get("name"), "role": role, "courses": grants}
        if email is not None:
            doc["email"] = email
    else:
        doc = make_user(username, password, role=role, name=name or (existing or {}).get("name") or username,
                        email=email if email is not None else (existing or {}).get("email"), courses=grants)
        if existing is not None:
            doc["created_at"] = existing.get("created_at", doc["created_at"])
    store.users.upsert(doc)
    return doc


def set_password(store: Any, username: str, password: str) -> dict:
    """Change a user's password (the old hash is replaced)."""
    username = _username(username)
    existing = store.users.get(username)
    if existing is None:
        raise LookupError(f"no user {username!r}")
    if not password:
        raise ValueError("the new password is empty")
    check_password_policy(password, username)
    doc = {**existing, "password_hash": hash_password(password)}
    store.users.upsert(doc)
    return doc


def remove_user(store: Any, username: str, *, acting: str | None = None) -> bool:
    """Delete a user (and their API tokens). Refused for the only admin and for oneself."""
    username = _username(username)
    existing = store.users.get(username)
    if existing is None:
        raise LookupError(f"no user {username!r}")
    if acting is not None and _username(acting) == username:
        raise ValueError("you cannot remove your own account")
    if existing.get("role") == "admin" and not _other_admins(store, username):
        raise ValueError(f"{username} is the only admin: make another admin first")
    removed = bool(store.users.delete(username))
    tokens = getattr(store, "tokens", None)
    if tokens is not None:
        tokens.revoke_user(username)
    return removed


def public_user(user: dict) -> dict:
    """A user without the password hash (for listings)."""
    return {"username": user["username"], "name": user.get("name") or user["username"],
            "role": user.get("role"), "courses": [int(c) for c in user.get("courses") or []],
            "email": user.get("email") or "",
            "created_at": user.get("created_at")}
