"""Moodle REST client: ``requests.Session`` with pooling, typed errors, retries, redaction.

Calls go to ``{base_url}/webservice/rest/server.php`` as form-encoded POSTs with PHP bracket arrays and
``moodlewsrestformat=json``. Two tokens: the *standard* one for ``core_*`` / ``gradereport_*``
functions, the *custom* one for ``local_userlog_get_logs_course`` (falls back to the standard token when
no custom token is given, for sites that put every function in one service).

Decisions worth knowing:

* **Suspended students.** ``core_enrol_get_enrolled_users`` marks nobody as suspended; only the options
  ``onlyactive`` / ``onlysuspended`` tell. :meth:`MoodleClient.enrolled_students` asks with
  ``onlyactive=1`` and counts suspended students with a second, id-only ``onlysuspended=1`` call. If the
  token lacks ``moodle/course:enrolreview`` (Moodle refuses those options), every enrolled student is
  kept, a warning is logged and the suspended count is reported as unknown (-1).
* **Students and teachers.** A student holds the role shortname ``student`` (never role id 5, which is
  only the default install's id). Users who also hold ``editingteacher``/``teacher``/``manager`` in the
  course are counted as teachers, not students.
* **Logs are never truncated silently.** ``local_userlog_get_logs_course`` has no offset, defaults to 20
  rows and returns newest first. We pass an explicit large ``limit``; a reply with exactly ``limit``
  rows may be cut, so we ask again with a 4x limit, up to ``max_log_rows``, and raise beyond that.
* **Retries** only for transient errors (timeouts, connection errors, HTTP 5xx, a body that is not
  JSON): exponential backoff with full jitter. Moodle's own errors (HTTP 200 + ``exception``) are final.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests
from requests.adapters import HTTPAdapter

from moodle.data import GRADE_COLUMNS, LOG_COLUMNS, STUDENT_COLUMNS, CourseData, empty_logs, grades_frame
from moodle.errors import (
    MoodleError,
    MoodleInvalidParameterError,
    MoodleNotFoundError,
    MoodlePermissionError,
    MoodleUnavailableError,
    error_from_payload,
    is_transient,
    redact,
    register_secret,
)

try:  # optional, faster and leaner for big log replies
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None

__all__ = [
    "CUSTOM_FUNCTIONS",
    "DEFAULT_USERFIELDS",
    "MoodleClient",
    "NEEDED_FUNCTIONS",
    "check_connection",
    "flatten_params",
]

log = logging.getLogger(__name__)

#: function -> which token calls it
NEEDED_FUNCTIONS: dict[str, str] = {
    "core_webservice_get_site_info": "standard",
    "core_course_get_courses": "standard",
    "core_enrol_get_enrolled_users": "standard",
    "gradereport_user_get_grade_items": "standard",
    "local_userlog_get_logs_course": "custom",
}
#: how quiz grades are fetched (setting ``moodle_grades_mode`` / ``MOODLE_GRADES_MODE``):
#: "auto" one whole-course call, per-student calls when the site refuses it; "course" the whole-course
#: call only; "per_user" one call per student (the lightest load on the Moodle server per request).
GRADES_MODES = ("auto", "course", "per_user")
CUSTOM_FUNCTIONS = frozenset(f for f, kind in NEEDED_FUNCTIONS.items() if kind == "custom")
DEFAULT_USERFIELDS = "id,fullname,email,roles,firstaccess,lastaccess,lastcourseaccess"
STUDENT_ROLE = "student"
TEACHER_ROLES = ("editingteacher", "teacher")
STAFF_ROLES = (*TEACHER_ROLES, "manager", "coursecreator")
_INT_LOG_COLUMNS = ("id", "edulevel", "contextid", "contextlevel", "contextinstanceid", "userid",
                    "courseid", "anonymous", "timecreated")
_NULLABLE_INT_LOG_COLUMNS = ("objectid", "relateduserid", "realuserid")


def flatten_params(params: Mapping[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts/lists -> PHP bracket pairs: ``options[0][name]=onlyactive``; bools -> 1/0.

    ``None`` values are left out (Moodle treats an absent optional argument as its default).
    """
    out: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            out.extend(flatten_params(value, name))
        elif isinstance(value, list | tuple):
            out.extend(flatten_params({i: v for i, v in enumerate(value)}, name))
        elif isinstance(value, bool | np.bool_):
            out.append((name, "1" if value else "0"))
        else:
            out.append((name, str(value)))
    return out


def _normalise_base_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise MoodleInvalidParameterError("No Moodle URL is configured (set MOODLE_URL or enter it in Settings).")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MoodleInvalidParameterError(f"'{redact(url)}' is not a web address of a Moodle site.")
    path = parts.path.rstrip("/")
    for tail in ("/webservice/rest/server.php", "/login/token.php", "/index.php"):
        if path.endswith(tail):
            path = path[: -len(tail)]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _session_for(endpoint: str) -> requests.Session:
    """A Session whose environment (proxies, CA bundle, netrc) is read once, not on every call.

    With ``trust_env`` on, requests re-reads the proxy variables, checks ``no_proxy`` and looks up
    ``~/.netrc`` for every request (measured ~0.3 ms of CPU per call: 1.5 s for 5,000 grade calls).
    The same settings are resolved here for this endpoint and pinned on the session instead.
    """
    session = requests.Session()
    env = session.merge_environment_settings(endpoint, {}, None, None, None)
    auth = requests.utils.get_netrc_auth(endpoint) if session.trust_env else None
    session.trust_env = False
    session.proxies.update(env.get("proxies") or {})
    if env.get("verify") not in (None, True):
        session.verify = env["verify"]          # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
    if auth:
        session.auth = auth
    return session


def _first_byte(content: bytes | bytearray) -> bytes:
    """The first non-blank byte of a reply, without copying a big one."""
    i = 0
    while i < len(content):
        head = bytes(content[i: i + 1024]).lstrip()
        if head:
            return head[:1]
        i += 1024
    return b""


def _wants_list(content: bytes | bytearray) -> bool | None:
    """A reply a list stream decoder takes: a JSON list (None: too few bytes yet to tell)."""
    first = _first_byte(content)
    return first == b"[" if first else None


def _loads(content: bytes | bytearray) -> Any:
    if _orjson is not None:
        return _orjson.loads(content)
    return json.loads(content)


