"""Which database errors are worth retrying later (used by jobs/ for backoff decisions)."""

from __future__ import annotations

import sqlite3

from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

__all__ = ["is_transient_error", "DuplicateKeyError", "PyMongoError"]

# server codes that mean "try again" (interrupted, not primary, shutting down, ...)
_RETRYABLE_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


def is_transient_error(exc: BaseException) -> bool:
    """True for a lost / unreachable database or a busy embedded file, false for logic errors."""
    if isinstance(exc, ConnectionFailure):  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
        return True
    if isinstance(exc, OperationFailure):
        return exc.code in _RETRYABLE_CODES or exc.has_error_label("RetryableWriteError")
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text or "disk i/o" in text
    return False
