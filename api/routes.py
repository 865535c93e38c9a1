"""Starlette routes of the JSON API (version 1), thin over the store's repositories and the job path.

Every response is JSON; errors are ``{"error": <code>, "message": <text>}`` with 400 (bad parameter),
401 (missing or wrong bearer token), 403 (course not granted to the token's user), 404, 405, 500/503.
A token carries its user's current role and grants (read from the store on every request).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["API_VERSION", "api_routes", "ApiError"]

API_VERSION = "1.0.0"
_PUBLIC_JOB = ("job_id", "course_ids", "trigger", "status", "source", "created_at", "started_at", "finished_at",
               "scheduled_for", "parent_job_id", "error", "progress")
_PUBLIC_OUTCOME = ("course_id", "status", "run_id", "k", "students", "reason", "error", "seconds", "moved")


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class ApiJSON(JSONResponse):
    """JSON with ISO datetimes; every API response is one."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_default, ensure_ascii=False, allow_nan=False).encode("utf-8")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ApiJSON:
    return ApiJSON({"error": code, "message": message}, status_code=status, headers=headers)


class Ctx:
    """What a handler gets: the store, config, scheduler and the authenticated user (if any)."""

    def __init__(self, request: Request) -> None:
        from jobs.config import load_config
        from jobs.service import current
        from storage import open_store

        svc = current()
        self.config = svc.config if svc is not None else load_config()
        self.scheduler = svc.scheduler if svc is not None else None
        self.store = svc.store if svc is not None else None
        self.store_error: str | None = None
        if self.store is None:  # no lifespan (a bare ASGI server), or the store did not open at start
            try:
                self.store = open_store(self.config.mongodb_uri, data_dir=self.config.data_dir)
            except Exception as exc:
                from jobs.errors import describe_error

                err = describe_error(exc, self.config.secrets, data_dir=self.config.data_dir)
                self.store_error = f"{err['type']}: {err['message']}"
        self.request = request
        self.user: dict | None = None

    def require_store(self) -> None:
        if self.store is None:
            raise ApiError(503, "unavailable", f"the database cannot be used: {self.store_error}")

    # -- auth ----------------------------------------------------------------------------------
    def authenticate(self) -> dict:
        from jobs.tokens import authenticate

        self.require_store()
        header = self.request.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        if not header:
            raise ApiError(401, "unauthorized", "missing bearer token: send 'Authorization: Bearer <token>' "
                                                "(create one in Settings > API tokens or with "
                                                "python -m jobs token create --user NAME)")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "the Authorization header must be 'Bearer <token>'")
        user = authenticate(self.store, token.strip())
        if user is None:
            raise ApiError(401, "unauthorized", "invalid or revoked token")
        self.user = user
        return user

    @property
    def is_admin(self) -> bool:
        return bool(self.user) and self.user.get("role") == "admin"

    def granted(self) -> set[int] | None:
        """Granted course ids; None = every course (admin)."""
        if self.is_admin:
            return None
        return {int(c) for c in (self.user or {}).get("courses") or []}

    def require_course(self, raw: Any) -> int:
        cid = _int(raw, "course_id")
        granted = self.granted()
        if granted is not None and cid not in granted:
            raise ApiError(403, "forbidden", f"course {cid} is not granted to user {self.user['username']}")
        return cid


def _int(raw: Any, name: str) -> int:
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"{name} must be an integer, got {str(raw)[:40]!r}") from None


def _flag(request: Request, name: str) -> bool:
    return str(request.query_params.get(name, "")).strip().lower() in {"1", "true", "yes", "on"}


def endpoint(methods: dict[str, Callable[[Ctx], Any]], *, auth: bool = True) -> Callable:
    """An async Starlette endpoint: JSON 405 for other methods, auth, the handler in a worker thread
    (store calls block), errors as JSON (never a traceback)."""

    async def handle(request: Request) -> ApiJSON:
        fn = methods.get(request.method) or (methods.get("GET") if request.method == "HEAD" else None)
        if fn is None:
            return _error(405, "method_not_allowed", f"{request.method} is not allowed here; use "
                                                     f"{', '.join(sorted(methods))}",
                          headers={"Allow": ", ".join(sorted(methods))})

        def run() -> Any:
            ctx = Ctx(request)
            if auth:
                ctx.authenticate()
            return fn(ctx)

        try:
            out = await anyio.to_thread.run_sync(run)
        except ApiError as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="cohortlens"'} if exc.status == 401 else None
            return _error(exc.status, exc.code, exc.message, headers)
        except Exception as exc:
            from jobs.errors import describe_error
            from storage import is_transient_error

            err = describe_error(exc, data_dir=os.environ.get("COHORTLENS_DATA_DIR"))
            status = 503 if is_transient_error(exc) else 500
            return _error(status, "unavailable" if status == 503 else "internal_error",
                          f"{err['type']}: {err['message']}")
        if isinstance(out, tuple):
            body, status = out
            return ApiJSON(body, status_code=status)
        return ApiJSON(out)

    return handle