class MoodleClient:
    """Talks to one Moodle site's REST web services. Tokens never leave this object unredacted."""

    def __init__(self, base_url: str, token: str, custom_token: str | None = None, *,
                 timeout: float | tuple[float, float] = (10.0, 120.0), retries: int = 3,
                 backoff: float = 1.0, max_backoff: float = 30.0, page_size: int = 1000,
                 log_limit: int = 5_000_000, max_log_rows: int = 100_000_000, workers: int = 8,
                 grades_mode: str = "auto", course_grades_max: int | None = None,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = _normalise_base_url(base_url)
        if not token or not str(token).strip():
            raise MoodleInvalidParameterError(
                "No Moodle web-service token is configured (set MOODLE_STANDARD_TOKEN or enter it in "
                "Settings).")
        self._token = str(token).strip()
        self._custom_token = str(custom_token).strip() if custom_token else None
        register_secret(self._token)
        register_secret(self._custom_token)
        self.timeout = timeout
        self.retries = max(int(retries), 0)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.page_size = max(int(page_size), 1)
        self.log_limit = max(int(log_limit), 1)
        self.max_log_rows = max(int(max_log_rows), self.log_limit)
        self.workers = max(int(workers), 1)
        if grades_mode not in GRADES_MODES:
            raise MoodleInvalidParameterError("grades_mode must be 'auto', 'course' or 'per_user'.")
        self.grades_mode = grades_mode
        #: "auto" asks per student above this many students (None: no cap). The whole-course reply is
        #: decoded while it streams in, a few MB of students at a time, so its size no longer matters
        #: here; a cap is for sites whose PHP limits cannot build the whole report in one request.
        self.course_grades_max = None if course_grades_max is None else max(int(course_grades_max), 0)
        #: how the last quiz_grades call fetched them: "course" (one userid=0 call) or "per_user"
        self.grades_used: str | None = None
        self._sleep = sleep
        self._session = session or _session_for(self.endpoint)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(self.workers + 1, 4), max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update({"User-Agent": "CohortLens/0.1 (+moodle-rest-client)",
                                      "Accept": "application/json"})
        self.calls = 0              # HTTP requests sent (tests and job stats)
        self._calls_lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing
    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/webservice/rest/server.php"

    @property
    def has_custom_token(self) -> bool:
        return self._custom_token is not None

    def __repr__(self) -> str:
        return (f"MoodleClient({self.base_url!r}, token=***, custom_token="
                f"{'***' if self._custom_token else None})")

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> MoodleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _redact(self, text: object) -> str:
        return redact(text, (self._token, self._custom_token))

    def _token_for(self, function: str, token: str | None) -> str:
        if token == "custom" or (token is None and function in CUSTOM_FUNCTIONS):
            return self._custom_token or self._token
        if token == "standard" or token is None:
            return self._token
        return token

    def call(self, function: str, params: Mapping[str, Any] | None = None, *,
             token: str | None = None, timeout: float | tuple[float, float] | None = None,
             decoder: Callable[[bytearray], Any] | None = None,
             stream: Callable[[], Any] | None = None, retries: int | None = None) -> Any:
        """Call one web-service function and return its decoded JSON (retrying transient errors).

        ``token``: ``"standard"``, ``"custom"`` or None (picked by function name). ``decoder``: how to
        decode a reply that is a JSON list (default: all at once); a ValueError from it counts as a
        cut-off reply (transient). ``stream``: a factory of an object with ``feed(bytes)`` and
        ``finish() -> result`` that decodes a JSON-list reply while it arrives (used for big log replies;
        a factory with a ``wants(first_bytes) -> bool | None`` attribute picks other replies itself).
        ``retries``: this call's retry budget (default: the client's).
        """
        attempt = 0
        budget = self.retries if retries is None else max(int(retries), 0)
        while True:
            try:
                return self._call_once(function, params, self._token_for(function, token), timeout, decoder,
                                       stream)
            except MoodleError as exc:
                if not is_transient(exc) or attempt >= budget:
                    raise
                delay = min(self.max_backoff, self.backoff * (2 ** attempt))
                delay = delay * (0.5 + random.random() / 2)       # jitter in [d/2, d)
                log.warning("Moodle %s failed (%s), retry %d/%d in %.2fs", function, exc.message,
                            attempt + 1, budget, delay)
                self._sleep(delay)
                attempt += 1

    def _call_once(self, function: str, params: Mapping[str, Any] | None, token: str,
                   timeout: float | tuple[float, float] | None,
                   decoder: Callable[[bytearray], Any] | None = None,
                   stream: Callable[[], Any] | None = None) -> Any:
        data = [("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json"),
                *flatten_params(params)]
        with self._calls_lock:
            self.calls += 1
        started = time.perf_counter()
        try:
            resp = self._session.post(self.endpoint, data=data, timeout=timeout or self.timeout, stream=True,
                                      allow_redirects=False)
        except requests.Timeout as exc:
            raise MoodleUnavailableError(
                f"Moodle did not answer in time ({function}); the site may be slow or busy. The run will "
                "be retried.", function=function, detail=self._redact(exc)) from None
        except requests.ConnectionError as exc:
            raise MoodleUnavailableError(
                f"Could not connect to Moodle at {self.base_url}. Check the Moodle URL and that the site "
                "is up.", function=function, detail=self._redact(exc)) from None
        except requests.RequestException as exc:
            raise MoodleUnavailableError(f"The request to Moodle failed ({function}).", function=function,
                                         detail=self._redact(exc)) from None
        sink: Any = None                   # a stream decoder, once the reply is known to be a JSON list
        try:
            content = bytearray()          # grown in place: no second full copy of a big reply
            for chunk in resp.iter_content(chunk_size=1 << 20):
                if sink is not None:
                    sink.feed(chunk)
                    continue
                content += chunk
                if stream is not None and resp.status_code == 200:
                    verdict = getattr(stream, "wants", _wants_list)(content)
                    if verdict:
                        sink = stream()
                        sink.feed(content)
                        content = bytearray(_first_byte(content))
                    elif verdict is False:
                        stream = None
        except ValueError:
            raise MoodleUnavailableError(
                f"Moodle's reply to {function} was not valid JSON (cut off or corrupted). The run will be "
                "retried.", function=function, status=resp.status_code) from None
        except requests.Timeout as exc:
            raise MoodleUnavailableError(
                f"Moodle stopped sending its reply to {function} (timeout). The run will be retried.",
                function=function, detail=self._redact(exc)) from None
        except (requests.RequestException, OSError) as exc:  # connection dropped mid-body
            raise MoodleUnavailableError(f"Moodle's reply was cut off ({function}).", function=function,
                                         detail=self._redact(exc)) from None
        finally:
            resp.close()
            if sink is not None and sys.exc_info()[0] is not None and hasattr(sink, "close"):
                sink.close()               # a failed download: stop its decoding threads
        log.debug("Moodle %s -> HTTP %s, %d bytes in %.3fs", function, resp.status_code, len(content),
                  time.perf_counter() - started)
        status = resp.status_code
        if 300 <= status < 400:
            target = resp.headers.get("Location", "")
            parts = urlsplit(target) if target else None
            where = f"{parts.scheme}://{parts.netloc}" if parts and parts.netloc else "another address"
            raise MoodleInvalidParameterError(
                f"Moodle redirected the request (HTTP {status}) to {where}. Set the Moodle URL to the address "
                "the site really uses (e.g. https:// instead of http://).", function=function, status=status)
        if status >= 500:
            raise MoodleUnavailableError(
                f"Moodle answered with a server error (HTTP {status}) for {function}. The run will be "
                "retried.", function=function, status=status)
        if status == 404:
            raise MoodleNotFoundError(
                f"No Moodle web service was found at {self.base_url} (HTTP 404). Check the Moodle URL.",
                function=function, status=status)
        if status in (401, 403):
            raise MoodlePermissionError(
                f"Moodle refused the request (HTTP {status}). Web services may be blocked for this site.",
                function=function, status=status)
        if status == 429:
            raise MoodleUnavailableError("Moodle asked us to slow down (HTTP 429); the run will be retried.",
                                         function=function, status=status)
        if status >= 400:
            raise MoodleError(f"Moodle answered HTTP {status} for {function}.", function=function,
                              status=status)
        first = _first_byte(content)
        if not first:
            raise MoodlePermissionError(
                "Moodle sent an empty reply: web services or the REST protocol are probably disabled on "
                "this site. Ask your Moodle administrator to enable them.", function=function, status=status)
        if first == b"<":                 # a login page, a proxy page, or XML: a set-up problem, not retried
            raise MoodleInvalidParameterError(
                f"Moodle answered with a web page or XML instead of JSON ({function}). Check the Moodle URL "
                "(a login page or proxy may be in the way).", function=function, status=status)
        try:
            if sink is not None:
                return sink.finish()
            if decoder is not None and first == b"[":
                return decoder(content)
            payload = _loads(content)
        except ValueError:
            raise MoodleUnavailableError(
                f"Moodle's reply to {function} was not valid JSON (cut off or corrupted). The run will be "
                "retried.", function=function, status=status) from None
        if isinstance(payload, dict) and ("exception" in payload or
                                          ("errorcode" in payload and "error" in payload)):
            err = error_from_payload(payload, function=function)
            log.info("Moodle %s error: %s (%s)", function, err.errorcode, err.message)
            raise err
        return payload

    # ------------------------------------------------------------------ site and courses
    def site_info(self, *, token: str | None = None) -> dict:
        """core_webservice_get_site_info, plus ``available``: needed function -> bool for this token."""
        info = self.call("core_webservice_get_site_info", {}, token=token or "standard")
        if not isinstance(info, dict):
            raise MoodleInvalidParameterError("Moodle's site information had an unexpected shape.")
        names = {f.get("name") for f in info.get("functions") or [] if isinstance(f, dict)}
        info = dict(info)
        info["available"] = {fn: fn in names for fn in NEEDED_FUNCTIONS}
        return info

    def function_availability(self) -> dict[str, bool]:
        """Needed function -> whether the token meant for it lists it in its service."""
        std = self.site_info(token="standard")["available"]
        out = {fn: std[fn] for fn, kind in NEEDED_FUNCTIONS.items() if kind == "standard"}
        custom = self.site_info(token="custom")["available"] if self._custom_token else std
        out.update({fn: custom[fn] for fn in CUSTOM_FUNCTIONS})
        return out

    def courses(self) -> list[dict]:
        """Every course the token can see, without the site course (id 1 / format "site")."""
        rows = self.call("core_course_get_courses", {})
        if not isinstance(rows, list):
            raise MoodleInvalidParameterError("Moodle's course list had an unexpected shape.")
        return [c for c in rows if int(c.get("id", 0)) != 1 and c.get("format") != "site"]

    def course(self, course_id: int) -> dict:
        """One course (Moodle silently drops unknown ids: that is a MoodleNotFoundError here)."""
        rows = self.call("core_course_get_courses", {"options": {"ids": [int(course_id)]}})
        for c in rows or []:
            if int(c.get("id", -1)) == int(course_id):
                if c.get("format") == "site" or int(course_id) == 1:
                    raise MoodleNotFoundError("Course 1 is Moodle's front page, not a course.")
                return c
        raise MoodleNotFoundError(f"Moodle has no course with id {int(course_id)} (or the token cannot see it).")

    # ------------------------------------------------------------------ people
    def enrolled_users(self, course_id: int, *, only_active: bool = False, only_suspended: bool = False,
                       userfields: str | None = DEFAULT_USERFIELDS, page_size: int | None = None) -> list[dict]:
        """core_enrol_get_enrolled_users, paged with limitfrom/limitnumber until an empty page."""
        size = page_size or self.page_size
        seen: dict[int, dict] = {}
        start = 0
        while True:
            options: list[dict] = []
            if only_active:
                options.append({"name": "onlyactive", "value": 1})
            if only_suspended:
                options.append({"name": "onlysuspended", "value": 1})
            if userfields:
                options.append({"name": "userfields", "value": userfields})
            options += [{"name": "limitfrom", "value": start}, {"name": "limitnumber", "value": size}]
            page = self.call("core_enrol_get_enrolled_users",
                             {"courseid": int(course_id), "options": options})
            if not isinstance(page, list):
                raise MoodleInvalidParameterError("Moodle's list of enrolled users had an unexpected shape.")
            new = 0
            for u in page:
                uid = int(u["id"])
                if uid not in seen:
                    seen[uid] = u
                    new += 1
            if not page or new == 0:      # empty page, or a server that ignores limitfrom
                break
            start += size
        return sorted(seen.values(), key=lambda u: int(u["id"]))

    @staticmethod
    def _role_names(user: dict) -> set[str]:
        return {str(r.get("shortname")) for r in user.get("roles") or [] if isinstance(r, dict)}

    @classmethod
    def is_student(cls, user: dict) -> bool:
        roles = cls._role_names(user)
        return STUDENT_ROLE in roles and not roles.intersection(STAFF_ROLES)

    @classmethod
    def is_teacher(cls, user: dict) -> bool:
        return bool(cls._role_names(user).intersection(TEACHER_ROLES))

    def _enrolment(self, course_id: int, include_suspended: bool = False) -> tuple[list[dict], list[dict], int]:
        """(students, teachers, suspended student count or -1 when Moodle will not tell)."""
        suspended = 0
        if include_suspended:
            users = self.enrolled_users(course_id)
        else:
            try:
                users = self.enrolled_users(course_id, only_active=True)
                gone = self.enrolled_users(course_id, only_suspended=True, userfields="id,roles")
                suspended = sum(1 for u in gone if self.is_student(u))
            except (MoodlePermissionError, MoodleInvalidParameterError) as exc:
                log.warning("Moodle refused onlyactive/onlysuspended for course %s (%s); suspended "
                            "students cannot be told apart and are kept", course_id, exc.errorcode)
                users = self.enrolled_users(course_id)
                suspended = -1
        students = [u for u in users if self.is_student(u)]
        teachers = [u for u in users if self.is_teacher(u)]
        return students, teachers, suspended

    def enrolled_students(self, course_id: int, *, include_suspended: bool = False) -> pd.DataFrame:
        """Students (role shortname ``student``) as a DataFrame with STUDENT_COLUMNS (+ extra fields)."""
        students, _, _ = self._enrolment(course_id, include_suspended)
        return _users_frame(students, STUDENT_COLUMNS)

    def teachers(self, course_id: int) -> pd.DataFrame:
        """Editing and non-editing teachers: id, fullname, roles."""
        users = self.enrolled_users(course_id, userfields="id,fullname,roles")
        return _users_frame([u for u in users if self.is_teacher(u)], ["id", "fullname", "roles"])

    # ------------------------------------------------------------------ messaging
    def send_instant_messages(self, messages: Iterable[Mapping[str, Any]]) -> list[dict]:
        """core_message_send_instant_messages: one private message per ``{"touserid", "text"}`` (optional
        ``clientmsgid``; the text is sent as plain text, textformat 2).

        Returns Moodle's per-message results ``{"msgid", "clientmsgid"?, "errormessage"?}`` in order;
        ``msgid`` is -1 when Moodle refused that one message (e.g. the student's privacy settings), with
        its ``errormessage``. A refusal of the whole call (no permission, messaging disabled on the
        site) raises the matching :class:`MoodleError`. Never retried: a message must not arrive twice.
        """
        items = []
        for i, m in enumerate(messages):
            text = str(m.get("text") or "").strip()
            if not text:
                raise MoodleInvalidParameterError(f"message #{i} has no text")
            item = {"touserid": int(m["touserid"]), "text": text, "textformat": 2}
            if m.get("clientmsgid"):
                item["clientmsgid"] = str(m["clientmsgid"])
            items.append(item)
        if not items:
            return []
        reply = self._call_once("core_message_send_instant_messages", {"messages": items},
                                self._token_for("core_message_send_instant_messages", "standard"), None)
        if not isinstance(reply, list) or len(reply) != len(items) or not all(isinstance(r, dict) for r in reply):
            raise MoodleInvalidParameterError("Moodle's reply to sending messages had an unexpected shape.")
        return [dict(r) for r in reply]

    # ------------------------------------------------------------------ grades
    def grade_items(self, course_id: int, user_id: int) -> list[dict]:
        """gradereport_user_get_grade_items for one user: that user's ``usergrades`` entries."""
        reply = self.call("gradereport_user_get_grade_items",
                          {"courseid": int(course_id), "userid": int(user_id)})
        if not isinstance(reply, dict) or not isinstance(reply.get("usergrades"), list):
            raise MoodleInvalidParameterError("Moodle's grade report had an unexpected shape.")
        return reply["usergrades"]

    def quiz_grades(self, course_id: int, user_ids: Iterable[int], *,
                    modules: tuple[str, ...] | None = ("quiz",)) -> pd.DataFrame:
        """One row per (user, quiz grade item); ungraded (``graderaw`` null, ``-``) items are NaN.

        ``grades_mode`` (see GRADES_MODES): "auto" (default; courses up to ``course_grades_max``
        students, no cap by default: the reply is decoded as it streams in) asks once for the whole course
        (``userid=0``: one request instead of one per student — 5,000 calls cost ~4x the one call
        here; Moodle builds every student's report in that one request, which needs the
        ``moodle/grade:viewall`` capability and enough PHP time/memory on the site) and falls back to
        per-student calls when Moodle refuses it or fails; "course" only the whole-course call;
        "per_user" one call per student on a small thread pool (``workers``, default 8) sharing the
        pooled keep-alive session. ``grades_used`` tells which path answered.
        """
        ids = [int(u) for u in user_ids]
        if not ids:
            self.grades_used = None
            return grades_frame([], modules=modules)
        if self.grades_mode == "course" or (self.grades_mode == "auto" and (
                self.course_grades_max is None or len(ids) <= self.course_grades_max)):
            try:
                everyone = self._course_grades(course_id, modules)
            except MoodleError as exc:
                if self.grades_mode == "course":
                    raise
                log.warning("course %s: the whole-course grade report was refused or failed (%s); asking per "
                            "student instead (set MOODLE_GRADES_MODE=per_user to skip the attempt)", course_id,
                            self._redact(exc.message))
            else:
                self.grades_used = "course"
                keep = everyone["userid"].isin(ids).to_numpy(dtype=bool, na_value=False)
                return everyone if keep.all() else everyone[keep].reset_index(drop=True)
        self.grades_used = "per_user"

        def fetch(user_id: int) -> list[dict]:
            return _slim_usergrades(self.grade_items(course_id, user_id), modules)

        if self.workers > 1 and len(ids) > 8:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="moodle-grades") as pool:
                parts = list(pool.map(fetch, ids))
        else:
            parts = [fetch(u) for u in ids]
        return grades_frame([ug for part in parts for ug in part], modules=modules)

    def _course_grades(self, course_id: int, modules: tuple[str, ...] | None) -> pd.DataFrame:
        """Every graded user's grade rows (``grades_frame``) from one ``userid=0`` call (no retry in auto
        mode: the per-student path is the fallback). The reply is decoded while it arrives, a few MB
        of students at a time (:class:`GradeReplyStream`): a 20,000-student course's ~180 MB report is
        never held whole, nor as one dict per grade item of every student."""
        factory: Any = functools.partial(GradeReplyStream, modules=modules)
        factory.wants = GradeReplyStream.wants       # which replies the stream takes (see _call_once)
        reply = self.call("gradereport_user_get_grade_items", {"courseid": int(course_id), "userid": 0},
                          retries=0 if self.grades_mode == "auto" else None, stream=factory)
        if not isinstance(reply, dict) or not isinstance(reply.get("usergrades"), (list, pd.DataFrame)):
            raise MoodleInvalidParameterError("Moodle's grade report had an unexpected shape.")
        found = reply["usergrades"]
        if isinstance(found, list):
            return grades_frame(_slim_usergrades(found, modules), modules=modules)
        return found

    # ------------------------------------------------------------------ logs
    def course_logs(self, course_id: int, *, limit: int | None = None) -> pd.DataFrame:
        """Every log row of the course (local_userlog_get_logs_course), oldest first, LOG_COLUMNS.

        Never silently truncated: a reply of exactly ``limit`` rows is asked again with a bigger limit.
        Big replies are decoded in slices straight into columns (see :func:`decode_log_rows`).
        """
        lim = int(limit or self.log_limit)
        while True:
            frame = self.call("local_userlog_get_logs_course", {"courseid": int(course_id), "limit": lim},
                              decoder=decode_log_rows, stream=LogRowsStream)
            if isinstance(frame, list) and not frame:
                frame = logs_frame([])
            if not isinstance(frame, pd.DataFrame):
                raise MoodleInvalidParameterError("Moodle's course log reply had an unexpected shape.")
            if len(frame) < lim:
                break
            if lim >= self.max_log_rows:
                raise MoodleError(
                    f"Course {int(course_id)} has at least {lim:,} log rows, more than CohortLens is set to "
                    f"read ({self.max_log_rows:,}). Raise the log limit, or import a log export instead.",
                    function="local_userlog_get_logs_course")
            log.info("course %s: %d log rows = limit, asking again with a bigger limit", course_id, lim)
            lim = min(lim * 4, self.max_log_rows)
            del frame
        return frame

    # ------------------------------------------------------------------ everything for one run
    def course_data(self, course_id: int, *, as_of: datetime | None = None, timezone: str = "UTC",
                    progress: Callable[[str, float], None] | None = None) -> CourseData:
        """Course, active students, teachers, quiz grades and logs (up to ``as_of`` if given)."""
        def step(label: str, frac: float) -> None:
            if progress is not None:
                progress(label, frac)

        step("course", 0.0)
        course = self.course(course_id)
        step("enrolments", 0.05)
        students, teachers, suspended = self._enrolment(course_id)
        step("grades", 0.2)
        # The log reply is read and decoded (mostly in pyarrow, without the GIL) on its own thread while
        # the per-student grade calls run: the two waits overlap instead of adding up.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="moodle-logs") as pool:
            pending = pool.submit(self.course_logs, course_id)
            try:
                grades = self.quiz_grades(course_id, [int(u["id"]) for u in students])
            except BaseException:
                pending.cancel()
                raise
            step("logs", 0.5)
            logs = pending.result()
        if as_of is not None:
            if as_of.tzinfo is None:
                as_of = as_of.replace(tzinfo=UTC)
            later = logs["timecreated"].to_numpy() > int(as_of.timestamp())
            if later.any():                # no copy of a big frame when nothing is dropped
                logs = logs[~later].reset_index(drop=True)
        step("done", 1.0)
        keep = ("id", "fullname", "shortname", "startdate", "enddate", "summary", "categoryid")
        return CourseData(
            course={k: course.get(k) for k in keep if k in course},
            students=_users_frame(students, STUDENT_COLUMNS),
            logs=logs, grades=grades,
            teachers=_users_frame(teachers, ["id", "fullname", "roles"]),
            source="moodle", timezone=timezone,
            extracted_at=(as_of or datetime.now(UTC)).astimezone(UTC),
            suspended_students=max(suspended, 0),
        )


