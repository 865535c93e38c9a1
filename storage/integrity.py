"""Store files that fail loudly: checks of the embedded store's files before anything opens them.

The embedded store keeps one SQLite file per collection under ``{data_dir}/{db}/``. Before the store
is opened (``storage.open_store``) every collection file is checked, under the store's file lock:

- a zero-length file, a file without the SQLite header, with an impossible page size, or shorter
  than the page count its header records (truncated) is damaged;
- small files (up to a total of ``COHORTLENS_CHECK_BYTES``, default 256 MB, smallest first) also get
  SQLite's ``PRAGMA quick_check`` through a read-only connection (finds damage inside the file);
- a collection listed in ``{data_dir}/store-manifest.json`` (written at every successful open) whose
  file is gone is damaged, so a data folder that lost a file is never re-initialised (the users
  file above all: first start must not run again over an existing folder).

Any damage raises :class:`StoreDamaged`, which names every damaged file; nothing is written to the
folder (no file is created, repaired or replaced). ``secure_tree`` makes the folder 0700 and its
files 0600, also when the folder existed before.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import stat
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StoreDamaged", "Problem", "check_store", "verify_store", "record_manifest", "secure_tree",
           "MANIFEST", "manifest", "collection_files", "had_users", "after_open"]

MANIFEST = "store-manifest.json"
_SIDECARS = ("-wal", "-shm", "-journal")
_MAGIC = b"SQLite format 3\x00"
_DEEP_BUDGET = 256 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str

    @property
    def collection(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


class StoreDamaged(RuntimeError):
    """One or more store files are damaged or missing; the store was not opened."""

    def __init__(self, problems: list[Problem], root: Path | None = None) -> None:
        self.problems = list(problems)
        self.root = root
        files = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"the data store cannot be opened safely, damaged file(s): {files}. Nothing was written. "
            "Restore the folder from a backup (README: 'Backup and restore') or move the damaged file "
            "away only if you accept losing that collection.")

    @property
    def collections(self) -> list[str]:
        return [p.collection for p in self.problems]


def collection_files(db_dir: Path) -> list[Path]:
    """The collection files of a database folder (SQLite sidecar files excluded)."""
    if not db_dir.is_dir():
        return []
    return sorted(p for p in db_dir.iterdir() if p.is_file() and not p.name.endswith(_SIDECARS))


def _header_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
        if size == 0:
            return "zero-length file"
        with path.open("rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if len(head) < 100 or not head.startswith(_MAGIC):
        return "not a store file (bad header)"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return "bad header (page size)"
    if size % page_size:
        return f"truncated ({size} bytes is not a whole number of {page_size}-byte pages)"
    pages = int.from_bytes(head[28:32], "big")
    change, valid_for = head[24:28], head[92:96]
    if pages and change == valid_for and size < pages * page_size:
        return f"truncated ({size} of {pages * page_size} bytes)"
    return None


def _deep_problem(path: Path) -> str | None:
    try:
        # immutable: no -wal/-shm files are created (the caller holds the store lock: no writer runs)
        con = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"
    try:
        rows = con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        return f"damaged: {exc}"
    finally:
        con.close()
    if rows and rows[0][0] != "ok":
        return "damaged: " + "; ".join(str(r[0]) for r in rows[:3])
    return None


def manifest(root: Path) -> dict:
    try:
        data = json.loads((Path(root) / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def check_store(root: str | Path, db_name: str, *, deep: bool = True, budget: int | None = None) -> list[Problem]:
    """Every problem of the store under ``root`` (nothing is written)."""
    root = Path(root)
    db_dir = root / db_name
    files = collection_files(db_dir)
    problems: list[Problem] = []
    known = set(manifest(root).get("collections", {}).get(db_name, []))
    have = {p.name for p in files}
    problems += [Problem(db_dir / name, "missing (listed in the store manifest)") for name in sorted(known - have)]
    healthy = []
    for path in files:
        reason = _header_problem(path)
        if reason:
            problems.append(Problem(path, reason))
        else:
            healthy.append(path)
    if deep:
        left = int(os.environ.get("COHORTLENS_CHECK_BYTES") or _DEEP_BUDGET) if budget is None else budget
        for path in sorted(healthy, key=lambda p: p.stat().st_size):
            size = path.stat().st_size
            if size > left:
                break
            left -= size
            reason = _deep_problem(path)
            if reason:
                problems.append(Problem(path, reason))
    return problems


@contextlib.contextmanager
def _flock(root: Path, timeout: float = 60.0) -> Iterator[None]:
    """The store's file lock on its own descriptor (skipped when it cannot be taken in time)."""
    path = root / "store.lock"
    if not root.exists():
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    got = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        yield
    finally:
        if got:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def verify_store(root: str | Path, db_name: str, *, deep: bool = True) -> None:
    """Raise :class:`StoreDamaged` naming every damaged or missing file (called before opening)."""
    root = Path(root)
    if not (root / db_name).exists() and not (root / MANIFEST).exists():
        return  # a new folder: first start
    with _flock(root):
        problems = check_store(root, db_name, deep=deep)
    if problems:
        raise StoreDamaged(problems, root)


def record_manifest(root: str | Path, db_name: str, *, had_users: bool | None = None) -> None:
    """Write the list of collection files (and whether users ever existed) next to the store."""
    root = Path(root)
    data = manifest(root)
    cols = data.setdefault("collections", {})
    names = sorted(set(cols.get(db_name, [])) | {p.name for p in collection_files(root / db_name)})
    users = data.setdefault("had_users", {})
    new_users = bool(users.get(db_name)) or bool(had_users)
    if cols.get(db_name) == names and bool(users.get(db_name)) == new_users:
        return
    cols[db_name] = names
    users[db_name] = new_users
    tmp = root / f".{MANIFEST}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, root / MANIFEST)


def had_users(root: str | Path, db_name: str) -> bool:
    return bool(manifest(Path(root)).get("had_users", {}).get(db_name))


def secure_tree(root: str | Path) -> None:
    """Folders 0700, files 0600 under ``root`` (owner only); errors on single entries are ignored."""
    root = Path(root)
    for base, dirs, files in os.walk(root):
        for name in [*dirs, "."]:
            path = Path(base) / name if name != "." else Path(base)
            with contextlib.suppress(OSError):
                if stat.S_IMODE(path.lstat().st_mode) != 0o700 and not path.is_symlink():
                    path.chmod(0o700)
        for name in files:
            path = Path(base) / name
            with contextlib.suppress(OSError):
                if not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) & 0o077:
                    path.chmod(stat.S_IMODE(path.lstat().st_mode) & 0o700 | 0o600)


def after_open(store: object) -> None:
    """Once per process after an embedded store opened: record the manifest, tighten permissions."""
    root = getattr(store, "data_dir", None)
    if getattr(store, "backend", None) != "embedded" or root is None:
        return
    db_name = store.db_name  # type: ignore[attr-defined]
    try:
        users = store.users.collection.count_documents({}) > 0  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - the manifest is a safety net, never a reason to fail
        users = None
    record_manifest(root, db_name, had_users=users)
    secure_tree(root)