# ------------------------------------------------------------------------------------ handlers
def get_health(ctx: Ctx) -> dict:
    from jobs.ops import overall_health

    if ctx.store is None:
        return {"status": "critical", "database": {"ok": False, "error": ctx.store_error},
                "problems": [f"database: {ctx.store_error}"], "api_version": API_VERSION}
    with_token = bool(ctx.request.headers.get("authorization"))
    if with_token:
        ctx.authenticate()  # a wrong token is a 401 here too
    out = overall_health(ctx.store, ctx.config, scheduler=ctx.scheduler, include_courses=with_token)
    if with_token:  # per-course freshness and outcomes, only for the token's courses
        granted = ctx.granted()
        out["courses"] = [c for c in out.get("courses") or [] if granted is None or c["course_id"] in granted]
        if granted is not None:
            out["failing_courses"] = [c for c in out["failing_courses"] if c in granted]
            out["stale_courses"] = [c for c in out["stale_courses"] if c in granted]
    out["api_version"] = API_VERSION
    return out


def get_openapi(ctx: Ctx) -> dict:
    from api.openapi import openapi_document

    return openapi_document(API_VERSION)


def get_courses(ctx: Ctx) -> dict:
    granted = ctx.granted()
    known: dict[int, dict] = {}
    for c in ctx.store.courses.list():
        cid = c.get("course_id", c.get("id"))
        if cid is not None:
            known[int(cid)] = c
    for cid in ctx.store.runs.courses_with_runs():
        known.setdefault(int(cid), {})
    ids = sorted(known if granted is None else set(known) | granted)
    ids = [c for c in ids if granted is None or c in granted]
    return {"courses": [{"course_id": c, "fullname": known.get(c, {}).get("fullname") or None,
                         "shortname": known.get(c, {}).get("shortname") or None} for c in ids]}


def post_run(ctx: Ctx) -> tuple[dict, int]:
    from jobs.runner import submit

    cid = ctx.require_course(ctx.request.path_params["course_id"])
    job_id = submit(ctx.store, [cid], "manual", extra={"requested_by": {"via": "api",
                                                                         "user": ctx.user["username"]}})
    job = ctx.store.jobs.get(job_id) or {}
    return {"job_id": job_id, "status": job.get("status"), "course_id": cid,
            "links": {"job": f"/api/jobs/{job_id}", "latest_run": f"/api/courses/{cid}/runs/latest"}}, 202


def _job_view(ctx: Ctx, job: dict) -> dict | None:
    """A job as the API shows it; restricted to the caller's courses (None: none of them)."""
    granted = ctx.granted()
    courses = [int(c) for c in job.get("course_ids") or []]
    visible = courses if granted is None else [c for c in courses if c in granted]
    if granted is not None and not visible:
        return None
    out = {k: job.get(k) for k in _PUBLIC_JOB}
    out["course_ids"] = visible
    results = job.get("result") or {}
    out["results"] = {str(c): {k: v for k, v in (results.get(str(c)) or {}).items() if k in _PUBLIC_OUTCOME}
                      for c in visible if str(c) in results}
    return out


def get_job(ctx: Ctx) -> dict:
    job_id = str(ctx.request.path_params["job_id"])
    job = ctx.store.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id[:64]!r}")
    view = _job_view(ctx, job)
    if view is None:
        raise ApiError(403, "forbidden", f"job {job_id} concerns no course granted to user {ctx.user['username']}")
    return view


def list_jobs(ctx: Ctx) -> dict:
    params = ctx.request.query_params
    course = params.get("course_id")
    cid = ctx.require_course(course) if course not in (None, "") else None
    limit = max(1, min(200, _int(params.get("limit", 20), "limit")))
    rows = ctx.store.jobs.recent(limit=limit if cid is not None or ctx.is_admin else 200, course_id=cid)
    views = [v for v in (_job_view(ctx, j) for j in rows) if v is not None][:limit]
    return {"jobs": views, "count": len(views)}


def _profile(cluster: dict) -> dict:
    prof = cluster.get("profile") or {}
    return {k: prof.get(k) for k in ("title", "summary", "characteristics", "recommendations", "language",
                                     "source", "archetype") if k in prof}


def _members(ctx: Ctx, run: dict) -> dict[int, list[dict]]:
    """Cluster id -> [{user_id, name}] (names from the run's snapshot when it has them)."""
    names: dict[int, str] = {}
    try:
        frame, _meta = ctx.store.snapshots.load(run["run_id"])
        if "fullname" in frame.columns:
            ids = frame["user_id"] if "user_id" in frame.columns else frame.index
            names = {int(i): str(n) for i, n in zip(ids, frame["fullname"], strict=False) if str(n)}
    except KeyError:
        pass
    return {int(c["cluster_id"]): [{"user_id": int(u), "name": names.get(int(u))} for u in c.get("user_ids") or []]
            for c in run.get("clusters") or []}


