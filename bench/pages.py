"""Benchmark 5: every page rendered with Streamlit's AppTest for a big course with a year of history.

History: a child process fills an embedded store for one demo course (5,000 students) with 52 weekly
runs: a genuine ``run_course`` a week ago, then 50 older weekly runs CLONED from it through the
storage API (run document, snapshot, history, in the pipeline's write order) with labels that move
~7% of the students each week, then a genuine ``run_course`` now (so the latest run has real
transitions, drift and movers against the week before). Snapshots are pruned to the configured
retention, as the pipeline does. Each page is then rendered by AppTest after the admin signs in,
with the data cache cleared first ("cold", the figure), and once more ("warm"). Baseline: the same
page rendered on an empty store (signed in, no course, no run) in the same way.
"""

from __future__ import annotations

import copy
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Result, bench_as_of, demo_site, install_demo_site, make_config, run_child
from ui.resources import PAGE_FILES

__all__ = ["run", "build_history", "PAGES", "TARGET_SECONDS"]

TARGET_SECONDS = 2.0
COURSE_ID = 870
PAGES = PAGE_FILES
MOVE_SHARE = 0.07
QUICK_PAGES = ("overview", "clusters", "transitions")


def _clone_run(store: Any, source_doc: dict, snapshot: Any, meta: dict, labels: dict[int, int],
               previous: dict[int, int] | None, run_at: datetime) -> str:
    """Write one cloned run (pipeline write order) with ``labels`` (user_id -> cluster_id)."""
    import pandas as pd

    doc = copy.deepcopy(source_doc)
    for key in ("_id", "run_id", "status", "created_at", "finished_at"):
        doc.pop(key, None)
    doc["run_at"] = run_at
    doc["as_of"] = run_at
    n = len(labels)
    members: dict[int, list[int]] = {}
    for uid, cid in labels.items():
        members.setdefault(cid, []).append(uid)
    for cluster in doc["clusters"]:
        ids = sorted(members.get(int(cluster["cluster_id"]), []))
        cluster["user_ids"] = ids
        cluster["size"] = len(ids)
        cluster["share"] = round(len(ids) / n, 4)
    moved = stable = initial = 0
    rows = []
    for uid, cid in labels.items():
        prev = None if previous is None else previous.get(uid)
        kind = "initial" if prev is None else ("stable" if prev == cid else "moved")
        moved += kind == "moved"
        stable += kind == "stable"
        initial += kind == "initial"
        rows.append({"user_id": int(uid), "cluster_id": int(cid), "transition_type": kind,
                     "previous_cluster_id": prev})
    doc["transitions"] = {"stable": stable, "moved": moved, "initial": initial,
                          "matrix": doc.get("transitions", {}).get("matrix", [])}
    run_id = store.runs.insert_pending(doc)
    frame = snapshot.copy()
    if "user_id" in frame.columns and "cluster_id" in frame.columns:
        frame["cluster_id"] = pd.Series(frame["user_id"].map(labels), index=frame.index).astype("int64")
    store.snapshots.save(doc["course_id"], run_id, frame, {**meta, "as_of": run_at})
    store.history.record(doc["course_id"], run_id, run_at, rows)
    store.runs.mark_finished(run_id)
    return run_id


