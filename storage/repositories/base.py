"""Shared base of the repositories."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from storage.bson_safe import to_bson_safe
from storage.embedded_fast import paused_gc

if TYPE_CHECKING:
    from storage.client import Store, StoreCollection

__all__ = ["Repository", "new_id", "NO_ID", "clean"]

#: projection that hides MongoDB's ObjectId (never leaves the storage layer).
NO_ID: dict[str, int] = {"_id": 0}


def new_id() -> str:
    """A fresh random id (uuid4 hex)."""
    return uuid.uuid4().hex


def clean(doc: dict | None) -> dict | None:
    """Drop ``_id`` from a document read back."""
    if doc is not None:
        doc.pop("_id", None)
    return doc


class Repository:
    """Binds one collection of a :class:`Store`; subclasses hold every query of that collection."""

    collection_name: str = ""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._col: StoreCollection = store.collection(self.collection_name)

    @property
    def collection(self) -> StoreCollection:
        """The wrapped collection (lists, never cursors)."""
        return self._col

    def _now(self, now: dt.datetime | None = None) -> dt.datetime:
        if now is None:
            return self._store.now()
        return to_bson_safe(now)

    @staticmethod
    def _safe(value: Any) -> Any:
        with paused_gc():   # (a run document holds thousands of small records)
            return to_bson_safe(value)
