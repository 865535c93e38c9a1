"""Job errors, how the runner classifies failures, and redaction of secrets in messages."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

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
    "explain_storage_problem",
    "SECRET_ENV_VARS",
]

#: Environment variables whose values must never appear in a log line, job record or CLI output.
SECRET_ENV_VARS = ("MOODLE_STANDARD_TOKEN", "MOODLE_CUSTOM_TOKEN", "GEMINI_API_KEY", "MONGODB_URI",
                   "COHORTLENS_ADMIN_PASSWORD", "COHORTLENS_COOKIE_KEY", "SMTP_PASSWORD", "NOTIFY_WEBHOOK_URL",
                   "COHORTLENS_NEW_PASSWORD")


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


_FULL = ("database or disk is full", "no space left on device")
_READ_ONLY = ("attempt to write a readonly database", "readonly database", "read-only file system")
_CORRUPT = ("file is not a database", "database disk image is malformed", "file is encrypted or is not a database")


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir or os.environ.get("COHORTLENS_DATA_DIR") or "./data").expanduser().absolute()


def _damaged_files(root: Path) -> list[Path]:
    """Store files under ``root`` that are not readable SQLite databases (header, then quick_check)."""
    files = [p for p in sorted(root.glob("*/*")) if p.is_file() and not p.name.endswith(("-wal", "-shm",
                                                                                        "-journal"))]
    bad = []
    for path in files:
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError:
            continue
        if head and head != b"SQLite format 3\x00":
            bad.append(path)
    if bad:
        return bad
    for path in files:
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
            try:
                ok = con.execute("PRAGMA quick_check").fetchone()
            finally:
                con.close()
            if not ok or ok[0] != "ok":
                bad.append(path)
        except sqlite3.DatabaseError:
            bad.append(path)
        except Exception:  # noqa: BLE001 - a check must never raise
            continue
    return bad


def _free_bytes(path: Path) -> float:
    """Free bytes on the file system of ``path`` (its nearest existing parent); inf when unknown."""
    for candidate in (path, *path.parents):
        try:
            st = os.statvfs(candidate)
        except OSError:
            continue
        return float(st.f_bavail * st.f_frsize)
    return float("inf")


def explain_storage_problem(exc: BaseException, data_dir: str | os.PathLike | None = None) -> str | None:
    """A message naming the file and what to do, for a full disk, a read-only data folder or a damaged
    store file (anywhere in the exception chain); None for other errors."""
    for e in _chain(exc):
        text = str(e).lower()
        errno_ = getattr(e, "errno", None)
        filename = getattr(e, "filename", None)
        root = _data_dir(data_dir)
        where = Path(filename) if filename else root
        if errno_ == errno.ENOSPC or any(s in text for s in _FULL) or (
                "disk i/o error" in text and _free_bytes(root) < 2 * 1024 * 1024):
            return (f"the disk holding the data folder {root} is full (writing {where} failed): free some "
                    f"space there or move the data folder (COHORTLENS_DATA_DIR), then run again")
        in_store = filename is not None and (where == root or root in where.parents)
        if errno_ == errno.EROFS or (errno_ in (errno.EACCES, errno.EPERM) and in_store) \
                or any(s in text for s in _READ_ONLY):
            return (f"the data folder {root} is read-only for this user (writing {where} failed): make it "
                    f"writable (chown/chmod, or remount read-write) or set COHORTLENS_DATA_DIR to a writable "
                    f"folder, then run again")
        if isinstance(e, sqlite3.DatabaseError) and any(s in text for s in _CORRUPT):
            bad = _damaged_files(root)
            names = ", ".join(str(p) for p in bad[:3]) if bad else f"a store file under {root}"
            return (f"store file {names} is damaged ({str(e)}): stop the app, restore that file from a backup "
                    f"or move it aside (its collection then starts empty), then run again")
    return None


def describe_error(exc: BaseException, secrets: Iterable[str | None] = (), limit: int = 500,
                   data_dir: str | os.PathLike | None = None) -> dict:
    """``{"type", "message", "kind"}`` for a job record: redacted, one line, at most ``limit`` chars.

    A full disk, a read-only data folder or a damaged store file get a message naming the file and
    what to do (:func:`explain_storage_problem`)."""
    explained = None
    try:
        explained = explain_storage_problem(exc, data_dir)
    except Exception:  # noqa: BLE001 - explaining must never hide the error itself
        explained = None
    message = redact(explained or str(exc) or exc.__class__.__name__, secrets)
    message = " ".join(message.split())
    if len(message) > limit:
        message = message[: limit - 1] + "…"
    return {"type": exc.__class__.__name__, "message": message, "kind": classify(exc)}
