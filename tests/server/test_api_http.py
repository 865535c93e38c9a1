"""The API walk-through over real HTTP against a running ``streamlit run app.py`` (no browser).

Health without a token; a token from ``python -m jobs token create``; start a run; follow the job to
its end; read the groups (no student names unless asked); a student's history; the job list; 401 for a
missing, wrong or revoked token; 403 for a course not granted; every response JSON.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time

import pytest

from tests.server.serverproc import ROOT, Server, base_env


def _cli(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("cohortlens_api")
    env = base_env(data, CLUSTER_JOB_ENABLED="0", COHORTLENS_ADMIN_PASSWORD="adm-" + secrets.token_urlsafe(10))
    srv = Server(data, env)
    srv.wait_ready()
    yield srv
    code = srv.stop()
    assert code in (0, -15)
    assert "Traceback" not in srv.log(), srv.log()[-3000:]


def _token(api: Server, user: str) -> str:
    out = _cli(api.env, "token", "create", "--user", user, "--label", "test")
    assert out.returncode == 0, out.stderr
    token = json.loads(out.stdout)["token"]
    assert token.startswith("clk_") and token not in out.stderr
    return token


def test_health_needs_no_token_and_shows_no_course_data(api):
    status, headers, body = api.request("GET", "/api/health")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert body["status"] in ("ok", "warning", "critical")
    assert body["database"]["ok"] is True and "scheduler" in body and "last_nightly" in body
    assert "courses" not in body and "groups" not in json.dumps(body)


def test_openapi_document(api):
    status, _, doc = api.request("GET", "/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.") and doc["info"]["version"]
    for path in ("/api/health", "/api/courses/{course_id}/runs", "/api/jobs/{job_id}", "/api/jobs",
                 "/api/courses/{course_id}/runs/latest", "/api/courses/{course_id}/runs/{run_id}",
                 "/api/courses/{course_id}/students/{user_id}/history"):
        assert path in doc["paths"], path
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_walk_through_run_follow_read(api):
    token = _token(api, "admin")
    status, _, body = api.request("POST", "/api/courses/101/runs", token=token)
    assert status == 202, body
    job_id = body["job_id"]
    deadline = time.monotonic() + 240
    job = {}
    while time.monotonic() < deadline:
        status, _, job = api.request("GET", f"/api/jobs/{job_id}", token=token)
        assert status == 200
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(1)
    assert job["status"] == "succeeded", job
    assert job["trigger"] == "manual" and job["course_ids"] == [101]
    run_id = job["results"]["101"]["run_id"]

    status, _, run = api.request("GET", "/api/courses/101/runs/latest", token=token)
    assert status == 200 and run["run_id"] == run_id and run["k"] >= 2
    assert len(run["groups"]) == run["k"]
    assert sum(g["size"] for g in run["groups"]) == run["students"]
    for g in run["groups"]:
        assert {"id", "name", "size", "profile"} <= set(g) and g["name"] and g["profile"]["summary"]
        assert "students" not in g  # no student names unless asked
    status, _, same = api.request("GET", f"/api/courses/101/runs/{run_id}", token=token)
    assert status == 200 and same["groups"] == run["groups"]

    status, _, named = api.request("GET", "/api/courses/101/runs/latest?students=true", token=token)
    members = [s for g in named["groups"] for s in g["students"]]
    assert len(members) == run["students"] and all(s["name"] for s in members)

    user_id = members[0]["user_id"]
    status, _, hist = api.request("GET", f"/api/courses/101/students/{user_id}/history", token=token)
    assert status == 200 and hist["history"][-1]["run_id"] == run_id
    assert hist["history"][-1]["cluster_name"]
    assert "name" not in hist  # no student name here

    status, _, jobs = api.request("GET", "/api/jobs?course_id=101", token=token)
    assert status == 200 and job_id in [j["job_id"] for j in jobs["jobs"]]
    status, _, health = api.request("GET", "/api/health", token=token)  # with a token: per-course rows
    assert status == 200 and [c["course_id"] for c in health["courses"]] == [101]
    assert health["courses"][0]["last_run_id"] == run_id


def test_401_and_403(api):
    for headers_token in (None, "clk_" + "x" * 43, "not-a-token"):
        status, headers, body = api.request("GET", "/api/courses/101/runs/latest", token=headers_token)
        assert status == 401 and body["error"] == "unauthorized" and body["message"]
        assert headers.get("www-authenticate", headers.get("WWW-Authenticate", "")).startswith("Bearer")
    env = {**api.env, "COHORTLENS_NEW_PASSWORD": "tch-" + secrets.token_urlsafe(8)}
    out = _cli(env, "users", "add", "teacher", "--role", "instructor", "--course", "101")
    assert out.returncode == 0, out.stderr
    token = _token(api, "teacher")
    assert api.request("GET", "/api/jobs?course_id=101", token=token)[0] == 200
    for method, path in (("GET", "/api/courses/102/runs/latest"), ("POST", "/api/courses/102/runs"),
                         ("GET", "/api/jobs?course_id=102"), ("GET", "/api/courses/102/students/1/history")):
        status, _, body = api.request(method, path, token=token)
        assert status == 403 and body["error"] == "forbidden", (path, body)
    assert api.request("GET", "/api/courses", token=token)[2]["courses"][0]["course_id"] == 101
    # revoked: 401 from then on
    tokens = json.loads(_cli(api.env, "token", "list", "--user", "teacher").stdout)
    assert len(tokens) == 1 and "token_hash" not in tokens[0]
    assert _cli(api.env, "token", "revoke", tokens[0]["token_id"]).returncode == 0
    assert api.request("GET", "/api/jobs?course_id=101", token=token)[0] == 401


def test_errors_are_json(api):
    token = _token(api, "admin")
    assert api.request("GET", "/api/nope")[0:1] == (404,)
    status, _, body = api.request("GET", "/api/courses/abc/runs/latest", token=token)
    assert status == 400 and "course_id" in body["message"]
    status, headers, body = api.request("DELETE", "/api/jobs", token=token)
    assert status == 405 and body["error"] == "method_not_allowed"
    assert api.request("OPTIONS", "/api/jobs")[0] == 405
    assert api.request("GET", "/api/health", token="clk_" + "y" * 43)[0] == 401
    status, _, body = api.request("GET", "/api/jobs/doesnotexist", token=token)
    assert status == 404 and body["error"] == "not_found"
    status, _, body = api.request("GET", "/api/courses/999/runs/latest", token=token)
    assert status == 404 and "POST /api/courses/999/runs" in body["message"]


def test_tokens_are_stored_only_as_hashes(api):
    token = _token(api, "admin")
    found = False
    for path in api.data.rglob("*"):
        if path.is_file() and path.name != "server.log":
            blob = path.read_bytes()
            assert token.encode() not in blob, path
            found = True
    assert found
    assert os.environ.get("COHORTLENS_DATA_DIR") != str(api.data)
