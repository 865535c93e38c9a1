"""Moodle access: the demo site, the REST client, the log-export importer and the fake server.

Public names are imported lazily (PEP 562), so ``python -m moodle.demo`` / ``moodle.fake_server`` run
cleanly and ``import moodle`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from moodle.data import CourseData, CourseFrame, frame_from_course

_LAZY = {
    "BEHAVIOUR_TYPES": "moodle.demo",
    "DemoCourseSpec": "moodle.demo",
    "DemoSite": "moodle.demo",
    "MoodleClient": "moodle.client",
    "check_connection": "moodle.client",
    "MoodleError": "moodle.errors",
    "MoodleAuthError": "moodle.errors",
    "MoodlePermissionError": "moodle.errors",
    "MoodleFunctionMissingError": "moodle.errors",
    "MoodleNotFoundError": "moodle.errors",
    "MoodleInvalidParameterError": "moodle.errors",
    "MoodleUnavailableError": "moodle.errors",
    "LogExportError": "moodle.errors",
    "is_transient": "moodle.errors",
    "redact": "moodle.errors",
    "read_log_export": "moodle.log_export",
    "course_data_from_export": "moodle.log_export",
    "load_course_data": "moodle.sources",
    "list_courses": "moodle.sources",
    "FakeMoodleServer": "moodle.fake_server",
}

__all__ = ["CourseData", "CourseFrame", "frame_from_course", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'moodle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
