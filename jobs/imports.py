"""Uploaded log exports: where they live, how an imported course is re-run, and how long uploads stay.

An upload is stored once under ``<data dir>/imports/`` with a unique name (course, UTC time, random
part: two uploads in the same second never share a file), next to a ``.import.json`` sidecar that
says how to read it again (course frame, time zone, gradebook maxima, the typed course name) and, when
given, a ``.grades.csv`` gradebook. The course record keeps ``upload: {path, name, uploaded_at}``.

Any later run of that course (the nightly, "Run now", a retry) reads the stored upload, never Moodle:
:func:`imported_source` says which file, or why it cannot (deleted after the retention period).
:func:`purge_uploads` deletes uploads older than the admin's ``import_retention_days``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["imported_source", "purge_uploads", "save_upload", "uploads_dir"]

SIDECARS = (".import.json", ".grades.csv")


def uploads_dir(data_dir: str | Path) -> Path:
    """``<data dir>/imports``, created readable by this account only (uploads hold names and IPs)."""
    folder = Path(data_dir) / "imports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        folder.chmod(0o700)
    except OSError:
        pass
    return folder


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def save_upload(data_dir: str | Path, course_id: int, log_bytes: bytes, *, original_name: str = "",
                grades: bytes | None = None, options: dict[str, Any] | None = None,
                now: datetime | None = None) -> Path:
    """Store an upload under a name no other upload has (created exclusively); returns its path."""
    folder = uploads_dir(data_dir)
    now = now or datetime.now(UTC)
    suffix = Path(original_name).suffix.lower() if Path(original_name).suffix.lower() in (
        ".csv", ".xlsx", ".json", ".ods", ".txt") else ".csv"
    for _ in range(20):
        path = folder / f"course{int(course_id)}_{now:%Y%m%dT%H%M%S}_{secrets.token_hex(4)}{suffix}"
        try:
            _write_new(path, log_bytes)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 20 collisions of 32 random bits
        raise FileExistsError("could not find a free upload name")
    meta = dict(options or {})
    meta.update(original_name=original_name, uploaded_at=now.isoformat(), course_id=int(course_id))
    _write_new(path.with_suffix(".import.json"), json.dumps(meta, default=str, indent=1).encode())
    if grades:
        _write_new(path.with_suffix(".grades.csv"), grades)
    return path


def imported_source(store: Any, course_id: int) -> tuple[str | None, str | None]:
    """(``csv:PATH`` of the course's stored upload, None) for an imported course; (None, reason) when its
    upload is gone; (None, None) for a course that was not imported."""
    try:
        doc = store.courses.get(int(course_id)) or {}
    except Exception as exc:  # an unreadable record: let the normal source try
        log.warning("cannot read course %s: %s", course_id, exc.__class__.__name__)
        return None, None
    upload = doc.get("upload") if isinstance(doc.get("upload"), dict) else None
    if not upload:
        return None, None
    path = Path(str(upload.get("path") or ""))
    if path.is_file():
        return f"csv:{path}", None
    when = str(upload.get("uploaded_at") or "")[:10]
    return None, (f"course {course_id} was imported from a log file ({upload.get('name') or path.name}, "
                  f"uploaded {when or 'earlier'}) that is no longer stored (deleted after the upload "
                  "retention period or moved); it cannot be fetched from Moodle: import the log again")


def purge_uploads(data_dir: str | Path, days: int, now: datetime | None = None) -> list[Path]:
    """Delete uploads (and their sidecars) older than ``days``; returns the deleted log files."""
    folder = Path(data_dir) / "imports"
    if days <= 0 or not folder.is_dir():
        return []
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=int(days))).timestamp()
    gone = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or any(path.name.endswith(s) for s in SIDECARS):
            continue
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            path.unlink()
            gone.append(path)
            for s in SIDECARS:
                side = path.with_suffix(s)
                if side.exists():
                    side.unlink()
        except OSError as exc:
            log.warning("could not delete old upload %s: %s", path.name, exc.__class__.__name__)
    if gone:
        log.info("deleted %d upload(s) older than %d days", len(gone), days)
    return gone
