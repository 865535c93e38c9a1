"""Fast paths for the embedded (litemongo) store: the same results, without mongomock's per-value work.

litemongo keeps each collection as BSON blobs in one SQLite file and lets its vendored mongomock
evaluate queries. For big documents and many of them mongomock costs 15-25x the storage itself:
every document read is deep-copied and walked twice in Python (projection copy, naive->aware
datetimes), ``list(cursor)`` slices the whole result once per document (quadratic), every insert
encodes the document twice, walks it to patch datetimes, and commits on its own. This module keeps
mongomock's own query semantics (``filter_applies``, its sort keys, its projection, its hash query
index) and changes only the plumbing:

* **reads** (:func:`find`): candidates from mongomock's query index, rows fetched with one
  ``SELECT`` per 500 keys, each blob decoded once naive (to filter and sort exactly as mongomock
  does) and the matching ones decoded again straight into aware datetimes by pymongo's C decoder
  (no Python walk, no deep copy: every decode is a fresh object);
* **inserts** (:func:`insert_many`): one ``executemany`` of blobs encoded once, the query index
  updated in place; duplicate ``_id``s, unique-index conflicts and anything unusual go back to
  mongomock's own path (which raises the real errors);
* **rewrites** (:func:`replace_by_id`): whole documents written back by ``_id`` in one statement
  (used by the history repository instead of thousands of ``$push`` updates);
* **commits** (:class:`CommitBatch`): inside one store call (the process lock + flock held) every
  row write of litemongo joins one SQLite transaction, committed when that call returns (as with
  MongoDB, a call's writes are durable once it returned, also inside a ``Store.locked()`` section);
  other processes see a call's writes together instead of row by row.

Every function raises :class:`Fallback` when the input is outside what it handles; the caller then
uses the ordinary mongomock path. litemongo internals used here are checked at import (version
0.2.x); when they are missing, :data:`AVAILABLE` is False and nothing here is used.
"""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import bson

__all__ = ["AVAILABLE", "CommitBatch", "Fallback", "find", "find_one_and_set", "insert_many", "install",
           "replace_by_id"]

_MAX_PARAMS = 500


class Fallback(Exception):
    """The fast path does not handle this call: use mongomock's."""


try:  # litemongo internals (0.2.x); any change turns the fast paths off
    from litemongo import sqlite_store as _sqlite_store
    from litemongo._vendor.mongomock import filtering as _filtering
    from litemongo._vendor.mongomock import helpers as _helpers
    from litemongo._vendor.mongomock import indexing as _indexing

    _TableDict = _sqlite_store.TableDict
    _CollectionStore = _sqlite_store.CollectionStore
    _AWARE = bson.CodecOptions(tz_aware=True, tzinfo=_helpers.utc)
    AVAILABLE = all(hasattr(_TableDict, a) for a in ("__setitem__", "__delitem__", "encode_key")) and all(
        hasattr(_CollectionStore, a) for a in ("_get_query_index", "_remove_expired_documents", "_index_key"))
except Exception:  # pragma: no cover - a litemongo without these internals
    AVAILABLE = False


class CommitBatch:
    """Deferred commits: while ``depth`` > 0, litemongo's row writes do not commit one by one.

    Only touched under the store's process lock (so no lock of its own). ``flush`` commits every
    connection written to; the store calls it when each call's guard exits, before the flock goes.
    """

    depth = 0
    dirty: dict[int, sqlite3.Connection] = {}

    @classmethod
    def flush(cls) -> None:
        dirty, cls.dirty = cls.dirty, {}
        for con in dirty.values():
            if con.in_transaction:
                con.commit()

    @classmethod
    def reset(cls) -> None:
        """After a fork: the child starts outside any call, with nothing pending."""
        cls.depth = 0
        cls.dirty = {}


