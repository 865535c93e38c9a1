"""Issue 11: dates right or refused, the course time zone, bounded input, grades read (not guessed)."""

from __future__ import annotations

import io
import json
import os
import random
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moodle.errors import LogExportError
from moodle.log_export import (
    check_export,
    course_data_from_export,
    read_gradebook_export,
    read_log_export,
    unknown_ranges,
)
from moodle.sources import load_course_data
from tests.unit.moodle.fuzz_exports import xlsx_bytes

HEAD = "Time,User full name,Affected user,Event context,Component,Event name,Description,Origin,IP address\n"


def _export(rows: list[tuple[str, int]], *, names: bool = True) -> bytes:
    """A log export of ``(time text, user id)`` rows, in the order given."""
    lines = []
    for when, uid in rows:
        name = f"Student {uid}" if names else "-"
        lines.append(f'"{when}",{name},-,Course: Algebra,System,Course viewed,'
                     f"The user with id '{uid}' viewed the course with id '7'.,web,192.0.2.{uid % 250}")
    return (HEAD + "\n".join(lines) + "\n").encode()


def _course_events(start: datetime, weeks: int, users: int, seed: int = 3) -> list[tuple[datetime, int]]:
    rng = random.Random(seed)
    out = []
    for u in range(1, users + 1):
        for _ in range(25):
            out.append((start + timedelta(days=rng.uniform(0, weeks * 7), hours=rng.uniform(0, 1)), 100 + u))
    return out


# ------------------------------------------------------------------------------------------- dates
@pytest.mark.parametrize("layout", ["newest_first", "oldest_first", "grouped_by_user", "shuffled"])
def test_year_less_times_are_placed_whatever_the_row_order(layout: str) -> None:
    """A Sep -> Jan course written "11 May, 09:44" style: every layout reads to the same dates."""
    start = datetime(2023, 9, 4, 8, 0)
    events = _course_events(start, weeks=18, users=12)       # runs into January 2024
    if layout == "newest_first":
        events.sort(key=lambda e: e[0], reverse=True)
    elif layout == "oldest_first":
        events.sort(key=lambda e: e[0])
    elif layout == "grouped_by_user":
        events.sort(key=lambda e: (e[1], -e[0].timestamp()))
    else:
        random.Random(5).shuffle(events)
    raw = _export([(f"{e[0].day} {e[0]:%B}, {e[0]:%H:%M}", e[1]) for e in events])
    df = read_log_export(raw, course_start="2023-09-01")
    assert df["time"].min().date().isoformat() >= "2023-09-04"
    assert (df["time"].max() - df["time"].min()).days < 130
    assert df["time"].max().year == 2024 and df["time"].min().year == 2023
    # without the course start: the calendar gap places the course (Sep -> Jan) the same way
    free = read_log_export(raw)
    span = (free["time"].max() - free["time"].min()).days
    assert span < 130, span
    assert free["time"].min().month == 9 and free["time"].max().month == 1
    assert free["time"].max().year == free["time"].min().year + 1
    assert any("no year" in w for w in free.attrs["warnings"])


def test_year_less_times_over_the_whole_calendar_are_refused_without_a_start() -> None:
    rows = [(f"{d.day} {d:%B}, 10:00", 5) for d in (datetime(2023, 1, 1) + timedelta(days=i * 9) for i in range(41))]
    with pytest.raises(LogExportError, match="course start"):
        read_log_export(_export(rows))
    df = read_log_export(_export(rows), course_start="2023-01-01")
    assert df["time"].min().year == 2022 or df["time"].min().year == 2023


def test_year_less_times_with_a_frame_longer_than_a_year_are_refused() -> None:
    with pytest.raises(LogExportError, match="more than a year"):
        read_log_export(_export([("3 March, 10:00", 5)]), course_start="2023-01-01", course_end="2024-06-01")


def test_implausible_span_and_order_warn_before_import() -> None:
    rows = [(f"{d:%d/%m/%y, %H:%M}", 100 + i % 4) for i, d in
            enumerate([datetime(2019, 3, 1) + timedelta(days=37 * i) for i in range(30)])]
    df = read_log_export(_export(rows))
    assert any("span" in w for w in df.attrs["warnings"])
    inside = check_export(df, course_start="2019-02-25", course_end="2019-06-30")
    assert any("outside the course dates" in w for w in inside)


def test_course_timezone_applies_to_every_export(tmp_path: Path) -> None:
    """02:00 in Ho Chi Minh City is 19:00 UTC the day before: night shares must see 02:00."""
    raw = _export([("14/03/24, 02:00:00", 12), ("14/03/24, 02:30:00", 12)])
    utc = read_log_export(raw)
    local = read_log_export(raw, timezone="Asia/Ho_Chi_Minh")
    assert (utc["time"] - local["time"]).dt.total_seconds().eq(7 * 3600).all()
    path = tmp_path / "logs.csv"
    path.write_bytes(raw)
    data = load_course_data(f"csv:{path}", 7, config={"timezone": "Asia/Ho_Chi_Minh"})
    assert data.timezone == "Asia/Ho_Chi_Minh"
    hours = pd.to_datetime(data.logs["timecreated"], unit="s", utc=True).dt.tz_convert("Asia/Ho_Chi_Minh").dt.hour
    assert set(hours) == {2}


