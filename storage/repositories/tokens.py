"""api_tokens: bearer tokens of the JSON API, stored only as SHA-256 hashes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .base import NO_ID, Repository, new_id

__all__ = ["TokenRepository"]


class TokenRepository(Repository):
    """Tokens (collection ``api_tokens``): ``{token_id, username, token_hash, prefix, label, created_at,
    last_used_at, revoked_at}``. The token itself is never stored; ``prefix`` (its first characters)
    helps a person recognise it in a listing."""

    collection_name = "api_tokens"

    def add(self, username: str, token_hash: str, *, prefix: str, label: str = "",
            now: dt.datetime | None = None) -> dict:
        doc = {"token_id": new_id()[:16], "username": username, "token_hash": token_hash, "prefix": prefix,
               "label": label, "created_at": self._now(now), "last_used_at": None, "revoked_at": None}
        self._col.insert_one(dict(doc))
        return doc

    def by_hash(self, token_hash: str) -> dict | None:
        """The live (not revoked) token with this hash."""
        return self._col.find_one({"token_hash": token_hash, "revoked_at": None}, NO_ID)

    def get(self, token_id: str) -> dict | None:
        return self._col.find_one({"token_id": token_id}, NO_ID)

    def list(self, username: str | None = None, *, include_revoked: bool = False) -> list[dict]:
        query: dict[str, Any] = {} if username is None else {"username": username}
        if not include_revoked:
            query["revoked_at"] = None
        return self._col.find(query, {"_id": 0, "token_hash": 0}, sort=[("created_at", -1)])

    def touch(self, token_id: str, now: dt.datetime | None = None) -> None:
        self._col.update_one({"token_id": token_id}, {"$set": {"last_used_at": self._now(now)}})

    def revoke(self, token_id: str, now: dt.datetime | None = None) -> bool:
        """Revoke one token; False when unknown or already revoked."""
        res = self._col.update_one({"token_id": token_id, "revoked_at": None},
                                   {"$set": {"revoked_at": self._now(now)}})
        return res.matched_count == 1

    def revoke_user(self, username: str, now: dt.datetime | None = None) -> int:
        """Revoke every live token of a user (the user was removed)."""
        res = self._col.update_many({"username": username, "revoked_at": None},
                                    {"$set": {"revoked_at": self._now(now)}})
        return int(getattr(res, "modified_count", getattr(res, "matched_count", 0)) or 0)
