"""Configuration: environment first, then ``.streamlit/secrets.toml``, then defaults.

Runtime settings that an admin saves on the Jobs / Settings pages live in the store's ``settings``
collection and override the environment defaults through :func:`effective_settings`.
Nothing secret has a default value, and secrets never appear in ``repr``.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from jobs.retry import DEFAULT_BACKOFF_MINUTES, RetryPolicy

__all__ = [
    "Config",
    "load_config",
    "effective_settings",
    "save_settings",
    "course_settings",
    "read_secrets_file",
    "SETTINGS_KEYS",
    "SECRET_FIELDS",
]

log = logging.getLogger(__name__)

#: Fields whose values are secrets: redacted in repr, never written to the store.
SECRET_FIELDS = ("mongodb_uri", "moodle_standard_token", "moodle_custom_token", "gemini_api_key", "smtp_password",
                 "notify_webhook_url")

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Config:
    """Everything jobs/ needs. Build with :func:`load_config`; derive with :func:`effective_settings`."""

    mongodb_uri: str | None = None
    data_dir: Path = Path("./data")
    moodle_url: str | None = None
    moodle_standard_token: str | None = None
    moodle_custom_token: str | None = None
    moodle_timeout: float | None = None
    moodle_retries: int | None = None
    gemini_api_key: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    llm_enabled: bool = True
    source: str = "demo"
    schedule: str = "0 2 * * *"
    enabled: bool = True
    retry_attempts: int = 3
    retry_backoff_minutes: tuple[float, ...] = DEFAULT_BACKOFF_MINUTES
    timezone: str = "Asia/Ho_Chi_Minh"
    language: str = "vi"
    min_students: int = 10
    max_parallel_courses: int = 2
    heartbeat_timeout_s: float = 120.0
    lease_ttl_s: float = 60.0
    snapshot_retention: int = 12
    #: days an uploaded log export is kept (Import page); older uploads are deleted
    import_retention_days: int = 30
    misfire_grace_s: float = 6 * 3600.0
    retry_poll_s: float = 30.0
    #: how often every scheduler looks for queued shared (nightly per-course) jobs to claim
    claim_poll_s: float = 5.0
    #: notifications (jobs/notify.py): email through SMTP and/or a webhook; both off when unset
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "cohortlens@localhost"
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    notify_webhook_url: str | None = None
    notify_digest_schedule: str = "0 7 * * *"
    notify_enabled: bool = True
    #: course id -> {"enabled": bool, "k": int | None} (store.courses flags + admin settings)
    courses: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: the courses the nightly job covers; None = every course the source lists (minus disabled ones)
    nightly_courses: tuple[int, ...] | None = None
    #: the course frame for this run (``python -m jobs run --course-start/--course-end``): dates that
    #: place a log export's year-less times and judge its dates; a course's own frame wins
    course_start: str | None = None
    course_end: str | None = None

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Config({', '.join(parts)})"

    __str__ = __repr__

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(max_retries=self.retry_attempts, backoff_minutes=self.retry_backoff_minutes)

    @property
    def secrets(self) -> tuple[str | None, ...]:
        """The secret values, for :func:`jobs.errors.redact`."""
        return tuple(getattr(self, name) for name in SECRET_FIELDS)

    @property
    def llm_available(self) -> bool:
        return bool(self.gemini_api_key) and self.llm_enabled

    def course_flags(self, course_id: int) -> Mapping[str, Any]:
        return self.courses.get(int(course_id), {})

    def course_enabled(self, course_id: int) -> bool:
        return bool(self.course_flags(course_id).get("enabled", True))

    def pinned_k(self, course_id: int) -> int | None:
        flags = self.course_flags(course_id)
        k = flags.get("k", flags.get("k_pinned"))
        return int(k) if k else None

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to show or store: secrets become booleans ``*_set``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                out[f"{f.name}_set"] = bool(value)
            elif isinstance(value, Path):
                out[f.name] = str(value)
            elif f.name == "courses":
                out[f.name] = {str(k): dict(v) for k, v in value.items()}
            else:
                out[f.name] = value
        return out


# env name -> (field, parser)
_ENV: dict[str, tuple[str, Any]] = {
    "MONGODB_URI": ("mongodb_uri", str),
    "COHORTLENS_DATA_DIR": ("data_dir", Path),
    "MOODLE_URL": ("moodle_url", str),
    "MOODLE_STANDARD_TOKEN": ("moodle_standard_token", str),
    "MOODLE_CUSTOM_TOKEN": ("moodle_custom_token", str),
    "MOODLE_TIMEOUT": ("moodle_timeout", float),
    "MOODLE_RETRIES": ("moodle_retries", int),
    "GEMINI_API_KEY": ("gemini_api_key", str),
    "GEMINI_MODEL": ("gemini_model", str),
    "COHORTLENS_LLM_ENABLED": ("llm_enabled", _bool),
    "COHORTLENS_SOURCE": ("source", str),
    "CLUSTER_JOB_SCHEDULE": ("schedule", str),
    "CLUSTER_JOB_ENABLED": ("enabled", _bool),
    "CLUSTER_JOB_RETRY_ATTEMPTS": ("retry_attempts", int),
    "CLUSTER_JOB_RETRY_BACKOFF_MINUTES": (
        "retry_backoff_minutes",
        lambda v: tuple(float(x) for x in str(v).replace(";", ",").split(",") if x.strip()),
    ),
    "COHORTLENS_TIMEZONE": ("timezone", str),
    "COHORTLENS_LANGUAGE": ("language", str),
    "COHORTLENS_MIN_STUDENTS": ("min_students", int),
    "COHORTLENS_MAX_PARALLEL_COURSES": ("max_parallel_courses", int),
    "COHORTLENS_HEARTBEAT_TIMEOUT": ("heartbeat_timeout_s", float),
    "COHORTLENS_LEASE_TTL": ("lease_ttl_s", float),
    "COHORTLENS_SNAPSHOT_RETENTION": ("snapshot_retention", int),
    "COHORTLENS_IMPORT_RETENTION_DAYS": ("import_retention_days", int),
    "CLUSTER_JOB_MISFIRE_GRACE": ("misfire_grace_s", float),
    "COHORTLENS_RETRY_POLL": ("retry_poll_s", float),
    "COHORTLENS_CLAIM_POLL": ("claim_poll_s", float),
    "SMTP_HOST": ("smtp_host", str),
    "SMTP_PORT": ("smtp_port", int),
    "SMTP_USER": ("smtp_user", str),
    "SMTP_PASSWORD": ("smtp_password", str),
    "SMTP_FROM": ("smtp_from", str),
    "SMTP_STARTTLS": ("smtp_starttls", _bool),
    "SMTP_SSL": ("smtp_ssl", _bool),
    "NOTIFY_WEBHOOK_URL": ("notify_webhook_url", str),
    "NOTIFY_DIGEST_SCHEDULE": ("notify_digest_schedule", str),
    "NOTIFY_ENABLED": ("notify_enabled", _bool),
}


def read_secrets_file(path: str | Path | None = None) -> dict[str, Any]:
    """Flat ``NAME -> value`` from a Streamlit secrets file (tomllib; streamlit is never imported).

    ``path`` defaults to env ``COHORTLENS_SECRETS_FILE``, else ``./.streamlit/secrets.toml`` and the
    project's ``.streamlit/secrets.toml``. Top-level keys are taken as they are; keys in a table ``[moodle]`` become ``MOODLE_<KEY>``.
    A missing or unreadable file gives ``{}`` (the error is logged, never raised).
    """
    path = path or os.environ.get("COHORTLENS_SECRETS_FILE") or None
    candidates = [Path(path)] if path else [Path.cwd() / ".streamlit" / "secrets.toml",
                                            Path(__file__).resolve().parents[1] / ".streamlit" / "secrets.toml"]
    for candidate in candidates:
        if not candidate.is_file():
            continue
        try:
            raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            log.warning("cannot read %s: %s", candidate, exc.__class__.__name__)
            return {}
        flat: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                for sub, subvalue in value.items():
                    if not isinstance(subvalue, dict):
                        flat[f"{key}_{sub}".upper()] = subvalue
            else:
                flat[key.upper()] = value
        return flat
    return {}


def load_config(env: Mapping[str, str] | None = None, secrets_file: str | Path | None = None,
                **overrides: Any) -> Config:
    """Config from ``env`` (default ``os.environ``), then the secrets file, then defaults.

    Empty environment values count as unset. ``source`` defaults to ``"moodle"`` when a Moodle URL is
    configured, else ``"demo"``. Keyword ``overrides`` win over everything (tests, CLI flags).
    """
    env = os.environ if env is None else env
    secrets = read_secrets_file(secrets_file)
    values: dict[str, Any] = {}
    for name, (attr, parse) in _ENV.items():
        raw = env.get(name)
        if raw is None or str(raw).strip() == "":
            raw = secrets.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        try:
            values[attr] = raw.strip() if parse is str and isinstance(raw, str) else parse(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid value for {name}: {exc}") from None
    values.update(overrides)
    if not values.get("source"):
        values["source"] = "moodle" if values.get("moodle_url") else "demo"
    config = Config(**values)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {config.timezone!r} (use an IANA name such as Asia/Ho_Chi_Minh)") from None
    for name in ("min_students", "max_parallel_courses", "snapshot_retention", "import_retention_days"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name}={getattr(config, name)} must be >= 1")
    config.retry_policy  # noqa: B018 - validates retry settings


#: Keys in the store's ``settings`` collection that override the environment (UI-editable).
#: ``courses`` maps a course id (as text) to {"enabled": bool, "k": int | None, "name": str}.
SETTINGS_KEYS: dict[str, str] = {
    "schedule": "schedule",
    "timezone": "timezone",
    "enabled": "enabled",
    "language": "language",
    "llm_model": "gemini_model",
    "llm_enabled": "llm_enabled",
    "min_students": "min_students",
    "snapshot_retention": "snapshot_retention",
    "import_retention_days": "import_retention_days",
    "retry_attempts": "retry_attempts",
    "max_parallel_courses": "max_parallel_courses",
    "source": "source",
    "nightly_courses": "nightly_courses",
}


def _settings_get(store: Any, key: str) -> Any:
    try:
        return store.settings.get(key)
    except Exception as exc:  # an unreadable setting must not stop a job: fall back to env
        log.warning("cannot read setting %s: %s", key, exc.__class__.__name__)
        return None


def course_settings(store: Any) -> dict[int, dict[str, Any]]:
    """``course id -> {"enabled", "k"}``: the flags of ``store.courses`` (``enabled``, ``k_pinned``),
    overridden by the ``courses`` setting when an admin saved one there."""
    out: dict[int, dict[str, Any]] = {}
    try:
        for doc in store.courses.list():
            cid = doc.get("course_id", doc.get("id"))
            if cid is None:
                continue
            out[int(cid)] = {"enabled": bool(doc.get("enabled", True)), "k": doc.get("k_pinned") or None}
            frame = doc.get("frame") if isinstance(doc.get("frame"), Mapping) else {}
            if frame.get("source") == "data":   # first/last log of an earlier run: not a course date
                frame = {"timezone": frame.get("timezone")}
            for key, value in (("course_start", frame.get("start")), ("course_end", frame.get("end")),
                               ("course_timezone", frame.get("timezone") or doc.get("timezone"))):
                if value not in (None, ""):
                    out[int(cid)][key] = value
            if isinstance(doc.get("upload"), Mapping):       # an imported course: re-run from its upload
                out[int(cid)]["upload"] = dict(doc["upload"])
    except Exception as exc:
        log.warning("cannot read course flags: %s", exc.__class__.__name__)
    raw = _settings_get(store, "courses") or {}
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            try:
                out.setdefault(int(key), {}).update(dict(value or {}))
            except (TypeError, ValueError):
                continue
    return out


def effective_settings(store: Any, config: Config) -> Config:
    """``config`` with the admin's saved settings applied (invalid saved values are ignored, logged)."""
    changes: dict[str, Any] = {}
    for key, attr in SETTINGS_KEYS.items():
        value = _settings_get(store, key)
        if value is None or value == "":
            continue
        if attr == "source" and value == "moodle" and not config.moodle_url:
            continue  # a saved "moodle" without a configured URL would fail every run
        if attr == "nightly_courses":
            value = tuple(int(c) for c in value) if isinstance(value, (list, tuple)) and value else None
        changes[attr] = value
    changes["courses"] = course_settings(store)
    try:
        candidate = replace(config, **changes)
        _validate(candidate)
        return candidate
    except (TypeError, ValueError) as exc:
        log.warning("ignoring invalid saved settings: %s", exc)
        return replace(config, courses=changes["courses"])


def save_settings(store: Any, **values: Any) -> None:
    """Save admin settings (keys of :data:`SETTINGS_KEYS` or ``courses``); secrets are refused."""
    for key, value in values.items():
        if key not in SETTINGS_KEYS and key != "courses":
            raise KeyError(f"unknown setting {key!r}")
        if key == "courses":
            value = {str(int(k)): dict(v) for k, v in (value or {}).items()}
        elif key == "nightly_courses" and value is not None:
            value = [int(c) for c in value]
        store.settings.set(key, value)
