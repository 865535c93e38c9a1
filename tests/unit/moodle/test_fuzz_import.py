"""Fuzz: damaged exports raise the importer's own error (LogExportError), never another exception,
and never hang. Each file is read in a worker process with a per-file timeout; a worker that does not
answer in time is killed and counted as a hang.

Default suite: a quick subset; ``-m slow``: the full set of 1,200 generated files.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import traceback
import types
from collections import Counter
from typing import Any

import pytest

from tests.unit.moodle.fuzz_exports import damaged_files

PER_FILE_TIMEOUT = 30.0        # seconds; generous for a loaded 2-core machine (files are small)
MAX_MESSAGE = 500


def _worker(conn: Any) -> None:
    from moodle.errors import LogExportError
    from moodle.log_export import course_data_from_export, read_gradebook_export, read_log_export

    while True:
        job = conn.recv()
        if job is None:
            return
        i, raw = job
        out: dict[str, Any] = {"i": i}
        try:
            df = read_log_export(raw)
            out["result"] = "read"
            out["rows"] = len(df)
            if len(df):
                course_data_from_export(df, course_id=1)      # what a read frame is used for next
        except LogExportError as exc:
            out["result"] = "error"
            out["message_length"] = len(str(exc))
            out["message"] = str(exc)[:200]
        except BaseException as exc:  # noqa: BLE001 - this is what the test looks for
            out["result"] = "other"
            out["type"] = exc.__class__.__name__
            out["message"] = traceback.format_exc()[-1500:]
        if i % 3 == 0:                  # the gradebook reader gets the same files
            try:
                read_gradebook_export(raw)
            except LogExportError as exc:
                out["gradebook_message_length"] = len(str(exc))
            except BaseException as exc:  # noqa: BLE001
                out["result"] = "other"
                out["type"] = "gradebook " + exc.__class__.__name__
                out["message"] = traceback.format_exc()[-1500:]
        conn.send(out)


class _Pool:
    """One worker process, restarted after a hang."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None

    def start(self) -> None:
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent

    def run(self, i: int, raw: bytes, timeout: float) -> dict[str, Any]:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        self.conn.send((i, raw))
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass
            self.proc.join(5)
            code = self.proc.exitcode
            self.proc = None
            return {"i": i, "result": "other", "type": f"worker died (exit {code})"}
        self.proc.kill()
        self.proc.join(5)
        self.proc = None
        return {"i": i, "result": "hang"}

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()


@pytest.fixture(autouse=True)
def bare_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned workers re-run the parent's __main__; after an AppTest in the same session that is app.py,
    which must not run in a worker: give them a bare __main__ instead."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def _fuzz(count: int, seed: int) -> tuple[Counter, list[dict]]:
    pool = _Pool()
    outcomes: Counter = Counter()
    bad: list[dict] = []
    try:
        for i, (label, raw) in enumerate(damaged_files(count, seed)):
            got = pool.run(i, raw, PER_FILE_TIMEOUT)
            outcomes[got["result"]] += 1
            too_long = max(got.get("message_length", 0), got.get("gradebook_message_length", 0)) > MAX_MESSAGE
            if got["result"] in ("other", "hang") or too_long:
                bad.append({"label": label, **got})
    finally:
        pool.close()
    return outcomes, bad


def _report(outcomes: Counter, bad: list[dict]) -> str:
    lines = [f"outcomes: {dict(outcomes)}"]
    for b in bad[:15]:
        lines.append(f"- {b['label']}: {b['result']} {b.get('type', '')}\n{b.get('message', '')}")
    return "\n".join(lines)


def test_fuzz_quick_subset() -> None:
    outcomes, bad = _fuzz(150, seed=11)
    assert sum(outcomes.values()) == 150
    assert not bad, _report(outcomes, bad)
    assert outcomes["error"] >= 60          # most damaged files are refused, with the importer's error


@pytest.mark.slow
def test_fuzz_full_set() -> None:
    outcomes, bad = _fuzz(1200, seed=1011)
    assert sum(outcomes.values()) == 1200
    assert not bad, _report(outcomes, bad)
