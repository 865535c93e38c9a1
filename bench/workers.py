"""Benchmark: workers sharing the night — 1, 2 and 4 ``python -m jobs worker`` processes.

The fake Moodle (``moodle/fake_server.py``) serves N demo courses from this process and waits
``latency`` seconds before every web-service answer (a remote Moodle: the night is mostly waiting on
it). For each worker count, on a fresh embedded store: start the workers (``--no-nightly``: they only
claim), wait until each has announced itself, enqueue the nightly (``run_nightly(work=False)``: one
shared job per course, as the cron does in whichever process fires), and time until every course job
has finished. Each worker runs one course at a time (``COHORTLENS_MAX_PARALLEL_COURSES=1``), so the
figure is the scaling from processes alone. Baseline: the 1-worker time of the same run.

``python -m bench.workers [--courses 12] [--students 80] [--latency 0.3] [--workers 1 2 4]``
(also ``python -m bench --only workers``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import REPO, Result, bench_as_of, demo_site, fake_moodle

__all__ = ["run", "measure"]

FIRST_ID = 3001


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _one(n_workers: int, ids: list[int], server: Any, std: str, cus: str, log: Any) -> dict[str, Any]:
    from jobs.config import load_config, save_settings
    from jobs.runner import nightly_summary, run_nightly
    from storage import open_store

    with tempfile.TemporaryDirectory(prefix=f"cohortlens-bench-workers{n_workers}-") as tmp:
        env = {**os.environ, "COHORTLENS_DATA_DIR": tmp, "COHORTLENS_SOURCE": "moodle", "MOODLE_URL": server.url,
               "MOODLE_STANDARD_TOKEN": std, "MOODLE_CUSTOM_TOKEN": cus, "COHORTLENS_LLM_ENABLED": "0",
               "COHORTLENS_BOOTSTRAP": "0", "CLUSTER_JOB_ENABLED": "0", "COHORTLENS_MAX_PARALLEL_COURSES": "1",
               "COHORTLENS_CLAIM_POLL": "0.2", "COHORTLENS_ADMIN_PASSWORD": "bench-" + os.urandom(6).hex(),
               "COHORTLENS_LANGUAGE": "en", "COHORTLENS_SECRETS_FILE": str(Path(tmp) / "none.toml"),
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        env.pop("MONGODB_URI", None)
        store = open_store(data_dir=tmp)
        config = load_config(env=env, secrets_file=Path(tmp) / "none.toml")
        save_settings(store, nightly_courses=ids)
        logf = open(Path(tmp) / "workers.log", "w")  # noqa: SIM115 - closed below
        procs = [subprocess.Popen([sys.executable, "-m", "jobs", "worker", "--no-nightly"], cwd=REPO, env=env,
                                  stdout=logf, stderr=subprocess.STDOUT) for _ in range(n_workers)]
        try:
            _wait(lambda: len(store.leases.active("scheduler:")) >= n_workers, 120, f"{n_workers} workers")
            cpu0 = [_cpu(p.pid) for p in procs]
            me0 = _self_cpu()
            t0 = time.perf_counter()
            summary = run_nightly(store, config, work=False)
            job_ids = summary["job_ids"]
            _wait(lambda: nightly_summary(store, job_ids)["status"] != "running", 3600, "the night")
            seconds = time.perf_counter() - t0
            worker_cpu = sum(_cpu(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
            moodle_cpu = _self_cpu() - me0
            final = nightly_summary(store, job_ids)
            durations = sorted((j["finished_at"] - j["started_at"]).total_seconds()
                               for j in (store.jobs.get(i) for i in job_ids) if j and j.get("finished_at"))
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
            logf.close()
        statuses = Counter((r or {}).get("status", "?") for r in final["result"].values())
        store.close()
    share = sorted(final["by_worker"].values(), reverse=True)
    log(f"    {n_workers} worker(s): {seconds:6.1f} s for {len(ids)} courses; statuses {dict(statuses)}; "
        f"jobs per worker {share}; worker CPU {worker_cpu:.1f} s, fake-Moodle process CPU {moodle_cpu:.1f} s; "
        f"one course job: median {durations[len(durations) // 2]:.1f} s, max {durations[-1]:.1f} s")
    return {"workers": n_workers, "seconds": seconds, "statuses": dict(statuses), "per_worker": share,
            "course_job_median_s": durations[len(durations) // 2], "course_job_max_s": durations[-1],
            "worker_cpu_s": worker_cpu, "moodle_cpu_s": moodle_cpu}


def _cpu(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def _self_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return float(r.ru_utime + r.ru_stime)


def measure(n_courses: int = 12, n_students: int = 80, latency: float = 0.3,
            workers: tuple[int, ...] = (1, 2, 4), log: Any = print) -> list[dict[str, Any]]:
    ids = list(range(FIRST_ID, FIRST_ID + n_courses))
    site = demo_site([(cid, n_students) for cid in ids])
    log(f"  workers: {n_courses} courses x {n_students} students, Moodle latency {latency * 1000:.0f} ms/request")
    with fake_moodle(site, bench_as_of()) as (server, std, cus):
        server.faults.latency_s = latency
        rows = []
        for n in workers:
            before = len(server.requests)
            rows.append(_one(n, ids, server, std, cus, log))
            rows[-1]["moodle_calls"] = len(server.requests) - before
        log(f"    Moodle calls per night: {[r['moodle_calls'] for r in rows]}")
    base = rows[0]["seconds"] * rows[0]["workers"]
    for r in rows:
        r["speedup"] = rows[0]["seconds"] / r["seconds"]
        r["efficiency"] = base / (r["seconds"] * r["workers"])
    return rows


def run(quick: bool = False, log: Any = print) -> list[Result]:
    rows = measure(*((4, 40, 0.2) if quick else (12, 80, 0.3)), workers=(1, 2) if quick else (1, 2, 4), log=log)
    out = []
    for r in rows:
        out.append(Result(
            bench="workers", case=f"{r['workers']} worker process(es)", figure=r["seconds"], unit="s",
            baseline=rows[0]["seconds"], baseline_label="1 worker, same run", ratio=r["speedup"],
            ratio_label="speed-up", target="informational", passed=None,
            notes=f"efficiency {r['efficiency']:.0%}; jobs per worker {r['per_worker']}; {r['statuses']}",
            extra=r))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__.split("\n")[0])
    parser.add_argument("--courses", type=int, default=12)
    parser.add_argument("--students", type=int, default=80)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per Moodle request")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    rows = measure(args.courses, args.students, args.latency, tuple(args.workers))
    print()
    print("| workers | seconds | speed-up vs 1 | efficiency | jobs per worker | worker CPU s | fake Moodle CPU s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['seconds']:.1f} | {r['speedup']:.2f}x | {r['efficiency']:.0%} | "
              f"{r['per_worker']} | {r['worker_cpu_s']:.1f} | {r['moodle_cpu_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
