"""Benchmark 7: the CSV route — ``moodle.read_log_export`` on a big Moodle log export vs polars.

A Logs-report download of a demo course (the demo generator at scale, written the way Moodle writes
the CSV: newest first, ``14/03/24, 09:15:02`` times, English display names and Descriptions) is read
in a child process by our importer (to the canonical frame: times parsed in the course time zone,
ids from Descriptions, rows sorted) and, in another child, by polars ``read_csv`` + ``str.strptime``
of the Time column (the baseline: the same file, read and its times parsed). Each child reports its
own time and peak RSS. Targets (issue 11): within 2x of polars' time, under 1.5 GB peak at 1.3M rows.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result, demo_site, run_child

__all__ = ["run", "write_log_export", "read_ours", "read_polars", "TARGET_RATIO", "TARGET_PEAK_MB"]

TARGET_RATIO = 2.0
TARGET_PEAK_MB = 1536.0
COURSE_ID = 870
TIMEZONE = "Asia/Ho_Chi_Minh"

_COMPONENT = {"core": "System", "mod_quiz": "Quiz", "mod_forum": "Forum", "mod_resource": "File",
              "mod_page": "Page", "mod_url": "URL", "mod_assign": "Assignment", "mod_h5pactivity": "H5P",
              "mod_book": "Book", "mod_lesson": "Lesson", "mod_folder": "Folder",
              "assignsubmission_file": "File submissions", "gradereport_grader": "Grader report",
              "gradereport_user": "User report", "report_log": "Logs"}


def write_log_export(path: Path, n_students: int, *, n_weeks: int = 14, activity_scale: float = 1.0,
                     max_rows: int | None = None) -> int:
    """Write a demo course's logs as a Moodle Logs report CSV (newest first); returns the row count."""
    import numpy as np
    import polars as pl

    site = demo_site([(COURSE_ID, n_students)], n_weeks=n_weeks, activity_scale=activity_scale)
    logs = site.log_frame(COURSE_ID, int(time.time()))
    if max_rows is not None and len(logs) > max_rows:
        logs = logs.iloc[len(logs) - max_rows:]
    logs = logs.iloc[::-1].reset_index(drop=True)            # Moodle: newest first
    ev = logs["eventname"].astype(str)
    cls = ev.str.rsplit("\\", n=1).str[-1]
    display = cls.str.replace("_", " ").str.capitalize()
    comp = logs["component"].astype(str)
    mod = comp.str.replace("mod_", "", regex=False)
    is_mod = (logs["contextlevel"].to_numpy() == 70)
    names = {int(u): f"Student {int(u)}" for u in np.unique(logs["userid"])}
    frame = pl.DataFrame({
        "ts": logs["timecreated"].to_numpy(),
        "user": logs["userid"].to_numpy(),
        "cm": logs["contextinstanceid"].to_numpy(),
        "obj": logs["objectid"].fillna(0).astype(np.int64).to_numpy(),
        "event": display.to_numpy(dtype=object).astype(str),
        "cls": cls.to_numpy(dtype=object).astype(str),
        "comp": comp.map(lambda c: _COMPONENT.get(c, c)).to_numpy(dtype=object).astype(str),
        "mod": mod.to_numpy(dtype=object).astype(str),
        "is_mod": is_mod,
        "ip": logs["ip"].astype(str).to_numpy(dtype=object).astype(str),
    })
    uid = pl.col("user").cast(pl.Utf8)
    desc = (pl.when(pl.col("cls") == "course_viewed")
            .then(pl.concat_str([pl.lit("The user with id '"), uid, pl.lit(f"' viewed the course with id '{COURSE_ID}'.")]))
            .when(pl.col("is_mod") & (pl.col("cls") == "course_module_viewed"))
            .then(pl.concat_str([pl.lit("The user with id '"), uid, pl.lit("' viewed the '"), pl.col("mod"),
                                 pl.lit("' activity with course module id '"), pl.col("cm").cast(pl.Utf8),
                                 pl.lit("'.")]))
            .otherwise(pl.concat_str([pl.lit("The user with id '"), uid, pl.lit("' has "),
                                      pl.col("event").str.to_lowercase(), pl.lit(" with id '"),
                                      pl.col("obj").cast(pl.Utf8), pl.lit("' for the course module id '"),
                                      pl.col("cm").cast(pl.Utf8), pl.lit("'.")])))
    context = (pl.when(pl.col("is_mod"))
               .then(pl.concat_str([pl.col("comp"), pl.lit(": Activity "), pl.col("cm").cast(pl.Utf8)]))
               .otherwise(pl.lit(f"Course: Bench course {COURSE_ID}")))
    local = pl.from_epoch(pl.col("ts"), time_unit="s").dt.replace_time_zone("UTC").dt.convert_time_zone(TIMEZONE)
    out = frame.select(
        local.dt.strftime("%d/%m/%y, %H:%M:%S").alias("Time"),
        pl.col("user").replace_strict(names, return_dtype=pl.Utf8).alias("User full name"),
        pl.lit("-").alias("Affected user"),
        context.alias("Event context"),
        pl.col("comp").alias("Component"),
        pl.col("event").alias("Event name"),
        desc.alias("Description"),
        pl.lit("web").alias("Origin"),
        pl.col("ip").alias("IP address"),
    )
    path.write_bytes(b"\xef\xbb\xbf")
    with path.open("ab") as fh:
        out.write_csv(fh)
    return out.height


