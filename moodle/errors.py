"""Typed Moodle errors with messages an instructor understands, and token redaction.

Moodle answers almost every error with HTTP 200 and ``{"exception", "errorcode", "message"}``;
:func:`error_from_payload` maps such a reply to a :class:`MoodleError` subclass. Network trouble
(timeouts, refused connections, HTTP 5xx, a reply that is not JSON) is :class:`MoodleUnavailableError`,
the only transient kind (:func:`is_transient`). No message, repr or log line built here can hold a
token: every text goes through :func:`redact`, and known token values are masked too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

__all__ = [
    "LogExportError",
    "MoodleAuthError",
    "MoodleError",
    "MoodleFunctionMissingError",
    "MoodleInvalidParameterError",
    "MoodleNotFoundError",
    "MoodlePermissionError",
    "MoodleUnavailableError",
    "error_from_payload",
    "forget_secret",
    "install_log_redaction",
    "is_transient",
    "redact",
    "register_secret",
]

_MASK = "***"
# wstoken=..., token=..., privatetoken=..., password=... in URLs, form bodies, JSON or repr text
_PARAM_RE = re.compile(
    r"""(?P<key>(?:ws)?token|privatetoken|password|moodle_(?:standard|custom)_token)"""
    r"""(?P<sep>["']?\s*[:=]\s*["']?|%3D)(?P<value>[^&\s"',;}\])]+)""",
    re.IGNORECASE,
)
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a token value so :func:`redact` masks it wherever it appears (min 6 chars)."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(str(value))


def forget_secret(value: str | None) -> None:
    with _lock:
        _secrets.discard(str(value or ""))


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with token-like query/form/JSON values and known token values replaced by ``***``."""
    out = _PARAM_RE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{_MASK}", str(text))
    with _lock:
        known = set(_secrets)
    known.update(s for s in secrets if s and len(s) >= 6)
    for s in sorted(known, key=len, reverse=True):
        out = out.replace(s, _MASK)
    return out


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message through :func:`redact` (tokens in URLs, forms, known values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's business
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = RedactingFilter()
_REDACTED_LOGGERS = ("moodle", "moodle.client", "moodle.fake_server", "moodle.sources", "moodle.log_export",
                     "moodle.demo", "urllib3", "urllib3.connectionpool", "requests")


def install_log_redaction(names: Iterable[str] = _REDACTED_LOGGERS) -> None:
    """Attach the redacting filter to our loggers and to urllib3's (it logs request URLs at DEBUG)."""
    for name in names:
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
        for h in lg.handlers:
            if _FILTER not in h.filters:
                h.addFilter(_FILTER)


install_log_redaction()


class MoodleError(Exception):
    """Base of every error raised while talking to Moodle (or reading its exports).

    ``message`` is for the instructor; ``errorcode``/``exception`` are Moodle's own codes (when Moodle
    sent them); ``function`` is the web-service function called; ``detail`` is Moodle's own message.
    """

    kind = "error"
    transient = False

    def __init__(self, message: str, *, errorcode: str | None = None, exception: str | None = None,
                 function: str | None = None, detail: str | None = None,
                 status: int | None = None) -> None:
        self.message = redact(message)
        self.errorcode = errorcode
        self.exception = exception
        self.function = function
        self.detail = redact(detail) if detail else None
        self.status = status
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, errorcode={self.errorcode!r})"

    def to_dict(self) -> dict:
        """For job records: type, message, code (never a secret)."""
        return {"type": type(self).__name__, "kind": self.kind, "message": self.message,
                "errorcode": self.errorcode, "function": self.function, "transient": self.transient}


class MoodleAuthError(MoodleError):
    """The token is unknown, empty or expired."""

    kind = "auth"


class MoodlePermissionError(MoodleError):
    """The token works but may not do this (function not in its service, capability, enrolment)."""

    kind = "permission"


class MoodleFunctionMissingError(MoodlePermissionError):
    """The site has no such web-service function (plugin missing): a site setup problem, not a course's."""

    kind = "function_missing"


class MoodleNotFoundError(MoodleError):
    """A record (course, user, web-service function) does not exist."""

    kind = "not_found"


class MoodleInvalidParameterError(MoodleError):
    """Moodle rejected the arguments (also: the site's plugin differs from what we expect)."""

    kind = "invalid_parameter"


class MoodleUnavailableError(MoodleError):
    """Moodle could not be reached or answered garbage: timeouts, connection errors, 5xx, bad JSON."""

    kind = "unavailable"
    transient = True


