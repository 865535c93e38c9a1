"""Data safety commands: ``python -m jobs backup``, ``check`` and ``purge [--dry-run]``.

- ``backup``: a consistent copy of the embedded store taken under the store lock (no process
  writes meanwhile), each collection through SQLite's online backup (committed WAL content
  included), plus the other files of the data folder (imports, manifest); the copy is private
  (0700/0600) and checked after writing. Restore: stop the app, scheduler and workers, move the data
  folder away, copy the backup folder to the data folder's path, start again (README "Backup and
  restore").
- ``check``: every store file checked (header, size, SQLite quick_check), damaged files named.
- ``purge``: retention for uploaded logs (``imports/``; the admin's Import retention setting unless
  COHORTLENS_RETENTION_UPLOADS_DAYS is set; 0 keeps them), finished job records, alerts, the LLM
  cache, the audit log, expired sessions and old failed sign-ins. ``--dry-run`` counts only.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["backup", "check", "purge", "RETENTION_DAYS"]

log = logging.getLogger(__name__)

#: default retention in days (env COHORTLENS_RETENTION_<NAME>_DAYS overrides)
RETENTION_DAYS = {"uploads": 30, "jobs": 90, "alerts": 180, "llm_cache": 90, "audit": 365}
_SKIP = {"store.lock"}


def retention(name: str) -> int:
    env = os.environ.get(f"COHORTLENS_RETENTION_{name.upper()}_DAYS")
    try:
        return int(env) if env else RETENTION_DAYS[name]
    except ValueError:
        return RETENTION_DAYS[name]


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def backup(store: Any, dest: str | Path | None = None) -> dict[str, Any]:
    """Copy the embedded store (and the data folder's other files) to ``dest``; returns a summary."""
    if store.backend != "embedded" or store.data_dir is None:
        raise ValueError("backup copies the embedded store; for MongoDB use mongodump")
    root = Path(store.data_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = Path(dest) if dest else root.parent / f"{root.name}-backups" / stamp
    target = target.expanduser().absolute()
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"backup target {target} exists and is not empty (nothing was written)")
    if target == root or root in target.parents:
        raise ValueError(f"backup target {target} is inside the data folder {root}")
    from storage.integrity import _SIDECARS, collection_files, verify_store

    files = 0
    size = 0
    _private_dir(target)
    with store.locked():  # no writer meanwhile: one consistent moment
        db_dir = root / store.db_name
        for src in collection_files(db_dir):
            out = target / store.db_name / src.name
            _private_dir(out.parent)
            with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as con_src:
                con_dst = sqlite3.connect(out)
                try:
                    con_src.backup(con_dst)
                finally:
                    con_dst.close()
            out.chmod(0o600)
            files += 1
            size += out.stat().st_size
        for src in sorted(root.rglob("*")):
            rel = src.relative_to(root)
            if rel.parts[0] == store.db_name or src.name in _SKIP or src.name.endswith(_SIDECARS):
                continue
            out = target / rel
            if src.is_dir():
                _private_dir(out)
            elif src.is_file():
                _private_dir(out.parent)
                shutil.copy2(src, out)
                out.chmod(0o600)
                files += 1
                size += out.stat().st_size
    for side in (target / store.db_name).glob("*"):  # the copies are plain (journal) files
        if side.name.endswith(_SIDECARS):
            side.unlink()
    verify_store(target, store.db_name)
    return {"backup": str(target), "files": files, "bytes": size, "at": stamp}


def check(root: str | Path, db_name: str = "cohortlens") -> dict[str, Any]:
    from storage.integrity import check_store

    problems = check_store(Path(root), db_name, deep=True, budget=1 << 62)
    return {"ok": not problems, "damaged": [{"file": str(p.path), "reason": p.reason} for p in problems]}


def purge(store: Any, *, dry_run: bool = False, now: Any = None) -> dict[str, Any]:
    """Remove what is older than its retention; ``dry_run`` only counts. Returns counts per kind."""
    now = now or store.now()
    days = {k: retention(k) for k in RETENTION_DAYS}
    if not os.environ.get("COHORTLENS_RETENTION_UPLOADS_DAYS"):
        # one retention for uploads: the admin's Import setting (also used by the nightly clean-up)
        try:
            from jobs.config import effective_settings, load_config

            days["uploads"] = int(effective_settings(store, load_config()).import_retention_days)
        except Exception as exc:  # settings unreadable: keep the documented default
            log.warning("upload retention setting unreadable (%s); using %d days",
                        exc.__class__.__name__, days["uploads"])
    out: dict[str, Any] = {"dry_run": dry_run, "retention_days": days}

    def cutoff(name: str):
        return now - timedelta(days=days[name])

    # uploaded logs (names, IP addresses)
    uploads = []
    if store.data_dir is not None:
        folder = Path(store.data_dir) / "imports"
        limit = cutoff("uploads").timestamp()
        uploads = [p for p in sorted(folder.glob("*")) if p.is_file() and p.stat().st_mtime < limit] \
            if folder.is_dir() and days["uploads"] > 0 else []
    out["uploads"] = len(uploads)
    jobs_q = {"status": {"$in": ["succeeded", "failed", "skipped", "interrupted", "cancelled"]},
              "created_at": {"$lt": cutoff("jobs")}}
    alerts_q = {"created_at": {"$lt": cutoff("alerts")}}
    cache_q = {"$or": [{"updated_at": {"$lt": cutoff("llm_cache")}}, {"updated_at": {"$exists": False}}]}
    audit_q = {"at": {"$lt": cutoff("audit")}}
    cols = {"jobs": (store.jobs.collection, jobs_q), "alerts": (store.alerts.collection, alerts_q),
            "llm_cache": (store.llm_cache.collection, cache_q), "audit": (store.audit.collection, audit_q)}
    for name, (col, query) in cols.items():
        out[name] = col.count_documents(query)
    idle_s = float(os.environ.get("COHORTLENS_SESSION_IDLE_HOURS") or 12) * 3600
    sessions_q = {"$or": [{"expires_at": {"$lt": now}}, {"last_seen": {"$lt": now - timedelta(seconds=idle_s)}}]}
    failures_q = {"at": {"$lt": now - timedelta(days=1)}}
    out["sessions"] = store.sessions.collection.count_documents(sessions_q)
    out["login_failures"] = store.login_failures.collection.count_documents(failures_q)
    if not dry_run:
        for path in uploads:
            path.unlink(missing_ok=True)
        for name, (col, query) in cols.items():
            out[name] = col.delete_many(query)
        out["sessions"] = store.sessions.collection.delete_many(sessions_q)
        out["login_failures"] = store.login_failures.collection.delete_many(failures_q)
    return out
