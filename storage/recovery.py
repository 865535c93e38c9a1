"""Start-up recovery of half-written runs, run by every process when it opens the store.

A run is written as pending, then its history rows are staged (``history_outbox``), then it is
marked finished, then its history is recorded and the staged rows dropped (jobs/pipeline.py). A
process that died in between leaves either a pending run (removed here, with its snapshot chunks,
staged rows, history entries and alerts) or a finished run with staged rows (its history is recorded
from them: rolled forward). A course whose lease is held by a live process is left to that process;
a lease whose owner was a process on this host that no longer exists is broken first.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

__all__ = ["complete_runs", "owner_dead"]

log = logging.getLogger(__name__)

HOST = socket.gethostname()


def owner_dead(owner: str | None) -> bool:
    """True when a lease owner ``host:pid:...`` is a process of this host that no longer runs."""
    parts = str(owner or "").split(":")
    if len(parts) < 2 or parts[0] != HOST:
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _courses_to_check(store: Any) -> dict[int, set[str]]:
    """course_id -> writers (``host:pid``) of its half-written runs."""
    out: dict[int, set[str]] = {}
    for d in store.history.staged():
        if d.get("course_id") is not None:
            out.setdefault(int(d["course_id"]), set()).add(str(d.get("writer") or ""))
    runs = store.collection("course_clusters")
    for d in runs.find({"status": "pending"}, {"_id": 0, "course_id": 1, "writer": 1}):
        if d.get("course_id") is not None:
            out.setdefault(int(d["course_id"]), set()).add(str(d.get("writer") or ""))
    return out


def _writer_alive(writer: str) -> bool:
    """A writer on this host that still runs (another host's writer is judged by the lease)."""
    parts = writer.split(":")
    if len(parts) < 2 or parts[0] != HOST:
        return False
    if parts[1] == str(os.getpid()):
        return True
    return not owner_dead(writer)


def complete_runs(store: Any) -> list[dict]:
    """Roll forward or remove every half-written run whose course no live process is working on."""
    try:
        courses = _courses_to_check(store)
    except Exception:  # noqa: BLE001 - recovery must never stop a process from starting
        log.exception("recovery: could not list unfinished runs")
        return []
    done = []
    me = f"{HOST}:{os.getpid()}:recover-{uuid.uuid4().hex[:8]}"
    for cid in sorted(courses):
        if any(_writer_alive(w) for w in courses[cid]):
            continue  # being written right now by a live process of this host
        key = f"course:{cid}"
        holder = store.leases.holder(key)
        if holder and owner_dead(holder.get("owner")):
            store.leases.break_lease(key)
        if not store.leases.acquire(key, me, 120):
            continue  # a live process holds the course: it finishes or discards its own run
        try:
            staged = [d["run_id"] for d in store.history.staged(cid)]
            discarded = store.runs.discard_unfinished(cid)  # also rolls staged finished runs forward
            done.append({"course_id": cid, "discarded": discarded,
                         "completed": [r for r in staged if r not in discarded]})
            log.warning("recovery: course %s: removed unfinished runs %s, completed history of %s",
                        cid, discarded, done[-1]["completed"])
        except Exception:  # noqa: BLE001
            log.exception("recovery of course %s failed", cid)
        finally:
            store.leases.release(key, me)
    return done