class LogExportError(MoodleError, ValueError):
    """A file that is not a readable Moodle log export (the message names the row and column)."""

    kind = "bad_file"

    #: longest message (the cause comes first; a hostile file cannot make a page of error text)
    max_length = 500

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None) -> None:
        message = str(message)
        if len(message) > self.max_length:
            message = message[: self.max_length - 1] + "…"
        super().__init__(message)
        self.row = row
        self.column = column


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying later (network, timeouts, 5xx, truncated replies)."""
    if isinstance(exc, MoodleError):
        return exc.transient
    try:  # requests' own exceptions, when someone lets one through
        import requests

        if isinstance(exc, requests.Timeout | requests.ConnectionError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, TimeoutError | ConnectionError)


_AUTH_CODES = {"invalidtoken", "invalidlogin", "expiredtoken", "invalidsesskey", "sitemaintenance"}
_PERMISSION_CODES = {"accessexception", "nopermissions", "requireloginerror", "errorcoursecontextnotvalid",
                     "servicenotavailable", "cannotcreatetoken", "webservicesnotenabled",
                     "enrolnotpermitted", "notingroup", "usernotfullysetup"}
_NOT_FOUND_CODES = {"invalidrecord", "invalidrecordunknown", "invalidcourseid", "coursenotexist",
                    "invaliduser", "invaliduserid"}
_PARAM_CODES = {"invalidparameter", "missingparam", "invaliduserfield", "errorinvalidparam",
                "invalidresponse", "codingerror"}


def error_from_payload(payload: dict, *, function: str | None = None) -> MoodleError:
    """Map a Moodle error reply (``exception``/``errorcode``/``message`` or token.php's ``error``)."""
    code = str(payload.get("errorcode") or "").strip()
    exc_name = str(payload.get("exception") or "").strip()
    detail = str(payload.get("message") or payload.get("error") or "").strip()
    where = f" ({function})" if function else ""
    common = {"errorcode": code or None, "exception": exc_name or None, "function": function,
              "detail": detail or None}
    if code == "invalidtoken" or (code in _AUTH_CODES and code != "sitemaintenance"):
        return MoodleAuthError(
            "Moodle did not accept the web-service token (unknown, empty or expired). Ask your Moodle "
            "administrator for a valid token and enter it in Settings.", **common)
    if code == "sitemaintenance":
        err = MoodleUnavailableError("Moodle is in maintenance mode; the run will be retried later.",
                                     **common)
        return err
    if code == "accessexception":
        return MoodlePermissionError(
            f"The token may not call this Moodle function{where}. Ask your Moodle administrator to add "
            "it to the token's web service (or check the token has not expired or been IP-restricted).",
            **common)
    if code in ("requireloginerror", "errorcoursecontextnotvalid"):
        return MoodlePermissionError(
            "The web-service user is not enrolled in this course or cannot open it. Ask your Moodle "
            "administrator to give the web-service user access to the course.", **common)
    if code in _PERMISSION_CODES or exc_name in ("required_capability_exception",
                                                 "webservice_access_exception"):
        return MoodlePermissionError(
            f"Moodle refused this request{where}: the web-service user lacks a permission. "
            f"Moodle said: {detail or code}", **common)
    if code in _NOT_FOUND_CODES or exc_name == "dml_missing_record_exception":
        if "external_functions" in detail:
            return MoodleFunctionMissingError(
                f"This Moodle site does not have the web-service function{where}. A plugin may be "
                "missing (logs need the local_userlog plugin) or the Moodle version is too old.", **common)
        if "course" in detail.lower():
            return MoodleNotFoundError("Moodle has no such course (it may have been deleted).", **common)
        return MoodleNotFoundError(f"Moodle could not find a record{where}: {detail or code}", **common)
    if code in _PARAM_CODES or exc_name == "invalid_parameter_exception":
        return MoodleInvalidParameterError(
            f"Moodle rejected the request's parameters{where}. The site's web-service functions may "
            f"differ from what CohortLens expects. Moodle said: {detail or code}", **common)
    if exc_name.startswith("dml_") or code in ("dmlreadexception", "dmlwriteexception"):
        return MoodleUnavailableError(f"Moodle had a database error{where}; the run will be retried.",
                                      **common)
    return MoodleError(f"Moodle returned an error{where}: {detail or code or exc_name or 'unknown'}",
                       **common)