def build_history(data_dir: Path, course_id: int, n_students: int, runs: int, as_of: datetime) -> dict[str, Any]:
    """Fill the store at ``data_dir`` with ``runs`` weekly runs of one demo course (see module doc)."""
    from jobs.pipeline import run_course
    from storage import open_store

    install_demo_site(demo_site([(course_id, n_students)]))
    config = make_config(data_dir, source="demo")
    store = open_store(data_dir=data_dir)
    t0 = time.perf_counter()
    first = run_course(course_id, source="demo", store=store, as_of=as_of - timedelta(weeks=1), config=config)
    t_first = time.perf_counter() - t0
    source_doc = store.runs.get(first["run_id"])
    snapshot, meta = store.snapshots.load(first["run_id"])
    labels = {int(u): int(c["cluster_id"]) for c in source_doc["clusters"] for u in c["user_ids"]}
    cluster_ids = sorted({c for c in labels.values()})
    rng = np.random.default_rng(0)
    previous: dict[int, int] | None = None
    current = dict(labels)
    n_clones = max(runs - 2, 0)
    t0 = time.perf_counter()
    for i in range(n_clones):
        when = as_of - timedelta(weeks=runs - 1 - i)
        users = list(current)
        for j in rng.choice(len(users), size=int(MOVE_SHARE * len(users)), replace=False):
            uid = users[int(j)]
            others = [c for c in cluster_ids if c != current[uid]]
            current[uid] = int(rng.choice(others)) if others else current[uid]
        _clone_run(store, source_doc, snapshot, meta, current, previous, when)
        previous = dict(current)
    t_clones = time.perf_counter() - t0
    store.snapshots.prune(course_id, keep=config.snapshot_retention)
    t0 = time.perf_counter()
    last = run_course(course_id, source="demo", store=store, as_of=as_of, config=config)
    t_last = time.perf_counter() - t0
    return {"runs": store.runs.count(course_id), "first_run_s": t_first, "clones_s": t_clones,
            "clones": n_clones, "last_run_s": t_last, "last_k": last["k"], "moved": last["moved"],
            "history_docs": store.history.count(course_id),
            "history_entries": len((store.history.for_user(course_id, next(iter(labels))) or {}).get("history", []))}


def run(quick: bool = False, log: Any = print) -> list[Result]:
    n_students, n_runs = (100, 3) if quick else (5_000, 52)
    pages = {k: PAGES[k] for k in QUICK_PAGES} if quick else PAGES
    as_of = bench_as_of()
    results = []
    with tempfile.TemporaryDirectory(prefix="cohortlens-bench-pages-") as tmp:
        full, empty = Path(tmp) / "full", Path(tmp) / "empty"
        full.mkdir()
        empty.mkdir()
        log(f"  pages: writing {n_runs} weekly runs of a {n_students:,}-student course ...")
        built = run_child("build_history", {"data_dir": str(full), "course_id": COURSE_ID,
                                            "n_students": n_students, "runs": n_runs,
                                            "as_of": as_of.isoformat()})
        log(f"  pages: history ready ({built['runs']} runs, {built['history_entries']} history entries per "
            f"student; clones written in {built['clones_s']:.1f}s); rendering pages ...")
        loaded = run_child("pages", {"data_dir": str(full), "course_id": COURSE_ID, "pages": pages})
        log("  pages: rendering the same pages on an empty store ...")
        bare = run_child("pages", {"data_dir": str(empty), "course_id": None, "pages": pages})
    for name in pages:
        ours, base = loaded["pages"][name], bare["pages"][name]
        problems = ours["problems"]
        results.append(Result(
            bench="pages", case=f"{name} ({n_students:,} students, {built['runs']} runs)", figure=ours["cold"],
            unit="s", baseline=base["cold"], baseline_label="same page, empty store",
            ratio=ours["cold"] / base["cold"] if base["cold"] else None, ratio_label="loaded/empty",
            target=f"< {TARGET_SECONDS:g} s", passed=ours["cold"] < TARGET_SECONDS and not problems,
            notes=(f"warm rerun {ours['warm']:.2f}s; {ours['charts']} charts, {ours['tables']} tables"
                   + (f"; PROBLEMS: {problems}" if problems else "")),
            extra={"loaded": ours, "empty": base},
        ))
        log(f"  pages: {name:12s} cold {ours['cold']:.2f}s warm {ours['warm']:.2f}s  empty {base['cold']:.2f}s"
            + (f"  problems: {problems}" if problems else ""))
    results[0].extra["history_build"] = built
    return results

