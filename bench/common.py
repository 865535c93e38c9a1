"""Shared pieces of the benchmarks: results, timing, demo data at scale, the fake Moodle, child processes.

Every figure is compared with a baseline measured in the same run (never a stored number). Work that
must not share this process (peak memory, the Streamlit app, the nightly job next to a Moodle that
runs elsewhere) runs in a child process: ``python -m bench.child <task> <json args>``, which prints
one JSON line and reports its own peak RSS.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_SEED",
    "REPO",
    "Result",
    "best_of",
    "bench_anchor",
    "bench_as_of",
    "demo_site",
    "fake_moodle",
    "install_demo_site",
    "machine_note",
    "make_config",
    "moodle_process",
    "peak_rss_mb",
    "run_child",
    "runtime_token",
    "timed",
]

REPO = Path(__file__).resolve().parents[1]
BENCH_SEED = 7  # the seed moodle.sources uses for source "demo" (no demo_seed setting)


@dataclass
class Result:
    """One line of the results table."""

    bench: str                      # benchmark name (features, choose_k, ...)
    case: str                       # what was measured, e.g. "1,000,000 log rows"
    figure: float                   # our measurement
    unit: str                       # "s", "MB", "courses/min", ...
    baseline: float | None          # the same-run baseline (same unit as figure when comparable)
    baseline_label: str             # what the baseline is
    ratio: float | None             # figure / baseline (or baseline / figure for speed-ups; see ratio_label)
    ratio_label: str                # how to read the ratio ("ours/duckdb", "speed-up", ...)
    target: str                     # the target in words ("<= 3x", "< 15 s", ...)
    passed: bool | None             # None = informational (no target for this line)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "-" if self.passed is None else ("PASS" if self.passed else "MISS")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, value) of one call."""
    gc.collect()
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Fastest of ``repeat`` calls (the machine is shared: the minimum is the least disturbed)."""
    best, value = float("inf"), None
    for _ in range(max(1, repeat)):
        seconds, value = timed(fn)
        best = min(best, seconds)
    return best, value


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux ``VmHWM`` (the high-water mark of this process's own memory map). Not ``ru_maxrss``: Linux
    carries that over ``execve``, so a child started from a big parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def runtime_token(prefix: str) -> str:
    """A throwaway token for the local fake Moodle, made at runtime (never a committed value)."""
    return f"{prefix}-{secrets.token_hex(12)}"


def bench_anchor() -> date:
    """The first Monday of the bench courses: the same default as the demo (ten weeks before today)."""
    from moodle.demo import default_anchor

    return default_anchor()


def bench_as_of() -> datetime:
    """The data's "now" for every benchmark: the current hour (so runs are not in the future)."""
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def demo_site(courses: list[tuple[int, int]], *, activity_scale: float = 1.0, n_weeks: int = 14,
              anchor: date | None = None) -> Any:
    """A DemoSite with ``(course_id, n_students)`` courses (the demo generator at scale)."""
    from moodle.demo import DemoCourseSpec, DemoSite

    specs = [DemoCourseSpec(cid, f"Bench course {cid} ({n:,} students)", f"B{cid}", n,
                            activity_scale=activity_scale, n_weeks=n_weeks)
             for cid, n in courses]
    return DemoSite(BENCH_SEED, anchor=anchor or bench_anchor(), courses=specs)


def install_demo_site(site: Any) -> None:
    """Make source ``"demo"`` serve ``site`` in this process.

    ``moodle.sources`` builds its DemoSite from the demo_seed / demo_anchor settings (default courses
    only) and caches it per (seed, anchor); there is no public hook to serve other courses, so the
    benchmark places its site in that cache under the key the default settings resolve to.
    """
    import moodle.sources as sources

    cache = getattr(sources, "_sites", None)
    if not isinstance(cache, dict):
        raise RuntimeError("moodle.sources no longer caches demo sites in _sites; update bench.common")
    from moodle.demo import default_anchor

    with sources._sites_lock:
        cache[(BENCH_SEED, default_anchor())] = site
    if sources.demo_site(None) is not site:
        raise RuntimeError("source 'demo' does not resolve to the bench site (seed/anchor settings set?)")


