"""cluster_snapshots: per-run per-student frames, split into chunks to stay far below 16 MB."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from storage.bson_safe import to_bson_safe

from .base import Repository

__all__ = ["SnapshotRepository", "CHUNK_ROWS"]

#: most students per chunk document.
CHUNK_ROWS = 2000
#: rough byte budget per chunk (BSON of a float list element is ~ 9 bytes + key).
_CHUNK_BYTES = 8_000_000


def _rows_per_chunk(n_columns: int, limit: int) -> int:
    per_row = 16 * (n_columns + 2)
    return max(1, min(limit, _CHUNK_BYTES // per_row))


def _restore(values: list, dtype: str) -> pd.Series | list:
    if dtype in ("float64", "float32"):     # None -> NaN in numpy's own conversion
        return pd.Series(np.array(values, dtype=dtype), dtype=dtype)
    if dtype.startswith(("float", "Float")):
        return pd.Series([np.nan if v is None else v for v in values], dtype=dtype)
    if dtype.startswith("datetime64"):
        return pd.Series(pd.to_datetime(values, utc=True)).astype(dtype)
    try:
        return pd.Series(values).astype(dtype)
    except (TypeError, ValueError):
        return pd.Series(values, dtype=object)


_NUMPY_DTYPES = frozenset({"float64", "float32", "int64", "int32"})


def _restore_column(values: list, dtype: str) -> np.ndarray | pd.Series | list:
    """A column for the frame: numpy numeric columns as a plain array (the frame takes it as it is,
    without aligning a Series), anything else as :func:`_restore` gives it."""
    if dtype in _NUMPY_DTYPES:
        try:
            return np.array(values, dtype=dtype)    # floats: None -> NaN
        except (TypeError, ValueError, OverflowError):
            pass
    return _restore(values, dtype)


def _column_chunks(column: pd.Series, bounds: list[tuple[int, int]]) -> list[list]:
    """One column as BSON-safe plain values, one list per chunk; numpy numeric columns skip the
    per-value walk (each chunk's slice made plain at once)."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
        values = column.to_numpy()
        nan = dtype.kind == "f" and bool(np.isnan(values).any())
        out = [values[start:stop].tolist() for start, stop in bounds]
        if nan:  # NaN -> None, as to_bson_safe does
            out = [[None if v != v else v for v in part] for part in out]
        return out
    values = to_bson_safe(column.tolist())
    return [values[start:stop] for start, stop in bounds]


class SnapshotRepository(Repository):
    """What is needed to redraw and audit a run (collection ``cluster_snapshots``)."""

    collection_name = "cluster_snapshots"
    chunk_rows = CHUNK_ROWS

    def save(self, course_id: int, run_id: str, frame: pd.DataFrame, meta: dict[str, Any] | None = None) -> int:
        """Store ``frame`` (one row per student, index = user id) in chunks; returns the chunk count.

        Saving again for the same run replaces it. ``meta`` (any BSON-safe dict) goes on chunk 0.
        """
        self.delete_run(run_id)
        now = self._now()
        columns = list(frame.columns)
        multi = isinstance(frame.columns, pd.MultiIndex)
        dtypes = [str(t) for t in frame.dtypes]
        step = _rows_per_chunk(len(columns), self.chunk_rows)
        n_rows = len(frame)
        n_chunks = max(1, -(-n_rows // step))
        meta = dict(meta or {})
        run_at = meta.get("run_at", now)
        # every column made plain once (not once per chunk through iloc), sliced per chunk
        bounds = [(i * step, min((i + 1) * step, n_rows)) for i in range(n_chunks)]
        chunked = [_column_chunks(frame.iloc[:, j], bounds) for j in range(len(columns))]
        all_ids = frame.index.tolist()
        docs = []
        for i in range(n_chunks):
            start, stop = i * step, min((i + 1) * step, n_rows)
            doc: dict[str, Any] = {
                "course_id": course_id,
                "run_id": run_id,
                "chunk": i,
                "n_chunks": n_chunks,
                "rows": max(stop - start, 0),
                "user_ids": all_ids[start:stop],
                "saved_at": now,
                "run_at": run_at,
            }
            if i == 0:
                doc.update(
                    columns=[list(c) for c in columns] if multi else columns,
                    column_levels=frame.columns.nlevels,
                    column_names=list(frame.columns.names),
                    dtypes=dtypes,
                    index_name=frame.index.name,
                    index_dtype=str(frame.index.dtype),
                    total_rows=n_rows,
                    meta=meta,
                )
            doc = self._safe(doc)
            doc["values"] = [parts[i] for parts in chunked]
            docs.append(doc)
        self._col.insert_many(docs)
        return n_chunks

    def _chunks(self, run_id: str, course_id: int | None = None) -> list[dict]:
        """Every chunk of a run's snapshot in order; ``KeyError`` when absent or partial."""
        query: dict[str, Any] = {"run_id": run_id}
        if course_id is not None:
            query["course_id"] = course_id
        # no projection: the embedded store would copy every value of every chunk to apply one
        chunks = self._col.find(query, sort=[("chunk", 1)])
        for chunk in chunks:
            chunk.pop("_id", None)
        if not chunks or chunks[0]["chunk"] != 0:
            raise KeyError(f"no snapshot for run {run_id}")
        head = chunks[0]
        if len(chunks) != head["n_chunks"] or [c["chunk"] for c in chunks] != list(range(head["n_chunks"])):
            raise KeyError(f"snapshot of run {run_id} is incomplete")
        return chunks

    @staticmethod
    def _assemble(chunks: list[dict], picked: list[int] | None = None) -> pd.DataFrame:
        """The frame of ``chunks`` (only the columns at positions ``picked`` when given)."""
        head = chunks[0]
        n_cols = len(head["columns"])
        picked = list(range(n_cols)) if picked is None else picked
        user_ids: list = []
        data: dict[int, list] = {j: [] for j in picked}
        for chunk in chunks:
            user_ids.extend(chunk["user_ids"])
            for j, values in data.items():
                values.extend(chunk["values"][j])
        if not picked:
            columns: Any = pd.RangeIndex(0)
        elif head.get("column_levels", 1) > 1:
            columns = pd.MultiIndex.from_tuples([tuple(head["columns"][j]) for j in picked],
                                                names=head["column_names"])
        else:
            columns = pd.Index([head["columns"][j] for j in picked], name=(head.get("column_names") or [None])[0])
        index = pd.Index(_restore(user_ids, head.get("index_dtype", "object")), name=head.get("index_name"))
        frame = pd.DataFrame({i: _restore_column(data[j], head["dtypes"][j]) for i, j in enumerate(picked)},
                             index=pd.RangeIndex(len(index)), copy=False)
        frame.index = index
        frame.columns = columns
        return frame

    def load(self, run_id: str) -> tuple[pd.DataFrame, dict]:
        """Reassemble the frame saved for ``run_id`` and its meta; ``KeyError`` when absent or partial."""
        chunks = self._chunks(run_id)
        return self._assemble(chunks), chunks[0].get("meta", {})

    def load_columns(self, run_id: str, names: list[str] | tuple[str, ...], *,
                     course_id: int | None = None) -> tuple[pd.DataFrame, dict]:
        """Only the columns ``names`` that the snapshot has (in that order) with its index, and its
        meta: the same values and dtypes as ``load(run_id)[0][[n for n in names if n in frame]]``,
        without building the other columns (a student's trend reads 5 of ~60 columns of 12 runs).
        ``KeyError`` as load, also when ``course_id`` is given and the run belongs to another course."""
        chunks = self._chunks(run_id, course_id)
        head = chunks[0]
        columns = head["columns"]
        if head.get("column_levels", 1) > 1 or len(set(map(repr, columns))) != len(columns):
            frame = self._assemble(chunks)  # MultiIndex or repeated labels: select as pandas does
            return frame[[n for n in names if n in frame.columns]], head.get("meta", {})
        position = {c: j for j, c in enumerate(columns)}
        return self._assemble(chunks, [position[n] for n in names if n in position]), head.get("meta", {})

    def meta(self, run_id: str) -> dict | None:
        """Only the meta of a run's snapshot."""
        doc = self._col.find_one({"run_id": run_id, "chunk": 0}, {"_id": 0, "meta": 1})
        return None if doc is None else doc.get("meta", {})

    def exists(self, run_id: str) -> bool:
        return self._col.count_documents({"run_id": run_id, "chunk": 0}) > 0

    def delete_run(self, run_id: str) -> int:
        """Delete every chunk of one run; returns chunks deleted."""
        return self._col.delete_many({"run_id": run_id})

    def run_ids(self, course_id: int) -> list[str]:
        """Run ids with a snapshot, newest first."""
        heads = self._col.find(
            {"course_id": course_id, "chunk": 0},
            {"_id": 0, "run_id": 1},
            sort=[("run_at", -1), ("saved_at", -1), ("_id", -1)],
        )
        return [h["run_id"] for h in heads]

    def prune(self, course_id: int, keep: int) -> list[str]:
        """Delete the snapshots of all but the newest ``keep`` runs of the course; returns their run ids.

        Run summaries (course_clusters) and histories are kept forever.
        """
        if keep < 0:
            raise ValueError("keep must be >= 0")
        doomed = self.run_ids(course_id)[keep:]
        for run_id in doomed:
            self.delete_run(run_id)
        return doomed

    def saved_at(self, run_id: str) -> dt.datetime | None:
        doc = self._col.find_one({"run_id": run_id, "chunk": 0}, {"_id": 0, "saved_at": 1})
        return None if doc is None else doc.get("saved_at")