def _slim_usergrades(usergrades: list[dict], modules: tuple[str, ...] | None) -> list[dict]:
    """Only the wanted items and the fields grades_frame reads (20,000 full grade reports held as
    dicts would cost hundreds of MB while the log reply is decoded)."""
    return [{"userid": ug.get("userid"),
             "gradeitems": [{k: it.get(k) for k in GRADE_COLUMNS[1:]} for it in ug.get("gradeitems") or []
                            if modules is None or it.get("itemmodule") in modules]}
            for ug in usergrades]


class GradeReplyStream:
    """Decodes a whole-course ``gradereport_user_get_grade_items`` reply while it arrives.

    The reply is ``{"usergrades":[{...}, ...], "warnings":[...]}``. The usergrades list is cut into
    ~``slice_bytes`` slices at ``},{"<first key of a usergrade>":`` (as :class:`LogRowsStream` cuts log
    rows; a cut in the wrong place cannot parse and fails the call, it never yields wrong rows), each
    slice is parsed and reduced at once to ``grades_frame`` rows of the wanted ``modules``; the tail
    (the last students, the warnings) is parsed as the JSON object it completes. ``finish`` returns the
    reply with ``usergrades`` as one grades frame. Any other reply (an error object) is not taken:
    ``wants`` says so from its first bytes.
    """

    PREFIX = b'{"usergrades":['

    def __init__(self, *, modules: tuple[str, ...] | None = ("quiz",), slice_bytes: int = 4 << 20) -> None:
        self.modules = modules
        self.slice_bytes = max(int(slice_bytes), 1)
        self._buf = bytearray()
        self._started = False
        self._sep: bytes | None = None
        self._frames: list[pd.DataFrame] = []

    @classmethod
    def wants(cls, content: bytes | bytearray) -> bool | None:
        head = bytes(content[:256]).lstrip()
        if head.startswith(cls.PREFIX):
            return True
        return None if cls.PREFIX.startswith(head) else False

    def feed(self, chunk: bytes | bytearray) -> None:
        self._buf += chunk
        if not self._started:
            at = self._buf.find(self.PREFIX)
            if at < 0:
                return
            del self._buf[: at + len(self.PREFIX)]
            self._started = True
        if self._sep is None:
            m = re.match(rb'\s*\{\s*"((?:[^"\\]|\\.)*)"\s*:', bytes(self._buf[:4096]))
            if m is None:
                return                     # no student yet (or an empty list): all decoded at the end
            self._sep = b'},{"' + m.group(1) + b'":'
        while len(self._buf) > self.slice_bytes:
            cut = self._buf.find(self._sep, self.slice_bytes)
            if cut < 0:
                break
            self._take(_loads(b"[" + self._buf[: cut + 1] + b"]"))
            del self._buf[: cut + 2]

    def _take(self, usergrades: Any) -> None:
        if not isinstance(usergrades, list) or not all(isinstance(ug, dict) for ug in usergrades):
            raise ValueError("usergrades is not a list of objects")
        if usergrades:
            self._frames.append(grades_frame(_slim_usergrades(usergrades, self.modules), modules=self.modules))

    def finish(self) -> Any:
        """The reply, ``usergrades`` as one grades frame (ValueError: not valid JSON / cut off)."""
        buf, self._buf = self._buf, bytearray()
        if not self._started:
            return _loads(buf)
        payload = _loads(self.PREFIX + buf)
        del buf
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        self._take(payload.get("usergrades"))
        frames, self._frames = self._frames, []
        payload["usergrades"] = (frames[0] if len(frames) == 1 else
                                 pd.concat(frames, ignore_index=True) if frames else
                                 grades_frame([], modules=self.modules))
        return payload


