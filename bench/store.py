"""Benchmark 6: writing and reading a big run on the embedded store (litemongo under our locks).

The documents are the pipeline's own: ``run_course`` runs once on a scratch store for a demo course,
and its run document, snapshot frame and history rows are read back. They are then written to a fresh
embedded store in the pipeline's order (runs.insert_pending -> snapshots.save -> history.record ->
runs.mark_finished), twice (the second run appends to every student's history), and read back
(runs.get, snapshots.load, history.for_course); three times on fresh stores, the fastest of each kept
(as for the baseline, which runs right after each attempt: both sample the same stretch of a shared
machine). Baseline: the same final documents (run document,
snapshot chunks, history documents exactly as stored) encoded with pymongo's ``bson`` into one plain file and
decoded back, and the same documents as BSON blobs in one SQLite table (WAL, one transaction: the
baseline the ratio and the <= 5x target use), so the ratio is the store's overhead (to_bson_safe,
the document layout, the query engine, indexes, locks).
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result, bench_as_of, demo_site, install_demo_site, make_config

__all__ = ["run", "bson_roundtrip", "sqlite_roundtrip", "TARGET_RATIO"]

COURSE_ID = 880
TARGET_RATIO = 5.0
REPEAT = 3


def best_of_pair(fn: Any, repeat: int = 3) -> tuple[float, float, int]:
    """Fastest write and fastest read of ``repeat`` round trips (the machine is shared)."""
    runs = [fn() for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def _history_rows(store: Any, course_id: int, run_id: str) -> list[dict]:
    rows = []
    for uid, entry in store.history.at_run(course_id, run_id).items():
        rows.append({"user_id": int(uid), "cluster_id": entry.get("cluster_id"),
                     "transition_type": entry.get("transition_type"),
                     "previous_cluster_id": entry.get("previous_cluster_id")})
    return rows


def bson_roundtrip(path: Path, docs: list[dict]) -> tuple[float, float, int]:
    """(write seconds, read seconds, bytes) of ``docs`` as concatenated BSON in one file."""
    import bson

    t0 = time.perf_counter()
    with path.open("wb") as fh:
        for doc in docs:
            fh.write(bson.encode(doc))
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    back = bson.decode_all(path.read_bytes())
    t_read = time.perf_counter() - t0
    if len(back) != len(docs):
        raise RuntimeError("BSON round trip lost documents")
    return t_write, t_read, path.stat().st_size


def sqlite_roundtrip(path: Path, docs: list[dict]) -> tuple[float, float, int]:
    """(write seconds, read seconds, bytes) of ``docs`` as BSON blobs in one SQLite table.

    The same settings as the embedded store's files (WAL, synchronous=NORMAL), one transaction for
    the write (``executemany``), one ``SELECT`` + ``bson.decode`` per row for the read.
    """
    import sqlite3

    import bson

    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE docs(id INTEGER PRIMARY KEY, doc BLOB)")
    with con:
        con.executemany("INSERT INTO docs(doc) VALUES (?)", ((bson.encode(d),) for d in docs))
    con.close()
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    back = [bson.decode(row[0]) for row in con.execute("SELECT doc FROM docs ORDER BY id")]
    con.close()
    t_read = time.perf_counter() - t0
    if len(back) != len(docs):
        raise RuntimeError("SQLite round trip lost documents")
    return t_write, t_read, path.stat().st_size


def _write_run(store: Any, doc: dict, frame: Any, meta: dict, rows: list[dict]) -> tuple[str, dict[str, float]]:
    times = {}
    t0 = time.perf_counter()
    run_id = store.runs.insert_pending({k: v for k, v in doc.items()
                                        if k not in ("_id", "run_id", "status", "created_at", "finished_at")})
    times["runs.insert_pending"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.snapshots.save(doc["course_id"], run_id, frame, meta)
    times["snapshots.save"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.history.record(doc["course_id"], run_id, doc["run_at"], rows)
    times["history.record"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.runs.mark_finished(run_id)
    times["runs.mark_finished"] = time.perf_counter() - t0
    return run_id, times


def run(quick: bool = False, log: Any = print) -> list[Result]:
    from jobs.pipeline import run_course
    from storage import open_store

    n = 1_000 if quick else 20_000
    as_of = bench_as_of()
    with tempfile.TemporaryDirectory(prefix="cohortlens-bench-store-") as tmp:
        root = Path(tmp)
        log(f"  store: computing a real {n:,}-student run (run_course on a scratch store) ...")
        install_demo_site(demo_site([(COURSE_ID, n)]))
        scratch = open_store(data_dir=root / "scratch")
        summary = run_course(COURSE_ID, source="demo", store=scratch, as_of=as_of,
                             config=make_config(root / "scratch", source="demo"))
        doc = scratch.runs.get(summary["run_id"])
        frame, meta = scratch.snapshots.load(summary["run_id"])
        rows = _history_rows(scratch, COURSE_ID, summary["run_id"])

        best: dict[str, Any] = {}
        baselines: list[tuple[float, float, int]] = []
        final_docs: list[dict] = []
        for attempt in range(1 if quick else REPEAT):   # fastest of REPEAT, each on a fresh store (shared machine)
            store = open_store(data_dir=root / f"bench-{attempt}")
            log(f"  store: writing and reading it on a fresh embedded store ({attempt + 1}) ...")
            gc.collect()
            t0 = time.perf_counter()
            run1, w1 = _write_run(store, doc, frame, meta, rows)
            write1 = time.perf_counter() - t0
            t0 = time.perf_counter()
            run2, w2 = _write_run(store, doc, frame, meta, rows)
            write2 = time.perf_counter() - t0
            reads = {}
            t0 = time.perf_counter()
            got = store.runs.get(run1)
            reads["runs.get"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            back, _ = store.snapshots.load(run1)
            reads["snapshots.load"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            hist = store.history.for_course(COURSE_ID)
            reads["history.for_course"] = time.perf_counter() - t1
            read = time.perf_counter() - t0
            if got is None or len(back) != len(frame) or len(hist) != len(rows):
                raise RuntimeError("store read back something else than was written")
            for name, value, steps in (("write1", write1, w1), ("write2", write2, w2), ("read", read, reads)):
                if name not in best or value < best[name][0]:
                    best[name] = (value, steps)
            if attempt == 0:
                # the same documents as the store holds for one run: run doc, snapshot chunks, history
                # documents (run chunks when history is stored per run; else every student's document,
                # one entry each)
                final_docs = [store.runs.get(run1)]
                snap_docs = store.collection("cluster_snapshots").find({"run_id": run1}, {"_id": 0})
                hist_docs = store.collection("user_cluster_history").find({"run_id": run1}, {"_id": 0}) or \
                    scratch.collection("user_cluster_history").find({"course_id": COURSE_ID}, {"_id": 0})
                final_docs += snap_docs + hist_docs
            # the baseline right after each attempt: both sides sample the same stretch of a shared
            # machine, each from a collected heap without the other's results
            del got, back, hist
            gc.collect()
            baselines.append(sqlite_roundtrip(root / f"baseline-{attempt}.sqlite", final_docs))
            gc.collect()
            if attempt + 1 < (1 if quick else REPEAT):
                store.close()
        (write1, w1), (write2, w2), (read, reads) = best["write1"], best["write2"], best["read"]
        b_write, b_read, size = bson_roundtrip(root / "baseline.bson", final_docs)
        s_write, s_read = min(b[0] for b in baselines), min(b[1] for b in baselines)
        s_size = baselines[-1][2]

    what = (f"run doc + {len(snap_docs)} snapshot chunks + {len(hist_docs):,} history documents, "
            f"{size / 1e6:.1f} MB BSON; plain BSON file: write {b_write:.3f}s, read {b_read:.3f}s")
    fmt = lambda d: ", ".join(f"{k} {v:.2f}" for k, v in d.items())  # noqa: E731
    base = "SQLite table of BSON blobs (same documents)"
    target = f"<= {TARGET_RATIO:g}x SQLite"
    return [
        Result(bench="store", case=f"write a {n:,}-student run (first run)", figure=write1, unit="s",
               baseline=s_write, baseline_label=base, ratio=write1 / s_write,
               ratio_label="store/sqlite", target=target, passed=write1 / s_write <= TARGET_RATIO,
               notes=f"{what}; steps (s): {fmt(w1)}", extra={"steps": w1, "bytes": size, "sqlite_bytes": s_size,
                                                            "bson_file_write": b_write}),
        Result(bench="store", case=f"write a {n:,}-student run (second run, history appends)", figure=write2,
               unit="s", baseline=s_write, baseline_label=base, ratio=write2 / s_write,
               ratio_label="store/sqlite", target=target, passed=write2 / s_write <= TARGET_RATIO,
               notes=f"steps (s): {fmt(w2)}", extra={"steps": w2}),
        Result(bench="store", case=f"read a {n:,}-student run (doc, snapshot, course history)", figure=read,
               unit="s", baseline=s_read, baseline_label=base, ratio=read / s_read,
               ratio_label="store/sqlite", target=target, passed=read / s_read <= TARGET_RATIO,
               notes=f"steps (s): {fmt(reads)}", extra={"steps": reads, "run2": run2, "bson_file_read": b_read}),
    ]
