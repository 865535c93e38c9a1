"""API tokens: created for a user (carrying that user's course grants), stored only as hashes.

A token is ``clk_`` + 43 random URL-safe characters (256 bits). The store keeps its SHA-256 hash (a
random token needs no slow hash), a short prefix for recognising it, the user, a label, and when it
was created, last used and revoked. The token is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

__all__ = ["TOKEN_PREFIX", "create_token", "authenticate", "list_tokens", "revoke_token", "hash_token"]

TOKEN_PREFIX = "clk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(str(token).encode("utf-8")).hexdigest()


def create_token(store: Any, username: str, *, label: str = "") -> tuple[str, dict]:
    """A new token for an existing user: ``(token, record without hash)``; the token is not stored."""
    name = str(username or "").strip().lower()
    if store.users.get(name) is None:
        raise LookupError(f"no user {name!r}: create it first (python -m jobs users add {name or 'NAME'} ...)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    doc = store.tokens.add(name, hash_token(token), prefix=token[:10], label=str(label or "")[:80])
    doc.pop("token_hash", None)
    return token, doc


def authenticate(store: Any, token: str | None) -> dict | None:
    """The user a live token belongs to (read from the store now: current role and grants), else None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = hash_token(token)
    record = store.tokens.by_hash(digest)
    if record is None or not hmac.compare_digest(record.get("token_hash", ""), digest):
        return None
    user = store.users.get(record["username"])
    if user is None:
        return None
    try:
        store.tokens.touch(record["token_id"])
    except Exception:  # last-used is informational
        pass
    return {**user, "token_id": record["token_id"]}


def list_tokens(store: Any, username: str | None = None) -> list[dict]:
    """Live tokens (no hashes), newest first."""
    return store.tokens.list(username.strip().lower() if username else None)


def revoke_token(store: Any, token_id: str) -> bool:
    return store.tokens.revoke(str(token_id).strip())