def _write(table: Any, sql: str, params: Any, many: bool = False) -> Any:
    con = table._connection
    if CommitBatch.depth > 0:
        CommitBatch.dirty[id(con)] = con
        return con.executemany(sql, params) if many else table._cur.execute(sql, params)
    with con:
        return con.executemany(sql, params) if many else table._cur.execute(sql, params)


def _setitem(self: Any, key: Any, val: Any) -> None:
    key = self.encode_key(key)
    if not isinstance(val, bytes):
        val = self._encode_doc(val)
    _write(self, f"INSERT INTO {self._table_name} VALUES(?, ?) "  # nosec - fixed table names
                 f"ON CONFLICT({self.ID}) DO UPDATE SET {self.DOC}=excluded.{self.DOC}", (key, val))


def _delitem(self: Any, key: Any) -> None:
    key = self.encode_key(key)
    res = _write(self, f"DELETE FROM {self._table_name} WHERE {self.ID}=?", (key,))  # nosec
    if res.rowcount <= 0:
        raise KeyError(key)


_INSTALLED = False


def install() -> None:
    """Route litemongo's document writes through :class:`CommitBatch` (idempotent).

    The index table keeps its own methods (it invalidates a cache after each write)."""
    global _INSTALLED
    if _INSTALLED or not AVAILABLE:
        return
    _TableDict.__setitem__ = _setitem
    _TableDict.__delitem__ = _delitem
    # IndexDict overrides both and calls super(): it keeps working through the patched base.
    _INSTALLED = True


# ------------------------------------------------------------------ helpers on one collection
def _store_of(raw: Any) -> Any:
    store = raw._store
    if not isinstance(store, _CollectionStore) or store._documents is None:
        raise Fallback("not a litemongo sqlite collection")
    return store


def _rows(store: Any, keys: list | None) -> list[tuple[Any, bytes]]:
    """(encoded key, blob) in natural order: all rows, or those of ``keys`` (already in order)."""
    table = store._documents
    name = table._table_name
    con = table._connection
    if keys is None:
        return con.execute(f"SELECT {table.ID}, {table.DOC} FROM {name} ORDER BY ROWID").fetchall()  # nosec
    out: list[tuple[Any, bytes]] = []
    for start in range(0, len(keys), _MAX_PARAMS):
        chunk = keys[start: start + _MAX_PARAMS]
        found = dict(con.execute(
            f"SELECT {table.ID}, {table.DOC} FROM {name} WHERE {table.ID} IN ({','.join('?' * len(chunk))})",  # nosec
            chunk).fetchall())
        out.extend((k, found[k]) for k in chunk if k in found)
    return out


