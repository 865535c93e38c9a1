"""``python -m bench [--quick] [--only NAME ...] [--json FILE] [--markdown FILE]``.

Runs each benchmark (data generated at scale with the demo generator), prints for each figure its
same-run baseline, the ratio, the target and PASS/MISS, and a final table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from bench.common import Result, machine_note

BENCHMARKS: dict[str, str] = {
    "features": "bench.features",
    "choose_k": "bench.choose_k",
    "run_course": "bench.run_course",
    "nightly": "bench.nightly",
    "pages": "bench.pages",
    "store": "bench.store",
    "moodle_load": "bench.moodle_load",
    "csv_import": "bench.csv_import",
    "workers": "bench.workers",
}


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "s":
        return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:.2f} {unit}".strip()


def table(results: list[Result]) -> str:
    """Markdown table: benchmark, case, figure, baseline, ratio, target, verdict."""
    lines = ["| benchmark | case | figure | baseline | ratio | target | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        ratio = f"{r.ratio:.2f}x ({r.ratio_label})" if r.ratio is not None else "-"
        base_unit = r.unit if r.unit != "courses/min" else "courses/min"
        lines.append(f"| {r.bench} | {r.case} | {_fmt(r.figure, r.unit)} | {_fmt(r.baseline, base_unit)} "
                     f"({r.baseline_label}) | {ratio} | {r.target} | {r.verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small version of each benchmark")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as Markdown")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            doc = (import_module(module).__doc__ or "").strip().splitlines()[0]
            print(f"{name:12s} {doc}")
        return 0
    names = args.only or list(BENCHMARKS)
    started = datetime.now(UTC)
    machine = machine_note()
    print(f"CohortLens benchmarks ({'quick' if args.quick else 'full'}) {started:%Y-%m-%d %H:%M} UTC; {machine}",
          flush=True)
    results: list[Result] = []
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}

    def log(message: str) -> None:
        print(message, flush=True)

    for name in names:
        print(f"[{name}]", flush=True)
        t0 = time.perf_counter()
        try:
            runner: Callable[..., list[Result]] = import_module(BENCHMARKS[name]).run
            got = runner(quick=args.quick, log=log)
        except Exception as exc:  # one broken benchmark must not hide the others
            failures[name] = f"{exc.__class__.__name__}: {exc}"
            traceback.print_exc()
            got = []
        timings[name] = time.perf_counter() - t0
        for r in got:
            ratio = f"{r.ratio:.2f}x {r.ratio_label}" if r.ratio is not None else "-"
            print(f"  => {r.case}: {_fmt(r.figure, r.unit)} vs {_fmt(r.baseline, r.unit)} ({r.baseline_label}); "
                  f"{ratio}; target {r.target}: {r.verdict}", flush=True)
        results.extend(got)
        print(f"  ({timings[name]:.1f}s)", flush=True)

    md = table(results)
    print()
    print(md)
    total = sum(timings.values())
    missed = [f"{r.bench}: {r.case}" for r in results if r.passed is False]
    print(f"\n{len(results)} figures, {sum(r.passed is True for r in results)} PASS, {len(missed)} MISS, "
          f"{len(failures)} benchmark(s) failed to run; {total:.0f}s in all.")
    for name, err in failures.items():
        print(f"FAILED {name}: {err}")
    payload: dict[str, Any] = {
        "started": started.isoformat(), "mode": "quick" if args.quick else "full", "machine": machine,
        "seconds": timings, "failures": failures, "results": [r.as_dict() for r in results],
    }
    for target, text in ((args.json, json.dumps(payload, indent=2, default=str)), (args.markdown, md)):
        if target is not None:
            path = target if target.is_absolute() else Path.cwd() / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")
            print(f"wrote {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
