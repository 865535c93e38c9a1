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
NEW_PASSWORD_ENV = "COHORTLENS_NEW_PASSWORD"


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


def _date_arg(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="CohortLens jobs without the web app.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="cluster one course now and print the JSON summary")
    run.add_argument("--course", type=int, required=True, help="course id")
    run.add_argument("--source", type=_source_arg, default=None, help="demo | moodle | csv:PATH")
    run.add_argument("--as-of", type=_iso, default=None, help="data date (ISO); the demo serves logs up to it")
    run.add_argument("--course-start", type=_date_arg, default=None,
                     help="course start date (YYYY-MM-DD): places a log export's year-less times, checks its dates")
    run.add_argument("--course-end", type=_date_arg, default=None, help="course end date (YYYY-MM-DD)")
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

    users = sub.add_parser("users", help="dashboard accounts: add, passwd, remove, list (Settings' rules)")
    usub = users.add_subparsers(dest="users_command", required=True)
    uadd = usub.add_parser("add", help="create (or update) a user; password from stdin or "
                                       "COHORTLENS_NEW_PASSWORD")
    uadd.add_argument("name", help="user name (login)")
    uadd.add_argument("--role", choices=("admin", "instructor"), default="instructor")
    uadd.add_argument("--course", type=int, action="append", default=[], metavar="ID",
                      help="grant a course (repeat for several)")
    uadd.add_argument("--full-name", default=None, help="display name")
    uadd.add_argument("--email", default=None, help="address for the daily digest / failure notices")
    upw = usub.add_parser("passwd", help="set a user's password (stdin or COHORTLENS_NEW_PASSWORD)")
    upw.add_argument("name")
    urm = usub.add_parser("remove", help="delete a user and revoke their API tokens")
    urm.add_argument("name")
    uls = usub.add_parser("list", help="list users (no password hashes)")
    uls.add_argument("--json", action="store_true", help="print a JSON array")

    token = sub.add_parser("token", help="API tokens: create, list, revoke")
    tsub = token.add_subparsers(dest="token_command", required=True)
    tnew = tsub.add_parser("create", help='create a token for a user; prints {"token": ...} once')
    tnew.add_argument("--user", required=True, help="the user the token acts as (with their course grants)")
    tnew.add_argument("--label", default="", help="what the token is for")
    tls = tsub.add_parser("list", help="live tokens (JSON; never the token itself)")
    tls.add_argument("--user", default=None)
    trv = tsub.add_parser("revoke", help="revoke a token by its token_id (or the token itself)")
    trv.add_argument("token_id")

    notify = sub.add_parser("notify", help="notifications: send the daily digest now, or a test message")
    nsub = notify.add_subparsers(dest="notify_command", required=True)
    ndig = nsub.add_parser("digest", help="send every user's digest now (JSON report)")
    ndig.add_argument("--force", action="store_true", help="even if today's digest was already sent")
    nsub.add_parser("test", help="send a test message through every configured channel")

    worker = sub.add_parser("worker", help="run a worker in the foreground: the scheduler, claiming queued "
                                           "course jobs from the shared store, until Ctrl-C / SIGTERM")
    worker.add_argument("--no-nightly", action="store_true",
                        help="only claim queued jobs; do not fire the nightly cron in this process")
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

    if args.course_start or args.course_end:
        from dataclasses import replace

        if args.course_start and args.course_end and args.course_end < args.course_start:
            return _fail(f"--course-end {args.course_end} is before --course-start {args.course_start}", EXIT_USAGE)
        config = replace(config, course_start=args.course_start, course_end=args.course_end)
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
    if not err.get("message"):  # never "failed: None: None"
        err = {"type": "JobNotFinished", "message": f"job {job_id} ended as {status or 'unknown'} without a "
                                                    "recorded error; see: python -m jobs status"}
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
    """The product's health (JSON); exit 0 ok, 1 warning, 2 critical."""
    from jobs.ops import EXIT_BY_STATUS, overall_health

    report = overall_health(_open(config), config, include_courses=True)
    _emit(report)
    code = EXIT_BY_STATUS.get(report["status"], EXIT_FAILED)
    if code:
        sys.stderr.write(f"health: {report['status']}: {'; '.join(report.get('problems') or [])}\n")
    return code


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


def _read_password(prompt: str = "Password: ") -> str:
    """COHORTLENS_NEW_PASSWORD, else stdin (one line; asked twice on a terminal)."""
    import getpass
    import os

    env = os.environ.get(NEW_PASSWORD_ENV)
    if env:
        return env
    if sys.stdin is None:
        raise ValueError(f"no password: pipe it on stdin or set {NEW_PASSWORD_ENV}")
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise ValueError("the two passwords differ")
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise ValueError(f"no password on stdin (or set {NEW_PASSWORD_ENV})")
    return line


def _cmd_users(args: argparse.Namespace, config: Config) -> int:
    from jobs import accounts

    store = _open(config)
    try:
        if args.users_command == "add":
            existed = store.users.get(args.name.strip().lower()) is not None
            doc = accounts.save_user(store, args.name, name=args.full_name, password=_read_password(),
                                     role=args.role, courses=args.course, email=args.email)
            _emit({**accounts.public_user(doc), "status": "updated" if existed else "created"})
        elif args.users_command == "passwd":
            doc = accounts.set_password(store, args.name, _read_password("New password: "))
            _emit({"username": doc["username"], "status": "password changed"})
        elif args.users_command == "remove":
            accounts.remove_user(store, args.name)
            _emit({"username": args.name.strip().lower(), "status": "removed"})
        else:
            rows = [accounts.public_user(u) for u in store.users.list()]
            if args.json:
                _emit(rows)
            else:
                print(f"{'user':<24}  {'role':<10}  {'courses':<20}  name")
                for r in rows:
                    print(f"{r['username']:<24}  {r['role'] or '':<10}  "
                          f"{','.join(map(str, r['courses'])) or ('all' if r['role'] == 'admin' else '-'):<20}  "
                          f"{r['name']}")
    except (LookupError, ValueError) as exc:
        return _fail(str(exc.args[0]) if exc.args else str(exc))
    return EXIT_OK


def _cmd_token(args: argparse.Namespace, config: Config) -> int:
    from jobs.tokens import create_token, hash_token, list_tokens, revoke_token

    store = _open(config)
    if args.token_command == "create":
        try:
            token, doc = create_token(store, args.user, label=args.label)
        except LookupError as exc:
            return _fail(str(exc.args[0]) if exc.args else str(exc))
        # the one place a token is printed: on purpose, once, unredacted
        sys.stdout.write(json.dumps({"token": token, "token_id": doc["token_id"], "user": doc["username"],
                                     "label": doc.get("label") or ""}) + "\n")
        sys.stdout.flush()
        sys.stderr.write("Store this token now: it is shown only once (only its hash is kept).\n")
        return EXIT_OK
    if args.token_command == "list":
        _emit(list_tokens(store, args.user))
        return EXIT_OK
    token_id = args.token_id.strip()
    if token_id.startswith("clk_"):  # the token itself was given
        record = store.tokens.by_hash(hash_token(token_id))
        token_id = record["token_id"] if record else token_id
    if not revoke_token(store, token_id):
        return _fail(f"no live token {token_id[:16]!r} (see: python -m jobs token list)")
    _emit({"token_id": token_id, "status": "revoked"})
    return EXIT_OK


def _cmd_notify(args: argparse.Namespace, config: Config) -> int:
    from jobs import notify

    store = _open(config)
    settings = effective_settings(store, config)
    if not notify.channels(settings):
        return _fail("no notification channel is configured: set SMTP_HOST and/or NOTIFY_WEBHOOK_URL")
    if args.notify_command == "digest":
        report = notify.send_daily_digest(store, config, force=args.force)
    else:
        admins = [u["email"] for u in store.users.list() if u.get("role") == "admin" and u.get("email")]
        report = notify._deliver(settings, to=admins, subject="CohortLens: test notification",
                                 body="This is a test message from python -m jobs notify test.",
                                 payload={"type": "test"})
    _emit(report)
    failed = [v for r in ([report] if "sent" not in report else report["sent"]) for k, v in r.items()
              if k in ("email", "webhook") and v != "sent"]
    return _fail(f"some notifications failed: {failed}") if failed else EXIT_OK


def _cmd_worker(args: argparse.Namespace, config: Config) -> int:
    """A foreground worker: the same service as the app's (scheduler, recovery, claiming shared jobs)."""
    from jobs import service
    from jobs.scheduler import scheduler_status

    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    import jobs.pipeline  # noqa: F401 - warm: the first course must not pay the imports (pandas, sklearn)

    svc = service.start(config, started_by="worker", out=sys.stderr, bootstrap=False,
                        nightly=not args.no_nightly)
    status = scheduler_status(svc.scheduler)
    sys.stderr.write(f"worker running (pid {svc.pid}); nightly next at {status['nightly_next_run']}; "
                     "claiming queued course jobs; Ctrl-C to stop\n")
    sys.stderr.flush()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        interrupted = service.stop()
        sys.stderr.write(f"worker stopped ({len(interrupted)} running job(s) marked interrupted)\n")
    return EXIT_OK


def _recover_first(config: Config) -> None:
    """Every command first marks jobs whose owner process died ``interrupted`` (and frees their course
    leases), so a crash never leaves a job ``running`` or a course "being processed" by a dead job."""
    from jobs.runner import recover

    try:
        found = recover(_open(config), config)
    except Exception as exc:  # the command itself reports a store problem properly
        log.debug("recovery before the command failed: %s", exc.__class__.__name__)
        return
    for item in found:
        sys.stderr.write(f"recovered: job {item['job_id']} was interrupted ({item['reason']})"
                         f"{'; retry ' + item['retry_job_id'] if item.get('retry_job_id') else ''}\n")


_COMMANDS = {
    "run": _cmd_run,
    "status": _cmd_status,
    "health": _cmd_health,
    "scheduler": _cmd_scheduler,
    "retry": _cmd_retry,
    "recover": _cmd_recover,
    "bootstrap": _cmd_bootstrap,
    "users": _cmd_users,
    "token": _cmd_token,
    "worker": _cmd_worker,
    "pin": _cmd_pin,
    "regroup": _cmd_regroup,
    "frame": _cmd_frame,
    "notify": _cmd_notify,
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
        if args.command not in ("recover", "worker", "scheduler"):  # those recover themselves
            _recover_first(config)
        return _COMMANDS[args.command](args, config)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:
        err = describe_error(exc, config.secrets, data_dir=config.data_dir)
        log.debug("command failed", exc_info=True)
        return _fail(f"{err['type']}: {err['message']}")