def _has_datetime(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_datetime(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_datetime(v) for v in value)
    return isinstance(value, datetime.datetime)


def _is_str_id_lookup(spec: dict) -> bool:
    """``{"_id": "x"}`` or ``{"_id": {"$in": ["x", ...]}}`` with string ids only (mongomock tests each
    ``$in`` value against each candidate: quadratic for thousands of ids, and the index is exact here)."""
    if len(spec) != 1 or "_id" not in spec:
        return False
    value = spec["_id"]
    if isinstance(value, str):
        return True
    return (isinstance(value, dict) and list(value) == ["$in"] and isinstance(value["$in"], list | tuple)
            and all(isinstance(v, str) for v in value["$in"]))


def find(raw: Any, filter: Mapping[str, Any] | None, projection: Any, sort: Sequence[tuple[str, int]] | None,
         skip: int, limit: int) -> list[dict]:
    """``list(raw.find(filter, projection).sort(sort).skip(skip).limit(limit))``, the same documents."""
    store = _store_of(raw)
    if not raw.codec_options.tz_aware:
        raise Fallback("naive client")
    spec = _helpers.patch_datetime_awareness_in_document(dict(filter or {}))
    if sort and any(key.startswith("$") for key, _ in sort):
        raise Fallback("special sort")
    if limit < 0:
        raise Fallback("negative limit")
    naive = store._documents._codec_options
    store._remove_expired_documents()
    index = store._get_query_index()
    keys = index.candidates(spec)
    rows = _rows(store, None if keys is None else index.in_natural_order(keys))
    if not rows:
        _filtering.filter_applies(spec, {})        # mongomock validates the filter even then
    matched: list[tuple[dict, bytes]] = []
    exact = keys is not None and _is_str_id_lookup(spec)   # the _id index answered it exactly
    # mongomock compares stored (naive UTC) datetimes with the filter's; without a datetime in the
    # filter, the aware documents we return can be filtered and sorted directly (one decode each)
    once = not _has_datetime(spec)
    codec = _AWARE if once else naive
    for _key, blob in rows:
        doc = bson.decode(blob, codec_options=codec)
        if exact or _filtering.filter_applies(spec, doc):
            matched.append((doc, blob))
    if sort:
        for key, direction in reversed(list(sort)):
            matched.sort(key=lambda pair, k=key: _filtering.resolve_sort_key(k, pair[0]), reverse=direction < 0)
    if skip:
        matched = matched[skip:]
    if limit:
        matched = matched[:limit]
    out = [doc for doc, _ in matched] if once else [bson.decode(blob, codec_options=_AWARE) for _, blob in matched]
    if projection is not None:
        fields = projection if isinstance(projection, Mapping) else _helpers.fields_list_to_dict(projection)
        out = [raw._copy_only_fields(doc, dict(fields), dict) for doc in out]
    return out


def _unique_indexes(store: Any) -> list[dict]:
    return [ix for name, ix in store.indexes.items() if ix.get("unique") and name != "_id_"]


def _exists(store: Any, raw: Any, probe: dict) -> bool:
    """Whether a stored document has these field values (an equality probe of a unique index)."""
    if all(type(v) in (str, int) for v in probe.values()):
        # the declared index's fields are hash-indexed in memory: for str/int values its answer is exact
        keys = store._get_query_index().candidates(dict(probe))
        if keys is not None:
            return bool(keys)
    return bool(find(raw, probe, {"_id": 1}, None, 0, 1))


def insert_many(raw: Any, docs: list[dict]) -> list[Any]:
    """Insert ``docs`` (caller-owned dicts, ``_id`` filled in place as pymongo does); returns the ids."""
    store = _store_of(raw)
    uniques = _unique_indexes(store)
    if uniques and len(docs) > 64:
        raise Fallback("many documents with unique indexes")
    if any(ix.get("sparse") or ix.get("partialFilterExpression") for ix in uniques):
        raise Fallback("sparse or partial unique index")
    table = store._documents
    codec = table._codec_options
    rows: list[tuple[Any, bytes]] = []
    seen: set = set()
    for doc in docs:
        if not isinstance(doc, dict) or any(not isinstance(k, str) or k.startswith("$") for k in doc):
            raise Fallback("unusual document")
        if "_id" not in doc:
            doc["_id"] = bson.ObjectId()
        if isinstance(doc["_id"], dict):
            raise Fallback("document _id")
        key = table.encode_key(doc["_id"])
        if key in seen:
            raise Fallback("duplicate _id in the batch")
        seen.add(key)
        try:
            rows.append((key, bson.encode(doc, codec_options=codec)))
        except Exception as exc:  # let mongomock raise its own error for a bad document
            raise Fallback("not encodable") from exc
    if _rows(store, [k for k, _ in rows]):
        raise Fallback("an _id exists already")
    if uniques:
        for ix in uniques:
            fields = [k for k, _ in ix["key"]]
            batch_keys = set()
            for doc in docs:
                probe = {}
                for f in fields:
                    try:
                        probe[f] = _helpers.get_value_by_dot(doc, f)
                    except KeyError:
                        probe[f] = None
                marker = repr(sorted(probe.items()))
                if marker in batch_keys or _exists(store, raw, probe):
                    raise Fallback("unique index conflict")
                batch_keys.add(marker)
    _write(table, f"INSERT INTO {table._table_name} VALUES(?, ?)", rows, many=True)  # nosec
    index = store._query_index
    if index is not None:
        for key, blob in rows:
            index.add(key, bson.decode(blob, codec_options=codec))
    return [doc["_id"] for doc in docs]


def replace_by_id(raw: Any, docs: list[dict]) -> int:
    """Write each of ``docs`` (with ``_id``) over the stored document of that ``_id``; returns how many
    were stored (an ``_id`` that is not stored writes nothing, like ``ReplaceOne`` without upsert).

    For collections without unique indexes (those would need a check per document): Fallback.
    """
    store = _store_of(raw)
    if _unique_indexes(store):
        raise Fallback("unique indexes")
    table = store._documents
    codec = table._codec_options
    rows = []
    for doc in docs:
        if "_id" not in doc or isinstance(doc["_id"], dict):
            raise Fallback("document _id")
        rows.append((table.encode_key(doc["_id"]), bson.encode(doc, codec_options=codec)))
    cursor = _write(table, f"UPDATE {table._table_name} SET {table.DOC}=? WHERE {table.ID}=?",  # nosec
                    [(blob, key) for key, blob in rows], many=True)
    index = store._query_index
    if index is not None:
        fields = list(index._fields.values())
        for (key, blob), doc in zip(rows, docs, strict=True):
            if key not in index._docs:
                continue                           # not stored (nothing was written for it)
            # the index entries stay right when every indexed value is the same as before
            if all(_indexing._doc_keys(doc, f.path) == f._doc_keys.get(key, ()) for f in fields):
                continue
            index.add(key, bson.decode(blob, codec_options=codec))
    return max(int(cursor.rowcount), 0)


def _set_path(doc: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    target = doc
    for part in parts[:-1]:
        nxt = target.get(part)
        if nxt is None:
            nxt = target[part] = {}
        if not isinstance(nxt, dict):
            raise Fallback("$set through a non-document")
        target = nxt
    target[parts[-1]] = value


def find_one_and_set(raw: Any, filter: Mapping[str, Any], update: Mapping[str, Any], projection: Any,
                     sort: Sequence[tuple[str, int]] | None, return_after: bool) -> dict | None:
    """``find_one_and_update`` for a plain ``{"$set": {...}}`` without upsert (runs, jobs)."""
    store = _store_of(raw)
    if list(update) != ["$set"] or not isinstance(update["$set"], Mapping) or not update["$set"]:
        raise Fallback("not a plain $set")
    sets = dict(update["$set"])
    for path in sets:
        parts = path.split(".")
        if not path or "$" in path or "_id" == parts[0] or any(p.isdigit() or not p for p in parts):
            raise Fallback("$set path")
    unique_fields = {k.split(".")[0] for ix in _unique_indexes(store) for k, _ in ix["key"]}
    if unique_fields & {p.split(".")[0] for p in sets}:
        raise Fallback("$set on a unique field")
    found = find(raw, filter, None, sort, 0, 1)
    if not found:
        return None
    doc = found[0]
    table = store._documents
    codec = table._codec_options
    before = None if return_after else bson.encode(doc, codec_options=codec)
    for path, value in sets.items():
        _set_path(doc, path, value)
    key = table.encode_key(doc["_id"])
    try:
        blob = bson.encode(doc, codec_options=codec)
    except Exception as exc:
        raise Fallback("not encodable") from exc
    _write(table, f"UPDATE {table._table_name} SET {table.DOC}=? WHERE {table.ID}=?", (blob, key))  # nosec
    if store._query_index is not None:
        store._query_index.add(key, bson.decode(blob, codec_options=codec))
    out = bson.decode(blob if before is None else before, codec_options=_AWARE)
    if projection is not None:
        fields = projection if isinstance(projection, Mapping) else _helpers.fields_list_to_dict(projection)
        out = raw._copy_only_fields(out, dict(fields), dict)
    return out
