"""``python -m jobs``: run, status, health, scheduler, retry, recover, bootstrap — without the web app.

Output contract: ``run``, ``retry``, ``bootstrap``, ``recover``, ``health`` and ``status --json`` print
exactly one JSON object (or array, for ``status --json``) on stdout; logs go to stderr; no token is
ever printed. Exit codes: 0 success, 1 failure (one-line ``error: ...`` on stderr), 2 usage error,
3 skipped (invalid course, too few students, or the course is being processed by another job — the
JSON then carries ``running_job_id``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jobs.config import Config, effective_settings, load_config
from jobs.errors import describe_error, redact

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_SKIPPED"]

log = logging.getLogger("jobs.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 3


class _RedactingFormatter(logging.Formatter):
    """Masks token-like values and every configured secret (env or secrets file) in log lines."""

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (safe under test capture)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configured_secrets() -> tuple[str, ...]:
    """Literal secret values from the environment and the secrets file (for masking, never printed)."""
    try:
        cfg = load_config()
    except Exception:  # a broken configuration must not break logging
        return ()
    values = (cfg.moodle_standard_token, cfg.moodle_custom_token, cfg.gemini_api_key, cfg.mongodb_uri)
    return tuple(v for v in values if v)


def _setup_logging(verbose: int) -> None:
    # quiet by default: the command's own one-line "error: ..." is the message; -v shows the job's log
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.ERROR
    handler = _StderrHandler()
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                             _configured_secrets()))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h.formatter, _RedactingFormatter)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("apscheduler", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _emit(obj: Any) -> None:
    sys.stdout.write(redact(json.dumps(obj, default=_json_default, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    sys.stderr.write(f"error: {redact(message)}\n")
    return code


def _source_arg(text: str) -> str:
    if text in ("demo", "moodle") or (text.startswith("csv:") and len(text) > 4):
        return text
    raise argparse.ArgumentTypeError("source must be demo, moodle or csv:PATH")


def _iso(text: str) -> datetime:
    from jobs.clock import as_utc

    try:
        return as_utc(text)  # type: ignore[return-value]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="CohortLens jobs without the web app.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="cluster one course now and print the JSON summary")
    run.add_argument("--course", type=int, required=True, help="course id")
    run.add_argument("--source", type=_source_arg, default=None, help="demo | moodle | csv:PATH")
    run.add_argument("--as-of", type=_iso, default=None, help="data date (ISO); the demo serves logs up to it")
    run.add_argument("--dry-run", action="store_true", help="compute everything, write nothing")
    run.add_argument("--export", metavar="FILE.csv", default=None,
                     help="write user_id,cluster_id,cluster_name for every student")
    run.add_argument("--k", type=int, default=None, help="pin k for this course (kept for later runs; "
                     "a k different from the current groups' makes this run a regrouping)")
    run.add_argument("--regroup", action="store_true", help="refit the course's groups in this run")

    pin = sub.add_parser("pin", help="pin (or --unpin) the number of groups of a course")
    pin.add_argument("--course", type=int, required=True)
    pin_k = pin.add_mutually_exclusive_group(required=True)
    pin_k.add_argument("--k", type=int, help="number of groups (2..10)")
    pin_k.add_argument("--unpin", action="store_true", help="let the k vote choose again at the next regrouping")

    regroup = sub.add_parser("regroup", help="ask the next run of a course to refit its groups")
    regroup.add_argument("--course", type=int, required=True)
    regroup.add_argument("--cancel", action="store_true", help="withdraw the request")

    frame = sub.add_parser("frame", help="show or set a course's time frame and behaviour window")
    frame.add_argument("--course", type=int, required=True)
    frame.add_argument("--start", type=_iso, default=None, help="course start (ISO date/time)")
    frame.add_argument("--end", type=_iso, default=None, help="course end (ISO date/time)")
    frame.add_argument("--timezone", default=None, help="IANA zone of the course, e.g. Asia/Ho_Chi_Minh")
    frame.add_argument("--clear", action="store_true", help="drop the admin's frame (the source's applies)")
    frame.add_argument("--window-days", type=int, default=None, help="behaviour window in days (default 28)")

    status = sub.add_parser("status", help="recent jobs")
    status.add_argument("--json", action="store_true", help="print a JSON array")
    status.add_argument("--limit", type=int, default=20)
    status.add_argument("--course", type=int, default=None)

    sub.add_parser("health", help="last success per course, freshness, 7-day success rate (JSON)")

    sched = sub.add_parser("scheduler", help="run the scheduler in the foreground until Ctrl-C")
    sched.add_argument("--bootstrap", action="store_true", help="backfill the demo courses first")

    retry = sub.add_parser("retry", help="run a finished job's failed courses again now")
    retry.add_argument("job_id")
    retry.add_argument("--all", action="store_true", help="all its courses, not only the failed ones")

    sub.add_parser("recover", help="mark jobs whose owner died as interrupted (JSON)")

    boot = sub.add_parser("bootstrap", help="backfill weekly runs of the demo courses (first start)")
    boot.add_argument("--weeks", type=int, default=6)
    return parser


def _open(config: Config) -> Any:
    from storage import open_store

    return open_store(config.mongodb_uri, data_dir=config.data_dir)


def _course_or_new(store: Any, course_id: int) -> None:
    if store.courses.get(course_id) is None:
        store.courses.upsert({"course_id": course_id})


def _pin(store: Any, course_id: int, k: int | None) -> None:
    if k is not None and not 2 <= int(k) <= 10:
        raise ValueError(f"--k {k}: the number of groups must be between 2 and 10")
    _course_or_new(store, course_id)
    store.courses.set_flags(course_id, k_pinned=None if k is None else int(k))
    raw = store.settings.get("courses") or {}
    if isinstance(raw, dict) and str(course_id) in raw:   # the saved courses setting wins: keep it in step
        raw = {**raw, str(course_id): {**dict(raw[str(course_id)] or {}), "k": None if k is None else int(k)}}
        store.settings.set("courses", raw)


def _cmd_pin(args: argparse.Namespace, config: Config) -> int:
    store = _open(config)
    try:
        _pin(store, args.course, None if args.unpin else args.k)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    _emit({"course_id": args.course, "k_pinned": None if args.unpin else args.k,
           "note": "the next run regroups when this k differs from the current groups'"})
    return EXIT_OK


def _cmd_regroup(args: argparse.Namespace, config: Config) -> int:
    store = _open(config)
    _course_or_new(store, args.course)
    store.courses.request_regroup(args.course, not args.cancel, by="cli")
    _emit({"course_id": args.course, "regroup_requested": not args.cancel})
    return EXIT_OK


def _cmd_frame(args: argparse.Namespace, config: Config) -> int:
    store = _open(config)
    _course_or_new(store, args.course)
    try:
        if args.timezone:
            from zoneinfo import ZoneInfo

            ZoneInfo(args.timezone)
        if args.clear:
            store.courses.set_frame(args.course, None, None)
        elif args.start is not None or args.end is not None:
            store.courses.set_frame(args.course, args.start, args.end, timezone=args.timezone)
        if args.window_days is not None:
            if not 7 <= args.window_days <= 366:
                raise ValueError(f"--window-days {args.window_days}: use 7..366 days")
            store.courses.set_flags(args.course, window_days=int(args.window_days))
    except (ValueError, KeyError) as exc:
        return _fail(f"course {args.course}: {exc}", EXIT_USAGE)
    doc = store.courses.get(args.course) or {}
    _emit({"course_id": args.course, "frame": doc.get("frame"), "window_days": doc.get("window_days") or 28})
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, config: Config) -> int:
    from jobs.errors import SkipCourse
    from jobs.pipeline import export_assignments, run_course
    from jobs.runner import HOST, execute_job

    store = _open(config)
    if args.k is not None and not args.dry_run:
        try:
            _pin(store, args.course, args.k)
        except ValueError as exc:
            return _fail(str(exc), EXIT_USAGE)
    if args.regroup and not args.dry_run:
        _course_or_new(store, args.course)
        store.courses.request_regroup(args.course, by="cli")
    settings = effective_settings(store, config)
    source = args.source or settings.source
    if args.dry_run and args.k is not None:   # a dry run pins nothing: k only for this computation
        from dataclasses import replace

        settings = replace(settings, courses={**settings.courses, args.course: {
            **dict(settings.courses.get(args.course, {})), "k": args.k}})
    if args.dry_run:  # no job record, no lease: nothing is written
        try:
            summary = run_course(args.course, source=source, store=store, as_of=args.as_of,
                                 config=settings, dry_run=True)
        except SkipCourse as exc:
            _emit({"status": "skipped", "course_id": args.course, "reason": exc.reason, "dry_run": True})
            return _fail(f"course {args.course} skipped: {exc.reason}", EXIT_SKIPPED)
        except Exception as exc:
            err = describe_error(exc, settings.secrets)
            _emit({"status": "failed", "course_id": args.course, "error": err, "dry_run": True})
            return _fail(f"course {args.course} failed: {err['type']}: {err['message']}")
        _emit(summary)
        return EXIT_OK
    import os

    job_id = store.jobs.create([args.course], "cli", extra={
        "source": source, "as_of": args.as_of, "retry_number": 0,
        "submitted_by": {"host": HOST, "pid": os.getpid()}})
    job = execute_job(store, job_id, config=config) or {}
    outcome = (job.get("result") or {}).get(str(args.course)) or {}
    status = outcome.get("status") or job.get("status")
    out = {**outcome, "job_id": job_id, "course_id": args.course, "status": status}
    if status == "succeeded":
        if args.export:
            rows = export_assignments(store, outcome["run_id"], args.export)
            out["export"] = {"path": str(args.export), "rows": rows}
        _emit(out)
        return EXIT_OK
    _emit(out)
    if status == "skipped":
        return _fail(f"course {args.course} skipped: {outcome.get('reason')}", EXIT_SKIPPED)
    err = outcome.get("error") or job.get("error") or {}
    retry = (job.get("stats") or {}).get("retry_job_id")
    extra = f" (retry job {retry} scheduled)" if retry else ""
    return _fail(f"course {args.course} failed: {err.get('type')}: {err.get('message')}{extra}")


_STATUS_FIELDS = ("job_id", "course_ids", "trigger", "status", "created_at", "started_at", "finished_at",
                  "scheduled_for", "parent_job_id", "error", "progress", "stats")


def _cmd_status(args: argparse.Namespace, config: Config) -> int:
    store = _open(config)
    jobs = store.jobs.recent(limit=max(1, args.limit), course_id=args.course)
    rows = [{k: job.get(k) for k in _STATUS_FIELDS} for job in jobs]
    if args.json:
        sys.stdout.write(redact(json.dumps(rows, default=_json_default, ensure_ascii=False)) + "\n")
        return EXIT_OK
    if not rows:
        print("no jobs yet")
        return EXIT_OK
    print(f"{'job_id':<32}  {'trigger':<8}  {'status':<11}  {'courses':<12}  {'created_at':<19}  error")
    for r in rows:
        created = r["created_at"].strftime("%Y-%m-%d %H:%M:%S") if isinstance(r["created_at"], datetime) else ""
        err = (r.get("error") or {}).get("message") or ""
        courses = ",".join(str(c) for c in r.get("course_ids") or []) or "-"
        print(redact(f"{r['job_id']:<32}  {r['trigger']:<8}  {r['status']:<11}  {courses:<12}  {created:<19}  "
                     f"{err[:80]}"))
    return EXIT_OK


def _cmd_health(args: argparse.Namespace, config: Config) -> int:
    from jobs.runner import health

    _emit(health(_open(config), config=config))
    return EXIT_OK


def _cmd_retry(args: argparse.Namespace, config: Config) -> int:
    from jobs.runner import retry_job

    store = _open(config)
    try:
        new_id = retry_job(store, args.job_id, config=config, only_failed=not args.all)
    except (LookupError, ValueError) as exc:
        return _fail(str(exc).strip("'\""))
    job = store.jobs.get(new_id) or {}
    _emit({"job_id": new_id, "parent_job_id": args.job_id, "status": job.get("status"),
           "course_ids": job.get("course_ids"), "result": job.get("result"), "error": job.get("error")})
    return EXIT_OK if job.get("status") == "succeeded" else EXIT_SKIPPED if job.get("status") == "skipped" \
        else _fail(f"retry job {new_id} {job.get('status')}: {(job.get('error') or {}).get('message')}")


def _cmd_recover(args: argparse.Namespace, config: Config) -> int:
    from jobs.runner import recover

    _emit({"recovered": recover(_open(config), config)})
    return EXIT_OK


def _cmd_bootstrap(args: argparse.Namespace, config: Config) -> int:
    from jobs.bootstrap import ensure_demo

    def progress(stage: str, fraction: float) -> None:
        sys.stderr.write(f"bootstrap: {stage} ({fraction:.0%})\n")

    result = ensure_demo(_open(config), config, weeks=args.weeks, progress=progress, trigger="cli")
    _emit(result)
    return EXIT_OK


def _cmd_scheduler(args: argparse.Namespace, config: Config) -> int:
    from jobs.scheduler import build_scheduler, scheduler_status

    store = _open(config)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started in the background (SIGINT ignored there)
    scheduler = build_scheduler(store, config)  # recovery at start, then nightly + maintenance
    status = scheduler_status(scheduler)
    sys.stderr.write(f"scheduler running; nightly next at {status['nightly_next_run']}; Ctrl-C to stop\n")
    try:
        if args.bootstrap:
            from jobs.bootstrap import ensure_demo

            ensure_demo(store, config, trigger="cli")
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sys.stderr.write("scheduler stopping (waiting for running jobs)\n")
        scheduler.shutdown(wait=True)
    return EXIT_OK


_COMMANDS = {
    "run": _cmd_run,
    "status": _cmd_status,
    "health": _cmd_health,
    "scheduler": _cmd_scheduler,
    "retry": _cmd_retry,
    "recover": _cmd_recover,
    "bootstrap": _cmd_bootstrap,
    "pin": _cmd_pin,
    "regroup": _cmd_regroup,
    "frame": _cmd_frame,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        config = load_config()
    except ValueError as exc:
        return _fail(f"configuration: {exc}", EXIT_USAGE)
    try:
        return _COMMANDS[args.command](args, config)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        err = describe_error(exc, config.secrets)
        log.debug("command failed", exc_info=True)
        return _fail(f"{err['type']}: {err['message']}")
