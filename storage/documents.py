"""Typed shapes of the stored documents (documentation and type checking; the server does not validate).

All datetimes are aware UTC (millisecond precision once stored). ``_id`` never leaves storage/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AttemptDoc",
    "ClusterDoc",
    "CourseDoc",
    "ErrorDoc",
    "HistoryDoc",
    "HistoryEntry",
    "JobDoc",
    "JobStatus",
    "LeaseDoc",
    "ProgressDoc",
    "RunDoc",
    "SnapshotChunkDoc",
    "Trigger",
    "UserDoc",
]

JobStatus = Literal["queued", "running", "succeeded", "failed", "skipped", "interrupted"]
Trigger = Literal["schedule", "manual", "retry", "cli"]


class ClusterDoc(TypedDict, total=False):
    cluster_id: int
    name: str
    size: int
    share: float
    user_ids: list[int]
    profile: dict[str, Any]          # title, summary, characteristics[], recommendations[], language, source
    centroid: dict[str, float]
    stats: dict[str, dict[str, float]]   # mean / std / median -> feature -> value
    top_features: list[dict[str, Any]]   # feature, z, direction
    engagement: float


class RunDoc(TypedDict, total=False):
    """course_clusters; see "The run document" in docs/contracts.md."""

    run_id: str
    course_id: int
    run_at: dt.datetime
    as_of: dt.datetime
    status: Literal["pending", "finished"]
    created_at: dt.datetime
    finished_at: dt.datetime | None
    k: int
    k_pinned: bool
    clusters: list[ClusterDoc]
    features_used: list[str]
    features_dropped: list[dict[str, str]]
    diagnostics: dict[str, Any]
    quality: dict[str, float]
    transitions: dict[str, Any]
    drift: list[dict[str, Any]]
    anomalies: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    movers: list[dict[str, Any]]
    metadata: dict[str, Any]
    job_id: str | None


class HistoryEntry(TypedDict):
    run_id: str
    timestamp: dt.datetime
    cluster_id: int
    transition_type: Literal["initial", "stable", "moved"]
    previous_cluster_id: int | None


class HistoryDoc(TypedDict):
    """What ``history.for_user`` / ``for_course`` return per student; ``history`` oldest first.

    Stored exactly so (one document per (course_id, user_id), ``_id`` ``"<course_id>:<user_id>"``);
    ``last_updated`` is the newest entry's timestamp (see ``storage.repositories.history``).
    """

    course_id: int
    user_id: int
    history: list[HistoryEntry]
    last_updated: dt.datetime


class SnapshotChunkDoc(TypedDict):
    """cluster_snapshots: one per (run_id, chunk); columns/dtypes/meta only on chunk 0."""

    course_id: int
    run_id: str
    chunk: int
    n_chunks: int
    rows: int
    user_ids: list[Any]
    values: list[list[Any]]          # one list per column, in column order
    saved_at: dt.datetime
    run_at: dt.datetime
    columns: NotRequired[list[Any]]
    dtypes: NotRequired[list[str]]
    meta: NotRequired[dict[str, Any]]


class AttemptDoc(TypedDict):
    number: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    error_type: str | None
    error_message: str | None


class ProgressDoc(TypedDict, total=False):
    stage: str
    done: int
    total: int
    message: str
    course_id: int | None


class ErrorDoc(TypedDict):
    type: str
    message: str


class JobDoc(TypedDict, total=False):
    """cluster_jobs."""

    job_id: str
    course_ids: list[int]
    trigger: Trigger
    status: JobStatus
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    owner: dict[str, Any] | None     # host, pid, id
    attempts: list[AttemptDoc]
    attempt_count: int
    progress: ProgressDoc
    stats: dict[str, Any]
    error: ErrorDoc | None
    scheduled_for: dt.datetime | None
    parent_job_id: str | None
    result: dict[str, dict[str, Any]]   # str(course_id) -> summary


class LeaseDoc(TypedDict):
    """locks."""

    key: str
    owner: str
    acquired_at: dt.datetime
    renewed_at: dt.datetime
    expires_at: dt.datetime


class CourseDoc(TypedDict, total=False):
    course_id: int
    id: int
    fullname: str
    shortname: str
    source: str
    enabled: bool
    k_pinned: int | None
    timezone: str
    frame: dict[str, Any] | None      # {start, end, timezone, source: moodle|data|user|admin}
    window_days: int | None           # behaviour window (default 28)
    regroup_requested: dict[str, Any] | None   # {at, by}: the next run refits the groups
    last_run_id: str
    last_run_at: dt.datetime
    students: int
    updated_at: dt.datetime


class UserDoc(TypedDict, total=False):
    username: str
    name: str
    email: str
    role: Literal["admin", "instructor", "viewer"]
    courses: list[int]
    password_hash: str
    created_at: dt.datetime
    updated_at: dt.datetime
