"""Sign-in state kept on the server: sessions, failed sign-ins (throttle and lockout), the audit log.

- ``sessions``: one document per signed-in browser ``{_id: sid, username, uid, version, token_hash,
  ticket_hash, ticket_expires, created_at, last_seen, expires_at, client}``. The browser holds only a
  random token whose SHA-256 is ``token_hash``; a session is valid while it is not expired or idle too
  long AND its ``uid``/``version`` still equal the user's (``users.uid`` changes when a user is
  re-created, ``users.session_version`` grows on sign-out, a password, role or grant change), so
  such a change ends every existing session of the user at its next request.
- ``login_failures``: one document per failed sign-in ``{key, at}`` with key ``user:<name>`` or
  ``client:<address>``; ``unlock`` removes a key's failures (the admin's unlock).
- ``audit_log``: ``{at, event, username, client, detail}`` (sign-ins, failed sign-ins, lockouts,
  sign-outs, user and grant changes, token use, exports). Never a password or a token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from .base import NO_ID, Repository, new_id

__all__ = ["SessionRepository", "LoginFailureRepository", "AuditRepository", "token_hash"]


def token_hash(token: str) -> str:
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


class SessionRepository(Repository):
    """Server-side sessions (collection ``sessions``)."""

    collection_name = "sessions"

    def create(self, user: dict[str, Any], *, ttl_s: float, client: str | None = None,
               ticket_ttl_s: float = 120.0) -> tuple[str, str]:
        """A new session for ``user``; returns ``(sid, ticket)``.

        The one-time ``ticket`` lets the web route hand the browser its cookie (``redeem``)."""
        now = self._now()
        sid = new_id()
        ticket = secrets.token_urlsafe(32)
        self._col.insert_one({
            "_id": sid, "sid": sid, "username": user["username"], "uid": user.get("uid"),
            "version": int(user.get("session_version") or 0), "token_hash": None,
            "ticket_hash": token_hash(ticket), "ticket_expires": now + dt.timedelta(seconds=ticket_ttl_s),
            "created_at": now, "last_seen": now, "expires_at": now + dt.timedelta(seconds=ttl_s),
            "client": client,
        })
        return sid, ticket

    def redeem(self, ticket: str) -> tuple[str, dict] | None:
        """Exchange a one-time ticket for the browser token; ``(token, session)`` or None."""
        if not ticket:
            return None
        now = self._now()
        token = secrets.token_urlsafe(32)
        doc = self._col.find_one_and_update(
            {"ticket_hash": token_hash(ticket), "ticket_expires": {"$gte": now}, "expires_at": {"$gte": now}},
            {"$set": {"token_hash": token_hash(token), "ticket_hash": None, "ticket_expires": None,
                      "last_seen": now}},
            projection=NO_ID,
        )
        return (token, doc) if doc else None

    def get(self, sid: str) -> dict | None:
        return self._col.find_one({"_id": sid}, NO_ID) if sid else None

    def by_token(self, token: str) -> dict | None:
        return self._col.find_one({"token_hash": token_hash(token)}, NO_ID) if token else None

    def touch(self, sid: str, *, every_s: float = 60.0) -> None:
        """Record activity (at most once a minute)."""
        now = self._now()
        self._col.update_one({"_id": sid, "last_seen": {"$lt": now - dt.timedelta(seconds=every_s)}},
                             {"$set": {"last_seen": now}})

    def end(self, sid: str) -> bool:
        return self._col.delete_one({"_id": sid}) == 1

    def end_token(self, token: str) -> bool:
        return self._col.delete_one({"token_hash": token_hash(token)}) == 1 if token else False

    def end_user(self, username: str) -> int:
        return self._col.delete_many({"username": username})

    def for_user(self, username: str) -> list[dict]:
        return self._col.find({"username": username}, NO_ID)

    def purge_expired(self, *, idle_s: float) -> int:
        now = self._now()
        return self._col.delete_many({"$or": [{"expires_at": {"$lt": now}},
                                              {"last_seen": {"$lt": now - dt.timedelta(seconds=idle_s)}}]})


class LoginFailureRepository(Repository):
    """Failed sign-ins (collection ``login_failures``), counted per key within a window."""

    collection_name = "login_failures"

    def add(self, keys: list[str], *, now: dt.datetime | None = None) -> list:
        """Record one failed (or in-flight) sign-in under each key; returns the record ids."""
        at = self._now(now)
        return self._col.insert_many([{"key": k, "at": at} for k in keys if k])

    def remove(self, ids: list) -> int:
        return self._col.delete_many({"_id": {"$in": list(ids)}}) if ids else 0

    def count(self, key: str, *, since: dt.datetime) -> int:
        return self._col.count_documents({"key": key, "at": {"$gte": self._safe(since)}})

    def recent(self, key: str, *, since: dt.datetime) -> list[dt.datetime]:
        rows = self._col.find({"key": key, "at": {"$gte": self._safe(since)}}, NO_ID, sort=[("at", 1)])
        return [r["at"] for r in rows]

    def unlock(self, key: str) -> int:
        return self._col.delete_many({"key": key})

    def keys(self, *, since: dt.datetime) -> dict[str, int]:
        """key -> failures since ``since`` (the Settings page's lock list)."""
        out: dict[str, int] = {}
        for row in self._col.find({"at": {"$gte": self._safe(since)}}, {"_id": 0, "key": 1}):
            out[row["key"]] = out.get(row["key"], 0) + 1
        return out

    def purge(self, *, before: dt.datetime) -> int:
        return self._col.delete_many({"at": {"$lt": self._safe(before)}})


class AuditRepository(Repository):
    """The audit log (collection ``audit_log``), append-only."""

    collection_name = "audit_log"

    def record(self, event: str, *, username: str | None = None, client: str | None = None,
               **detail: Any) -> None:
        from storage.bson_safe import redact

        safe = {k: redact(str(v)) if isinstance(v, str) else v for k, v in detail.items()}
        self._col.insert_one({"at": self._now(), "event": str(event), "username": username,
                              "client": client, "detail": self._safe(safe)})

    def recent(self, limit: int = 200, *, event: str | None = None, username: str | None = None) -> list[dict]:
        query: dict[str, Any] = {}
        if event:
            query["event"] = event
        if username:
            query["username"] = username
        return self._col.find(query, NO_ID, sort=[("at", -1)], limit=limit)

    def purge(self, *, before: dt.datetime) -> int:
        return self._col.delete_many({"at": {"$lt": self._safe(before)}})
