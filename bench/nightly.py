"""Benchmark 4: the nightly job (``jobs.runner.run_nightly``) over N courses through the fake Moodle.

The fake Moodle serves N + 2 demo courses from this process; a child process runs, on fresh embedded
stores, first two courses on their own with ``run_course`` (a warm-up, then the measured one: the
baseline, x N = running the courses one after another), then ``run_nightly`` with the N courses
selected (``nightly_courses``): the real nightly path (job record, leases, heartbeat, bounded
parallelism ``max_parallel_courses``, results per course).
"""

from __future__ import annotations

import tempfile
from typing import Any

from bench.common import Result, bench_as_of, demo_site, fake_moodle, run_child

__all__ = ["run", "TARGET_SECONDS"]

TARGET_SECONDS = 300.0
FIRST_ID = 2001


def run(quick: bool = False, log: Any = print) -> list[Result]:
    n_courses, n_students = (2, 60) if quick else (50, 300)
    ids = list(range(FIRST_ID, FIRST_ID + n_courses))
    single = [FIRST_ID + n_courses, FIRST_ID + n_courses + 1]
    as_of = bench_as_of()
    site = demo_site([(cid, n_students) for cid in ids + single])
    log(f"  nightly: {n_courses} courses x {n_students} students through the fake Moodle ...")
    with tempfile.TemporaryDirectory(prefix="cohortlens-bench-nightly-") as tmp, \
            fake_moodle(site, as_of) as (server, std, cus):
        out = run_child("nightly", {"data_dir": tmp, "course_ids": ids, "single_course_ids": single,
                                    "url": server.url, "std": std, "cus": cus})
    seconds = out["seconds"]
    baseline = out["one_course_seconds"] * n_courses
    per_minute = n_courses / seconds * 60.0
    ok = out["statuses"].get("succeeded", 0)
    target = n_courses == 50
    results = [
        Result(bench="nightly", case=f"{n_courses} courses x {n_students} students: wall time",
               figure=seconds, unit="s", baseline=baseline,
               baseline_label=f"one course's run_course x {n_courses}, sequential", ratio=seconds / baseline,
               ratio_label="nightly/sequential",
               target=f"< {TARGET_SECONDS:g} s" if target else "(no target)",
               passed=(seconds < TARGET_SECONDS and ok == n_courses) if target else None,
               notes=(f"{ok}/{n_courses} courses succeeded, {out['runs_written']} runs written, job "
                      f"{out['job_status']}, {out['parallel']} courses in parallel, peak RSS "
                      f"{out['peak_rss_mb']:.0f} MB"),
               extra=out),
        Result(bench="nightly", case=f"{n_courses} courses x {n_students} students: throughput",
               figure=per_minute, unit="courses/min", baseline=60.0 / out["one_course_seconds"],
               baseline_label="one course at a time", ratio=per_minute / (60.0 / out["one_course_seconds"]),
               ratio_label="nightly/sequential", target="(no target)", passed=None),
    ]
    log(f"  nightly: {seconds:.1f}s ({per_minute:.1f} courses/min), sequential estimate {baseline:.1f}s, "
        f"statuses {out['statuses']}")
    return results
