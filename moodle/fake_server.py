"""A faithful fake Moodle: a real HTTP server on 127.0.0.1 serving a :class:`~moodle.demo.DemoSite`.

It speaks the real protocol (see ../shared/reference/moodle_api.md): ``/webservice/rest/server.php``
(GET and POST merged, form-encoded PHP bracket arrays, ``moodlewsrestformat=json``, XML otherwise) and
``/login/token.php``, with Moodle's quirks: errors are HTTP 200 + ``{"exception","errorcode","message"}``
checked in Moodle's order (token, function, service, strict parameters, course), the site course 1 in
``core_course_get_courses``, role ``name`` "", ``lastcourseaccess`` 0 for never, grade items with
``itemname`` null on the course total and ``"-"`` ungraded items, the custom log function's default
``limit`` of 20 newest-first rows, and JSON escaped the way PHP does (``\\/``, ``\\uNNNN``, integral
floats without ``.0``).

Fault switches live on ``server.faults`` and can be flipped while it runs, e.g.
``server.faults.http_500 = 2`` (the next two calls answer HTTP 500). See :class:`Faults`.

Manual demo: ``python -m moodle.fake_server --port 8800`` prints the URL and the tokens to export.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

from moodle.demo import DemoCourseSpec, DemoSite, _to_utc_ts
from moodle.errors import redact

__all__ = ["LARGE_COURSE_ID", "FakeMoodleServer", "Faults", "encode_log_reply", "php_json", "parse_php_params"]

log = logging.getLogger(__name__)

LARGE_COURSE_ID = 990
STANDARD_SERVICE = "cohortlens"
CUSTOM_SERVICE = "cohortlens_logs"
STANDARD_FUNCTIONS = (
    "core_webservice_get_site_info", "core_course_get_courses", "core_course_get_contents",
    "core_enrol_get_enrolled_users", "gradereport_user_get_grade_items", "core_message_send_instant_messages",
)
CUSTOM_FUNCTIONS = ("core_webservice_get_site_info", "local_userlog_get_logs_course")
KNOWN_FUNCTIONS = set(STANDARD_FUNCTIONS) | set(CUSTOM_FUNCTIONS) | {
    "core_course_get_courses_by_field", "core_user_get_users_by_field", "mod_quiz_get_quizzes_by_courses",
}
USER_FIELDS = {
    "id", "username", "fullname", "firstname", "lastname", "email", "address", "phone1", "phone2",
    "department", "institution", "idnumber", "interests", "firstaccess", "lastaccess", "lastcourseaccess",
    "auth", "suspended", "confirmed", "lang", "calendartype", "theme", "timezone", "mailformat",
    "description", "descriptionformat", "city", "country", "profileimageurlsmall", "profileimageurl",
    "customfields", "groups", "roles", "preferences", "enrolledcourses",
}


@dataclass
class Faults:
    """Runtime fault switches. Counters apply to the next N web-service calls, then reset."""

    invalid_token: bool = False          # every token is unknown -> invalidtoken
    expired_token: bool = False          # every token expired -> accessexception
    disabled_functions: set[str] = field(default_factory=set)   # not in the token's service
    http_500: int = 0                    # next N calls answer HTTP 500 with an HTML page
    truncated: int = 0                   # next N calls send half of their JSON
    slow: int = 0                        # next N calls wait `slow_seconds` before answering
    slow_seconds: float = 2.0
    latency_s: float = 0.0               # every call waits this long first (a remote Moodle's round trip)
    empty_body: int = 0                  # next N calls answer an empty 200 (REST disabled)
    html_page: int = 0                   # next N calls answer a 200 HTML login page (wrong URL, SSO proxy)
    drop_connection: int = 0             # next N calls close the socket without an answer
    ignore_limitfrom: bool = False       # enrolled users: a server that ignores paging
    redirect_to: str = ""                # non-empty: answer 301 to this URL (http -> https sites)
    deny_enrolreview: bool = False       # token lacks moodle/course:enrolreview: onlyactive is refused
    deny_grade_viewall: bool = False     # token lacks moodle/grade:viewall: userid=0 grade reports refused
    large_course_students: int = 0       # > 0: course LARGE_COURSE_ID with that many students exists
    large_course_scale: float = 1.0      # activity_scale of that course (logs ~ 30 * students * weeks)
    messaging_disabled: bool = False     # site setting "messaging" off: sending raises 'disabled'
    deny_sendmessage: bool = False       # the web-service user lacks moodle/site:sendmessage
    unreachable_users: set[int] = field(default_factory=set)  # privacy settings refuse messages to them

    def take(self, name: str) -> bool:
        value = getattr(self, name)
        if value > 0:
            setattr(self, name, value - 1)
            return True
        return False


class MoodleWSError(Exception):
    def __init__(self, exception: str, errorcode: str, message: str) -> None:
        super().__init__(message)
        self.payload = {"exception": exception, "errorcode": errorcode, "message": message}


def _invalid(detail: str = "") -> MoodleWSError:
    err = MoodleWSError("invalid_parameter_exception", "invalidparameter", "Invalid parameter value detected")
    err.detail = detail  # type: ignore[attr-defined]
    return err


def _phpify(obj: Any) -> Any:
    if isinstance(obj, float):
        return int(obj) if obj.is_integer() else obj
    if isinstance(obj, dict):
        return {k: _phpify(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_phpify(v) for v in obj]
    return obj


def php_json(obj: Any) -> bytes:
    """JSON the way PHP's json_encode writes it: ``\\/``, ``\\uNNNN``, integral floats as ints."""
    text = json.dumps(_phpify(obj), ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode("ascii")


_RUN_MAX_DISTINCT = 20_000      # fuse neighbouring columns while their distinct combinations stay few


def _json_codes(col: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """A column -> (codes, JSON text of each code), or None for a column of mostly distinct ints."""
    dtype = col.dtype
    is_int = dtype.kind in "iu" and not isinstance(dtype, pd.CategoricalDtype)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    if is_int and len(uniques) > _RUN_MAX_DISTINCT:
        return None
    if is_int:
        texts = [str(int(v)) for v in uniques]
    else:
        texts = [php_json(v).decode("ascii") for v in uniques]
    texts.append("null")
    codes = np.where(codes < 0, len(texts) - 1, codes).astype(np.int64)
    return codes, texts


def _plan_reply(frame: pd.DataFrame) -> list[tuple[Any, Any]]:
    """Rows as pieces: ``(codes, texts)`` for runs of low-cardinality columns fused into one lookup
    (``"k1":v1,"k2":v2`` per distinct combination), ``(None, column)`` for mostly distinct int columns."""
    import pyarrow as pa

    plan: list[tuple[Any, Any]] = []
    run_codes: np.ndarray | None = None
    run_texts: list[str] = []

    def close() -> None:
        nonlocal run_codes, run_texts
        if run_codes is not None:
            plan.append((run_codes, run_texts))
        run_codes, run_texts = None, []

    for i, name in enumerate(frame.columns):
        lead = ("{" if i == 0 else ",") + php_json(str(name)).decode("ascii") + ":"
        coded = _json_codes(frame[name])
        if coded is None:
            close()
            plan.append((None, (lead, pa.array(frame[name]))))
            continue
        codes, texts = coded
        texts = [lead + t for t in texts]
        if run_codes is not None:
            both, uniq = pd.factorize(run_codes * len(texts) + codes)
            if len(uniq) <= _RUN_MAX_DISTINCT:
                run_texts = [run_texts[int(u) // len(texts)] + texts[int(u) % len(texts)] for u in uniq]
                run_codes = both.astype(np.int64)
                continue
            close()
        run_codes, run_texts = codes, texts
    close()
    return plan


def encode_log_reply(frame: pd.DataFrame, n: int, *, rows_per_part: int = 200_000) -> list[Any]:
    """The last ``n`` rows of ``frame`` newest first as a JSON list, escaped like PHP's json_encode.

    Vectorised: neighbouring low-cardinality columns are encoded once per distinct combination and
    looked up, ids and timestamps are cast by pyarrow, and pyarrow joins the pieces of each row — no
    Python object per row. Returned as byte parts (``[``, rows..., ``]``), never one big copy.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if n <= 0:
        return [b"[]"]
    plan = _plan_reply(frame.iloc[len(frame) - n:].iloc[::-1])
    tables = [pa.array(texts, pa.large_string()) if codes is not None else None for codes, texts in plan]
    parts: list[Any] = [b"["]
    for start in range(0, n, rows_per_part):
        stop = min(start + rows_per_part, n)
        pieces: list[Any] = []
        for (codes, spec), table in zip(plan, tables, strict=True):
            if codes is not None:
                pieces.append(table.take(pa.array(codes[start:stop])))
            else:
                lead, values = spec
                pieces.append(pa.scalar(lead, pa.large_string()))
                pieces.append(pc.fill_null(pc.cast(values[start:stop], pa.large_string()), "null"))
        pieces.append(pa.scalar("},", pa.large_string()))
        rows = pc.binary_join_element_wise(*pieces, pa.scalar("", pa.large_string()))
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset: rows.offset + len(rows) + 1]
        begin, end = int(offsets[0]), int(offsets[-1])
        if stop == n:
            end -= 1                                   # no comma after the last row
        parts.append(rows.buffers()[2].slice(begin, end - begin))
    parts.append(b"]")
    return parts


_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_php_params(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``options[0][name]=x`` pairs -> nested dicts; all-digit keys become lists (indices ignored)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY_RE.match(key)
        if not m:
            raise _invalid(f"bad key {key}")
        path = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node = root
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                nxt = node.setdefault(part, {})
                if not isinstance(nxt, dict):
                    raise _invalid(f"{key} mixes a value and an array")
                node = nxt

    def listify(n: Any) -> Any:
        if isinstance(n, dict):
            n = {k: listify(v) for k, v in n.items()}
            if n and all(k.isdigit() for k in n):
                return [n[k] for k in sorted(n, key=int)]
        return n

    return listify(root)


def _int(value: Any, name: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _invalid(f"{name} must be an integer")


def _validate(function: str, args: dict[str, Any]) -> dict[str, Any]:
    """Moodle's strict validate_parameters for the functions we serve."""
    def only(allowed: set[str], required: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        extra = set(args) - allowed
        if extra:
            raise _invalid(f"unexpected keys {sorted(extra)}")
        missing = required - set(args)
        if missing:
            raise _invalid(f"missing keys {sorted(missing)}")

    def name_values(value: Any, key: str) -> list[tuple[str, str]]:
        if value in (None, ""):
            return []
        if not isinstance(value, list):
            raise _invalid(f"{key} must be a list")
        out = []
        for item in value:
            if not isinstance(item, dict) or set(item) != {"name", "value"}:
                raise _invalid(f"{key} items need exactly name and value")
            if isinstance(item["name"], dict | list) or isinstance(item["value"], dict | list):
                raise _invalid(f"{key} values must be scalars")
            out.append((item["name"], item["value"]))
        return out

    if function == "core_webservice_get_site_info":
        only({"serviceshortnames"})
        return {}
    if function == "core_course_get_courses":
        only({"options"})
        opts = args.get("options", {})
        if opts in ("", None):
            opts = {}
        if not isinstance(opts, dict) or set(opts) - {"ids"}:
            raise _invalid("options")
        ids = opts.get("ids", [])
        if not isinstance(ids, list):
            raise _invalid("options[ids]")
        return {"ids": [_int(i, "ids") for i in ids]}
    if function in ("core_enrol_get_enrolled_users", "core_course_get_contents"):
        only({"courseid", "options"}, {"courseid"})
        return {"courseid": _int(args["courseid"], "courseid"),
                "options": name_values(args.get("options"), "options")}
    if function == "gradereport_user_get_grade_items":
        only({"courseid", "userid", "groupid"}, {"courseid"})
        return {"courseid": _int(args["courseid"], "courseid"),
                "userid": _int(args.get("userid", "0"), "userid"),
                "groupid": _int(args.get("groupid", "0"), "groupid")}
    if function == "core_message_send_instant_messages":
        only({"messages"}, {"messages"})
        msgs = args["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise _invalid("messages must be a non-empty list")
        out = []
        for m in msgs:
            if not isinstance(m, dict) or set(m) - {"touserid", "text", "textformat", "clientmsgid"} \
                    or not {"touserid", "text"} <= set(m):
                raise _invalid("messages items need touserid and text")
            if isinstance(m["text"], dict | list):
                raise _invalid("text must be a scalar")
            client = m.get("clientmsgid")
            if client is not None and not re.fullmatch(r"[A-Za-z0-9_-]*", str(client)):
                raise _invalid("clientmsgid")
            out.append({"touserid": _int(m["touserid"], "touserid"), "text": str(m["text"]),
                        "textformat": _int(m.get("textformat", "1"), "textformat"), "clientmsgid": client})
        return {"messages": out}
    if function == "local_userlog_get_logs_course":
        only({"courseid", "limit"}, {"courseid"})
        return {"courseid": _int(args["courseid"], "courseid"), "limit": _int(args.get("limit", "20"), "limit")}
    raise MoodleWSError("moodle_exception", "invalidrecord",
                        "Can't find data record in database table external_functions.")


class FakeMoodleServer:
    """Serves ``site`` over HTTP like Moodle. Use as a context manager; ``.url`` is the site URL.

    ``as_of``: the "now" of the served data (None = the real clock at each call). Settable later.
    ``users``: username -> password accepted by /login/token.php (default: none).
    """

    def __init__(self, site: DemoSite, *, standard_token: str, custom_token: str | None = None,
                 as_of: datetime | int | None = None, host: str = "127.0.0.1", port: int = 0,
                 users: dict[str, str] | None = None, sitename: str = "CohortLens Demo University") -> None:
        if not standard_token:
            raise ValueError("standard_token is required")
        self.site = site
        self.standard_token = standard_token
        self.custom_token = custom_token or standard_token
        self.as_of = as_of
        self.faults = Faults()
        self.users = dict(users or {})
        self.sitename = sitename
        self.requests: deque[dict] = deque(maxlen=200_000)   # function, args (no token), token kind
        #: private messages accepted by core_message_send_instant_messages (msgid, touserid, text, ...)
        self.messages: list[dict] = []
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._large: tuple[int, float, DemoSite] | None = None
        self._httpd = _QuietHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> FakeMoodleServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-moodle",
                                            kwargs={"poll_interval": 0.05}, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeMoodleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeMoodleServer({self.url}, site={self.site!r})"

    def calls(self, function: str | None = None) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if function is None or r["function"] == function]

    # ------------------------------------------------------------------ data access (locked, cached)
    def _now(self) -> int:
        ts = _to_utc_ts(self.as_of)
        return ts if self.as_of is not None else ts - ts % 60

    def _site_for(self, course_id: int) -> DemoSite | None:
        if course_id in self.site.course_ids():
            return self.site
        n = self.faults.large_course_students
        if course_id == LARGE_COURSE_ID and n > 0:
            scale = self.faults.large_course_scale
            if self._large is None or self._large[:2] != (n, scale):
                spec = DemoCourseSpec(LARGE_COURSE_ID, "Very Large Course", "HUGE", n, activity_scale=scale)
                self._large = (n, scale, DemoSite(self.site.seed, anchor=self.site.anchor, courses=[spec]))
            return self._large[2]
        return None

    def _cached(self, key: tuple, make: Any) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            value = make()
            self._cache[key] = value
            while len(self._cache) > 12:
                self._cache.popitem(last=False)
            return value

    def _courses(self) -> list[dict]:
        out = self.site.courses_raw(include_site=True)
        if self.faults.large_course_students > 0:
            out += self._site_for(LARGE_COURSE_ID).courses_raw()  # type: ignore[union-attr]
        return out

    def _require_course(self, course_id: int) -> DemoSite:
        site = self._site_for(course_id)
        if site is None:
            raise MoodleWSError("dml_missing_record_exception", "invalidrecord",
                                "Can't find data record in database table course.")
        return site

    # ------------------------------------------------------------------ functions
    def _service(self, kind: str) -> tuple[str, ...]:
        if self.standard_token == self.custom_token:      # one token, one service with everything
            return tuple(dict.fromkeys(STANDARD_FUNCTIONS + CUSTOM_FUNCTIONS))
        return STANDARD_FUNCTIONS if kind == "standard" else CUSTOM_FUNCTIONS

    def _site_info(self, kind: str) -> dict:
        fns = [f for f in self._service(kind) if f not in self.faults.disabled_functions]
        return {
            "sitename": self.sitename, "username": "wsuser", "firstname": "Web", "lastname": "Service",
            "fullname": "Web Service", "lang": "en", "userid": 3, "siteurl": self.url,
            "userpictureurl": f"{self.url}/theme/image.php/boost/core/1/u/f1",
            "functions": [{"name": f, "version": "2024042200"} for f in fns],
            "downloadfiles": 0, "uploadfiles": 0, "release": "4.4 (Build: 20240422)",
            "version": "2024042200", "mobilecssurl": "", "advancedfeatures": [],
            "usercanmanageownfiles": True, "userquota": 0, "usermaxuploadfilesize": 0,
            "userhomepage": 1, "userprivateaccesskey": "", "siteid": 1, "sitecalendartype": "gregorian",
            "usercalendartype": "gregorian", "userissiteadmin": False, "theme": "boost",
        }

    def _enrolled(self, courseid: int, options: list[tuple[str, str]]) -> list[dict]:
        site = self._require_course(courseid)
        opts: dict[str, str] = {}
        for name, value in options:
            opts[str(name)] = str(value)
        truthy = {k for k in ("onlyactive", "onlysuspended") if opts.get(k, "0") not in ("0", "", "false")}
        if len(truthy) == 2:
            raise MoodleWSError("coding_exception", "codingerror",
                                "Coding error detected, it must be fixed by a programmer: Both onlyactive "
                                "and onlysuspended are set, this is probably not what you want!")
        if truthy and self.faults.deny_enrolreview:
            raise MoodleWSError("required_capability_exception", "nopermissions",
                                "Sorry, but you do not currently have permissions to do that (Review course "
                                "enrolments).")
        now = self._now()
        users = self._cached(("users", courseid, now), lambda: site.enrolled_users_raw(courseid, now))
        suspended = site.suspended_user_ids(courseid)
        if "onlyactive" in truthy:
            users = [u for u in users if u["id"] not in suspended]
        elif "onlysuspended" in truthy:
            users = [u for u in users if u["id"] in suspended]
        sortby = opts.get("sortby", "id")
        if sortby not in ("id", "firstname", "lastname", "siteorder"):
            raise MoodleWSError("invalid_parameter_exception", "invalidparameter",
                                "Invalid parameter value detected (Invalid sort field.)")
        direction = opts.get("sortdirection", "ASC").upper()
        if direction not in ("ASC", "DESC"):
            raise MoodleWSError("invalid_parameter_exception", "invalidparameter",
                                "Invalid parameter value detected (Invalid sort direction.)")
        key = "id" if sortby == "siteorder" else sortby
        users = sorted(users, key=lambda u: (u[key], u["id"]), reverse=direction == "DESC")
        start = max(int(opts.get("limitfrom", "0") or 0), 0)
        number = max(int(opts.get("limitnumber", "0") or 0), 0)
        if self.faults.ignore_limitfrom:
            start = 0
        users = users[start: start + number] if number else users[start:]
        if "userfields" in opts:
            fields = {f.strip() for f in opts["userfields"].split(",") if f.strip()}
            bad = fields - USER_FIELDS
            if bad:
                raise MoodleWSError("moodle_exception", "invaliduserfield",
                                    f"Invalid user field: {sorted(bad)[0]}")
            fields |= {"id", "fullname"}
            users = [{k: v for k, v in u.items() if k in fields} for u in users]
        return users

    def _grades(self, courseid: int, userid: int) -> dict:
        site = self._require_course(courseid)
        now = self._now()
        report = self._cached(("grades", courseid, now),
                              lambda: {g["userid"]: g for g in site.grade_report_raw(courseid, None, now)})
        if userid == 0 and self.faults.deny_grade_viewall:
            raise MoodleWSError("required_capability_exception", "nopermissions",
                                "Sorry, but you do not currently have permissions to do that (View all grades).")
        if userid == 0:
            entries = list(report.values())
        elif userid in report:
            entries = [report[userid]]
        else:
            enrolled = {u["id"] for u in self._cached(("users", courseid, now),
                                                      lambda: site.enrolled_users_raw(courseid, now))}
            if userid in enrolled:      # a teacher or suspended student: nothing graded for them
                entries = []
            else:
                raise MoodleWSError("moodle_exception", "notenrolledprofile",
                                    "Sorry, but that user is not enrolled in this course.")
        return {"usergrades": entries, "warnings": []}

    def _logs(self, courseid: int, limit: int) -> list[Any]:
        """Newest first, at most ``limit`` rows: the encoded reply, cached per (course, now, rows)."""
        site = self._require_course(courseid)
        now = self._now()
        frame = self._cached(("logs", courseid, now), lambda: site.log_frame(courseid, now))
        n = min(max(limit, 0), len(frame))
        return self._cached(("logs-json", courseid, now, n), lambda: encode_log_reply(frame, n))

    def _known_user(self, user_id: int) -> str | None:
        """The full name of a user of any served course, else None."""
        for cid in self.site.course_ids():
            for u in self._cached(("users", cid, self._now()), lambda c=cid: self.site.enrolled_users_raw(c, self._now())):
                if int(u["id"]) == user_id:
                    return str(u.get("fullname") or user_id)
        return None

    def _send_messages(self, messages: list[dict]) -> list[dict]:
        """Moodle's checks in its order: messaging enabled, then the capability, then per recipient."""
        if self.faults.messaging_disabled:
            raise MoodleWSError("moodle_exception", "disabled", "Messaging is disabled on this site")
        if self.faults.deny_sendmessage:
            raise MoodleWSError("required_capability_exception", "nopermissions",
                                "Sorry, but you do not currently have permissions to do that (Send a private "
                                "message to any user).")
        results = []
        for m in messages:
            row: dict[str, Any] = {}
            if m["clientmsgid"] is not None:
                row["clientmsgid"] = m["clientmsgid"]
            name = self._known_user(m["touserid"])
            if name is None:
                row.update(msgid=-1, errormessage="Invalid user")
            elif m["touserid"] in self.faults.unreachable_users:
                row.update(msgid=-1, errormessage=f"You are unable to message {name} because of their "
                                                  "privacy settings.")
            else:
                msgid = len(self.messages) + 1
                self.messages.append({"msgid": msgid, "touserid": m["touserid"], "text": m["text"],
                                      "textformat": m["textformat"], "clientmsgid": m["clientmsgid"],
                                      "timecreated": self._now()})
                row["msgid"] = msgid
            results.append(row)
        return results

    def dispatch(self, params: dict[str, Any]) -> bytes | list[Any]:
        """One web-service call (already merged GET+POST, bracket-parsed). Returns the JSON body."""
        token = params.pop("wstoken", "")
        function = params.pop("wsfunction", None)
        params.pop("moodlewsrestformat", None)
        for k in [k for k in params if k.startswith("moodlewssetting")]:
            params.pop(k)
        kind = ("standard" if token == self.standard_token else
                "custom" if token == self.custom_token else None)
        entry = {"function": function, "args": dict(params), "token": kind or "invalid", "at": time.time()}
        with self._lock:
            self.requests.append(entry)
        if self.faults.invalid_token or kind is None or not isinstance(token, str):
            raise MoodleWSError("moodle_exception", "invalidtoken", "Invalid token - token not found")
        if self.faults.expired_token:
            raise MoodleWSError("webservice_access_exception", "accessexception", "Access control exception")
        if not isinstance(function, str) or not function:
            raise _invalid("wsfunction")
        if function not in KNOWN_FUNCTIONS:
            raise MoodleWSError("dml_missing_record_exception", "invalidrecord",
                                "Can't find data record in database table external_functions.")
        service = self._service(kind)
        if function not in service or function in self.faults.disabled_functions:
            raise MoodleWSError("webservice_access_exception", "accessexception", "Access control exception")
        args = _validate(function, params)
        with self._lock:
            if function == "core_webservice_get_site_info":
                return php_json(self._site_info(kind))
            if function == "core_course_get_courses":
                courses = self._courses()
                if args["ids"]:
                    wanted = set(args["ids"])
                    courses = [c for c in courses if c["id"] in wanted]
                return php_json(courses)
            if function == "core_course_get_contents":
                site = self._require_course(args["courseid"])
                return php_json(site.contents_raw(args["courseid"], self._now()))
            if function == "core_enrol_get_enrolled_users":
                return php_json(self._enrolled(args["courseid"], args["options"]))
            if function == "gradereport_user_get_grade_items":
                return php_json(self._grades(args["courseid"], args["userid"]))
            if function == "local_userlog_get_logs_course":
                return self._logs(args["courseid"], args["limit"])
            if function == "core_message_send_instant_messages":
                return php_json(self._send_messages(args["messages"]))
        raise MoodleWSError("moodle_exception", "invalidrecord",
                            "Can't find data record in database table external_functions.")

    def token_endpoint(self, params: dict[str, Any]) -> bytes:
        """/login/token.php: username + password + service -> {"token": ...}."""
        def err(code: str, message: str) -> bytes:
            return php_json({"error": message, "errorcode": code, "stacktrace": None, "debuginfo": None,
                             "reproductionlink": None})
        username, password, service = (params.get("username"), params.get("password"), params.get("service"))
        if not username or password is None or not service:
            return err("missingparam", "A required parameter (username) was missing")
        if self.users.get(str(username)) != password:
            return err("invalidlogin", "Invalid login, please try again")
        if service == STANDARD_SERVICE:
            return php_json({"token": self.standard_token, "privatetoken": None})
        if service == CUSTOM_SERVICE:
            return php_json({"token": self.custom_token, "privatetoken": None})
        return err("servicenotavailable", "Web service is not available (it doesn't exist or might be disabled)")


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that gave up (timeout test) must not print a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        log.exception("fake moodle: error while serving a request")


def _make_handler(server: FakeMoodleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Apache"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            log.debug("fake moodle: " + redact(format % args))

        def _send(self, status: int, body: bytes | list[Any], ctype: str = "application/json; charset=utf-8",
                  *, truncate: bool = False) -> None:
            parts = [body] if isinstance(body, bytes | bytearray) else body
            if truncate:
                whole = b"".join(parts)
                parts = [whole[: max(1, len(whole) // 2)]] if len(whole) > 1 else [whole]
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(sum(len(p) for p in parts)))
            self.send_header("Cache-Control", "private, must-revalidate, pre-check=0, post-check=0, max-age=0")
            self.end_headers()
            for part in parts:
                view = memoryview(part)
                for i in range(0, len(part), 1 << 20):
                    self.wfile.write(view[i: i + (1 << 20)])

        def _params(self) -> list[tuple[str, str]]:
            query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
            body: list[tuple[str, str]] = []
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                raw = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                if "application/x-www-form-urlencoded" in ctype or not ctype:
                    body = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
                # JSON or multipart bodies are not parsed by Moodle's REST server either
            merged = dict(query)
            merged.update(dict(body))        # POST wins over GET, like optional_param
            return list(merged.items())

        def _handle(self) -> None:
            path = urlsplit(self.path).path
            try:
                pairs = self._params()
            except (ValueError, OSError):
                self._send(400, b"")
                return
            faults = server.faults
            if path == "/login/token.php":
                self._send(200, server.token_endpoint(dict(pairs)))
                return
            if path != "/webservice/rest/server.php":
                self._send(404, b"<html><body><h1>Not Found</h1></body></html>", "text/html")
                return
            if faults.redirect_to:
                self.send_response(301)
                self.send_header("Location", faults.redirect_to + path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with server._lock:
                drop = faults.take("drop_connection")
                fail = not drop and faults.take("http_500")
                empty = not (drop or fail) and faults.take("empty_body")
                html = not (drop or fail or empty) and faults.take("html_page")
                slow = faults.take("slow")
                truncate = faults.take("truncated")
            if faults.latency_s > 0:
                time.sleep(faults.latency_s)
            if slow:
                time.sleep(faults.slow_seconds)
            if drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fail:
                self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
                return
            if empty:
                self._send(200, b"", "text/html")
                return
            if html:
                self._send(200, b"<!DOCTYPE html><html><head><title>Log in to the site</title></head></html>",
                           "text/html; charset=utf-8")
                return
            fmt = dict(pairs).get("moodlewsrestformat", "xml")
            try:
                params = parse_php_params(pairs)
                body = server.dispatch(params)
            except MoodleWSError as exc:
                body = php_json(exc.payload)
            except Exception:  # noqa: BLE001 - a real Moodle would show an error page too
                log.exception("fake moodle: internal error")
                self._send(500, b"<html><body>Internal error</body></html>", "text/html")
                return
            if fmt != "json":
                xml = ('<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="invalid_parameter_exception">'
                       "<ERRORCODE>invalidparameter</ERRORCODE><MESSAGE>This fake Moodle only speaks JSON: "
                       "send moodlewsrestformat=json</MESSAGE></EXCEPTION>")
                self._send(200, xml.encode(), "application/xml; charset=utf-8")
                return
            self._send(200, body, truncate=truncate)

        def do_GET(self) -> None:  # noqa: N802
            self._handle()

        def do_POST(self) -> None:  # noqa: N802
            self._handle()

    return Handler


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - manual demo
    parser = argparse.ArgumentParser(prog="python -m moodle.fake_server",
                                     description="Serve the demo site through a fake Moodle REST API.")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--large", type=int, default=0, help=f"add course {LARGE_COURSE_ID} with N students")
    parser.add_argument("--large-scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    std = os.environ.get("MOODLE_STANDARD_TOKEN") or secrets.token_hex(16)
    cus = os.environ.get("MOODLE_CUSTOM_TOKEN") or secrets.token_hex(16)
    server = FakeMoodleServer(DemoSite(args.seed), standard_token=std, custom_token=cus,
                              host=args.host, port=args.port)
    server.faults.large_course_students = args.large
    server.faults.large_course_scale = args.large_scale
    print(f"Fake Moodle serving {server.site!r} at {server.url}  (Ctrl+C to stop)")
    if "MOODLE_STANDARD_TOKEN" not in os.environ:
        print("Generated tokens for this local fake (shown once):")
        print(f"  export MOODLE_URL={server.url}")
        print(f"  export MOODLE_STANDARD_TOKEN={std}")
        print(f"  export MOODLE_CUSTOM_TOKEN={cus}")
    else:
        print(f"Using the tokens from the environment. export MOODLE_URL={server.url}")
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        print("stopping")
    finally:
        server._httpd.server_close()


if __name__ == "__main__":  # pragma: no cover
    main()

