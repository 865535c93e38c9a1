"""Benchmark 5: every page's first render in a real browser for a big course with a year of history.

History: a child process fills an embedded store for one demo course (5,000 students) with 52 weekly
runs: a genuine ``run_course`` a week ago, then 50 older weekly runs CLONED from it through the
storage API (run document, snapshot, history, in the pipeline's write order) with labels that move
~7% of the students each week, then a genuine ``run_course`` now (so the latest run has real
transitions, drift and movers against the week before). Snapshots are pruned to the configured
retention, as the pipeline does. Two small courses (100 students, 3 runs) are added: one to warm up
with, one as the baseline.

Each page gets a FRESH ``streamlit run app.py`` (so no cached data) and Debian's chromium driven by
Playwright: sign in, open the page with the warm-up course (imports and the page's code paths run
once), then pick the baseline course in the sidebar, then the big course. The figure is the time
from picking the big course until the script run has ended (``data-test-script-state``, watched by a
MutationObserver) and the page's charts are drawn: every plotly chart on the page has its SVG and
nothing inside any chart changed for ``QUIET_MS`` (the figure is the time of the last change, not the
end of that wait). No expected chart count: how many charts a page draws depends on the course's data
(drift, snapshots kept), and an error shown on the page (``st.error``) is counted as an error. What a
teacher waits for the first time the course is opened on that page. The baseline is the same for the
small course, on the same server, just before.
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

TARGET_SECONDS = 1.0
COURSE_ID = 870
PAGES = PAGE_FILES
MOVE_SHARE = 0.07
QUICK_PAGES = ("clusters", "transitions")


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
    store.snapshots.save(doc["course_id"], run_id, frame, {**meta, "as_of": run_at, "run_at": run_at})
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
    # snapshots sort and are pruned on the runs' timeline (meta "run_at"), so the week-old run keeps its
    # snapshot although the older clones were saved after it
    store.snapshots.prune(course_id, keep=config.snapshot_retention)
    t0 = time.perf_counter()
    last = run_course(course_id, source="demo", store=store, as_of=as_of, config=config)
    t_last = time.perf_counter() - t0
    return {"runs": store.runs.count(course_id), "first_run_s": t_first, "clones_s": t_clones,
            "clones": n_clones, "last_run_s": t_last, "last_k": last["k"], "moved": last["moved"],
            "history_docs": store.history.count(course_id),
            "history_entries": len((store.history.for_user(course_id, next(iter(labels))) or {}).get("history", []))}


#: page key -> (URL path in app.py's navigation, sidebar label in English)
PAGE_ROUTES = {
    "overview": ("home", "Overview"), "actions": ("act", "Action list"), "clusters": ("groups", "Clusters"),
    "transitions": ("moves", "Transitions"), "student": ("learner", "Student"),
    "diagnostics": ("quality", "Diagnostics"), "activity": ("usage", "Activity"), "jobs": ("runs", "Jobs"),
    "import": ("upload", "Import"), "settings": ("admin", "Settings"),
}
WARM_COURSE, BASE_COURSE = COURSE_ID + 1, COURSE_ID + 2
SMALL = (100, 3)                    # students, runs of the warm-up and baseline courses


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_app(data_dir: Path, password: str) -> tuple[Any, str]:
    """``streamlit run app.py`` on a free port over ``data_dir``; returns (process, base URL)."""
    import os
    import secrets
    import subprocess
    import sys
    import urllib.request

    from bench.common import REPO

    env = {**os.environ, "COHORTLENS_DATA_DIR": str(data_dir), "COHORTLENS_ADMIN_PASSWORD": password,
           "COHORTLENS_COOKIE_KEY": secrets.token_urlsafe(40), "COHORTLENS_BOOTSTRAP": "0",
           "CLUSTER_JOB_ENABLED": "0", "COHORTLENS_LANGUAGE": "en", "COHORTLENS_SOURCE": "demo",
           "COHORTLENS_TIMEZONE": "UTC", "COHORTLENS_LLM_ENABLED": "0",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    for key in ("MONGODB_URI", "MOODLE_URL", "GEMINI_API_KEY"):
        env.pop(key, None)
    port = _free_port()
    log = (data_dir.parent / f"streamlit-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("streamlit did not answer /_stcore/health in 120 s")


_WATCH = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__runs = [];
  window.__frames = [];
  window.__chartAt = 0;
  new MutationObserver(() => window.__runs.push([performance.now(), app.getAttribute('data-test-script-state')]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  // any change inside a chart (a new chart, plotly drawing or redrawing one) moves the "charts drawn" time
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (el && el.closest('[data-testid="stPlotlyChart"]')) { window.__chartAt = performance.now(); return; }
      for (const n of r.addedNodes) {
        if (n.nodeType === 1 && (n.matches('[data-testid="stPlotlyChart"]') || n.querySelector('[data-testid="stPlotlyChart"]'))) {
          window.__chartAt = performance.now(); return;
        }
      }
    }
  }).observe(app, {subtree: true, childList: true, attributes: true});
  return performance.now();
}"""
_CHARTS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot'))
  .filter(e => e.querySelector('.main-svg')).length"""
#: the charts count as drawn when the script run has ended, every chart on the page has its plotly
#: SVG, and nothing inside any chart changed for QUIET_MS of SMOOTH frames (no gap between two
#: animation frames above MAX_FRAME_GAP_MS: a long task, e.g. plotly laying out thousands of bars
#: before it touches the DOM, is not quiet). The figure is the LAST change (or the run's end when
#: later), not the end of the quiet window. Right for every page whatever its chart count (which
#: depends on the course's data: drift, snapshots kept, ...).
QUIET_MS = 750
MAX_FRAME_GAP_MS = 250
_DONE = """([t0, quiet, maxGap]) => {
  const now = performance.now();
  const frames = window.__frames || (window.__frames = []);
  frames.push(now);
  const runs = window.__runs || [];
  const started = runs.findIndex(r => r[1] === 'running');
  if (started < 0) return null;
  const ended = runs.slice(started).find(r => r[1] === 'notRunning');
  if (!ended) return null;
  const boxes = Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'));
  if (boxes.some(b => !b.querySelector('.js-plotly-plot .main-svg'))) return null;
  const last = Math.max(ended[0], window.__chartAt || 0);
  if (now - last < quiet) return null;
  const recent = frames.filter(f => f >= last);
  for (let i = 1; i < recent.length; i++) if (recent[i] - recent[i - 1] > maxGap) {
    window.__chartAt = recent[i];   // a long task after the last change: quiet again from its end
    return null;
  }
  if (recent.length < 2 || recent[0] - last > maxGap) { window.__chartAt = recent[0] || now; return null; }
  return [last - t0, ended[0] - t0];
}"""


def _open_course(page: Any, course_id: int, timeout_s: float = 120.0) -> tuple[float, int, int, float]:
    """Pick ``course_id`` in the sidebar; seconds until the run ended and the charts are drawn."""
    import re

    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    box.click(timeout=timeout_s * 1000)
    option = page.get_by_role("option", name=re.compile(rf"^{course_id}\b"))
    t0 = page.evaluate(_WATCH)
    option.click()
    handle = page.wait_for_function(_DONE, arg=[t0, QUIET_MS, MAX_FRAME_GAP_MS], timeout=timeout_s * 1000,
                                     polling="raf")
    total_ms, run_ms = handle.json_value()
    drawn = page.evaluate(_CHARTS)
    errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
    return float(total_ms) / 1000.0, drawn, errors, float(run_ms) / 1000.0


def _settle(page: Any) -> None:
    page.wait_for_timeout(300)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=120_000)
    page.wait_for_timeout(300)


def browser_page(data_dir: Path, key: str, chromium: str, password: str) -> dict[str, Any]:
    """One page on a fresh app server: warm course first (imports, the page's code), then the first
    render of the baseline course and of the big course, each opened from the sidebar. ``password``:
    the admin's (created by the first server on this data folder, the same for every later one)."""
    from playwright.sync_api import sync_playwright

    url_path, label = PAGE_ROUTES[key]
    proc, base = _start_app(data_dir, password)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium,
                                         args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1440, "height": 1200})
            page.goto(f"{base}/?course={WARM_COURSE}")
            page.get_by_role("textbox", name="Username").fill("admin")
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=120_000)
            page.get_by_role("button", name="Sign in").wait_for(state="detached", timeout=120_000)
            _settle(page)
            page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
            _settle(page)
            base_s, base_charts, base_err, base_run = _open_course(page, BASE_COURSE)
            _settle(page)
            big_s, big_charts, big_err, big_run = _open_course(page, COURSE_ID)
            _settle(page)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except Exception:  # noqa: BLE001 - a server that does not stop is killed
            proc.kill()
    return {"seconds": big_s, "baseline": base_s, "charts": big_charts, "baseline_charts": base_charts,
            "errors": big_err + base_err, "url_path": url_path, "script_run_s": big_run,
            "baseline_script_run_s": base_run}


