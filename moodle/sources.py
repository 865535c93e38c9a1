"""One entry point for every data source: ``demo``, ``moodle`` (REST) and ``csv:PATH`` (log export).

``config`` may be a dict or any object with attributes; names looked up (first hit wins):
``moodle_url`` / ``MOODLE_URL``, ``moodle_standard_token`` / ``standard_token``,
``moodle_custom_token`` / ``custom_token``, ``timezone``, ``demo_seed``, ``demo_anchor``,
``moodle_timeout``, ``moodle_retries``, ``grades_path`` (gradebook CSV export for a log export;
default: ``<log file stem>.grades.csv`` next to it when present),
``course_start`` / ``course_end`` (the course frame for a log export; a ``<log stem>.import.json``
sidecar written by the Import page supplies them, the time zone and gradebook item maxima when the
config does not). Missing Moodle settings fall back to the environment (MOODLE_URL,
MOODLE_STANDARD_TOKEN, MOODLE_CUSTOM_TOKEN). Nothing here logs or returns a token.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from moodle.data import CourseData
from moodle.demo import DemoSite, default_anchor
from moodle.errors import MoodleInvalidParameterError, MoodleNotFoundError

__all__ = ["demo_site", "export_options", "list_courses", "load_course_data", "make_client", "parse_source"]

_ALIASES = {
    "moodle_url": ("moodle_url", "MOODLE_URL", "url"),
    "standard_token": ("moodle_standard_token", "MOODLE_STANDARD_TOKEN", "standard_token"),
    "custom_token": ("moodle_custom_token", "MOODLE_CUSTOM_TOKEN", "custom_token"),
    "timezone": ("timezone", "course_timezone", "TIMEZONE", "tz"),
    "demo_seed": ("demo_seed", "DEMO_SEED", "seed"),
    "demo_anchor": ("demo_anchor", "DEMO_ANCHOR"),
    "timeout": ("moodle_timeout", "MOODLE_TIMEOUT"),
    "retries": ("moodle_retries", "MOODLE_RETRIES"),
    "grades_path": ("grades_path", "grades_csv"),
    "course_start": ("course_start",),
    "course_end": ("course_end",),
    "item_max": ("item_max", "grades_item_max"),
}
_ENV = {"moodle_url": "MOODLE_URL", "standard_token": "MOODLE_STANDARD_TOKEN",
        "custom_token": "MOODLE_CUSTOM_TOKEN", "moodle_workers": "MOODLE_WORKERS",
        "moodle_grades_mode": "MOODLE_GRADES_MODE"}
_sites: dict[tuple, DemoSite] = {}
_sites_lock = threading.Lock()


def _setting(config: Any, name: str, default: Any = None) -> Any:
    for key in _ALIASES.get(name, (name,)):
        if config is None:
            break
        value = config.get(key) if isinstance(config, dict) else getattr(config, key, None)
        if value not in (None, ""):
            if hasattr(value, "get_secret_value"):  # pydantic SecretStr and friends
                value = value.get_secret_value()
            return value
    env = _ENV.get(name)
    if env and os.environ.get(env):
        return os.environ[env]
    return default


def parse_source(source: str) -> tuple[str, str | None]:
    """``"demo"`` -> ("demo", None); ``"csv:/x/logs.csv"`` -> ("csv", "/x/logs.csv")."""
    src = (source or "demo").strip()
    kind, _, arg = src.partition(":")
    kind = kind.lower()
    if kind in ("demo", "moodle") and not arg:
        return kind, None
    if kind == "csv" and arg:
        return "csv", arg
    raise MoodleInvalidParameterError(
        f"Unknown data source {source!r}: use 'demo', 'moodle' or 'csv:PATH' (a Moodle log export).")


def demo_site(config: Any = None) -> DemoSite:
    """The shared DemoSite for this seed/anchor (cached per day, so generated weeks are reused)."""
    seed = int(_setting(config, "demo_seed", 7))
    anchor = _setting(config, "demo_anchor")
    if isinstance(anchor, str):
        anchor = date.fromisoformat(anchor)
    if isinstance(anchor, datetime):
        anchor = anchor.date()
    anchor = anchor or default_anchor()
    key = (seed, anchor)
    with _sites_lock:
        if key not in _sites:
            if len(_sites) > 4:
                _sites.clear()
            _sites[key] = DemoSite(seed, anchor=anchor)
        return _sites[key]


def make_client(config: Any = None, **kwargs: Any):  # -> MoodleClient
    """A MoodleClient from ``config`` / env. Raises MoodleInvalidParameterError when unconfigured."""
    from moodle.client import MoodleClient

    url = _setting(config, "moodle_url")
    token = _setting(config, "standard_token")
    if not url or not token:
        raise MoodleInvalidParameterError(
            "Moodle is not configured: set the Moodle URL and the web-service token in Settings "
            "(or MOODLE_URL and MOODLE_STANDARD_TOKEN).")
    opts: dict[str, Any] = {}
    timeout = _setting(config, "timeout")
    if timeout:
        opts["timeout"] = float(timeout)
    retries = _setting(config, "retries")
    if retries not in (None, ""):
        opts["retries"] = int(retries)
    workers = _setting(config, "moodle_workers")
    if workers not in (None, ""):
        opts["workers"] = int(workers)
    grades_mode = _setting(config, "moodle_grades_mode")
    if grades_mode:
        opts["grades_mode"] = str(grades_mode)
    opts.update(kwargs)
    return MoodleClient(str(url), str(token), _setting(config, "custom_token"), **opts)


def _as_utc(as_of: Any) -> datetime | None:
    if as_of is None:
        return None
    if isinstance(as_of, datetime):
        return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    if isinstance(as_of, date):
        return datetime(as_of.year, as_of.month, as_of.day, 23, 59, 59, tzinfo=UTC)
    return datetime.fromtimestamp(float(as_of), UTC)


def load_course_data(source: str, course_id: int, *, as_of: Any = None, config: Any = None,
                     progress: Any = None) -> CourseData:
    """Load one course from ``source`` (demo | moodle | csv:PATH), logs up to ``as_of``.

    Raises :class:`moodle.MoodleError` subclasses (MoodleNotFoundError for an unknown course,
    LogExportError for an unreadable export, MoodleUnavailableError when Moodle is down, ...).
    """
    kind, arg = parse_source(source)
    when = _as_utc(as_of)
    if kind == "demo":
        site = demo_site(config)
        if int(course_id) not in site.course_ids():
            raise MoodleNotFoundError(
                f"The demo site has no course {course_id} (courses: {site.course_ids()}).")
        return site.course_data(int(course_id), when)
    if kind == "moodle":
        with make_client(config) as client:
            tz = _setting(config, "timezone", "UTC")
            return client.course_data(int(course_id), as_of=when, timezone=str(tz), progress=progress)
    from moodle.log_export import course_data_from_export, read_log_export

    path = Path(str(arg)).expanduser()
    if not path.exists():
        raise MoodleNotFoundError(f"The log export file {path} does not exist.")
    opts = export_options(path, config, course_id)
    logs = read_log_export(path, course_start=opts["course_start"], course_end=opts["course_end"],
                           timezone=opts["timezone"])
    grades = _setting(config, "grades_path")
    sidecar = path.with_suffix(".grades.csv")          # what the Import page stores next to the log
    if grades is None and sidecar.exists() and sidecar != path:
        grades = sidecar
    data = course_data_from_export(logs, course_id=int(course_id), grades=grades, progress=progress,
                                   fullname=opts["fullname"], timezone=opts["timezone"], item_max=opts["item_max"],
                                   course_start=opts["course_start"], course_end=opts["course_end"])
    if when is not None:
        cut = int(when.timestamp())
        data.logs = data.logs[data.logs["timecreated"] <= cut].reset_index(drop=True)
        data.extracted_at = when
    return data


def list_courses(source: str, config: Any = None) -> list[dict]:
    """Courses a source offers: id, fullname, shortname (+ startdate, enddate when known)."""
    kind, arg = parse_source(source)
    keep = ("id", "fullname", "shortname", "startdate", "enddate")
    if kind == "demo":
        return [{k: c[k] for k in keep} for c in demo_site(config).courses_raw()]
    if kind == "moodle":
        with make_client(config) as client:
            return [{k: c.get(k) for k in keep} for c in client.courses()]
    from moodle.log_export import export_course_info, read_log_export

    path = Path(str(arg)).expanduser()
    if not path.exists():
        raise MoodleNotFoundError(f"The log export file {path} does not exist.")
    opts = export_options(path, config)
    return [export_course_info(read_log_export(path, course_start=opts["course_start"],
                                               course_end=opts["course_end"], timezone=opts["timezone"]))]


def export_options(path: Path, config: Any = None, course_id: int | None = None) -> dict[str, Any]:
    """How to read a stored log export: ``course_start``, ``course_end``, ``timezone``, ``item_max``.

    First hit wins: the course's own frame (``config.course_flags(id)``: ``course_start``,
    ``course_end``, ``course_timezone``), the run's (``course_start`` / ``course_end``: CLI flags), the
    ``<stem>.import.json`` sidecar the Import page writes next to an upload, then the configured time
    zone (UTC when none).
    """
    import json

    side: dict[str, Any] = {}
    meta = Path(path).with_suffix(".import.json")
    if meta.is_file() and meta.stat().st_size < 1 << 20:
        try:
            loaded = json.loads(meta.read_text(encoding="utf-8"))
            side = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            side = {}
    flags: Any = {}
    if course_id is not None and callable(getattr(config, "course_flags", None)):
        flags = config.course_flags(int(course_id)) or {}
    out: dict[str, Any] = {}
    for key in ("course_start", "course_end", "item_max"):
        out[key] = _setting(config, key) or flags.get(key) or side.get(key) or None
    out["fullname"] = side.get("fullname") or None
    out["timezone"] = str(flags.get("course_timezone") or side.get("timezone") or _setting(config, "timezone")
                          or "UTC")
    return out