def make_config(data_dir: str | Path, *, source: str = "demo", moodle_url: str | None = None,
                standard_token: str | None = None, custom_token: str | None = None, **overrides: Any) -> Any:
    """A jobs Config that ignores the environment and any secrets file (reproducible bench runs)."""
    from jobs.config import load_config

    values: dict[str, Any] = {"data_dir": Path(data_dir), "source": source, "llm_enabled": False,
                              "language": "en"}
    if moodle_url:
        values.update(moodle_url=moodle_url, moodle_standard_token=standard_token,
                      moodle_custom_token=custom_token or standard_token)
    values.update(overrides)
    return load_config(env={}, secrets_file=Path(data_dir) / "no-secrets.toml", **values)


@contextmanager
def fake_moodle(site: Any, as_of: datetime | None) -> Iterator[tuple[Any, str, str]]:
    """A FakeMoodleServer on 127.0.0.1 serving ``site``; yields (server, standard_token, custom_token)."""
    from moodle.fake_server import FakeMoodleServer

    std, cus = runtime_token("bench-std"), runtime_token("bench-cus")
    server = FakeMoodleServer(site, standard_token=std, custom_token=cus, as_of=as_of)
    with server:
        yield server, std, cus


class MoodleProcess:
    """A fake Moodle running in its own process (see :func:`moodle_process`)."""

    def __init__(self, url: str, std: str, cus: str) -> None:
        self.url, self.std, self.cus = url, std, cus
        self.calls: int | None = None            # HTTP calls served, known once the process ended
        self.by_function: dict[str, int] = {}


@contextmanager
def moodle_process(courses: list[tuple[int, int]], as_of: datetime | None, *,
                   warm_limit: int = 5_000_000) -> Iterator[MoodleProcess]:
    """A FakeMoodleServer serving demo ``courses`` in a child process (its own interpreter and GIL).

    The child generates the courses and encodes the replies (logs, grade report, enrolments) before it
    says it is ready, so what is timed is serving and fetching, not generating the demo data. It stops
    when we close its stdin; then ``calls`` tells how many web-service calls it served.
    """
    args = {"courses": courses, "as_of": as_of.isoformat() if as_of else None, "warm_limit": warm_limit}
    cmd = [sys.executable, "-m", "bench.child", "serve_moodle", json.dumps(args)]
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("BENCH_READY "):
            proc.kill()
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"the fake Moodle process did not start:\n{line}{err[-3000:]}")
        info = json.loads(line[len("BENCH_READY "):])
        handle = MoodleProcess(info["url"], info["std"], info["cus"])
        yield handle
    finally:
        try:
            out, _ = proc.communicate(input="", timeout=60)   # closes its stdin: the child stops
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    for line in (out or "").splitlines():
        if line.startswith("BENCH_RESULT "):
            done = json.loads(line[len("BENCH_RESULT "):])
            handle.calls = done.get("calls")
            handle.by_function = done.get("by_function", {})


def run_child(task: str, args: dict[str, Any], *, timeout: float = 3600.0,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -m bench.child task`` with ``args`` (JSON); returns its JSON reply.

    The child prints exactly one line starting with ``BENCH_RESULT `` followed by JSON; anything else
    it prints goes to our stderr only when it fails.
    """
    cmd = [sys.executable, "-m", "bench.child", task, json.dumps(args, default=str)]
    child_env = dict(os.environ)
    child_env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    child_env.pop("MONGODB_URI", None)  # the embedded store is what is measured
    child_env.update(env or {})
    proc = subprocess.run(cmd, cwd=REPO, env=child_env, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    tail = (proc.stderr or proc.stdout or "")[-4000:]
    raise RuntimeError(f"bench child {task!r} failed (exit {proc.returncode}):\n{tail}")


def machine_note() -> str:
    """CPU count, model and memory, for the results file."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        import psutil

        mem = f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM"
    except Exception:  # psutil is optional here
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem}, Python {sys.version.split()[0]}, "
            f"load average {load:.1f} at start")
