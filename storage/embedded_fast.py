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

import contextlib
import datetime
import gc
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import bson

__all__ = ["AVAILABLE", "CommitBatch", "Fallback", "find", "find_one_and_set", "insert_many", "install",
           "paused_gc", "replace_by_id"]

_MAX_PARAMS = 500
#: a query whose candidates are more than this share of the collection reads it in one scan
_SCAN_SHARE = 0.5


class Fallback(Exception):
    """The fast path does not handle this call: use mongomock's."""


try:  # litemongo internals (0.2.x); any change turns the fast paths off
    from litemongo import sqlite_store as _sqlite_store
    from litemongo._vendor.mongomock import collection as _collection
    from litemongo._vendor.mongomock import filtering as _filtering
    from litemongo._vendor.mongomock import helpers as _helpers
    from litemongo._vendor.mongomock import indexing as _indexing

    _TableDict = _sqlite_store.TableDict
    _KEY_FORMAT_TYPED = _sqlite_store.KEY_FORMAT_TYPED
    _CollectionStore = _sqlite_store.CollectionStore
    _AWARE = bson.CodecOptions(tz_aware=True, tzinfo=_helpers.utc)
    _probe = _indexing.CollectionIndexes()
    AVAILABLE = all(hasattr(_probe, a) for a in ("_fields", "_docs", "_next_seq")) and all(
        hasattr(_probe._fields["_id"], a) for a in ("_entries", "_unkeyed", "_doc_keys", "path")
    ) and all(hasattr(_TableDict, a) for a in ("__setitem__", "__delitem__", "encode_key")) and all(
        hasattr(_CollectionStore, a) for a in ("_get_query_index", "_remove_expired_documents", "_index_key")
    ) and callable(getattr(_collection, "_combine_projection_spec", None))
except Exception:  # pragma: no cover - a litemongo without these internals
    AVAILABLE = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused while many acyclic objects are made (decoded documents).

    Decoding 20,000 documents allocates ~100,000 dicts and lists; each allocation threshold starts a
    collection that walks the young objects, and the older generations get walked again and again
    while the result grows (~30 % of a big read). Reference counting still frees everything; the
    collector runs again as soon as the outermost pause ends (it was left alone if already off).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


def _stored_keys(store: Any, keys: list) -> set:
    """Those of the encoded ``keys`` that are stored (ids only: no document is read)."""
    table = store._documents
    con = table._connection
    out: set = set()
    for start in range(0, len(keys), _MAX_PARAMS):
        chunk = keys[start: start + _MAX_PARAMS]
        out.update(k for (k,) in con.execute(
            f"SELECT {table.ID} FROM {table._table_name} WHERE {table.ID} IN ({','.join('?' * len(chunk))})",  # nosec
            chunk))
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
    spec = dict(filter or {})
    id_lookup = _is_str_id_lookup(spec)
    if not id_lookup:   # (string ids hold no datetime)
        spec = _helpers.patch_datetime_awareness_in_document(spec)
    if sort and any(key.startswith("$") for key, _ in sort):
        raise Fallback("special sort")
    if limit < 0:
        raise Fallback("negative limit")
    table = store._documents
    naive = table._codec_options
    store._remove_expired_documents()
    index = store._get_query_index()
    if id_lookup and table.key_format == _KEY_FORMAT_TYPED:
        # string ids: the stored keys themselves ("s:<id>", distinct from any other type's)
        wanted = spec["_id"]["$in"] if isinstance(spec["_id"], dict) else [spec["_id"]]
        keys: set | None = {table.encode_key(v) for v in wanted}
    else:
        keys = index.candidates(spec)
        if keys:
            keys = _without_ne(index, spec, keys)
    if keys is None:
        rows = _rows(store, None)
    elif len(keys) > _SCAN_SHARE * max(len(index._docs), 1):
        # most of the collection: one scan in natural order instead of many keyed look-ups
        rows = [(k, blob) for k, blob in _rows(store, None) if k in keys]
    else:
        rows = _rows(store, index.in_natural_order(keys))
    if not rows:
        _filtering.filter_applies(spec, {})        # mongomock validates the filter even then
    matched: list[tuple[dict, bytes]] = []
    exact = keys is not None and id_lookup   # the _id index answered it exactly
    plain = not exact and _plain_equalities(spec)
    # mongomock compares stored (naive UTC) datetimes with the filter's; without a datetime in the
    # filter, the aware documents we return can be filtered and sorted directly (one decode each)
    once = id_lookup or not _has_datetime(spec)
    codec = _AWARE if once else naive
    applies = _filtering.filter_applies
    blobs = [blob for _key, blob in rows]
    decoded = bson.decode_all(b"".join(blobs), codec_options=codec) if len(blobs) > 1 else \
        [bson.decode(blob, codec_options=codec) for blob in blobs]          # (one C call for many)
    if len(decoded) != len(blobs):
        raise Fallback("a stored document did not decode on its own")
    for doc, blob in zip(decoded, blobs, strict=True):
        if exact:
            matched.append((doc, blob))
            continue
        hit = _quick_match(spec, doc) if plain else None
        if hit is None:
            hit = applies(spec, doc)
        if hit:
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
        out = [_project(raw, doc, projection) for doc in out]
    return out