def _users_frame(users: list[dict], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(users)
    for col in columns:
        if col not in frame.columns:
            frame[col] = 0 if col in ("firstaccess", "lastaccess", "lastcourseaccess") else None
    extra = [c for c in frame.columns if c not in columns]
    frame = frame[columns + extra]
    if len(frame):
        frame["id"] = frame["id"].astype(np.int64)
    for col in ("firstaccess", "lastaccess", "lastcourseaccess"):
        if col in frame.columns and len(frame):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").fillna(0).astype(np.int64)
    return frame.reset_index(drop=True)


_SLICE_BYTES = 24 << 20
_LOG_ARROW_TYPES = {
    "id": "int64", "eventname": "string", "component": "string", "action": "string", "target": "string",
    "objecttable": "string", "objectid": "int64", "crud": "string", "edulevel": "int64", "contextid": "int64",
    "contextlevel": "int64", "contextinstanceid": "int64", "userid": "int64", "courseid": "int64",
    "relateduserid": "int64", "anonymous": "int64", "other": "string", "timecreated": "int64",
    "origin": "string", "ip": "string", "realuserid": "int64",
}


#: log columns that hold a few hundred distinct strings: kept as pandas ``category``
CATEGORY_LOG_COLUMNS = ("eventname", "component", "action", "target", "objecttable", "crud", "other",
                        "origin", "ip")


def _decode_threads() -> int:
    """Threads for decoding log slices: the cores there are, at most 4 (measured: 2 on 2 cores
    overlap the download and the decoding; more only hold more slices in memory)."""
    return max(1, min(4, os.cpu_count() or 1))


def _arrow_slice(ndjson: bytes | bytearray) -> Any:
    """NDJSON bytes -> pyarrow Table (None when pyarrow is missing or the slice does not fit)."""
    try:
        import pyarrow as pa
        import pyarrow.json as pj
    except ImportError:  # pragma: no cover - pandas works without pyarrow
        return None
    schema = pa.schema([(k, getattr(pa, t)()) for k, t in _LOG_ARROW_TYPES.items()])
    try:
        # one thread: slices are decoded while the reply streams in and grade calls run (measured faster)
        return pj.read_json(pa.BufferReader(pa.py_buffer(ndjson)), read_options=pj.ReadOptions(use_threads=False),
                            memory_pool=_arrow_pool(),
                            parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer", newlines_in_values=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _arrow_pool() -> Any:
    """pyarrow's default pool (measured: the system allocator fragments and peaks higher)."""
    import pyarrow as pa

    return pa.default_memory_pool()


def _lean_table(table: Any) -> Any:
    """Known columns in their schema types, every string column dictionary-encoded (int32 indices)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    dict_type = pa.dictionary(pa.int32(), pa.string())
    cols, names = [], []
    for name in table.column_names:
        col = table.column(name)
        want = _LOG_ARROW_TYPES.get(name)
        pool = _arrow_pool()
        if want == "int64" and col.type != pa.int64():
            col = pc.cast(col, pa.int64(), memory_pool=pool)
        elif want == "string" or pa.types.is_string(col.type) or pa.types.is_large_string(col.type) \
                or pa.types.is_dictionary(col.type):
            if pa.types.is_dictionary(col.type):
                col = pc.cast(col, dict_type, memory_pool=pool)
            else:
                col = pc.dictionary_encode(pc.cast(col, pa.string(), memory_pool=pool), memory_pool=pool)
        cols.append(col)
        names.append(name)
    return pa.Table.from_arrays(cols, names=names)


class LogRowsStream:
    """Decodes a ``local_userlog_get_logs_course`` reply while it arrives (``feed`` chunks, ``finish``).

    The body is cut into ~``slice_bytes`` slices only at ``},{"<first key>":`` — with an unescaped
    quote that sequence cannot occur inside a JSON string, so every cut is a real boundary between two
    rows; the same sequence turned into ``}\\n{"<first key>":`` makes a slice newline-delimited JSON,
    which pyarrow reads in C++ into columns (strings dictionary-encoded at once). A slice pyarrow cannot
    take falls back to orjson/json. Only one slice of raw bytes is held at a time: peak memory is about
    the decoded columns, never the whole reply nor one Python dict per row.
    """

    def __init__(self, *, slice_bytes: int = _SLICE_BYTES, threads: int | None = None) -> None:
        self.slice_bytes = max(int(slice_bytes), 1)
        #: slices decoded at the same time, on threads, while the reply keeps arriving (pyarrow's JSON
        #: reader runs without the GIL); 0 decodes each slice on the feeding thread
        self.threads = _decode_threads() if threads is None else max(int(threads), 0)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Any] = []   # futures of slices in reply order
        self._buf = bytearray()
        self._sep: bytes | None = None
        self._nl_sep = b""
        self._whole = False           # no row boundary to cut at: decode everything at the end
        self._tables: list[Any] = []
        self._parts: list[tuple[dict[str, Any], int]] = []   # decoded slices as numpy column parts
        self._frames: list[pd.DataFrame] = []
        self.rows = 0
        self.bytes = 0

    def feed(self, chunk: bytes | bytearray) -> None:
        """Take the next bytes of the reply; decodes every complete slice (ValueError: not valid JSON)."""
        self._buf += chunk
        self.bytes += len(chunk)
        if self._whole:
            return
        if self._sep is None:
            m = re.match(rb'\s*\[\s*\{\s*"((?:[^"\\]|\\.)*)"\s*:', bytes(self._buf[:4096]))
            if m is None:
                if len(self._buf) >= 4096 or re.match(rb"\s*(\[\s*(\{\s*(\"[^\"]*)?)?)?$",
                                                       bytes(self._buf)) is None:
                    self._whole = True        # not a list of objects (or an odd first key)
                return
            self._sep = b'},{"' + m.group(1) + b'":'
            self._nl_sep = b'}\n{"' + m.group(1) + b'":'
            del self._buf[: self._buf.index(b"{")]
        while len(self._buf) > self.slice_bytes:
            cut = self._buf.find(self._sep, self.slice_bytes)
            if cut < 0:
                break
            self._decode(self._buf[: cut + 1])
            del self._buf[: cut + 2]

    def _decode(self, chunk: bytes | bytearray) -> None:
        """Decode one slice: on the pool when there is one (at most ``threads + 1`` slices in flight,
        so memory stays bounded while the download goes on), else here."""
        if self.threads <= 0:
            self._collect(self._decode_slice(chunk, self._sep, self._nl_sep))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="moodle-logs-decode")
        self._pending.append(self._pool.submit(self._decode_slice, chunk, self._sep, self._nl_sep))
        while len(self._pending) > self.threads + 1:
            self._collect(self._pending.pop(0).result())

    @staticmethod
    def _decode_slice(chunk: bytes | bytearray, sep: bytes | None, nl_sep: bytes) -> tuple[str, Any, int]:
        table = _arrow_slice(chunk.replace(sep, nl_sep)) if b"\n" not in chunk else None  # type: ignore[arg-type]
        if table is not None:
            # straight to numpy parts: the slice's arrow buffers are freed now, not held until the
            # end next to the frame built from them (that doubled the peak at 20,000 students)
            return "parts", _column_parts(table), table.num_rows
        rows = _loads(b"[" + chunk + b"]")
        return "frame", logs_frame(rows, sort=False), len(rows)

    def _collect(self, done: tuple[str, Any, int]) -> None:
        kind, part, n = done
        if kind == "parts":
            self._parts.append((part, n))
            if len(self._parts) % 8 == 0:
                _trim()        # the decoded slices' raw bytes and arrow buffers, freed on the threads
        else:
            (self._tables if kind == "table" else self._frames).append(part)
        self.rows += n

    def close(self) -> None:
        """Give up (the reply failed): drop the slices in flight and stop the threads."""
        for fut in self._pending:
            fut.cancel()
        self._pending = []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _drain(self) -> None:
        """Wait for every slice still being decoded (in reply order); stop the pool."""
        try:
            while self._pending:
                self._collect(self._pending.pop(0).result())
        finally:
            for fut in self._pending:
                fut.cancel()
            self._pending = []
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def finish(self) -> pd.DataFrame:
        """The whole reply as a LOG_COLUMNS frame, oldest first. ValueError when it was cut off."""
        buf, self._buf = self._buf, bytearray()
        if self._whole or self._sep is None:
            self._drain()
            rows = _loads(buf)
            if not isinstance(rows, list):
                raise ValueError("not a list")
            return logs_frame(rows)
        end = len(buf)
        while end > 0 and buf[end - 1: end] in (b" ", b"\n", b"\r", b"\t"):
            end -= 1
        if buf[end - 1: end] != b"]":
            raise ValueError("reply does not end with ']' (cut off)")
        end -= 1
        while end > 0 and buf[end - 1: end] in (b" ", b"\n", b"\r", b"\t"):
            end -= 1
        try:
            if end > 0:
                self._decode(buf[:end])
            del buf
        finally:
            self._drain()
        _trim()
        frames = self._frames
        if self._parts:
            frames.insert(0, _frame_from_parts(self._parts))
            self._parts = []
        if self._tables:
            frames.insert(0, _frame_from_tables(self._tables))
            self._tables = []
        if not frames:
            return logs_frame([])
        if len(frames) == 1:
            return _typed_logs(frames[0], sort=True)
        return _typed_logs(_concat_logs(frames), sort=True)


def _concat_logs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate log frames, keeping category columns categorical (union of the categories)."""
    out = pd.concat([f.astype({c: object for c in CATEGORY_LOG_COLUMNS if c in f.columns}) for f in frames],
                    ignore_index=True)
    return _categorise(out)


def _narrow(values: np.ndarray) -> np.ndarray:
    """A numpy-owned copy of an integer slice column in the smallest int type holding its values.

    The decoded slices wait in this form until the reply is complete (at 20,000 students the log's 12
    int64 columns are mostly small numbers: ids of a few contexts, 0/1 flags, levels); assembling widens
    them back to int64. The copy also frees the slice's arrow buffers at once.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int8)
    lo, hi = int(values.min()), int(values.max())
    for small in (np.int8, np.int16, np.int32):
        info = np.iinfo(small)
        if info.min <= lo and hi <= info.max:
            return values.astype(small)
    return values.astype(np.int64)


def _codes_type(n_values: int) -> Any:
    """The int type pandas keeps category codes in for ``n_values`` categories."""
    for small in (np.int8, np.int16, np.int32):
        if n_values < np.iinfo(small).max:
            return small
    return np.int64


def _column_parts(table: Any) -> dict[str, Any]:
    """One decoded slice -> {column: part} of compact numpy arrays (the arrow table can go right after).

    Parts: ``("int", values)`` (smallest int type, see :func:`_narrow`); ``("nint", values, null mask)``;
    ``("cat", [(dictionary, codes), ...])`` (one pair per arrow chunk, codes -1 for null, small int
    type); ``("obj", object array)`` for anything else.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, Any] = {}
    for name in table.column_names:
        col = table.column(name)
        typ = col.type
        if _LOG_ARROW_TYPES.get(name) == "int64" and not pa.types.is_integer(typ) and col.null_count < len(col):
            try:
                col = pc.cast(col, pa.int64())
                typ = col.type
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        if pa.types.is_integer(typ) or (pa.types.is_null(typ) and _LOG_ARROW_TYPES.get(name) == "int64"):
            if col.null_count == 0:
                out[name] = ("int", _narrow(col.to_numpy().astype(np.int64, copy=False)))
            else:
                values = pc.fill_null(col.cast(pa.int64()), 0).to_numpy().astype(np.int64, copy=False)
                out[name] = ("nint", _narrow(values),
                             np.array(col.is_null().to_numpy(zero_copy_only=False), dtype=bool))
        elif pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ) \
                or (pa.types.is_null(typ) and _LOG_ARROW_TYPES.get(name) == "string"):
            pairs = []
            for chunk in col.chunks:
                if pa.types.is_null(chunk.type):
                    pairs.append(([], np.full(len(chunk), -1, dtype=np.int8)))
                    continue
                if not pa.types.is_dictionary(chunk.type):
                    chunk = pc.dictionary_encode(chunk)
                dictionary = chunk.dictionary.cast(pa.string()).to_pylist()
                codes = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
                pairs.append((dictionary, codes.astype(_codes_type(len(dictionary)))))
            out[name] = ("cat", pairs)
        else:
            out[name] = ("obj", col.to_pandas().to_numpy(dtype=object))
    return out


