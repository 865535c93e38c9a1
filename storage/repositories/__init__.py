"""One repository per collection."""

from .base import Repository
from .history import HistoryRepository
from .interventions import InterventionRepository
from .jobs import ACTIVE_STATUSES, JOB_STATUSES, TERMINAL_STATUSES, TRIGGERS, JobRepository, error_doc
from .leases import LeaseRepository
from .models import ModelRepository
from .runs import FINISHED, PENDING, RunRepository
from .simple import (
    ActivityRepository,
    AlertRepository,
    CourseRepository,
    LlmCacheRepository,
    SettingsRepository,
    UserRepository,
)
from .snapshots import CHUNK_ROWS, SnapshotRepository
from .tokens import TokenRepository

__all__ = [
    "ACTIVE_STATUSES",
    "CHUNK_ROWS",
    "FINISHED",
    "JOB_STATUSES",
    "PENDING",
    "TERMINAL_STATUSES",
    "TRIGGERS",
    "ActivityRepository",
    "AlertRepository",
    "CourseRepository",
    "HistoryRepository",
    "InterventionRepository",
    "JobRepository",
    "LeaseRepository",
    "LlmCacheRepository",
    "ModelRepository",
    "Repository",
    "RunRepository",
    "SettingsRepository",
    "SnapshotRepository",
    "TokenRepository",
    "UserRepository",
    "error_doc",
]