def test_dst_zone_is_applied_per_row() -> None:
    raw = _export([("01/03/24, 12:00:00", 5), ("01/07/24, 12:00:00", 5)])
    df = read_log_export(raw, timezone="Europe/Paris")
    assert [t.hour for t in df["time"]] == [11, 10]       # CET in March, CEST in July


def test_unknown_timezone_is_the_importers_error() -> None:
    with pytest.raises(LogExportError, match="time zone"):
        read_log_export(_export([("14/03/24, 02:00:00", 12)]), timezone="Mars/Olympus")


def test_out_of_range_dates_name_row_and_column() -> None:
    with pytest.raises(LogExportError) as info:
        read_log_export(_export([("14/03/24, 02:00:00", 12), ("31/12/9999, 23:59", 12)]))
    assert info.value.row == 3 and info.value.column == "Time"


def test_huge_ids_are_no_ids() -> None:
    raw = HEAD + ('"14/03/24, 09:00",A,-,Course: X,System,Course viewed,"The user with id \'' + "9" * 60 +
                  "' viewed the course with id '7'.\",web,1.2.3.4\n")
    df = read_log_export(raw.encode())
    assert len(df) == 1 and df["userid"].isna().all()


# ------------------------------------------------------------------------------------- bounded input
def test_devices_and_pipes_are_refused_fast(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    with pytest.raises(LogExportError, match="device"):
        read_log_export("/dev/zero")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(LogExportError, match="pipe"):
        read_log_export(fifo)
    with pytest.raises(LogExportError, match="folder"):
        read_log_export(tmp_path)
    assert time.perf_counter() - t0 < 5


def test_size_and_row_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    raw = _export([("14/03/24, 09:00:00", 5)] * 50)
    monkeypatch.setenv("COHORTLENS_IMPORT_MAX_ROWS", "20")
    with pytest.raises(LogExportError, match="limit"):
        read_log_export(raw)
    monkeypatch.delenv("COHORTLENS_IMPORT_MAX_ROWS")
    monkeypatch.setenv("COHORTLENS_IMPORT_MAX_MB", "0.001")
    (tmp_path / "big.csv").write_bytes(raw)
    with pytest.raises(LogExportError, match="MB"):
        read_log_export(tmp_path / "big.csv")


def test_zip_bomb_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"\x00" * (50 << 20))
    with pytest.raises(LogExportError, match="zip bomb|expands"):
        read_log_export(out.getvalue())


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbf" + HEAD.encode() + b'"14/03/24, 09:00",Caf\xe9,-,Course: X,System,Course viewed,x,web,1\n',
    ("\ufeff" + HEAD + '"14/03/24, 09:00",A,-,Course: X,System,Course viewed,x,web,1\n').encode("utf-16")[:-1],
    b"[" * 100_000 + b"]" * 100_000,
    HEAD.encode() + b'"14/03/24, 09:00",A,-,C,S,E,"' + b"x" * 300_000 + b'",web,1\n',
])
def test_encodings_depth_and_field_size_never_escape(raw: bytes) -> None:
    try:
        read_log_export(raw)
    except LogExportError as exc:
        assert len(str(exc)) <= 500


# ------------------------------------------------------------------------------------------ excel
def test_xlsx_with_a_wrong_dimension_reads_every_column() -> None:
    """R's writers declare the dimension "A1": all seven columns must still be read."""
    rows = [["Time", "User full name", "Event context", "Component", "Event name", "Description", "Origin"]]
    rows += [[f"14/03/24, 09:{i:02d}", f"S{i}", "Course: X", "System", "Course viewed",
              f"The user with id '{i}' viewed the course with id '7'.", "web"] for i in range(10, 40)]
    for shared in (True, False):
        df = read_log_export(xlsx_bytes(rows, dimension="A1", shared=shared))
        assert len(df) == 30 and df["origin"].eq("web").all() and df["userid"].notna().all()
        assert df["description"].str.contains("viewed the course").all()


def test_xlsx_excel_serial_times() -> None:
    rows = [["Time", "Event name", "Event context", "Description"], ["45365.375", "Course viewed", "Course: X",
                                                                     "The user with id '5' viewed the course."]]
    df = read_log_export(xlsx_bytes(rows))
    assert df["time"].iloc[0] == pd.Timestamp("2024-03-14 09:00", tz="UTC")