#: a sort plan: the rows only need reversing (the plugin sends newest first)
_REVERSE = "reverse"


def _sort_plan(tc: np.ndarray, ids: np.ndarray) -> Any:
    """How to sort rows by (tc, ids): None (already sorted), ``_REVERSE``, or a permutation."""
    if len(tc) < 2:
        return None
    if ((tc[1:] > tc[:-1]) | ((tc[1:] == tc[:-1]) & (ids[1:] > ids[:-1]))).all():
        return None
    rev_tc, rev_ids = tc[::-1], ids[::-1]
    if ((rev_tc[1:] > rev_tc[:-1]) | ((rev_tc[1:] == rev_tc[:-1]) & (rev_ids[1:] > rev_ids[:-1]))).all():
        return _REVERSE
    return np.lexsort((ids, tc))


def _fill(out: np.ndarray, pieces: Iterator[np.ndarray], plan: Any) -> np.ndarray:
    """``out`` filled with ``pieces`` (reply order), in the order ``plan`` gives (see _sort_plan)."""
    total, pos = len(out), 0
    for piece in pieces:
        n = len(piece)
        if plan is _REVERSE:
            out[total - pos - n: total - pos] = piece[::-1]
        else:
            out[pos: pos + n] = piece
        pos += n
    if plan is not None and plan is not _REVERSE:
        return out.take(plan)
    return out