def _run_view(ctx: Ctx, run: dict, students: bool) -> dict:
    members = _members(ctx, run) if students else {}
    groups = []
    for c in run.get("clusters") or []:
        group = {"id": int(c["cluster_id"]), "name": c.get("name"), "size": int(c.get("size") or 0),
                 "share": c.get("share"), "profile": _profile(c)}
        if students:
            group["students"] = members.get(int(c["cluster_id"]), [])
        groups.append(group)
    meta = run.get("metadata") or {}
    trans = run.get("transitions") or {}
    return {"course_id": int(run["course_id"]), "run_id": run["run_id"], "run_at": run.get("run_at"),
            "as_of": run.get("as_of"), "job_id": run.get("job_id"), "k": run.get("k"),
            "students": meta.get("total_students"), "quality": run.get("quality"),
            "moved": trans.get("moved"), "stable": trans.get("stable"), "groups": groups}


def get_latest_run(ctx: Ctx) -> dict:
    cid = ctx.require_course(ctx.request.path_params["course_id"])
    run = ctx.store.runs.latest(cid)
    if run is None:
        raise ApiError(404, "not_found", f"course {cid} has no finished run yet: POST /api/courses/{cid}/runs")
    return _run_view(ctx, run, _flag(ctx.request, "students"))


def get_run(ctx: Ctx) -> dict:
    cid = ctx.require_course(ctx.request.path_params["course_id"])
    run_id = str(ctx.request.path_params["run_id"])
    run = ctx.store.runs.get(run_id)
    if run is None or int(run.get("course_id", -1)) != cid or run.get("status", "finished") != "finished":
        raise ApiError(404, "not_found", f"course {cid} has no finished run {run_id[:64]!r}")
    return _run_view(ctx, run, _flag(ctx.request, "students"))


def list_runs(ctx: Ctx) -> dict:
    cid = ctx.require_course(ctx.request.path_params["course_id"])
    limit = max(1, min(200, _int(ctx.request.query_params.get("limit", 52), "limit")))
    runs = ctx.store.runs.list(cid, limit=limit)
    return {"course_id": cid, "runs": [{"run_id": r["run_id"], "run_at": r.get("run_at"), "as_of": r.get("as_of"),
                                        "k": r.get("k"), "students": (r.get("metadata") or {}).get("total_students")}
                                       for r in runs]}


def get_history(ctx: Ctx) -> dict:
    cid = ctx.require_course(ctx.request.path_params["course_id"])
    uid = _int(ctx.request.path_params["user_id"], "user_id")
    doc = ctx.store.history.for_user(cid, uid)
    if doc is None:
        raise ApiError(404, "not_found", f"student {uid} has no history in course {cid}")
    names = {r["run_id"]: {int(c["cluster_id"]): c.get("name") for c in r.get("clusters") or []}
             for r in ctx.store.runs.list(cid, limit=200)}
    entries = []
    for e in doc.get("history") or []:
        cluster = e.get("cluster_id")
        entries.append({"run_id": e.get("run_id"), "timestamp": e.get("timestamp"), "cluster_id": cluster,
                        "cluster_name": names.get(e.get("run_id"), {}).get(cluster) if cluster is not None else None,
                        "transition_type": e.get("transition_type"),
                        "previous_cluster_id": e.get("previous_cluster_id")})
    return {"course_id": cid, "user_id": uid, "history": entries}


def not_found(ctx: Ctx) -> dict:
    raise ApiError(404, "not_found", f"no API endpoint {ctx.request.url.path}; see /api/openapi.json")


def api_routes() -> list[Route]:
    any_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    missing = endpoint({m: not_found for m in any_method}, auth=False)
    return [
        Route("/api/health", endpoint({"GET": get_health}, auth=False), methods=any_method),
        Route("/api/openapi.json", endpoint({"GET": get_openapi}, auth=False), methods=any_method),
        Route("/api/courses", endpoint({"GET": get_courses}), methods=any_method),
        Route("/api/courses/{course_id}/runs", endpoint({"POST": post_run, "GET": list_runs}), methods=any_method),
        Route("/api/courses/{course_id}/runs/latest", endpoint({"GET": get_latest_run}), methods=any_method),
        Route("/api/courses/{course_id}/runs/{run_id}", endpoint({"GET": get_run}), methods=any_method),
        Route("/api/courses/{course_id}/students/{user_id}/history", endpoint({"GET": get_history}),
              methods=any_method),
        Route("/api/jobs", endpoint({"GET": list_jobs}), methods=any_method),
        Route("/api/jobs/{job_id}", endpoint({"GET": get_job}), methods=any_method),
        Route("/api", missing, methods=any_method),
        Route("/api/{rest:path}", missing, methods=any_method),
    ]
