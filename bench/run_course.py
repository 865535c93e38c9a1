"""Benchmark 3: ``jobs.pipeline.run_course`` end to end through the fake Moodle over HTTP.

For each size a demo course is served by a FakeMoodleServer (a real HTTP server on 127.0.0.1) running
in ITS OWN PROCESS (``bench.common.moodle_process``: replies generated and encoded before anything is
timed, as a real Moodle has its data ready), and run_course(source="moodle") runs in a child process
that reports its own peak RSS. The baseline is the same course through source "demo" (the generator
called directly in the child, no HTTP, no JSON), so the ratio is the cost of the Moodle REST path:
enrolments paged, quiz grades (default settings), the log reply decoded from JSON. Both write the
run to a fresh embedded store. Stage times come from run_course's progress callback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import Result, bench_as_of, moodle_process, run_child

__all__ = ["run", "TARGET_SECONDS_5000", "TARGET_RATIO_5000", "TARGET_PEAK_MB_20000"]

TARGET_SECONDS_5000 = 8.0
TARGET_RATIO_5000 = 2.0          # http/demo
TARGET_PEAK_MB_20000 = 1024.0
COURSE_ID = 850


def _stages(marks: dict[str, float], total: float) -> str:
    order = sorted(marks.items(), key=lambda kv: kv[1])
    parts = []
    for i, (stage, start) in enumerate(order):
        end = order[i + 1][1] if i + 1 < len(order) else total
        if stage != "done":
            parts.append(f"{stage} {end - start:.1f}")
    return ", ".join(parts)


def run(quick: bool = False, log: Any = print) -> list[Result]:
    sizes = [100] if quick else [300, 5_000, 20_000]
    as_of = bench_as_of()
    results = []
    with tempfile.TemporaryDirectory(prefix="cohortlens-bench-rc-") as tmp:
        for n in sizes:
            cid = COURSE_ID + n % 97  # a different course id per size
            args = {"course_id": cid, "n_students": n, "as_of": as_of.isoformat()}
            log(f"  run_course: {n:,} students through the fake Moodle (HTTP, its own process) ...")
            with moodle_process([(cid, n)], as_of) as moodle:
                http = run_child("run_course", {**args, "mode": "moodle", "url": moodle.url, "std": moodle.std,
                                                "cus": moodle.cus, "data_dir": str(Path(tmp) / f"http-{n}")})
            calls = moodle.calls or 0
            log(f"  run_course: {n:,} students from the demo generator directly ...")
            demo = run_child("run_course", {**args, "mode": "demo", "data_dir": str(Path(tmp) / f"demo-{n}")})
            ratio = http["seconds"] / demo["seconds"]
            time_target = n == 5_000
            results.append(Result(
                bench="run_course", case=f"{n:,} students, {http['events']:,} log rows: time",
                figure=http["seconds"], unit="s", baseline=demo["seconds"],
                baseline_label="same course, source demo (no HTTP)", ratio=ratio,
                ratio_label="http/demo",
                target=(f"< {TARGET_SECONDS_5000:g} s and < {TARGET_RATIO_5000:g}x demo" if time_target
                        else "(no target)"),
                passed=(http["seconds"] < TARGET_SECONDS_5000 and ratio < TARGET_RATIO_5000) if time_target else None,
                notes=(f"k={http['k']}; {calls:,} HTTP calls {moodle.by_function}; stages (s): "
                       f"{_stages(http['stages'], http['seconds'])}; demo stages: "
                       f"{_stages(demo['stages'], demo['seconds'])}"),
                extra={"http": http, "demo": demo, "http_calls": calls},
            ))
            mem_target = n == 20_000
            results.append(Result(
                bench="run_course", case=f"{n:,} students: peak RSS of the run_course process",
                figure=http["peak_rss_mb"], unit="MB", baseline=demo["peak_rss_mb"],
                baseline_label="same course, source demo (generator in the same process)",
                ratio=http["peak_rss_mb"] / demo["peak_rss_mb"], ratio_label="http/demo",
                target=f"< {TARGET_PEAK_MB_20000:,.0f} MB" if mem_target else "(no target)",
                passed=(http["peak_rss_mb"] < TARGET_PEAK_MB_20000) if mem_target else None,
                notes=f"RSS before run_course {http['rss_before_mb']:.0f} MB (imports)",
            ))
            log(f"  run_course: {n:,} http {http['seconds']:.1f}s / {http['peak_rss_mb']:.0f} MB, "
                f"demo {demo['seconds']:.1f}s / {demo['peak_rss_mb']:.0f} MB")
    return results