def _without_ne(index: Any, spec: dict, keys: set) -> set:
    """Candidates narrowed by the top-level ``{field: {"$ne": "<str>"}}`` conditions on indexed fields:
    a document keyed with that string has the value (or an array holding it), so it cannot match."""
    for field, cond in spec.items():
        if type(cond) is dict and len(cond) == 1 and type(cond.get("$ne")) is str and field in index._fields:
            equal = index._fields[field]._entries.get(("s", cond["$ne"]))
            if equal:
                keys = keys - equal
    return keys


def _plain_equalities(spec: dict) -> bool:
    """Whether ``spec`` is only top-level equalities with exact ``str`` / ``int`` values."""
    return bool(spec) and all(
        type(k) is str and "." not in k and not k.startswith("$") and (type(v) is str or type(v) is int)
        for k, v in spec.items())


def _quick_match(spec: dict, doc: dict) -> bool | None:
    """Equality of exact ``str`` / ``int`` values, answered without mongomock when the stored value has
    the query value's exact type (MongoDB equality is then ``==``); None = ask ``filter_applies``
    (another type: a list holding the value, a float equal to the int, a bool, a missing field)."""
    for key, value in spec.items():
        stored = doc.get(key, _MISSING)
        if type(stored) is not type(value):
            return None
        if stored != value:
            return False
    return True


_MISSING = object()


def _pick(doc: dict, spec: dict, include: bool) -> dict:
    """mongomock's ``_project_by_spec`` without its deep copy (every document here is a fresh decode)."""
    out: dict = {}
    for key, val in doc.items():
        sub = spec.get(key, _MISSING)
        if isinstance(sub, dict):
            if isinstance(val, list | tuple):
                out[key] = [_pick(v, sub, include) for v in val]
            elif isinstance(val, dict):
                out[key] = _pick(val, sub, include)
        elif (include and sub is not _MISSING) or (not include and sub is _MISSING):
            out[key] = val
    return out


