"""Benchmark 7: loading one course from Moodle (``MoodleClient.course_data``) against its I/O floor.

The fake Moodle runs in its OWN process (``bench.common.moodle_process``: its own interpreter and GIL,
replies generated and encoded before anything is timed), as a real Moodle would. Our figure: the
client's ``course_data`` (course, enrolments, quiz grades, the whole log reply decoded into the
frame the pipeline reads), with the settings a deployment gets by default. The floor: the SAME
web-service calls (same bodies; the log download overlapping the grade calls as ours does) sent with a bare ``urllib3`` pool, small
replies decoded with ``json``, the log reply turned into newline-delimited JSON and decoded by
``pyarrow.json`` with its threads into an Arrow table (no pandas, no checks, no retries). Each side
runs ``repeat`` times alternately; the fastest of each is kept (the machine is shared).

The floor fetches grades the cheapest way the site allows: the fake Moodle allows the whole-course
report (``userid=0``), so the floor makes that one call whatever our client does. Cases: default
settings, and (full run) ``grades_mode="per_user"`` standing for a site that refuses the whole-course
call, against a floor making the same per-student calls on the same number of threads.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import Result, bench_as_of, moodle_process
from moodle.client import _LOG_ARROW_TYPES

__all__ = ["run", "floor_load", "TARGET_RATIO"]

TARGET_RATIO = 1.5
COURSE_ID = 860
_SCHEMA = _LOG_ARROW_TYPES  # the column types our client gives pyarrow: the same decode, bare


def _form(token: str, function: str, params: list[tuple[str, str]]) -> dict[str, str]:
    return dict([("wstoken", token), ("wsfunction", function), ("moodlewsrestformat", "json"), *params])


def floor_load(url: str, std: str, cus: str, course_id: int, *, per_user: bool, workers: int = 8,
               page_size: int = 1000, log_limit: int = 5_000_000) -> dict[str, Any]:
    """The same calls as MoodleClient.course_data with a bare urllib3 pool; returns sizes and times."""
    import pyarrow as pa
    import pyarrow.json as pj
    import urllib3

    endpoint = f"{url}/webservice/rest/server.php"
    pool = urllib3.PoolManager(maxsize=workers + 2)

    def post(token: str, function: str, params: list[tuple[str, str]]) -> bytes:
        resp = pool.request("POST", endpoint, fields=_form(token, function, params), encode_multipart=False)
        return resp.data

    t0 = time.perf_counter()
    json.loads(post(std, "core_course_get_courses", [("options[ids][0]", str(course_id))]))
    students: list[int] = []
    for option in ("onlyactive", "onlysuspended"):
        start = 0
        while True:
            params = [("courseid", str(course_id)), ("options[0][name]", option), ("options[0][value]", "1"),
                      ("options[1][name]", "userfields"),
                      ("options[1][value]", "id,fullname,email,roles,firstaccess,lastaccess,lastcourseaccess"
                       if option == "onlyactive" else "id,roles"),
                      ("options[2][name]", "limitfrom"), ("options[2][value]", str(start)),
                      ("options[3][name]", "limitnumber"), ("options[3][value]", str(page_size))]
            page = json.loads(post(std, "core_enrol_get_enrolled_users", params))
            if not page:
                break
            if option == "onlyactive":
                students += [int(u["id"]) for u in page
                             if any(r.get("shortname") == "student" for r in u.get("roles") or [])]
            start += page_size
    t_enrol = time.perf_counter() - t0
    timing: dict[str, float] = {}

    def logs() -> Any:
        t = time.perf_counter()
        body = post(cus, "local_userlog_get_logs_course", [("courseid", str(course_id)), ("limit", str(log_limit))])
        timing["logs_fetch"] = time.perf_counter() - t
        t = time.perf_counter()
        first = re.match(rb'\s*\[\s*\{\s*"([^"]*)"\s*:', body[:4096])
        if first is None:
            raise RuntimeError("log reply is not a list of objects")
        key = first.group(1)
        ndjson = body.strip()[1:-1].replace(b'},{"' + key + b'":', b'}\n{"' + key + b'":')
        del body
        schema = pa.schema([(k, getattr(pa, v)()) for k, v in _SCHEMA.items()])
        table = pj.read_json(pa.BufferReader(pa.py_buffer(ndjson)), read_options=pj.ReadOptions(use_threads=True),
                             parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer",
                                                           newlines_in_values=False))
        timing["logs_decode"] = time.perf_counter() - t
        return table

    t1 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as one:
        pending = one.submit(logs)
        if per_user:
            def grade(uid: int) -> Any:
                return json.loads(post(std, "gradereport_user_get_grade_items",
                                       [("courseid", str(course_id)), ("userid", str(uid))]))
            with ThreadPoolExecutor(max_workers=workers) as many:
                grades = list(many.map(grade, students))
        else:
            grades = [json.loads(post(std, "gradereport_user_get_grade_items",
                                      [("courseid", str(course_id)), ("userid", "0")]))]
        timing["grades"] = time.perf_counter() - t1
        table = pending.result()
    seconds = time.perf_counter() - t0
    pool.clear()
    return {"seconds": seconds, "rows": table.num_rows, "students": len(students), "grade_replies": len(grades),
            "enrolments": t_enrol, **timing}


def ours_load(url: str, std: str, cus: str, course_id: int, as_of: Any, **client_opts: Any) -> dict[str, Any]:
    """``MoodleClient.course_data`` as a deployment runs it (make_client from settings)."""
    from moodle.sources import make_client

    config = {"moodle_url": url, "standard_token": std, "custom_token": cus}
    t0 = time.perf_counter()
    with make_client(config, **client_opts) as client:
        data = client.course_data(course_id, as_of=as_of)
        mode = getattr(client, "grades_used", client.grades_mode)
        calls = client.calls
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": len(data.logs), "students": len(data.students), "grades": len(data.grades),
            "grades_mode": mode, "calls": calls}


def run(quick: bool = False, log: Any = print) -> list[Result]:
    n = 300 if quick else 5_000
    repeat = 2 if quick else 3
    as_of = bench_as_of()
    cases = [("default settings", {})] if quick else [("default settings", {}),
                                                       ("grades_mode=per_user", {"grades_mode": "per_user"})]
    results = []
    log(f"  moodle_load: starting the fake Moodle process ({n:,} students; replies encoded before timing) ...")
    with moodle_process([(COURSE_ID, n)], as_of) as moodle:
        for label, opts in cases:
            ours_runs, floor_runs = [], []
            for i in range(repeat):
                ours_runs.append(ours_load(moodle.url, moodle.std, moodle.cus, COURSE_ID, as_of, **opts))
                # the floor fetches grades the cheapest way the site allows: one whole-course call (the
                # fake allows it), or per student when the case stands for a site that refuses it
                floor_runs.append(floor_load(moodle.url, moodle.std, moodle.cus, COURSE_ID,
                                             per_user=opts.get("grades_mode") == "per_user"))
                log(f"  moodle_load [{label}] round {i + 1}: ours {ours_runs[-1]['seconds']:.2f}s "
                    f"({ours_runs[-1]['grades_mode']}), floor {floor_runs[-1]['seconds']:.2f}s")
            ours = min(ours_runs, key=lambda r: r["seconds"])
            floor = min(floor_runs, key=lambda r: r["seconds"])
            if ours["rows"] != floor["rows"]:
                raise RuntimeError(f"ours decoded {ours['rows']} log rows, the floor {floor['rows']}")
            ratio = ours["seconds"] / floor["seconds"]
            results.append(Result(
                bench="moodle_load", case=f"{n:,} students, {ours['rows']:,} log rows, {label}",
                figure=ours["seconds"], unit="s", baseline=floor["seconds"],
                baseline_label="I/O floor: same calls with bare urllib3, logs decoded by pyarrow (threads)",
                ratio=ratio, ratio_label="ours/floor", target=f"<= {TARGET_RATIO:g}x floor",
                passed=ratio <= TARGET_RATIO,
                notes=(f"grades {ours['grades_mode']}, {ours['calls']:,} calls; floor: enrolments "
                       f"{floor['enrolments']:.2f}s, grades {floor['grades']:.2f}s, log fetch "
                       f"{floor['logs_fetch']:.2f}s + decode {floor['logs_decode']:.2f}s"),
                extra={"ours": ours_runs, "floor": floor_runs},
            ))
    return results