# ------------------------------------------------------------------------------------------ grades
def _book(text: str) -> pd.DataFrame:
    return read_gradebook_export(text.encode())


def test_gradebook_ranges_are_read_not_guessed() -> None:
    both = _book("First name,Last name,Email address,Quiz: Q1 (Real),Quiz: Q1 (Percentage)\n"
                 "Ana,Souza,ana@x.edu,7.32,48.80 %\nBinh,Nguyen,binh@x.edu,15.00,100.00 %\n")
    assert set(both["grademax"]) == {15.0} and set(both["range_source"]) == {"real and percentage"}
    range_row = _book("First name,Last name,Quiz: Q1 (Real),Quiz: Q2 (Real)\nRange,,0.00–15.00,0–20\n"
                      "Ana,Souza,7.32,20\n")
    assert dict(zip(range_row["itemname"], range_row["grademax"])) == {"Q1": 15.0, "Q2": 20.0}
    header = _book("First name,Last name,Quiz: Q1 (Real) [0-15]\nAna,Souza,7.32\n")
    assert header["grademax"].iloc[0] == 15.0
    pct = _book("First name,Last name,Quiz: Q1 (Percentage)\nAna,Souza,48.8 %\n")
    assert pct["grademax"].iloc[0] == 100.0 and pct["graderaw"].iloc[0] == 48.8
    unknown = _book("First name,Last name,Quiz: Q1 (Real)\nAna,Souza,7.32\n")
    assert unknown["grademax"].isna().all() and unknown_ranges(unknown) == ["Q1"]
    given = read_gradebook_export(b"First name,Last name,Quiz: Q1 (Real)\nAna,Souza,7.32\n", item_max={"Q1": 15})
    assert given["grademax"].iloc[0] == 15.0 and given["range_source"].iloc[0] == "given"


def test_quiz_on_15_is_read_as_15_and_unknown_ranges_are_left_out() -> None:
    log = read_log_export(_export([("14/03/24, 09:00:00", 12)]))
    log["user_full_name"] = "Ana Souza"
    book = "First name,Last name,Quiz: Q1 (Real),Quiz: Q1 (Percentage),Quiz: Q2 (Real)\nAna,Souza,7.32,48.80 %,9\n"
    data = course_data_from_export(log, course_id=7, grades=book.encode())
    g = data.grades.set_index("itemname")
    assert g.loc["Q1", "grademax"] == 15.0 and np.isnan(g.loc["Q2", "grademax"])
    pct = (g.loc["Q1", "graderaw"] - g.loc["Q1", "grademin"]) / g.loc["Q1", "grademax"] * 100
    assert round(pct, 1) == 48.8


def test_students_match_by_email_or_id_number_when_names_are_blanked() -> None:
    head = HEAD.strip() + ",Email address,ID number\n"
    body = "".join(f'"14/03/24, 09:0{i}",-,-,Course: X,System,Course viewed,'
                   f"The user with id '{uid}' viewed the course with id '7'.,web,1.2.3.4,{mail},{idn}\n"
                   for i, (uid, mail, idn) in enumerate([(12, "ana@x.edu", "S-1"), (13, "binh@x.edu", "S-2")]))
    log = read_log_export((head + body).encode())
    assert set(log["email"]) == {"ana@x.edu", "binh@x.edu"}
    book = ("First name,Last name,ID number,Email address,Quiz: Q1 (Real) [0-10]\n"
            "Ana,Souza,S-1,other@x.edu,7\nBinh,Nguyen,,BINH@x.edu,9\n")
    data = course_data_from_export(log, course_id=7, grades=book.encode())
    assert dict(zip(data.grades["userid"], data.grades["graderaw"])) == {12: 7.0, 13: 9.0}


def test_gradebook_xlsx_with_wrong_dimension() -> None:
    rows = [["First name", "Last name", "Email address", "Quiz: Q1 (Real)", "Quiz: Q1 (Percentage)"],
            ["Ana", "Souza", "a@x", "7.5", "50 %"]]
    book = read_gradebook_export(xlsx_bytes(rows, dimension="A1"))
    assert book["grademax"].iloc[0] == 15.0 and book["graderaw"].iloc[0] == 7.5


def test_json_dataformat_and_sidecar_options(tmp_path: Path) -> None:
    rows = [{"Time": "3 March, 10:00", "Event name": "Course viewed", "Event context": "Course: X",
             "Description": "The user with id '5' viewed the course with id '7'."}]
    path = tmp_path / "u.json"
    path.write_text(json.dumps([rows]))
    path.with_suffix(".import.json").write_text(json.dumps({"course_start": "2022-02-20", "timezone": "UTC",
                                                            "fullname": "Typed name"}))
    data = load_course_data(f"csv:{path}", 7)
    assert datetime.fromtimestamp(int(data.logs["timecreated"].iloc[0]), UTC).year == 2022
    assert data.course["fullname"] == "Typed name"
