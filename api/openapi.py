"""The OpenAPI 3.1 description served at ``GET /api/openapi.json``."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = {
    "400": _json(_ref("Error"), "A parameter is malformed (e.g. a course id that is not an integer)."),
    "401": _json(_ref("Error"), "Missing, malformed, unknown or revoked bearer token."),
    "403": _json(_ref("Error"), "The course is not granted to the token's user."),
    "404": _json(_ref("Error"), "No such course run, job or student history."),
}


def _params(*names: str) -> list[dict]:
    spec = {
        "course_id": {"name": "course_id", "in": "path", "required": True, "schema": {"type": "integer"},
                      "description": "Moodle course id."},
        "run_id": {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "user_id": {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"},
                    "description": "Moodle user id of the student."},
        "job_id": {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "students": {"name": "students", "in": "query", "required": False, "schema": {"type": "boolean"},
                     "description": "true: include each group's students (user id and name). "
                                    "Default: no student names or ids."},
        "course_id_q": {"name": "course_id", "in": "query", "required": False, "schema": {"type": "integer"},
                        "description": "Only jobs that cover this course."},
        "limit": {"name": "limit", "in": "query", "required": False,
                  "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    }
    return [spec[n] for n in names]


def _op(summary: str, ok: dict, *, params: tuple[str, ...] = (), errors: tuple[str, ...] = ("401", "403"),
        auth: bool = True, description: str = "") -> dict:
    op: dict[str, Any] = {"summary": summary, "parameters": _params(*params), "responses": {**ok}}
    if description:
        op["description"] = description
    for code in errors:
        op["responses"][code] = _ERR[code]
    if not auth:
        op["security"] = []
    return op


def openapi_document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CohortLens API",
            "version": version,
            "description": (
                "Start clustering runs and read their results from other systems (the LMS, reporting). "
                "Every response is JSON; errors are {\"error\", \"message\"}. Authenticate with "
                "'Authorization: Bearer <token>'; a token belongs to a user and carries that user's course "
                "grants (admins: every course). Create tokens in Settings > API tokens or with "
                "'python -m jobs token create --user NAME'. Student names appear only when asked "
                "(?students=true)."),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/health": {"get": _op(
                "Health: database and scheduler liveness, last nightly run, failing courses",
                {"200": _json(_ref("Health"), "Health report.")}, errors=("401",), auth=False,
                description="No token needed; with a valid token the answer adds 'courses' (freshness and "
                            "last outcome of the token's courses). A wrong token is a 401.")},
            "/api/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
                                             errors=(), auth=False)},
            "/api/courses": {"get": _op("Courses the token's user may read",
                                        {"200": _json(_ref("CourseList"), "Granted courses.")}, errors=("401",))},
            "/api/courses/{course_id}/runs": {
                "post": _op("Start a clustering run now (the same job path as Run now)",
                            {"202": _json(_ref("JobAccepted"), "Job queued; follow it at links.job.")},
                            params=("course_id",), errors=("400", "401", "403"),
                            description="Returns at once. If the course already has an active job, that "
                                        "job's id is returned and nothing new starts."),
                "get": _op("Finished runs of a course, newest first",
                           {"200": _json(_ref("RunList"), "Runs.")}, params=("course_id", "limit"),
                           errors=("400", "401", "403")),
            },
            "/api/courses/{course_id}/runs/latest": {"get": _op(
                "The latest finished run: k and the groups (id, name, size, profile)",
                {"200": _json(_ref("Run"), "The run.")}, params=("course_id", "students"),
                errors=("400", "401", "403", "404"))},
            "/api/courses/{course_id}/runs/{run_id}": {"get": _op(
                "One finished run of the course", {"200": _json(_ref("Run"), "The run.")},
                params=("course_id", "run_id", "students"), errors=("400", "401", "403", "404"))},
            "/api/courses/{course_id}/students/{user_id}/history": {"get": _op(
                "A student's group in every run, with the kind of move", {"200": _json(_ref("History"), "History.")},
                params=("course_id", "user_id"), errors=("400", "401", "403", "404"))},
            "/api/jobs": {"get": _op("Recent jobs (restricted to the user's courses)",
                                     {"200": _json(_ref("JobList"), "Jobs, newest first.")},
                                     params=("course_id_q", "limit"), errors=("400", "401", "403"))},
            "/api/jobs/{job_id}": {"get": _op("One job: status, progress, per-course outcome",
                                              {"200": _json(_ref("Job"), "The job.")}, params=("job_id",),
                                              errors=("401", "403", "404"))},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A CohortLens API token (clk_...)."}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string", "examples": ["unauthorized"]},
                                         "message": {"type": "string"}}},
                "Health": {"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["ok", "warning", "critical"]},
                    "checked_at": {"type": "string", "format": "date-time"},
                    "database": {"type": "object"}, "scheduler": {"type": "object"},
                    "last_nightly": {"type": ["object", "null"]},
                    "failing_courses": {"type": "array", "items": {"type": "integer"}},
                    "stale_courses": {"type": "array", "items": {"type": "integer"}},
                    "problems": {"type": "array", "items": {"type": "string"}},
                    "api_version": {"type": "string"}}},
                "CourseList": {"type": "object", "properties": {"courses": {"type": "array", "items": {
                    "type": "object", "properties": {"course_id": {"type": "integer"},
                                                     "fullname": {"type": ["string", "null"]},
                                                     "shortname": {"type": ["string", "null"]}}}}}},
                "JobAccepted": {"type": "object", "required": ["job_id"], "properties": {
                    "job_id": {"type": "string"}, "status": {"type": "string"}, "course_id": {"type": "integer"},
                    "links": {"type": "object"}}},
                "Job": {"type": "object", "properties": {
                    "job_id": {"type": "string"}, "course_ids": {"type": "array", "items": {"type": "integer"}},
                    "trigger": {"type": "string", "enum": ["schedule", "manual", "retry", "cli"]},
                    "status": {"type": "string",
                               "enum": ["queued", "running", "succeeded", "failed", "skipped", "interrupted"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]},
                    "progress": {"type": ["object", "null"]}, "error": {"type": ["object", "null"]},
                    "results": {"type": "object", "description": "course id -> {status, run_id, k, ...}"}}},
                "JobList": {"type": "object", "properties": {"jobs": {"type": "array", "items": _ref("Job")},
                                                             "count": {"type": "integer"}}},
                "Group": {"type": "object", "required": ["id", "name", "size", "profile"], "properties": {
                    "id": {"type": "integer", "description": "Stable across runs."},
                    "name": {"type": "string"}, "size": {"type": "integer"}, "share": {"type": "number"},
                    "profile": {"type": "object", "description": "title, summary, characteristics, "
                                                                 "recommendations, language, source"},
                    "students": {"type": "array", "description": "Only with ?students=true.",
                                 "items": {"type": "object", "properties": {"user_id": {"type": "integer"},
                                                                            "name": {"type": ["string", "null"]}}}}}},
                "Run": {"type": "object", "required": ["run_id", "k", "groups"], "properties": {
                    "course_id": {"type": "integer"}, "run_id": {"type": "string"},
                    "run_at": {"type": "string", "format": "date-time"},
                    "as_of": {"type": "string", "format": "date-time"}, "k": {"type": "integer"},
                    "students": {"type": ["integer", "null"]}, "quality": {"type": ["object", "null"]},
                    "moved": {"type": ["integer", "null"]}, "stable": {"type": ["integer", "null"]},
                    "groups": {"type": "array", "items": _ref("Group")}}},
                "RunList": {"type": "object", "properties": {"course_id": {"type": "integer"},
                                                             "runs": {"type": "array", "items": {"type": "object"}}}},
                "History": {"type": "object", "properties": {
                    "course_id": {"type": "integer"}, "user_id": {"type": "integer"},
                    "history": {"type": "array", "items": {"type": "object", "properties": {
                        "run_id": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
                        "cluster_id": {"type": ["integer", "null"]}, "cluster_name": {"type": ["string", "null"]},
                        "transition_type": {"type": ["string", "null"]},
                        "previous_cluster_id": {"type": ["integer", "null"]}}}}}},
            },
        },
    }
