"""Storage: one repository per collection over MongoDB or an embedded litemongo store."""

from .bson_safe import ensure_utc, redact, to_bson_safe, utc
from .client import DEFAULT_DB_NAME, Store, StoreCollection, close_all, open_store
from .documents import HistoryDoc, HistoryEntry, JobDoc, LeaseDoc, RunDoc
from .errors import is_transient_error
from .indexes import INDEXES, ensure_indexes
from .repositories import (
    ACTIVE_STATUSES,
    CHUNK_ROWS,
    JOB_STATUSES,
    TERMINAL_STATUSES,
    TRIGGERS,
    ActivityRepository,
    AlertRepository,
    CourseRepository,
    HistoryRepository,
    JobRepository,
    LeaseRepository,
    LlmCacheRepository,
    RunRepository,
    SettingsRepository,
    SnapshotRepository,
    UserRepository,
    error_doc,
)

__all__ = [
    "ACTIVE_STATUSES",
    "CHUNK_ROWS",
    "DEFAULT_DB_NAME",
    "INDEXES",
    "HistoryDoc",
    "HistoryEntry",
    "JobDoc",
    "LeaseDoc",
    "RunDoc",
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "TRIGGERS",
    "ActivityRepository",
    "AlertRepository",
    "CourseRepository",
    "HistoryRepository",
    "JobRepository",
    "LeaseRepository",
    "LlmCacheRepository",
    "RunRepository",
    "SettingsRepository",
    "SnapshotRepository",
    "Store",
    "StoreCollection",
    "UserRepository",
    "close_all",
    "ensure_indexes",
    "ensure_utc",
    "is_transient_error",
    "error_doc",
    "open_store",
    "redact",
    "to_bson_safe",
    "utc",
]