def _drain_parts(parts: list[Any]) -> Iterator[Any]:
    """The parts in order, each dropped from ``parts`` as it is handed out (freed once used)."""
    for i in range(len(parts)):
        part, parts[i] = parts[i], None
        yield part


def _assemble(kind: str, parts: list[Any], sizes: list[int], plan: Any = None) -> Any:
    """One column from its slice parts (``None`` where a slice lacks the column), rows in ``plan``'s
    order; each part is freed as soon as it is copied into the column."""
    kinds = {p[0] for p in parts if p is not None}
    total = sum(sizes)
    if kinds == {"int"} and all(p is not None for p in parts):
        return _fill(np.empty(total, dtype=np.int64), (p[1] for p in _drain_parts(parts)), plan)
    if kinds <= {"int", "nint"}:
        masks = [p[2] if p is not None and p[0] == "nint" else np.full(n, p is None)
                 for p, n in zip(parts, sizes, strict=True)]
        values = _fill(np.empty(total, dtype=np.int64),
                       (p[1] if p is not None else np.zeros(n, dtype=np.int64)
                        for p, n in zip(_drain_parts(parts), sizes, strict=True)), plan)
        mask = _fill(np.empty(total, dtype=bool), _drain_parts(masks), plan)
        return pd.arrays.IntegerArray(values, mask)
    if kinds == {"cat"}:
        seen: set[str] = set()
        for p in parts:
            for dictionary, _codes in p[1] if p is not None else ():
                seen.update(dictionary)
        categories = pd.Index(sorted(seen), dtype="str")
        small = _codes_type(len(categories))

        def pieces() -> Iterator[np.ndarray]:
            for p, n in zip(_drain_parts(parts), sizes, strict=True):
                if p is None:
                    yield np.full(n, -1, dtype=small)
                    continue
                for dictionary, codes in p[1]:
                    remap = np.append(categories.get_indexer(pd.Index(dictionary, dtype="str")), -1).astype(small) \
                        if dictionary else np.array([-1], dtype=small)
                    yield remap[codes]         # code -1 picks the appended -1

        codes = _fill(np.empty(total, dtype=small), pieces(), plan)
        return pd.Categorical.from_codes(codes, categories=categories)
    objects = []
    for p, n in zip(parts, sizes, strict=True):
        if p is None:
            objects.append(np.full(n, None, dtype=object))
        elif p[0] == "cat":
            for dictionary, codes in p[1]:
                lookup = np.array(list(dictionary) + [None], dtype=object)
                objects.append(lookup[codes])
        elif p[0] == "nint":
            arr = p[1].astype(np.int64).astype(object)
            arr[p[2]] = None
            objects.append(arr)
        else:
            objects.append(np.asarray(p[1], dtype=object))
    return _fill(np.empty(total, dtype=object), iter(objects), plan)


