"""Child-process side of the benchmarks: ``python -m bench.child TASK '<json args>'``.

Each task prints one ``BENCH_RESULT {json}`` line with its timings and its own peak RSS
(``VmHWM``), so memory is measured for that work alone, away from the parent (which may be
serving the fake Moodle).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import demo_site, install_demo_site, make_config, peak_rss_mb

__all__ = ["main", "TASKS"]


def _as_of(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stage_clock() -> tuple[Callable[[str, float], None], dict[str, float]]:
    """A run_course progress callback that records when each stage starts."""
    marks: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(stage: str, fraction: float) -> None:
        marks.setdefault(stage, round(time.perf_counter() - t0, 3))

    return progress, marks


def task_run_course(args: dict[str, Any]) -> dict[str, Any]:
    """One run_course, source "moodle" (args url/std/cus) or "demo" (the bench site installed)."""
    from jobs.pipeline import run_course
    from storage import open_store

    cid, n = int(args["course_id"]), int(args["n_students"])
    data_dir = Path(args["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    if args["mode"] == "demo":
        install_demo_site(demo_site([(cid, n)]))
        config = make_config(data_dir, source="demo")
    else:
        config = make_config(data_dir, source="moodle", moodle_url=args["url"], standard_token=args["std"],
                             custom_token=args["cus"])
    store = open_store(data_dir=data_dir)
    progress, marks = _stage_clock()
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    summary = run_course(cid, source=config.source, store=store, as_of=_as_of(args.get("as_of")),
                         config=config, progress=progress)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before, "stages": marks,
            "k": summary["k"], "students": summary["students"], "events": summary["events"],
            "source": summary["source"]}


def task_nightly(args: dict[str, Any]) -> dict[str, Any]:
    """One course on its own (the baseline, after a warm-up course), then the nightly job over N courses."""
    from jobs.pipeline import run_course
    from jobs.runner import run_nightly
    from storage import open_store

    root = Path(args["data_dir"])
    course_ids = [int(c) for c in args["course_ids"]]
    single = [int(c) for c in args["single_course_ids"]]  # [warm-up, measured]; not in course_ids
    common = {"source": "moodle", "moodle_url": args["url"], "standard_token": args["std"],
              "custom_token": args["cus"]}
    one_store = open_store(data_dir=root / "single")
    one_config = make_config(root / "single", **common)
    run_course(single[0], source="moodle", store=one_store, config=one_config)  # warm-up: imports, pools
    t0 = time.perf_counter()
    run_course(single[1], source="moodle", store=one_store, config=one_config)
    one_seconds = time.perf_counter() - t0

    store = open_store(data_dir=root / "nightly")
    config = make_config(root / "nightly", nightly_courses=tuple(course_ids), **common)
    t0 = time.perf_counter()
    job = run_nightly(store, config)
    seconds = time.perf_counter() - t0
    results = (job or {}).get("result") or {}
    statuses: dict[str, int] = {}
    for res in results.values():
        status = (res or {}).get("status", "?")
        statuses[status] = statuses.get(status, 0) + 1
    runs = sum(store.runs.count(c) for c in course_ids)
    return {"seconds": seconds, "one_course_seconds": one_seconds, "job_status": (job or {}).get("status"),
            "statuses": statuses, "runs_written": runs, "parallel": config.max_parallel_courses,
            "peak_rss_mb": peak_rss_mb()}


def task_pages(args: dict[str, Any]) -> dict[str, Any]:
    """Log in through AppTest and time every page (cold data cache, then warm) on an existing store."""
    import io
    import os
    import secrets

    data_dir = Path(args["data_dir"])
    password = "bench-" + secrets.token_urlsafe(12)
    env = {
        "COHORTLENS_DATA_DIR": str(data_dir), "COHORTLENS_ADMIN_PASSWORD": password,
        "COHORTLENS_COOKIE_KEY": secrets.token_urlsafe(40), "COHORTLENS_BOOTSTRAP": "0",
        "CLUSTER_JOB_ENABLED": "0", "COHORTLENS_LANGUAGE": "en", "COHORTLENS_SOURCE": "demo",
        "COHORTLENS_LLM_ENABLED": "0", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    for key in ("MONGODB_URI", "MOODLE_URL", "GEMINI_API_KEY"):
        os.environ.pop(key, None)
    os.environ.update(env)
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from storage import open_store
    from ui.auth import ensure_admin

    repo = Path(__file__).resolve().parents[1]
    store = open_store(data_dir=data_dir)
    ensure_admin(store, out=io.StringIO())
    at = AppTest.from_file(str(repo / "app.py"), default_timeout=120)
    at.run()
    at.text_input[0].input("admin")
    at.text_input[1].input(password)
    at.button[0].click().run()
    if at.session_state["authentication_status"] is not True:
        raise RuntimeError("bench could not log in to the app")
    at.session_state["lang"] = "en"
    if args.get("course_id") is not None:
        at.session_state["course_id"] = int(args["course_id"])
    at.run()
    pages: dict[str, str] = args["pages"]
    for path in pages.values():  # warm-up: imports and first-render costs, not data loading
        at.switch_page(path).run()
    out: dict[str, Any] = {}
    for name, path in pages.items():
        st.cache_data.clear()
        t0 = time.perf_counter()
        at.switch_page(path).run()
        cold = time.perf_counter() - t0
        problems = [str(e.value)[:200] for e in at.exception] + [str(e.value)[:200] for e in at.error]
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        out[name] = {"cold": cold, "warm": warm, "problems": problems,
                     "charts": len(at.get("plotly_chart")), "tables": len(at.dataframe)}
    return {"pages": out, "peak_rss_mb": peak_rss_mb()}


def task_build_history(args: dict[str, Any]) -> dict[str, Any]:
    """Fill a store with ``runs`` weekly runs of one course (see bench.pages.build_history)."""
    from bench.pages import build_history

    return build_history(Path(args["data_dir"]), int(args["course_id"]), int(args["n_students"]),
                         int(args["runs"]), _as_of(args["as_of"]))


def task_serve_moodle(args: dict[str, Any]) -> dict[str, Any]:
    """A fake Moodle for the parent (bench.common.moodle_process): ready line, serve until stdin closes."""
    import secrets
    import threading

    from moodle.fake_server import FakeMoodleServer

    courses = [(int(c), int(n)) for c, n in args["courses"]]
    site = demo_site(courses)
    std, cus = f"bench-std-{secrets.token_hex(12)}", f"bench-cus-{secrets.token_hex(12)}"
    server = FakeMoodleServer(site, standard_token=std, custom_token=cus, as_of=_as_of(args.get("as_of")))
    for cid, _ in courses:           # generate and encode once, before anything is timed
        server._logs(cid, int(args.get("warm_limit") or 5_000_000))
        server._grades(cid, 0)
    with server:
        print("BENCH_READY " + json.dumps({"url": server.url, "std": std, "cus": cus}), flush=True)
        done = threading.Event()

        def wait_stdin() -> None:
            sys.stdin.read()
            done.set()

        threading.Thread(target=wait_stdin, daemon=True).start()
        done.wait()
        calls = server.calls()
    by_function: dict[str, int] = {}
    for call in calls:
        name = str(call.get("function") or call.get("wsfunction") or "?")
        by_function[name] = by_function.get(name, 0) + 1
    return {"calls": len(calls), "by_function": by_function, "peak_rss_mb": peak_rss_mb()}


def _csv_task(reader: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def task(args: dict[str, Any]) -> dict[str, Any]:
        """Read a log export with our importer or polars (bench.csv_import); own time and peak RSS."""
        import bench.csv_import as csv_import

        if reader == "polars":
            import polars  # noqa: F401  (imports are not part of the measured read)
        else:
            import moodle.log_export  # noqa: F401
        before = peak_rss_mb()
        out = getattr(csv_import, f"read_{reader}")(args["path"])
        return {**out, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": before}
    return task


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "csv_ours": _csv_task("ours"),
    "csv_polars": _csv_task("polars"),
    "run_course": task_run_course,
    "nightly": task_nightly,
    "pages": task_pages,
    "build_history": task_build_history,
    "serve_moodle": task_serve_moodle,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: python -m bench.child {{{','.join(TASKS)}}} '<json args>'", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    out = TASKS[argv[0]](json.loads(argv[1]))
    print("BENCH_RESULT " + json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

