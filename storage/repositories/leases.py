"""locks: time-limited leases, e.g. one per course being worked on."""

from __future__ import annotations

import datetime as dt

from pymongo.errors import DuplicateKeyError

from .base import NO_ID, Repository

__all__ = ["LeaseRepository"]


class LeaseRepository(Repository):
    """Leases (collection ``locks``): ``{key, owner, acquired_at, expires_at, renewed_at}``.

    ``acquire`` is one upsert filtered on "expired or mine"; when another owner holds a live lease
    the upsert collides with the unique index on ``key`` and the acquire fails. Atomic on MongoDB,
    and in embedded mode under the store's process and file locks.
    """

    collection_name = "locks"

    def acquire(self, key: str, owner: str, ttl_s: float, *, now: dt.datetime | None = None) -> bool:
        """Take (or re-take) the lease for ``ttl_s`` seconds; ``False`` when someone else holds it."""
        now = self._now(now)
        expires = now + dt.timedelta(seconds=ttl_s)
        try:
            self._col.update_one(
                {"key": key, "$or": [{"expires_at": {"$lt": now}}, {"owner": owner}]},
                # an upsert takes ``key`` from the filter's equality
                {"$set": {"owner": owner, "expires_at": expires, "renewed_at": now, "acquired_at": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    def renew(self, key: str, owner: str, ttl_s: float, *, now: dt.datetime | None = None) -> bool:
        """Extend a lease still held by ``owner``; ``False`` if it was lost (taken over or released)."""
        now = self._now(now)
        result = self._col.update_one(
            {"key": key, "owner": owner},
            {"$set": {"expires_at": now + dt.timedelta(seconds=ttl_s), "renewed_at": now}},
        )
        return result.matched_count == 1

    def release(self, key: str, owner: str) -> bool:
        """Give the lease back (only its owner can); returns whether it was held by ``owner``."""
        return self._col.delete_one({"key": key, "owner": owner}) == 1

    def holder(self, key: str, *, now: dt.datetime | None = None) -> dict | None:
        """The live lease document for ``key`` (``None`` when free or expired)."""
        return self._col.find_one({"key": key, "expires_at": {"$gte": self._now(now)}}, NO_ID)

    def active(self, prefix: str = "", *, now: dt.datetime | None = None) -> list[dict]:
        """Live leases whose key starts with ``prefix``."""
        rows = self._col.find({"expires_at": {"$gte": self._now(now)}}, NO_ID, sort=[("key", 1)])
        return [r for r in rows if str(r.get("key", "")).startswith(prefix)]

    def break_lease(self, key: str) -> bool:
        """Remove a lease whoever holds it (operator action); returns whether one existed."""
        return self._col.delete_one({"key": key}) == 1
