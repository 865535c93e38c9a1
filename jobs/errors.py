"""Job errors, how the runner classifies failures, and redaction of secrets in messages."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

from storage.bson_safe import redact as _patterns

__all__ = [
    "JobsError",
    "SkipCourse",
    "PermanentJobError",
    "LeaseHeld",
    "classify",
    "is_transient",
    "redact",
    "describe_error",
    "SECRET_ENV_VARS",
]

#: Environment variables whose values must never appear in a log line, job record or CLI output.
SECRET_ENV_VARS = ("MOODLE_STANDARD_TOKEN", "MOODLE_CUSTOM_TOKEN", "GEMINI_API_KEY", "MONGODB_URI",
                   "COHORTLENS_ADMIN_PASSWORD", "COHORTLENS_COOKIE_KEY")


class JobsError(Exception):
    """Base class of the errors raised by ``jobs``."""


class SkipCourse(JobsError):
    """The course cannot be clustered (invalid course, no students, too few students)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentJobError(JobsError):
    """A failure that retrying will not fix (bad configuration, bad input)."""


class LeaseHeld(JobsError):
    """Another worker holds the course's lease: the course is being processed right now."""

    def __init__(self, course_id: int, holder: str | None, job_id: str | None = None) -> None:
        self.course_id = course_id
        self.holder = holder
        self.job_id = job_id
        who = f" by job {job_id}" if job_id else ""
        super().__init__(f"course {course_id} is already being processed{who}")


_TRANSIENT_SQLITE = ("database is locked", "database is busy", "disk i/o error")


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _one_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (SkipCourse, PermanentJobError)):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    try:  # pymongo: lost connection, no server, network timeout
        from pymongo.errors import ConnectionFailure

        if isinstance(exc, ConnectionFailure):
            return True
    except ImportError:  # pragma: no cover - pymongo is a dependency
        pass
    if isinstance(exc, sqlite3.OperationalError) and any(s in str(exc).lower() for s in _TRANSIENT_SQLITE):
        return True
    try:  # requests: timeouts and refused connections
        import requests

        if isinstance(exc, (requests.Timeout, requests.ConnectionError)):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:  # the Moodle client decides for its own errors (5xx, timeouts, unavailable)
        from moodle.errors import is_transient as moodle_is_transient

        if moodle_is_transient(exc):  # type: ignore[arg-type]
            return True
    except ImportError:
        pass
    return False


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying later: timeouts, 5xx, lost database connections.

    Looks at the exception and the exceptions it was raised from.
    """
    if isinstance(exc, (SkipCourse, PermanentJobError)):
        return False
    return any(_one_is_transient(e) for e in _chain(exc))


def classify(exc: BaseException) -> str:
    """``"skipped"``, ``"transient"`` or ``"permanent"``."""
    if isinstance(exc, SkipCourse):
        return "skipped"
    return "transient" if is_transient(exc) else "permanent"


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """Text with tokens, API keys and passwords replaced by ``***``.

    Every literal value in ``secrets`` and in the secret environment variables, then the patterns of
    :func:`storage.bson_safe.redact` (the one pattern set shared by jobs, storage and ui).
    """
    out = str(text)
    values = [s for s in secrets if s] + [os.environ.get(v) or "" for v in SECRET_ENV_VARS]
    for value in sorted({v for v in values if len(v) >= 4}, key=len, reverse=True):
        out = out.replace(value, "***")
    return _patterns(out)  # token-like pairs (query, form, JSON, header) and URI passwords


def describe_error(exc: BaseException, secrets: Iterable[str | None] = (), limit: int = 500) -> dict:
    """``{"type", "message", "kind"}`` for a job record: redacted, one line, at most ``limit`` chars."""
    message = redact(str(exc) or exc.__class__.__name__, secrets)
    message = " ".join(message.split())
    if len(message) > limit:
        message = message[: limit - 1] + "…"
    return {"type": exc.__class__.__name__, "message": message, "kind": classify(exc)}
