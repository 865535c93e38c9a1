"""Worker run in a separate (spawned) process by test_concurrency.py: races on one shared data dir."""

from __future__ import annotations

import os
import sys
from typing import Any

#: exit code of a worker whose start signal never came (the parent gave up or died).
NO_GO = 3


def race(
    data_dir: str,
    rounds: int,
    incs: int,
    ready: Any,
    go: Any,
    uri: str | None = None,
    db_name: str | None = None,
    go_timeout: float = 600.0,
) -> None:
    """Try to win every lease / claim every job, and $inc a shared counter, recording wins in the store.

    Embedded store at ``data_dir``, or MongoDB when ``uri`` is given. The race starts only when the
    parent sets ``go`` (after every worker reported ready), so the workers really run together; a
    worker that gets no signal within ``go_timeout`` exits with :data:`NO_GO` instead of racing alone.
    """
    os.environ.pop("MONGODB_URI", None)
    from storage import open_store

    store = open_store(uri=uri, db_name=db_name) if uri else open_store(data_dir=data_dir)
    me = f"proc-{os.getpid()}"
    owner = {"host": "test", "pid": os.getpid(), "id": me}
    job_ids = [j["job_id"] for j in store.jobs.queued()]
    wins = store.collection("race_wins")
    counter = store.collection("race_counter")
    ready.put(me)
    if not go.wait(go_timeout):
        store.close()
        sys.exit(NO_GO)
    for i in range(max(rounds, incs)):
        if i < rounds:
            if store.leases.acquire(f"race:{i}", me, 300):
                wins.insert_one({"kind": "lease", "round": i, "owner": me})
            if i < len(job_ids) and store.jobs.claim(job_ids[i], owner) is not None:
                wins.insert_one({"kind": "claim", "round": i, "owner": me})
        if i < incs:
            counter.update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)
    store.close()