def _project(raw: Any, doc: dict, projection: Any) -> dict:
    """``raw._copy_only_fields(doc, projection, dict)`` (mongomock's projection) on a fresh document.

    Plain include / exclude projections (dotted paths too) are applied without copying; anything
    else (empty, ``$slice`` / ``$elemMatch``, mixed) goes to mongomock, which raises its own errors.
    """
    fields = dict(projection) if isinstance(projection, Mapping) else _helpers.fields_list_to_dict(projection)
    if not fields or any(isinstance(v, dict) or "$" in k for k, v in fields.items()):
        return raw._copy_only_fields(doc, fields, dict)
    id_value = fields.pop("_id", 1)
    if len(set(fields.values())) > 1:
        return raw._copy_only_fields(doc, {**fields, "_id": id_value}, dict)
    if not fields:
        out = {} if id_value == 1 else doc
    else:
        try:
            combined = _collection._combine_projection_spec(fields)
        except Exception:
            return raw._copy_only_fields(doc, {**fields, "_id": id_value}, dict)
        if "$" in combined:
            return raw._copy_only_fields(doc, {**fields, "_id": id_value}, dict)
        out = _pick(doc, combined, bool(next(iter(fields.values()))))
    if id_value == 0:
        out.pop("_id", None)
    elif "_id" in doc:
        out["_id"] = doc["_id"]
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
    shapes: set[tuple] = set()       # field-name tuples already checked (documents of a batch share them)
    for doc in docs:
        if not isinstance(doc, dict):
            raise Fallback("unusual document")
        shape = tuple(doc)
        if shape not in shapes:
            if any(not isinstance(k, str) or k.startswith("$") for k in shape):
                raise Fallback("unusual document")
            shapes.add(shape)
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
    if _stored_keys(store, [k for k, _ in rows]):
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
        tops = _index_tops(index)
        _index_add_new(index, [(key, _index_view(index, doc, codec, tops))
                               for (key, _blob), doc in zip(rows, docs, strict=True)])
    return [doc["_id"] for doc in docs]


def replace_by_id(raw: Any, docs: list[dict], unchanged: Sequence[str] = ()) -> int:
    """Write each of ``docs`` (with ``_id``) over the stored document of that ``_id``; returns how many
    were stored (an ``_id`` that is not stored writes nothing, like ``ReplaceOne`` without upsert).

    For collections without unique indexes (those would need a check per document): Fallback.
    ``unchanged``: top-level fields the caller read under the store lock and did not touch (their
    query-index entries are not re-checked).
    """
    store = _store_of(raw)
    if _unique_indexes(store):
        raise Fallback("unique indexes")
    table = store._documents
    codec = table._codec_options
    rows = []
    encode_key = table.encode_key
    typed = table.key_format == _KEY_FORMAT_TYPED
    for doc in docs:
        _id = doc.get("_id", _MISSING)
        if _id is _MISSING or isinstance(_id, dict):
            raise Fallback("document _id")
        rows.append((bson.encode(doc, codec_options=codec),
                     "s:" + _id if typed and type(_id) is str else encode_key(_id)))
    cursor = _write(table, f"UPDATE {table._table_name} SET {table.DOC}=? WHERE {table.ID}=?",  # nosec
                    rows, many=True)
    index = store._query_index
    if index is not None:
        # the _id entry cannot change (the row is found by it); the others stay right when every
        # indexed value is the same as before
        fields = [(f.path, f._doc_keys) for path, f in index._fields.items()
                  if path != "_id" and path.split(".")[0] not in unchanged]
        tops = _index_tops(index)
        stored = index._docs
        for (_blob, key), doc in zip(rows, docs, strict=True) if fields else ():
            if key not in stored:
                continue                           # not stored (nothing was written for it)
            view = None
            for path, doc_keys in fields:
                keys = _plain_keys(doc, path)
                if keys is None:                   # not a plain value: as the stored form gives it
                    view = view or _index_view(index, doc, codec, tops)
                    keys = _indexing._doc_keys(view, path)
                if keys != doc_keys.get(key, ()):
                    index.add(key, view or _index_view(index, doc, codec, tops))
                    break
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
    keep = _included_tops(projection)   # the top-level fields the answer needs (None: all)
    before = None if return_after else bson.encode(_subset(doc, keep), codec_options=codec)
    for path, value in sets.items():
        _set_path(doc, path, value)
    key = table.encode_key(doc["_id"])
    try:
        blob = bson.encode(doc, codec_options=codec)
    except Exception as exc:
        raise Fallback("not encodable") from exc
    _write(table, f"UPDATE {table._table_name} SET {table.DOC}=? WHERE {table.ID}=?", (blob, key))  # nosec
    if store._query_index is not None:
        store._query_index.add(key, _index_view(store._query_index, doc, codec))
    if before is None:
        before = blob if keep is None else bson.encode(_subset(doc, keep), codec_options=codec)
    out = bson.decode(before, codec_options=_AWARE)
    if projection is not None:
        out = _project(raw, out, projection)
    return out