def read_ours(path: str) -> dict[str, Any]:
    """Child task: our importer on the file (canonical frame, course time zone)."""
    from moodle.log_export import read_log_export

    t0 = time.perf_counter()
    df = read_log_export(path, timezone=TIMEZONE)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": int(len(df)), "first": str(df["time"].iloc[0]),
            "last": str(df["time"].iloc[-1]), "users": int(df["userid"].nunique())}


def read_polars(path: str) -> dict[str, Any]:
    """Child task: polars reads the same file and parses its Time column (the baseline)."""
    import polars as pl

    t0 = time.perf_counter()
    df = pl.read_csv(path, infer_schema_length=0)
    df = df.with_columns(pl.col("Time").str.strptime(pl.Datetime, "%d/%m/%y, %H:%M:%S")
                         .dt.replace_time_zone(TIMEZONE).dt.convert_time_zone("UTC"))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": int(df.height), "first": str(df["Time"].min()),
            "last": str(df["Time"].max())}


def run(quick: bool = False, log: Any = print) -> list[Result]:
    n_students, target_rows = (300, 50_000) if quick else (4_000, 1_300_000)
    results = []
    with tempfile.TemporaryDirectory(prefix="cohortlens-bench-csv-") as tmp:
        path = Path(tmp) / "logs.csv"
        log(f"  csv_import: writing a Logs report CSV of {n_students:,} students (demo generator) ...")
        rows = write_log_export(path, n_students, activity_scale=1.0 if quick else 2.0, max_rows=target_rows)
        size_mb = path.stat().st_size / 2**20
        log(f"  csv_import: {rows:,} rows, {size_mb:,.0f} MB; reading with polars and with read_log_export ...")
        base = min((run_child("csv_polars", {"path": str(path)}) for _ in range(2)), key=lambda r: r["seconds"])
        ours = min((run_child("csv_ours", {"path": str(path)}) for _ in range(2)), key=lambda r: r["seconds"])
        if ours["rows"] != rows or base["rows"] != rows:
            raise RuntimeError(f"row counts differ: file {rows}, ours {ours['rows']}, polars {base['rows']}")
        ratio = ours["seconds"] / base["seconds"]
        big = not quick
        results.append(Result(
            bench="csv_import", case=f"{rows:,}-row log export ({size_mb:,.0f} MB): read + parse time",
            figure=ours["seconds"], unit="s", baseline=base["seconds"],
            baseline_label="polars read_csv + strptime, same file", ratio=ratio, ratio_label="ours/polars",
            target=f"<= {TARGET_RATIO:g}x", passed=ratio <= TARGET_RATIO if big else None,
            notes=f"{ours['users']:,} users; first {ours['first']}, last {ours['last']}",
            extra={"ours": ours, "polars": base}))
        results.append(Result(
            bench="csv_import", case=f"{rows:,}-row log export: peak RSS of the reading process",
            figure=ours["peak_rss_mb"], unit="MB", baseline=base["peak_rss_mb"],
            baseline_label="polars, same file", ratio=ours["peak_rss_mb"] / base["peak_rss_mb"],
            ratio_label="ours/polars", target=f"< {TARGET_PEAK_MB:,.0f} MB",
            passed=ours["peak_rss_mb"] < TARGET_PEAK_MB if big else None,
            notes=f"RSS after imports: ours {ours['rss_before_mb']:.0f} MB, polars {base['rss_before_mb']:.0f} MB"))
        log(f"  csv_import: ours {ours['seconds']:.2f}s / {ours['peak_rss_mb']:.0f} MB, polars "
            f"{base['seconds']:.2f}s / {base['peak_rss_mb']:.0f} MB -> {ratio:.2f}x")
    return results