def _frame_from_parts(parts: list[tuple[dict[str, Any], int]]) -> pd.DataFrame:
    """Slices' numpy parts -> one frame, oldest first, column by column: each column is written once,
    straight into its sorted place, and its parts are freed as it is built."""
    import pyarrow as pa

    sizes = [n for _, n in parts]
    names: dict[str, None] = {}
    for cols, _ in parts:
        names.update(dict.fromkeys(cols))
    data: dict[str, Any] = dict.fromkeys(names)
    plan = None
    if all(cols.get(c, ("?",))[0] == "int" for cols, _ in parts for c in ("timecreated", "id")):
        # the sort keys first, in reply order; then every column goes straight to its sorted place
        tc = _assemble("timecreated", [cols.pop("timecreated") for cols, _ in parts], sizes)
        ids = _assemble("id", [cols.pop("id") for cols, _ in parts], sizes)
        plan = _sort_plan(tc, ids)
        for name, values in (("timecreated", tc), ("id", ids)):
            data[name] = (np.ascontiguousarray(values[::-1]) if plan is _REVERSE
                          else values.take(plan) if plan is not None else values)
        del tc, ids, values
    for name in names:
        if data[name] is not None:
            continue
        data[name] = _assemble(name, [cols.pop(name, None) for cols, _ in parts], sizes, plan)
        _trim()
    pa.default_memory_pool().release_unused()
    return pd.DataFrame(data, copy=False)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _trim() -> None:
    """Hand memory freed on the heap back to the system (glibc keeps freed chunks in its arenas, and
    the decoding threads each have their own: without this the parts freed while the log frame is
    assembled stay in the process, ~+250 MB at 20,000 students). A no-op without glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _frame_from_tables(tables: list[Any]) -> pd.DataFrame:
    """Decoded slices -> one frame, column by column (only one column is ever held twice)."""
    import pyarrow as pa

    pool = _arrow_pool()
    try:
        table = pa.concat_tables(tables, promote_options="default", memory_pool=pool)
    except (pa.ArrowInvalid, pa.ArrowTypeError):   # odd extra fields that differ between slices
        keep = [c for c in LOG_COLUMNS if c in tables[0].column_names]
        table = pa.concat_tables([t.select(keep) for t in tables], promote_options="default", memory_pool=pool)
    tables.clear()
    table = table.unify_dictionaries(memory_pool=pool)
    order = None
    if all(c in table.column_names and pa.types.is_integer(table.column(c).type) and table.column(c).null_count == 0
           for c in ("timecreated", "id")):
        # sort each column once while converting it (rows arrive newest first), not the whole frame later
        order = _order_of(table.column("timecreated").to_numpy(), table.column("id").to_numpy())
    data: dict[str, Any] = {}
    for name in table.column_names:
        col = table.column(name)
        if name in _NULLABLE_INT_LOG_COLUMNS:
            values: Any = col.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).array
        elif pa.types.is_integer(col.type) and col.null_count == 0:
            values = col.to_numpy()
        else:
            values = col.to_pandas().array
        table = table.drop_columns([name])
        del col
        data[name] = values.take(order) if order is not None else values
        del values
    del table
    pool.release_unused()              # hand the freed arrow columns back before analytics runs
    return pd.DataFrame(data, copy=False)


def decode_log_rows(content: bytes | bytearray, *, slice_bytes: int = _SLICE_BYTES) -> pd.DataFrame:
    """A whole JSON list of flat log rows -> LOG_COLUMNS frame (see :class:`LogRowsStream`).

    Raises ValueError for a reply that is not valid JSON (cut off).
    """
    stream = LogRowsStream(slice_bytes=slice_bytes)
    view = memoryview(content)
    step = max(slice_bytes, 1 << 20)
    for i in range(0, len(content), step):
        stream.feed(view[i: i + step])
    return stream.finish()


def _categorise(frame: pd.DataFrame) -> pd.DataFrame:
    """Repeated-string log columns as ``category`` with sorted str categories (the demo frame's layout)."""
    for col in CATEGORY_LOG_COLUMNS:
        if col not in frame.columns:
            continue
        vals = frame[col]
        if isinstance(vals.dtype, pd.CategoricalDtype):
            cats = vals.cat.categories.astype(str)
            ordered = pd.Index(sorted(cats), dtype="str")
            if cats.equals(ordered) and vals.cat.categories.dtype == ordered.dtype:
                continue
            remap = np.append(ordered.get_indexer(cats), -1).astype(np.int32)
            frame[col] = pd.Categorical.from_codes(remap[vals.cat.codes.to_numpy()], categories=ordered)
        else:
            vals = vals.astype(object)
            frame[col] = pd.Categorical(vals.where(vals.notna(), None),
                                        categories=pd.Index(sorted({str(v) for v in vals.dropna()}), dtype="str"))
    return frame


def _log_order(frame: pd.DataFrame) -> np.ndarray | None:
    """Row order that sorts by (timecreated, id); None when already sorted."""
    return _order_of(frame["timecreated"].to_numpy(), frame["id"].to_numpy())


def _order_of(tc: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """Row order that sorts by (tc, ids); None when already sorted; a plain reversal when newest first."""
    plan = _sort_plan(tc, ids)
    return np.arange(len(tc) - 1, -1, -1) if plan is _REVERSE else plan


def logs_frame(rows: list[dict], *, sort: bool = True) -> pd.DataFrame:
    """Plugin rows (newest first) -> LOG_COLUMNS DataFrame, oldest first, ints typed, other as text."""
    if not rows:
        return empty_logs()
    return _typed_logs(pd.DataFrame.from_records(rows), sort=sort)


def _typed_logs(frame: pd.DataFrame, *, sort: bool = True) -> pd.DataFrame:
    for col in LOG_COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame = frame[LOG_COLUMNS + [c for c in frame.columns if c not in LOG_COLUMNS]]
    for col in _INT_LOG_COLUMNS:
        vals = frame[col]
        if vals.dtype != np.int64:
            vals = pd.to_numeric(vals, errors="coerce")
            vals = vals.fillna(0).astype(np.int64) if col != "timecreated" else vals.astype("Int64")
        frame[col] = vals
    if frame["timecreated"].dtype != np.int64:
        frame = frame[frame["timecreated"].notna()]
        frame["timecreated"] = frame["timecreated"].astype(np.int64)
    for col in _NULLABLE_INT_LOG_COLUMNS:
        if frame[col].dtype != "Int64":     # no copy of a column that is already right
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    other = frame["other"]
    if other.dtype == object and other.map(lambda v: not (v is None or isinstance(v, str))).any():
        frame["other"] = other.map(lambda v: v if v is None or isinstance(v, str)
                                   else json.dumps(v, separators=(",", ":")))
    frame = _categorise(frame)
    if sort:
        order = _log_order(frame)
        if order is not None:
            frame = frame.take(order)
        frame = frame.reset_index(drop=True)
    return frame


def check_connection(client: MoodleClient) -> list[dict]:
    """For the Settings page: one row per needed function with ``function``, ``ok``, ``message``.

    Retries at most once, so a dead site answers quickly.
    """
    saved = client.retries
    client.retries = min(saved, 1)
    try:
        return _check_connection(client)
    finally:
        client.retries = saved


def _check_connection(client: MoodleClient) -> list[dict]:
    results: list[dict] = []
    for kind in ("standard", "custom"):
        fns = [fn for fn, k in NEEDED_FUNCTIONS.items() if k == kind]
        if kind == "custom" and not client.has_custom_token:
            note = " (using the standard token: no custom token is set)"
        else:
            note = ""
        try:
            info = client.site_info(token=kind)
        except MoodleError as exc:
            for fn in fns:
                results.append({"function": fn, "ok": False, "message": exc.message})
            continue
        site = info.get("sitename") or "Moodle"
        for fn in fns:
            ok = bool(info["available"].get(fn))
            if ok:
                msg = f"Available on {site}{note}."
            elif fn.startswith("local_"):
                msg = (f"Not in this token's service{note}. The local_userlog plugin may be missing, or the "
                       "function is not added to the custom token's web service.")
            else:
                msg = f"Not in this token's service on {site}. Ask your Moodle administrator to add it."
            results.append({"function": fn, "ok": ok, "message": msg})
    # A real call proves more than the service list: try the course list when it is said to work.
    row = next(r for r in results if r["function"] == "core_course_get_courses")
    if row["ok"]:
        try:
            n = len(client.courses())
            row["message"] += f" {n} course(s) visible."
        except MoodleError as exc:
            row.update(ok=False, message=exc.message)
    return results
