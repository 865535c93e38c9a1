"""Cached read access for the pages (``st.cache_data(ttl=300)``), every call behind the course guard.

The cached functions take an unhashed ``_store`` plus a hashed ``store_key`` (so two stores in one
process never share entries).  Public functions check access with :func:`ui.auth.require_course`
first, then read.  :func:`clear_loaders` drops every entry (called when a job finishes).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui.auth import _known_courses, allowed_courses, current_user, require_course
from ui.i18n import current_language
from ui.localize import localize_alert, localize_run
from ui.resources import get_store

__all__ = [
    "TTL",
    "course_list",
    "course_name",
    "latest_run",
    "run_list",
    "run_index",
    "run_fields",
    "run_by_id",
    "run_assignment",
    "snapshot",
    "snapshot_columns",
    "history",
    "student_history",
    "activity",
    "jobs",
    "job_record",
    "alerts",
    "clear_loaders",
]

TTL = 300


def _key(store: Any) -> str:
    return f"{type(store).__name__}:{id(store)}"


# ------------------------------------------------------------------ cached (no access checks inside)
@st.cache_data(ttl=TTL, show_spinner=False)
def _courses(_store: Any, store_key: str, version: tuple) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for c in _store.courses.list():
        if c.get("id") is not None:
            out[int(c["id"])] = {k: v for k, v in c.items() if k != "_id"}
    for cid in _store.runs.courses_with_runs():
        out.setdefault(int(cid), {"id": int(cid)})
    return out


@st.cache_data(ttl=TTL, show_spinner=False)
def _latest(_store: Any, store_key: str, course_id: int, version: tuple) -> dict | None:
    return _clean(_store.runs.latest(course_id))


@st.cache_data(ttl=TTL, show_spinner=False)
def _runs(_store: Any, store_key: str, course_id: int, limit: int, version: tuple) -> list[dict]:
    return [_clean(r) for r in _store.runs.list(course_id, limit=limit)]


@st.cache_data(ttl=TTL, show_spinner=False)
def _index(_store: Any, store_key: str, course_id: int, limit: int, version: tuple) -> list[dict]:
    return _store.runs.index(course_id, limit=limit)


@st.cache_data(ttl=TTL, show_spinner=False)
def _fields(_store: Any, store_key: str, run_ids: tuple[str, ...], names: tuple[str, ...]) -> dict[str, dict]:
    return _store.runs.fields(list(run_ids), list(names))


@st.cache_data(ttl=TTL, show_spinner=False)
def _run(_store: Any, store_key: str, run_id: str) -> dict | None:
    return _clean(_store.runs.get(run_id))


@st.cache_data(ttl=TTL, show_spinner=False)
def _assignment(_store: Any, store_key: str, run_id: str) -> tuple[int | None, dict[int, int]]:
    course_id = _store.runs.course_of(run_id)
    if course_id is None:
        return None, {}
    return int(course_id), {int(u): int(c) for u, c in _store.runs.labels(run_id).items()}


@st.cache_data(ttl=TTL, show_spinner=False)
def _snapshot(_store: Any, store_key: str, run_id: str) -> tuple[pd.DataFrame, dict]:
    frame, meta = _store.snapshots.load(run_id)
    return frame, _clean(meta) or {}


@st.cache_data(ttl=TTL, show_spinner=False)
def _columns(_store: Any, store_key: str, course_id: int, run_id: str,
             names: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    try:
        frame, meta = _store.snapshots.load_columns(run_id, list(names), course_id=course_id)
    except KeyError:  # no snapshot kept for this run (retention) or another course's run
        return pd.DataFrame(), {}
    return frame, _clean(meta) or {}


@st.cache_data(ttl=TTL, show_spinner=False)
def _history(_store: Any, store_key: str, course_id: int, version: tuple) -> list[dict]:
    return [_clean(d) for d in _store.history.for_course(course_id)]


@st.cache_data(ttl=TTL, show_spinner=False)
def _student(_store: Any, store_key: str, course_id: int, user_id: int, version: tuple) -> dict | None:
    return _clean(_store.history.for_user(course_id, user_id))


@st.cache_data(ttl=TTL, show_spinner=False)
def _activity(_store: Any, store_key: str, course_id: int, version: tuple) -> list[dict]:
    return [_clean(d) for d in _store.activity.list(course_id)]


@st.cache_data(ttl=30, show_spinner=False)
def _jobs(_store: Any, store_key: str, limit: int) -> list[dict]:
    return [_clean(j) for j in _store.jobs.recent(limit=limit)]


@st.cache_data(ttl=TTL, show_spinner=False)
def _alerts(_store: Any, store_key: str, course_id: int, limit: int, version: tuple) -> list[dict]:
    return [_clean(a) for a in _store.alerts.recent(course_id=course_id, limit=limit)]


def _version(store: Any, course_id: int) -> tuple:
    """A cheap, uncached marker of a course's finished runs (newest run id, count): part of every
    cache key, so a run that lands — from Run now, the nightly job or another process — shows at the
    next rerun instead of after the ttl."""
    ids = store.runs.run_ids(course_id)
    return (ids[0] if ids else None, len(ids))


def _all_version(store: Any) -> tuple:
    """Marker of the course catalogue: the courses with runs and how many are registered."""
    return (tuple(store.runs.courses_with_runs()), len(store.courses.list()))


def _clean(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: v for k, v in doc.items() if k != "_id"}
    return doc


_CACHED = (_courses, _latest, _runs, _index, _fields, _run, _assignment, _snapshot, _columns, _history, _student, _activity, _jobs, _alerts)


def clear_loaders() -> None:
    """Forget every cached read, so a run that just landed shows at once."""
    for fn in _CACHED:
        fn.clear()
    _known_courses.clear()


# ------------------------------------------------------------------ public, guarded
def course_list() -> list[dict]:
    """The courses the current user may see (id, fullname, shortname...), sorted by id.

    A forbidden course is never listed."""
    store = get_store()
    allowed = allowed_courses(current_user(store), store)
    courses = _courses(store, _key(store), _all_version(store))
    return [courses.get(c, {"id": c}) for c in sorted(allowed)]


def course_name(course_id: int) -> str:
    """``"101 · Intro to X"`` for a course the user may see."""
    cid = require_course(course_id)
    store = get_store()
    c = _courses(store, _key(store), _all_version(store)).get(cid, {})
    name = c.get("fullname") or c.get("shortname")
    if not name:
        run = _latest(store, _key(store), cid, _version(store, cid))
        name = ((run or {}).get("metadata") or {}).get("course_name")
    return f"{cid} · {name}" if name else str(cid)


def latest_run(course_id: int) -> dict | None:
    cid = require_course(course_id)
    store = get_store()
    return localize_run(_latest(store, _key(store), cid, _version(store, cid)), current_language())


def run_list(course_id: int, limit: int = 52) -> list[dict]:
    """Finished runs of the course, newest first (without user ids)."""
    cid = require_course(course_id)
    store = get_store()
    lang = current_language()
    return [localize_run(r, lang) for r in _runs(store, _key(store), cid, int(limit), _version(store, cid))]


def run_index(course_id: int, limit: int = 52) -> list[dict]:
    """Finished runs of the course, newest first, as small summaries (run_id, run_at, k, students,
    created_at, finished_at): enough for pickers and labels without reading any run document."""
    cid = require_course(course_id)
    store = get_store()
    return _index(store, _key(store), cid, int(limit), _version(store, cid))


def run_fields(course_id: int, run_ids: list[str], names: tuple[str, ...]) -> dict[str, dict]:
    """run_id -> the top-level fields ``names`` of those finished runs of the course (others left out)."""
    cid = require_course(course_id)
    store = get_store()
    got = _fields(store, _key(store), tuple(str(r) for r in run_ids), tuple(names))
    return {rid: doc for rid, doc in got.items() if doc.get("course_id") == cid}


def run_by_id(run_id: str) -> dict | None:
    """One run, only if it belongs to a course the user may see."""
    store = get_store()
    run = _run(store, _key(store), str(run_id))
    if run is None:
        return None
    require_course(run["course_id"])
    return localize_run(run, current_language())


def run_assignment(run_id: str) -> dict[int, int]:
    """user_id -> cluster_id of one run (from the run's cluster member lists).

    Cached on its own (the run's course and the mapping only): not the whole run document per run,
    which the Sankey of the last N runs would otherwise load and unpickle N times per view."""
    store = get_store()
    course_id, labels = _assignment(store, _key(store), str(run_id))
    if course_id is None:
        return {}
    require_course(course_id)
    return labels


def snapshot(run_id: str) -> tuple[pd.DataFrame, dict]:
    """Per-student frame of a run (features, projection, silhouette) and its meta."""
    run = run_by_id(run_id)
    if run is None:
        return pd.DataFrame(), {}
    store = get_store()
    return _snapshot(store, _key(store), str(run_id))


def snapshot_columns(course_id: int, run_id: str, names: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    """Only the columns ``names`` of a run's per-student frame, and its meta (empty when the run kept
    no snapshot or is not a run of this course)."""
    cid = require_course(course_id)
    store = get_store()
    return _columns(store, _key(store), cid, str(run_id), tuple(names))


def history(course_id: int) -> list[dict]:
    cid = require_course(course_id)
    store = get_store()
    return _history(store, _key(store), cid, _version(store, cid))


def student_history(course_id: int, user_id: int) -> dict | None:
    cid = require_course(course_id)
    store = get_store()
    return _student(store, _key(store), cid, int(user_id), _version(store, cid))


def activity(course_id: int) -> list[dict]:
    cid = require_course(course_id)
    store = get_store()
    return _activity(store, _key(store), cid, _version(store, cid))


def jobs(limit: int = 50) -> list[dict]:
    """Recent jobs whose courses the user may all see (admins: every job)."""
    store = get_store()
    user = current_user(store)
    allowed = allowed_courses(user, store)
    rows = _jobs(store, _key(store), int(limit))
    if user and user.get("role") == "admin":
        return rows
    return [j for j in rows
            if (ids := {int(c) for c in j.get("course_ids") or []}) and ids <= allowed]


def alerts(course_id: int, limit: int = 20) -> list[dict]:
    cid = require_course(course_id)
    store = get_store()
    lang = current_language()
    return [localize_alert(a, lang) for a in _alerts(store, _key(store), cid, int(limit), _version(store, cid))]


def job_record(job_id: str) -> dict | None:
    """One job, read fresh (no cache) for live progress; only if it touches a course the user may see."""
    store = get_store()
    job = _clean(store.jobs.get(str(job_id)))
    if job is None:
        return None
    user = current_user(store)
    if user and user.get("role") == "admin":
        return job
    allowed = allowed_courses(user, store)
    ids = {int(c) for c in job.get("course_ids") or []}
    if not ids or not ids <= allowed:
        return None
    return job
