"""The log-export importer on every variant (hand-made files) and on real exports (edify)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moodle.errors import LogExportError
from moodle.log_export import CANONICAL_COLUMNS, course_data_from_export, read_log_export
from moodle.sources import list_courses, load_course_data

FIX = Path(__file__).resolve().parents[2] / "fixtures"
EXPORTS = FIX / "log_exports"
EDIFY = next((p / "shared" / "datasets" / "edify" for p in Path(__file__).resolve().parents
              if (p / "shared" / "datasets" / "edify").is_dir()), Path("/nonexistent"))

EXPECTED_FIRST = datetime(2024, 3, 4, 8, 0, 5, tzinfo=UTC)
EXPECTED_LAST = datetime(2024, 3, 14, 9, 15, 2, tzinfo=UTC)

VARIANTS = {
    "standard_en_bom_crlf.csv": True,
    "no_seconds_lf.csv": False,
    "en_us_month_first.csv": True,
    "en_us_ampm.csv": False,
    "cr_only.csv": True,
    "blanked_names.csv": False,
    "reordered_extra_columns.csv": True,
    "localized_semicolon.csv": True,
}


def _check_canonical(df: pd.DataFrame, seconds: bool) -> None:
    assert list(df.columns[: len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS
    assert len(df) == 14
    assert str(df["time"].dt.tz) == "UTC"
    assert df["time"].is_monotonic_increasing
    first, last = df["time"].iloc[0], df["time"].iloc[-1]
    if seconds:
        assert first == EXPECTED_FIRST and last == EXPECTED_LAST
    else:
        assert first == EXPECTED_FIRST.replace(second=0) and last == EXPECTED_LAST.replace(second=0)
    assert sorted(df["userid"].dropna().unique().tolist()) == [5, 12, 13, 14]
    assert set(df["user"]) == {"5", "12", "13", "14"}
    assert df["component"].iloc[0] == "System" and df["event_name"].iloc[0] == "Course module created"
    assert (df["courseid"].dropna() == 42).all()


@pytest.mark.parametrize("name,seconds", sorted(VARIANTS.items()))
def test_variants_read_the_same(name: str, seconds: bool) -> None:
    df = read_log_export(EXPORTS / name)
    _check_canonical(df, seconds)
    if name != "blanked_names.csv":
        assert "Bình Nguyễn" in set(df["user_full_name"])


def test_buffers_bytes_and_text() -> None:
    raw = (EXPORTS / "cr_only.csv").read_bytes()
    for src in (raw, io.BytesIO(raw), io.StringIO(raw.decode("utf-8"))):
        _check_canonical(read_log_export(src), True)


def test_two_downloads_pasted_together() -> None:
    raw = (EXPORTS / "no_seconds_lf.csv").read_bytes()
    df = read_log_export(raw + raw)          # header repeated in the middle, same rows twice
    assert len(df) == 28 and df["time"].is_monotonic_increasing


def test_extra_columns_kept() -> None:
    df = read_log_export(EXPORTS / "reordered_extra_columns.csv")
    assert (df["course"] == "Intro to Data").all()


def test_no_year_uses_course_start_or_file_order() -> None:
    df = read_log_export(EXPORTS / "no_year.csv", course_start="2024-02-26")
    assert df["time"].iloc[0] == datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
    wrap = read_log_export(EXPORTS / "no_year_wrap.csv", course_start="2023-12-01")
    assert [t.year for t in wrap["time"]] == [2023, 2024, 2024]
    by_order = read_log_export(EXPORTS / "no_year_wrap.csv")
    years = [t.year for t in by_order["time"]]
    assert years[1] == years[2] == years[0] + 1
    assert by_order["time"].is_monotonic_increasing


def test_month_names_of_other_languages() -> None:
    head = "Time,User full name,Affected user,Event context,Component,Event name,Description,Origin,IP address\n"
    desc = "The user with id '6' viewed the course with id '7'."
    times = ["11 mai, 09:44", "3 mars, 09:44", "Thursday, 14 March 2024, 9:15 AM", "14 tháng 3 2024, 21:15",
             "14. März 2024, 21:15", "2 thg 12, 08:00", "5 de agosto de 2024, 10:00"]
    text = head + "\n".join(f'"{t}",-,-,Course: X,System,Course viewed,{desc},web,192.0.2.1' for t in times)
    got = read_log_export(text.encode(), course_start="2024-02-01")["time"].dt.strftime("%Y-%m-%d %H:%M")
    assert sorted(got) == ["2024-03-03 09:44", "2024-03-14 09:15", "2024-03-14 21:15", "2024-03-14 21:15",
                           "2024-05-11 09:44", "2024-08-05 10:00", "2024-12-02 08:00"]


def test_timezone_of_download() -> None:
    df = read_log_export(EXPORTS / "standard_en_bom_crlf.csv", timezone="Asia/Ho_Chi_Minh")
    assert df["time"].iloc[0] == datetime(2024, 3, 4, 1, 0, 5, tzinfo=UTC)


def test_dayfirst_can_be_forced() -> None:
    df = read_log_export(EXPORTS / "en_us_month_first.csv", dayfirst=False)
    assert df["time"].iloc[-1] == EXPECTED_LAST


@pytest.mark.parametrize("name,row,column", [
    ("not_a_log_gradebook.csv", 1, "Time"),
    ("bad_time_row5.csv", 5, "Time"),
    ("short_row8.csv", 8, None),
])
def test_not_a_log_names_row_and_column(name: str, row: int, column: str | None) -> None:
    with pytest.raises(LogExportError) as info:
        read_log_export(EXPORTS / name)
    err = info.value
    assert err.row == row and f"row {row}" in str(err).lower()
    if column:
        assert column in str(err) and column in (err.column or "")
    else:
        assert err.column


def test_empty_and_garbage() -> None:
    with pytest.raises(LogExportError):
        read_log_export(b"")
    with pytest.raises(LogExportError, match="row 1"):
        read_log_export(b"a,b,c\n1,2,3\n")


def test_course_data_from_export_maps_events_and_people() -> None:
    df = read_log_export(EXPORTS / "blanked_names.csv")
    data = course_data_from_export(df, course_id=42, grades=EXPORTS / "grades_gradebook.csv")
    assert data.source == "csv" and data.course["id"] == 42
    assert data.course["fullname"] == "Intro to Data (2024)"
    assert sorted(data.students["id"]) == [12, 13, 14]
    assert data.teachers["id"].tolist() == [5]
    logs = data.logs
    assert logs["timecreated"].dtype == np.int64 and logs["timecreated"].is_monotonic_increasing
    ev = dict(zip(logs["eventname"], logs["component"]))
    assert ev["\\core\\event\\course_viewed"] == "core"
    assert ev["\\mod_resource\\event\\course_module_viewed"] == "mod_resource"
    assert ev["\\mod_quiz\\event\\attempt_submitted"] == "mod_quiz"
    assert ev["\\mod_forum\\event\\post_created"] == "mod_forum"
    assert ev["\\assignsubmission_file\\event\\submission_created"] == "assignsubmission_file"
    assert ev["\\mod_assign\\event\\assessable_submitted"] == "mod_assign"
    assert ev["\\mod_h5pactivity\\event\\course_module_viewed"] == "mod_h5pactivity"
    viewed = logs[logs["eventname"] == "\\mod_resource\\event\\course_module_viewed"].iloc[0]
    assert viewed["contextlevel"] == 70 and viewed["contextinstanceid"] == 81
    assert viewed["objecttable"] == "resource" and viewed["crud"] == "r" and viewed["edulevel"] == 2
    course_row = logs[logs["eventname"] == "\\core\\event\\course_viewed"].iloc[0]
    assert course_row["contextlevel"] == 50 and course_row["contextinstanceid"] == 42
    graded = logs[logs["eventname"] == "\\mod_assign\\event\\submission_graded"].iloc[0]
    assert graded["userid"] == 5 and graded["relateduserid"] == 12 and graded["edulevel"] == 1
    # grades: names are blanked in this log, so nobody can be matched
    assert data.grades.empty
    named = course_data_from_export(read_log_export(EXPORTS / "standard_en_bom_crlf.csv"), course_id=42,
                                    grades=EXPORTS / "grades_gradebook.csv")
    g = named.grades.set_index("userid")["graderaw"]
    assert g[14] == 7.5 and np.isnan(g[12]) and np.isnan(g[13])


def test_progress_callback() -> None:
    seen: list[float] = []
    course_data_from_export(read_log_export(EXPORTS / "cr_only.csv"), course_id=42,
                            progress=lambda label, frac: seen.append(frac))
    assert seen[0] < seen[-1] == 1.0


def test_sources_csv(tmp_path: Path) -> None:
    path = tmp_path / "logs.csv"
    path.write_bytes((EXPORTS / "standard_en_bom_crlf.csv").read_bytes())
    data = load_course_data(f"csv:{path}", 42)
    assert len(data.students) == 3
    cut = load_course_data(f"csv:{path}", 42, as_of=datetime(2024, 3, 6, tzinfo=UTC))
    assert cut.logs["timecreated"].max() < datetime(2024, 3, 6, tzinfo=UTC).timestamp()
    assert list_courses(f"csv:{path}")[0]["id"] == 42
    assert data.grades.empty
    path.with_suffix(".grades.csv").write_bytes((EXPORTS / "grades_gradebook.csv").read_bytes())
    with_grades = load_course_data(f"csv:{path}", 42)          # the Import page's sidecar file
    assert with_grades.grades["graderaw"].max() == 7.5


def test_edify_excerpt() -> None:
    df = read_log_export(FIX / "edify_excerpt.csv")
    assert len(df) == 300
    assert (df["user_full_name"] == "-").all()
    # Turnitin rows ("User viewed their submission inbox ...") carry no user id: they stay unattributed
    no_id = df[df["userid"].isna()]
    assert no_id["description"].str.startswith("User ").all() and len(no_id) < len(df) / 2
    assert df["time"].min().year == 2017
    data = course_data_from_export(df, course_id=int(df["courseid"].mode()[0]))
    assert len(data.students) >= 3
    assert data.logs["eventname"].str.startswith("\\").all()
    assert data.course["import"]["rows_without_user"] == int(df["userid"].isna().sum())


@pytest.mark.skipif(not EDIFY.is_dir(), reason="../shared/datasets/edify not present")
def test_all_of_edify() -> None:
    files = sorted(EDIFY.glob("logs_*.csv"))
    assert files
    for f in files:
        df = read_log_export(f)
        assert len(df) == len(pd.read_csv(f)), f.name       # every record, multi-line ones too
        assert df["time"].notna().all() and df["userid"].notna().mean() > 0.6, f.name
        assert 2016 <= df["time"].min().year and df["time"].max().year <= 2022, f.name
        data = course_data_from_export(df, course_id=int(df["courseid"].mode()[0]))
        assert len(data.students) >= 5, f.name
        assert not set(data.students["id"]) & set(data.teachers["id"]), f.name


def test_excel_and_json_downloads(tmp_path: Path) -> None:
    import csv

    import openpyxl

    with (EXPORTS / "standard_en_bom_crlf.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    xlsx = tmp_path / "logs.xlsx"
    wb.save(xlsx)
    _check_canonical(read_log_export(xlsx), True)
    as_json = [[dict(zip(rows[0], r)) for r in rows[1:]]]          # dataformat_json: a list per sheet
    import json

    _check_canonical(read_log_export(json.dumps(as_json).encode()), True)


def test_localized_event_names_read_through_english_descriptions() -> None:
    head = ("Heure,Nom complet de l'utilisateur,Utilisateur concerné,Contexte de l'événement,Composant,"
            "Nom de l'événement,Description,Origine,Adresse IP\n")
    rows = [
        ("Cours: Intro", "Système", "Cours consulté", "The user with id '5' viewed the course with id '7'."),
        ("Fichier: Cours 1", "Fichier", "Module de cours consulté",
         "The user with id '5' viewed the 'resource' activity with course module id '81'."),
        ("Test: Quiz 1", "Test", "Tentative de test commencée",
         "The user with id '5' has started the attempt with id '3' for the quiz with course module id '84'."),
        ("Devoir: A", "Devoir", "Devoir évalué", "The user with id '9' has graded the submission '7' for the "
         "user with id '5' for the assignment with course module id '85'."),
    ]
    text = head + "\n".join(f'"14/03/24, 09:1{i}",-,-,{c},{comp},{ev},"{d}",web,192.0.2.1'
                            for i, (c, comp, ev, d) in enumerate(rows))
    data = course_data_from_export(read_log_export(text.encode()), course_id=7)
    logs = data.logs.set_index("eventname")
    assert logs.loc["\\core\\event\\course_viewed", "contextlevel"] == 50
    assert logs.loc["\\mod_resource\\event\\course_module_viewed", "contextinstanceid"] == 81
    assert logs.loc["\\mod_quiz\\event\\attempt_started", "component"] == "mod_quiz"
    assert data.students["id"].tolist() == [5] and data.teachers["id"].tolist() == [9]
    assert data.course["fullname"] == "Intro"