def run(quick: bool = False, log: Any = print) -> list[Result]:
    import os
    import secrets
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("the page benchmark needs Debian's chromium (apt-get install -y chromium)")
    n_students, n_runs = (300, 4) if quick else (5_000, 52)
    keys = list(QUICK_PAGES) if quick else [k for k in PAGE_ROUTES if k in PAGES]
    as_of = bench_as_of()
    results = []
    reuse = os.environ.get("BENCH_PAGES_DATA")   # a data folder filled by an earlier run (see below)
    with tempfile.TemporaryDirectory(prefix="cohortlens-bench-pages-") as tmp:
        data = Path(reuse) if reuse else Path(tmp) / "data"
        password = os.environ.get("BENCH_PAGES_PASSWORD") or "bench-" + secrets.token_urlsafe(12)
        if reuse:
            # BENCH_PAGES_DATA: a copy of a folder this benchmark filled (its admin password in
            # BENCH_PAGES_PASSWORD); building 52 runs of 5,000 students takes minutes on a busy box
            from storage import open_store

            store = open_store(data_dir=data)
            built = {"runs": store.runs.count(COURSE_ID), "history_entries": n_runs, "clones_s": 0.0, "reused": True}
            store.close()
        else:
            data.mkdir()
            log(f"  pages: writing {n_runs} weekly runs of a {n_students:,}-student course (+ two small ones) ...")
            built = run_child("build_history", {"data_dir": str(data), "course_id": COURSE_ID,
                                                "n_students": n_students, "runs": n_runs,
                                                "as_of": as_of.isoformat()})
            for cid in (WARM_COURSE, BASE_COURSE):
                run_child("build_history", {"data_dir": str(data), "course_id": cid, "n_students": SMALL[0],
                                            "runs": SMALL[1], "as_of": as_of.isoformat()})
        log(f"  pages: history ready ({built['runs']} runs, {built['history_entries']} history entries per "
            f"student; clones written in {built['clones_s']:.1f}s); one fresh app server per page ...")
        for key in keys:
            try:
                got = browser_page(data, key, chromium, password)
            except Exception as exc:  # noqa: BLE001 - one page that fails must not hide the others
                log(f"  pages: {key}: FAILED {exc.__class__.__name__}: {str(exc)[:300]}")
                results.append(Result(bench="pages", case=f"{key}: first render in the browser", figure=float("nan"),
                                      unit="s", baseline=None, baseline_label="-", ratio=None, ratio_label="-",
                                      target=f"< {TARGET_SECONDS:g} s", passed=False,
                                      notes=f"FAILED: {exc.__class__.__name__}: {str(exc)[:300]}"))
                continue
            ok = got["errors"] == 0 and got["seconds"] < TARGET_SECONDS
            results.append(Result(
                bench="pages", case=f"{key}: first render in the browser ({n_students:,} students, {built['runs']} runs)",
                figure=got["seconds"], unit="s", baseline=got["baseline"],
                baseline_label=f"same page, first render of a {SMALL[0]}-student course with {SMALL[1]} runs",
                ratio=got["seconds"] / got["baseline"] if got["baseline"] else None, ratio_label="big/small",
                target=f"< {TARGET_SECONDS:g} s", passed=ok,
                notes=(f"{got['charts']} charts drawn (baseline {got['baseline_charts']}); script run ended after "
                       f"{got['script_run_s']:.2f}s (baseline {got['baseline_script_run_s']:.2f}s); time from picking "
                       f"the course in the sidebar until the run ended and the charts were drawn"
                       + (f"; {got['errors']} EXCEPTIONS on the page" if got["errors"] else "")),
                extra=got))
            log(f"  pages: {key:12s} {got['seconds']:.2f}s (small course {got['baseline']:.2f}s), "
                f"{got['charts']} charts" + (f", {got['errors']} exceptions" if got["errors"] else ""))
    if results:
        results[0].extra["history_build"] = built
    return results