def _included_tops(projection: Any) -> set[str] | None:
    """The top-level fields a plain inclusion projection can show (with ``_id``); None otherwise."""
    if projection is None:
        return None
    fields = dict(projection) if isinstance(projection, Mapping) else _helpers.fields_list_to_dict(projection)
    fields.pop("_id", None)
    if not fields or any(isinstance(v, dict) or "$" in k or not v for k, v in fields.items()):
        return None
    return {k.split(".")[0] for k in fields} | {"_id"}


def _subset(doc: dict, keep: set[str] | None) -> dict:
    return doc if keep is None else {k: v for k, v in doc.items() if k in keep}


_SAME_AFTER_ROUND_TRIP = (str, int, float, bool, type(None), bson.ObjectId)
_EXACT_FLOAT = 2 ** 53


def _plain_keys(doc: dict, path: str) -> set | None:
    """mongomock's index keys of a top-level ``str`` / ``int`` (the same before and after a BSON round
    trip); None for anything else."""
    if "." not in path:
        value = doc.get(path, _MISSING)
        kind = type(value)
        if kind is str:
            return {("s", value)}
        if kind is int and -_EXACT_FLOAT <= value <= _EXACT_FLOAT:
            return {("n", float(value))}
    return None


def _field_keys(doc: dict, path: str) -> set | None:
    """mongomock's ``indexing._doc_keys(doc, path)``; a top-level ``str`` / ``int`` without its walk."""
    keys = _plain_keys(doc, path)
    return _indexing._doc_keys(doc, path) if keys is None else keys


def _index_add_new(index: Any, pairs: list[tuple[Any, dict]]) -> None:
    """``index.add(key, doc)`` (mongomock's ``CollectionIndexes.add``) for each (key, doc), field by field:
    a key not indexed yet goes last in the natural order with :func:`_field_keys` for each path."""
    docs = index._docs
    new = []
    for key, doc in pairs:
        if key in docs:
            index.add(key, doc)
        else:
            docs[key] = index._next_seq
            index._next_seq += 1
            new.append((key, doc))
    for path, field in index._fields.items():
        entries, doc_keys, unkeyed = field._entries, field._doc_keys, field._unkeyed
        top = "." not in path
        for key, doc in new:
            value = doc.get(path, _MISSING) if top else _MISSING
            kind = type(value)
            if kind is str:
                k = ("s", value)
            elif kind is int and -_EXACT_FLOAT <= value <= _EXACT_FLOAT:
                k = ("n", float(value))
            else:
                keys = _indexing._doc_keys(doc, path)
                if keys is None:
                    unkeyed.add(key)
                else:
                    for k in keys:
                        entries.setdefault(k, set()).add(key)
                doc_keys[key] = keys
                continue
            found = entries.get(k)
            if found is None:
                entries[k] = {key}
            else:
                found.add(key)
            doc_keys[key] = {k}


def _index_tops(index: Any) -> set[str]:
    """The top-level fields of the paths ``index`` keys."""
    return {path.split(".")[0] for path in index._fields}


def _index_view(index: Any, doc: dict, codec: Any, tops: set[str] | None = None) -> dict:
    """What mongomock's query index needs of ``doc`` (its indexed top-level fields) in the stored form.

    Equal to decoding the whole stored blob for every indexed path (a path only looks inside its
    own top-level field); values whose BSON round trip is the identity are used as they are."""
    sub = {k: doc[k] for k in (tops or _index_tops(index)) if k in doc}
    if all(type(v) in _SAME_AFTER_ROUND_TRIP for v in sub.values()):
        return sub
    return bson.decode(bson.encode(sub, codec_options=codec), codec_options=codec)
