"""``run_course``: one course from its source to a finished run in the store.

Stages: load -> features -> cluster (k vote) -> stable ids -> statistics and profiles -> transitions,
movers, alerts, anomalies, drift -> activity report -> write. The write order makes a run visible only
when complete (docs/contracts.md): ``runs.insert_pending`` -> ``snapshots.save`` -> ``activity.upsert``
-> ``history.stage`` -> ``runs.mark_finished`` -> ``history.record`` -> ``history.unstage``; alerts, the
course record and snapshot pruning come after. ``user_cluster_history`` never names an unfinished run;
a crash before ``mark_finished`` leaves the previous run as the latest (leftovers are discarded by the
next run or the next process start), a crash after it is rolled forward from the staged rows.
Call it while holding the course's lease (the runner does).
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
from collections.abc import Callable, Iterator, MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.clock import Clock, as_utc, utcnow
from jobs.config import Config, load_config
from jobs.errors import PermanentJobError, SkipCourse

__all__ = ["run_course", "course_frame", "export_assignments", "STAGES", "ProgressFn", "SNAPSHOT_SCALED_PREFIX"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]

#: Progress stages in order, with the fraction reported when each starts.
STAGES: dict[str, float] = {
    "loading": 0.02,
    "features": 0.25,
    "clustering": 0.35,
    "profiling": 0.6,
    "transitions": 0.72,
    "saving": 0.82,
    "done": 1.0,
}
SNAPSHOT_SCALED_PREFIX = "scaled__"
MAX_MOVERS = 50


def _noop(stage: str, fraction: float) -> None:
    return None


def _py(value: Any) -> Any:
    """Plain Python for one value (numpy scalars, NaN -> None, timestamps -> datetimes)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _records(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None or len(frame) == 0:
        return []
    return [{str(k): _py(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _round(value: Any, ndigits: int = 4) -> Any:
    value = _py(value)
    return round(value, ndigits) if isinstance(value, float) else value


class _StoreCache(MutableMapping):
    """The store's ``llm_cache`` (get/set) as the MutableMapping ``describe_clusters`` expects."""

    def __init__(self, repo: Any) -> None:
        self._repo = repo

    def __getitem__(self, key: str) -> dict:
        value = self._repo.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: dict) -> None:
        self._repo.set(key, value)

    def __delitem__(self, key: str) -> None:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _load(source: str, course_id: int, as_of: datetime | None, config: Config) -> Any:
    from moodle.errors import MoodleAuthError, MoodleNotFoundError, MoodlePermissionError
    from moodle.sources import load_course_data

    try:
        return load_course_data(source, course_id, as_of=as_of, config=config)
    except MoodleNotFoundError as exc:
        raise SkipCourse(f"invalid course {course_id}: {exc}") from exc
    except (MoodleAuthError, MoodlePermissionError) as exc:
        raise PermanentJobError(f"Moodle refused access for course {course_id}: {exc}") from exc
    except (KeyError, LookupError) as exc:
        raise SkipCourse(f"invalid course {course_id}: {exc}") from exc


def _read_columns_only(data: Any) -> Any:
    """``data`` with only the log columns the analytics read (``analytics.LOG_COLUMNS_READ``).

    The others (row, object, context and related-user ids, IPs, origin, other...) are never read after
    loading; at 20,000 students they are ~290 MB of the ~490 MB log, freed here before the features are
    computed (the selection is a view of the kept columns, not a copy). Same results: nothing else
    reads them, and ``events`` counts rows.
    """
    import dataclasses

    from analytics import LOG_COLUMNS_READ

    logs = getattr(data, "logs", None)
    if not dataclasses.is_dataclass(data) or not isinstance(logs, pd.DataFrame):
        return data
    keep = [c for c in logs.columns if c in LOG_COLUMNS_READ]
    if len(keep) == len(logs.columns):
        return data
    return dataclasses.replace(data, logs=logs[keep])


def course_frame(store: Any, data: Any, course_id: int) -> Any:
    """The course's time frame: an admin's (``store.courses`` ``frame`` with source ``admin``) wins over
    the one the data reports (``CourseData.course_frame()``: Moodle's startdate/enddate, an import's
    given or observed dates)."""
    from moodle.data import CourseFrame, frame_from_course

    doc = None
    try:
        doc = (store.courses.get(course_id) or {}).get("frame") if store is not None else None
    except Exception as exc:  # an unreadable record must not stop the run: the source's frame applies
        log.warning("course %s: cannot read the stored frame: %s", course_id, exc.__class__.__name__)
    if doc and doc.get("source") == "admin":
        admin = CourseFrame.from_doc(doc)
        if admin is not None:
            return admin
    own = getattr(data, "course_frame", None)
    if callable(own):
        return own()
    return frame_from_course(getattr(data, "course", None), getattr(data, "logs", None),
                             timezone=getattr(data, "timezone", "UTC"))


def _course_record(store: Any, course_id: int) -> dict:
    try:
        return dict(store.courses.get(course_id) or {})
    except Exception as exc:  # flags are optional: an unreadable record means the defaults
        log.warning("course %s: cannot read the course record: %s", course_id, exc.__class__.__name__)
        return {}


def _previous_labels(store: Any, previous: dict | None) -> pd.Series | None:
    if not previous:
        return None
    labels = store.runs.labels(previous["run_id"]) if hasattr(store.runs, "labels") else None
    if labels is None:
        labels = {u: c["cluster_id"] for c in previous.get("clusters", []) for u in c.get("user_ids", []) or []}
    if not labels:
        return None
    series = pd.Series({int(k): int(v) for k, v in dict(labels).items()}, dtype="int64")
    series.index.name = "user_id"
    return series.sort_index()


def _previous_features(store: Any, previous: dict | None, columns: list[str]) -> pd.DataFrame | None:
    if not previous:
        return None
    try:
        frame, meta = store.snapshots.load(previous["run_id"])
    except Exception as exc:  # pruned or missing: drift and movers need it, nothing else does
        log.info("no snapshot for previous run %s: %s", previous["run_id"], exc.__class__.__name__)
        return None
    if frame is None or len(frame) == 0:
        return None
    if "user_id" in frame.columns:
        frame = frame.set_index("user_id")
    cols = [c for c in (meta or {}).get("feature_columns", columns) if c in frame.columns]
    if not cols:
        return None
    out = frame[cols].apply(pd.to_numeric, errors="coerce")
    out.index = out.index.astype("int64")
    out.index.name = "user_id"
    return out


def _previous_centroids(previous: dict | None) -> pd.DataFrame | None:
    if not previous:
        return None
    rows = {c["cluster_id"]: c.get("centroid") or {} for c in previous.get("clusters", [])}
    if not rows or not any(rows.values()):
        return None
    return pd.DataFrame.from_dict(rows, orient="index").astype(float)


def _next_cluster_id(previous: dict | None) -> int:
    if not previous:
        return 0
    ids = [int(c["cluster_id"]) for c in previous.get("clusters", [])]
    stored = (previous.get("metadata") or {}).get("next_cluster_id")
    return max([int(stored) if stored is not None else 0, *(i + 1 for i in ids)])


def _regrouping_alert(result: Any, previous: dict) -> dict[str, Any]:
    k_before = previous.get("k")
    change = f" (k {k_before} -> {result.k})" if k_before is not None and int(k_before) != result.k else ""
    from analytics.texts import translate_reason

    reason = str(result.grouping.get("reason") or "")
    en = (f"The groups were recomputed{change}: {reason}. Group changes in this run come from the "
          f"regrouping, not from students moving.")
    vi = (f"Các nhóm đã được tính lại{change}: {translate_reason(reason, 'vi')}. Thay đổi nhóm trong lần chạy "
          f"này là do tính lại nhóm, không phải do sinh viên chuyển nhóm.")
    return {"type": "regrouping", "cluster_id": None, "value": float(result.k), "message": en,
            "messages": {"en": en, "vi": vi}}


def _transition_summary(transitions: pd.DataFrame) -> dict[str, Any]:
    counts = transitions["transition_type"].value_counts()
    matrix = []
    known = transitions.dropna(subset=["previous_cluster_id"])
    if len(known):
        grouped = known.groupby(["previous_cluster_id", "cluster_id"]).size()
        matrix = [{"from": int(f), "to": int(t), "count": int(n)} for (f, t), n in grouped.items()]
    return {
        "stable": int(counts.get("stable", 0)),
        "moved": int(counts.get("moved", 0)),
        "initial": int(counts.get("initial", 0)),
        "regrouped": int(counts.get("regrouped", 0)),
        "matrix": matrix,
    }


def _movers(transitions: pd.DataFrame, previous_features: pd.DataFrame | None,
            features: pd.DataFrame, *, language: str = "vi", exclude: tuple[str, ...] = ()) -> list[dict]:
    from analytics import rank_movers
    from analytics.transitions import explain_change

    moved = transitions[transitions["transition_type"] == "moved"]
    if len(moved) == 0:
        return []
    if previous_features is None:
        previous_features = features.iloc[0:0]
    own = features.drop(columns=[c for c in features.columns if c in exclude])
    ranked = rank_movers(transitions, previous_features, own)
    rows = []
    for row in _records(ranked.head(MAX_MOVERS)):
        changed = row.get("changed") or []
        row["explanations"] = {lang: explain_change(changed, language=lang) for lang in ("en", "vi")}
        row["explanation"] = row["explanations"]["en" if str(language).startswith("en") else "vi"]
        rows.append({
            "user_id": row.get("user_id"),
            "from": row.get("from", row.get("previous_cluster_id")),
            "to": row.get("to", row.get("cluster_id")),
            "engagement_before": row.get("engagement_before"),
            "engagement_after": row.get("engagement_after"),
            "delta": row.get("delta"),
            "changed": row.get("changed") or [],
            **{k: v for k, v in row.items() if k not in {"user_id", "from", "to", "engagement_before",
                                                         "engagement_after", "delta", "changed",
                                                         "previous_cluster_id", "cluster_id"}},
        })
    return rows


def _snapshot_frame(features: pd.DataFrame, result: Any, labels: pd.Series,
                    students: pd.DataFrame | None = None) -> pd.DataFrame:
    frame = features.copy()
    scaled = result.scaled.add_prefix(SNAPSHOT_SCALED_PREFIX)
    frame = frame.join(scaled, how="left")
    projection = result.projection[["x", "y"]] if {"x", "y"} <= set(result.projection.columns) \
        else result.projection.iloc[:, :2].set_axis(["x", "y"], axis=1)
    frame = frame.join(projection, how="left")
    frame["silhouette"] = result.silhouette_samples.reindex(frame.index).astype(float)
    frame["cluster_id"] = labels.reindex(frame.index).astype("int64")
    if students is not None and {"id", "fullname"} <= set(students.columns):
        # the instructor's member table shows names (never sent to an LLM)
        names = pd.Series(students["fullname"].astype(str).to_numpy(),
                          index=pd.to_numeric(students["id"]).astype("int64"))
        names = names[~names.index.duplicated()]
        frame["fullname"] = names.reindex(frame.index.astype("int64")).fillna("").to_numpy()
        if "email" in students.columns:  # the action list's contact column (never sent to an LLM)
            emails = pd.Series(students["email"].fillna("").astype(str).to_numpy(),
                               index=pd.to_numeric(students["id"]).astype("int64"))
            emails = emails[~emails.index.duplicated()]
            frame["email"] = emails.reindex(frame.index.astype("int64")).fillna("").to_numpy()
    frame.index = frame.index.astype("int64")
    frame.index.name = "user_id"
    return frame.reset_index()


#: below this many students, KMeans runs on one OpenMP thread: the many tiny fits of the k vote are
#: 3-4x faster without thread start-up and contention (measured: demo bootstrap 74 s -> 21 s on 2 cores).
SINGLE_THREAD_BELOW = 2000


@contextlib.contextmanager
def _compute_threads(n_students: int) -> Iterator[None]:
    """One OpenMP thread for small courses (thread-local in the calling worker thread)."""
    if n_students >= SINGLE_THREAD_BELOW:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a scikit-learn dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def run_course(course_id: int, *, source: str, store: Any, as_of: datetime | str | None = None,
               job_id: str | None = None, progress: ProgressFn | None = None, config: Config | None = None,
               dry_run: bool = False, clock: Clock | None = None, llm: Callable[[str], str] | None = None,
               after_write: Callable[[str], None] | None = None,
               before_write: Callable[[], None] | None = None) -> dict[str, Any]:
    """Cluster one course and store the run; returns the CLI summary.

    ``as_of`` = the data's "now" (the demo site serves logs up to it; default now). ``dry_run`` computes
    everything and writes nothing. ``llm`` overrides the configured Gemini function. ``before_write()``
    runs just before the first write (the runner checks its lease there and raises if it was lost);
    ``after_write(step)`` is called after each write step (tests inject crashes through it).
    Raises :class:`jobs.errors.SkipCourse` for an invalid course, no students or too few students.
    """
    config = config or load_config()
    clock = clock or getattr(store, "now", None) or utcnow
    report = progress or _noop
    started = time.perf_counter()
    course_id = int(course_id)
    as_of_dt = as_utc(as_of)
    step = after_write or (lambda _step: None)

    report("loading", STAGES["loading"])
    if not dry_run:
        discarded = store.runs.discard_unfinished(course_id)
        if discarded:
            log.info("course %s: discarded unfinished runs %s", course_id, discarded)
    data = _load(source, course_id, as_of_dt, config)
    n_students = int(len(data.students))
    if n_students == 0:
        raise SkipCourse(f"course {course_id} has no active students")
    if n_students < config.min_students:
        raise SkipCourse(f"course {course_id} has {n_students} active students; "
                         f"at least {config.min_students} are needed to cluster")
    data_now = as_utc(getattr(data, "extracted_at", None)) or as_of_dt or as_utc(clock())

    report("features", STAGES["features"])
    data = _read_columns_only(data)
    with _compute_threads(n_students):
        return _compute_and_store(course_id, data, n_students, data_now, as_of_dt, source=source, store=store,
                                  job_id=job_id, config=config, dry_run=dry_run, clock=clock, llm=llm,
                                  report=report, step=step, started=started, before_write=before_write)


def _compute_and_store(course_id: int, data: Any, n_students: int, data_now: datetime | None,
                       as_of_dt: datetime | None, *, source: str, store: Any, job_id: str | None, config: Config,
                       dry_run: bool, clock: Clock, llm: Callable[[str], str] | None, report: ProgressFn,
                       step: Callable[[str], None], started: float,
                       before_write: Callable[[], None] | None = None) -> dict[str, Any]:
    from analytics import (
        activity_report,
        cluster_statistics,
        describe_clusters,
        detect_alerts,
        detect_anomalies,
        feature_drift,
        top_features,
    )
    from analytics import compute_transitions as _compute_transitions
    from analytics.window import DEFAULT_WINDOW_DAYS, window_features
    from jobs.grouping import group_course, previous_model

    frame = course_frame(store, data, course_id)
    record_flags = _course_record(store, course_id)
    window_days = int(record_flags.get("window_days") or DEFAULT_WINDOW_DAYS)
    features, window = window_features(data, data_now or as_utc(clock()), start=frame.start, end=frame.end,
                                       window_days=window_days, timezone=data.timezone)
    feature_columns = [str(c) for c in features.columns]
    previous = store.runs.latest(course_id)
    if previous is not None and as_of_dt is not None:
        prev_as_of = as_utc(previous.get("as_of"))
        if prev_as_of is not None and prev_as_of > as_of_dt:
            # backfilling an earlier date: compare with the run before that date instead
            previous = store.runs.latest(course_id, before=as_of_dt)
    prev_labels = _previous_labels(store, previous)
    prev_features = _previous_features(store, previous, feature_columns)

    report("clustering", STAGES["clustering"])
    pinned = config.pinned_k(course_id)
    k_max = max(2, min(10, n_students - 1))
    if pinned is not None and not 2 <= pinned <= n_students - 1:
        raise PermanentJobError(f"pinned k={pinned} is not possible with {n_students} students")
    model, evidence = previous_model(store, course_id, previous)
    result = group_course(features, model=model, evidence=evidence, prev_labels=prev_labels, pinned_k=pinned,
                          regroup_requested=bool(record_flags.get("regroup_requested")), term_start=frame.start,
                          window_days=window_days, k_max=k_max, next_id=_next_cluster_id(previous),
                          previous_centroids=_previous_centroids(previous), now=window.end)
    labels = result.labels
    next_cluster_id = max([_next_cluster_id(previous), *(int(v) + 1 for v in labels.unique())])

    report("profiling", STAGES["profiling"])
    stats = cluster_statistics(features, labels)
    tops = top_features(features, labels)
    if llm is None and config.llm_available:
        from jobs.llm import make_llm

        llm = make_llm(config)
    cache = getattr(store, "llm_cache", None)
    if cache is not None and not isinstance(cache, MutableMapping):
        cache = _StoreCache(cache)
    profiles = describe_clusters(features, labels, language=config.language, llm=llm, cache=cache)
    # every generated text in both languages: the reader's language is chosen when it is shown
    other_language = "en" if str(config.language).startswith("vi") else "vi"
    profiles_other = describe_clusters(features, labels, language=other_language, llm=llm, cache=cache)

    report("transitions", STAGES["transitions"])
    transitions = _compute_transitions(prev_labels, labels)
    if result.regrouped:  # new groups, not students moving: never counted as moves
        transitions.loc[transitions["transition_type"] == "moved", "transition_type"] = "regrouped"
    sizes = {int(c): int(n) for c, n in labels.value_counts().sort_index().items()}
    engagement = (features["engagement_score"].groupby(labels).mean().to_dict()
                  if "engagement_score" in features.columns else {})
    engagement = {int(k): _round(v, 2) for k, v in engagement.items()}
    previous_sizes = {int(c["cluster_id"]): int(c.get("size", 0)) for c in (previous or {}).get("clusters", [])}
    names = {**{int(c["cluster_id"]): str(c.get("name") or "") for c in (previous or {}).get("clusters", [])},
             **{int(cid): str((profiles.get(cid) or {}).get("name") or "") for cid in sizes}}
    if not previous:
        alerts = []
    elif result.regrouped:
        alerts = [_regrouping_alert(result, previous)]
    elif not result.structure.get("clear", True):
        alerts = []   # no clear groups: movement between them is not worth an alert
    else:
        alerts = detect_alerts(previous_sizes, sizes, transitions, engagement, names=names)
    prev_clusters = (previous or {}).get("clusters", [])
    prev_names = {int(c["cluster_id"]): {"name": c.get("name")} for c in prev_clusters}
    prev_other = {int(c["cluster_id"]): {"name": ((c.get("profiles") or {}).get(other_language) or {}).get("name")
                                         or c.get("name")} for c in prev_clusters}
    alerts = [_bilingual_alert(a, clusters_names={**prev_names, **profiles}, other={**prev_other, **profiles_other},
                               language=config.language)
              for a in alerts]
    anomalies = _records(detect_anomalies(features))
    drift = _records(feature_drift(prev_features, features)) if prev_features is not None else []
    from analytics.window import CONTEXT_COLUMNS

    movers = _movers(transitions, prev_features, features, language=config.language, exclude=CONTEXT_COLUMNS)
    warnings: list[str] = []
    try:  # a secondary report: its failure must not cost the instructor the clusters
        activity = activity_report(data, timezone=data.timezone)
    except Exception as exc:
        log.error("course %s: activity report failed: %s: %s", course_id, exc.__class__.__name__, exc)
        warnings.append(f"activity report failed: {exc.__class__.__name__}: {exc}")
        activity = []
    trans_summary = _transition_summary(transitions)

    centroids_raw = result.centroids
    clusters = []
    for cid in sorted(sizes):
        profile = dict(profiles.get(cid) or {})
        st = stats.get(cid) or {}
        clusters.append({
            "cluster_id": cid,
            "name": profile.get("name") or profile.get("title") or f"Cluster {cid}",
            "size": sizes[cid],
            "share": _round(st.get("share", sizes[cid] / n_students)),
            "user_ids": sorted(int(u) for u in labels.index[labels == cid]),
            "profile": profile,
            "profiles": _bilingual_profiles(profile, profiles_other.get(cid), config.language),
            "centroid": {str(f): _round(v, 6) for f, v in centroids_raw.loc[cid].items()}
            if cid in centroids_raw.index else {},
            "stats": {key: {str(f): _round(v) for f, v in (st.get(key) or {}).items()}
                      for key in ("mean", "std", "median")},
            "top_features": tops.get(cid, []),
            "engagement": engagement.get(cid),
        })

    scores = result.scores.copy()
    scores.index.name = "k"
    # quality of the groups actually used (placed or fitted), in their own space
    quality = {key: _round(result.quality.get(key)) for key in ("silhouette", "davies_bouldin", "calinski_harabasz")}
    sil_samples = result.silhouette_samples.dropna()
    if quality["silhouette"] is None and len(sil_samples):
        quality["silhouette"] = _round(float(sil_samples.mean()))
    silhouette = quality["silhouette"]
    run_at = as_utc(clock())
    if as_of_dt is not None and as_of_dt < run_at:
        run_at = as_of_dt  # a backfilled run sits at its data date on the timeline
    elapsed_before_write = time.perf_counter() - started
    course = dict(getattr(data, "course", {}) or {})
    doc: dict[str, Any] = {
        "course_id": course_id,
        "run_at": run_at,
        "as_of": data_now,
        "k": int(result.k),
        "k_pinned": bool(result.pinned),
        "clusters": clusters,
        "features_used": list(result.features_used),
        "features_dropped": [{**d, "reason_i18n": _bilingual_reason(d.get("reason", ""), features.columns)}
                             for d in result.features_dropped],
        "feature_labels": _feature_labels(features.columns),
        "diagnostics": {
            "scores": _records(scores.reset_index()),
            "votes": {str(k): int(v) for k, v in (result.votes or {}).items()},
            "chosen_k": int(result.k),
            "vote_k": int(result.vote_k),
            "reason": result.reason,
            "reason_i18n": _bilingual_reason(result.reason, features.columns),
            "pinned": bool(result.pinned),
        },
        "grouping": {**result.grouping, "k": int(result.k)},
        "structure": result.structure,
        "window": window.to_doc(),
        "frame": frame.to_doc(),
        "quality": quality,
        "transitions": trans_summary,
        "drift": drift,
        "anomalies": anomalies,
        "alerts": alerts,
        "movers": movers,
        "metadata": {
            "total_students": n_students,
            "events": int(len(data.logs)),
            "source": getattr(data, "source", source.split(":", 1)[0]),
            "execution_time_seconds": round(elapsed_before_write, 3),
            "teachers": int(len(getattr(data, "teachers", []))),
            "suspended_students": int(getattr(data, "suspended_students", 0) or 0),
            "course_name": course.get("fullname") or course.get("shortname") or f"Course {course_id}",
            "timezone": getattr(data, "timezone", "UTC"),
            "next_cluster_id": int(next_cluster_id),
            "previous_run_id": (previous or {}).get("run_id"),
            "language": config.language,
            "warnings": warnings,
        },
        "job_id": job_id,
    }

    run_id: str | None = None
    if not dry_run:
        report("saving", STAGES["saving"])
        if before_write is not None:
            before_write()
        if result.model_doc is not None:   # a fit / regrouping: the new model version, named by this run
            version = store.models.save(course_id, {**result.model_doc, "extra": {
                **(result.model_doc.get("extra") or {}), "fitted_as_of": data_now}}, run_as_of=data_now)
            doc["grouping"]["model_version"] = version
        run_id = store.runs.insert_pending(doc)
        step("insert_pending")
        snapshot = _snapshot_frame(features, result, labels, getattr(data, "students", None))
        meta = {"feature_columns": feature_columns, "features_used": list(result.features_used),
                "scaled_prefix": SNAPSHOT_SCALED_PREFIX, "k": int(result.k), "as_of": data_now,
                "course_id": course_id, "run_at": run_at}  # snapshots sort (and are pruned) as the runs do
        store.snapshots.save(course_id, run_id, snapshot, meta)
        step("snapshots.save")
        rows = [{"user_id": int(r["user_id"]), "cluster_id": int(r["cluster_id"]),
                 "transition_type": r["transition_type"],
                 "previous_cluster_id": None if pd.isna(r["previous_cluster_id"]) else int(r["previous_cluster_id"])}
                for r in transitions.to_dict("records")]
        store.activity.upsert(course_id, activity)
        step("activity.upsert")
        store.history.stage(course_id, run_id, run_at, rows)  # kept until the history is complete
        step("history.stage")
        seconds = round(time.perf_counter() - started, 3)
        store.runs.mark_finished(run_id, {"metadata": {**doc["metadata"], "execution_time_seconds": seconds}})
        step("mark_finished")
        # history only names finished runs; a crash from here on is rolled forward (storage.recovery)
        store.history.record(course_id, run_id, run_at, rows)
        step("history.record")
        store.history.unstage(run_id)
        step("history.unstage")
        # after the run is visible: none of these can leave half a run behind
        if alerts:
            store.alerts.add(course_id, run_id, alerts)
        record = {
            "course_id": course_id, "id": course_id, "fullname": course.get("fullname"),
            "shortname": course.get("shortname"), "source": doc["metadata"]["source"],
            "last_run_id": run_id, "last_run_at": run_at, "students": n_students,
        }
        if frame.source != "admin":   # the source's frame, for pages and the admin to see and edit
            record["frame"] = frame.to_doc()
        if record_flags.get("regroup_requested") and result.action in ("fit", "regroup"):
            record["regroup_requested"] = None   # done
        store.courses.upsert(record)
        store.snapshots.prune(course_id, keep=config.snapshot_retention)
    seconds = round(time.perf_counter() - started, 3)
    report("done", STAGES["done"])
    return {
        "run_id": run_id,
        "course_id": course_id,
        "status": "dry_run" if dry_run else "succeeded",
        "k": int(result.k),
        "vote_k": int(result.vote_k),
        "grouping": result.action,
        "structure": "clear" if result.structure.get("clear", True) else "weak",
        "regrouped": trans_summary.get("regrouped", 0),
        "sizes": {int(c): int(n) for c, n in sizes.items()},
        "names": {int(c["cluster_id"]): c["name"] for c in clusters},
        "silhouette": silhouette,
        "seconds": seconds,
        "students": n_students,
        "events": int(len(data.logs)),
        "source": doc["metadata"]["source"],
        "as_of": data_now.isoformat() if data_now else None,
        "moved": trans_summary["moved"],
        "clusters_changed": len(set(sizes) ^ set(previous_sizes)) if previous else len(sizes),
        "stable": trans_summary["stable"],
        "initial": trans_summary["initial"],
        "alerts": len(alerts),
        "job_id": job_id,
        "dry_run": bool(dry_run),
    }


def export_assignments(store: Any, run_id: str, path: str | Path) -> int:
    """Write ``user_id,cluster_id,cluster_name`` (one row per student, by user id); returns rows written."""
    run = store.runs.get(run_id)
    if run is None:
        raise LookupError(f"no run {run_id}")
    from jobs.exports import safe_cell

    rows = sorted((int(u), int(c["cluster_id"]), safe_cell(c.get("name") or ""))
                   for c in run.get("clusters", []) for u in (c.get("user_ids") or []))
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["user_id", "cluster_id", "cluster_name"])
        writer.writerows(rows)
    return len(rows)


def _feature_labels(columns: Any) -> dict[str, dict[str, str]]:
    """Plain-language names of every feature column, in both UI languages (stored with the run so
    that pages and outside readers need no copy of the analytics vocabulary)."""
    from analytics import FEATURE_LABELS

    out: dict[str, dict[str, str]] = {}
    for name in columns:
        en, vi = FEATURE_LABELS.get(str(name), (str(name).replace("_", " "),) * 2)
        out[str(name)] = {"en": en, "vi": vi}
    return out



def _bilingual_profiles(profile: dict, other: dict | None, language: str) -> dict[str, dict]:
    """``{"vi": profile, "en": profile}`` from the run language's profile and the other language's."""
    lang = "en" if str(language).startswith("en") else "vi"
    out = {lang: dict(profile)}
    if other:
        out["vi" if lang == "en" else "en"] = dict(other)
    return out


def _bilingual_reason(text: str, columns: Any) -> dict[str, str]:
    from analytics.texts import bilingual_reason

    return bilingual_reason(str(text or ""), _feature_labels(columns))


def _bilingual_alert(alert: dict, *, clusters_names: dict, other: dict, language: str) -> dict:
    """An alert with ``messages`` {"en", "vi"}, group names in each language."""
    from analytics.texts import alert_text

    lang = "en" if str(language).startswith("en") else "vi"
    names = {lang: {int(c): str(p.get("name") or c) for c, p in clusters_names.items()},
             ("vi" if lang == "en" else "en"): {int(c): str(p.get("name") or c) for c, p in other.items()}}
    return {**alert, "messages": {code: alert_text(alert, code, names[code]) for code in ("en", "vi")}}

