"""CohortLens jobs: the pipeline (``run_course``), job records, leases, retries, recovery, the
scheduler and the CLI (``python -m jobs``). Never imports streamlit.

Heavy modules (pandas, scikit-learn, APScheduler) load lazily on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

from jobs.clock import FakeClock, utcnow
from jobs.config import Config, effective_settings, load_config, save_settings
from jobs.errors import LeaseHeld, PermanentJobError, SkipCourse, classify, is_transient, redact
from jobs.retry import RetryPolicy

_LAZY = {
    "run_course": "jobs.pipeline",
    "export_assignments": "jobs.pipeline",
    "submit": "jobs.runner",
    "execute_job": "jobs.runner",
    "run_due_retries": "jobs.runner",
    "recover": "jobs.runner",
    "maintenance": "jobs.runner",
    "run_nightly": "jobs.runner",
    "retry_job": "jobs.runner",
    "health": "jobs.runner",
    "build_scheduler": "jobs.scheduler",
    "get_scheduler": "jobs.scheduler",
    "validate_cron": "jobs.scheduler",
    "reschedule": "jobs.scheduler",
    "scheduler_status": "jobs.scheduler",
    "ensure_demo": "jobs.bootstrap",
    "ensure_demo_async": "jobs.bootstrap",
    "make_gemini_llm": "jobs.llm",
}

__all__ = [
    "Config",
    "FakeClock",
    "LeaseHeld",
    "PermanentJobError",
    "RetryPolicy",
    "SkipCourse",
    "classify",
    "effective_settings",
    "is_transient",
    "load_config",
    "redact",
    "save_settings",
    "utcnow",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
