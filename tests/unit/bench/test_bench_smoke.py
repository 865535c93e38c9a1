"""Smoke tests: the benchmark code paths run (tiny sizes, no timing assertions)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import bench.features as features
from bench.__main__ import main, table
from bench.choose_k import naive_choose_k
from bench.common import Result
from bench.store import bson_roundtrip


def test_quick_features_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(features, "QUICK_ROWS", [3_000])
    out = tmp_path / "r.json"
    assert main(["--quick", "--only", "features", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    (res,) = payload["results"]
    assert res["bench"] == "features" and res["verdict"] in ("PASS", "MISS")
    assert res["baseline"] > 0 and res["ratio"] == res["figure"] / res["baseline"]
    # the DuckDB baseline computed the same features as extract_features (compared column by column)
    assert res["notes"].startswith("results equal"), res["notes"]
    assert max(res["extra"]["max_abs_diff"].values()) < 1e-6
    assert "| features |" in capsys.readouterr().out


def test_naive_choose_k_votes_on_clear_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [6, 6, 0, 0], [0, 6, 6, 6]], dtype=float)
    X = np.vstack([rng.normal(c, 0.3, size=(60, 4)) for c in centres])
    frame = pd.DataFrame(X + 10, columns=["a", "b", "c", "d"])
    naive = naive_choose_k(frame, k_range=(2, 5), n_init=2)
    assert naive["k"] == 3
    partial = naive_choose_k(frame, k_range=(2, 5), n_init=2, silhouette_ks=[3])
    assert partial["k"] is None and list(partial["t_sil"]) == [3]


def test_bson_baseline_round_trip(tmp_path):
    docs = [{"i": i, "xs": list(range(10))} for i in range(50)]
    write_s, read_s, size = bson_roundtrip(tmp_path / "x.bson", docs)
    assert size > 0 and write_s >= 0 and read_s >= 0


def test_table_and_list(capsys):
    r = Result(bench="b", case="c", figure=1.5, unit="s", baseline=3.0, baseline_label="base", ratio=0.5,
               ratio_label="ours/base", target="<= 1x", passed=True)
    assert "| b | c | 1.50 s | 3.00 s (base) | 0.50x (ours/base) | <= 1x | PASS |" in table([r])
    assert main(["--list"]) == 0
    assert "features" in capsys.readouterr().out


def test_sqlite_baseline_round_trip(tmp_path):
    from bench.store import sqlite_roundtrip

    docs = [{"i": i, "xs": list(range(10))} for i in range(50)]
    write_s, read_s, size = sqlite_roundtrip(tmp_path / "x.sqlite", docs)
    assert size > 0 and write_s >= 0 and read_s >= 0


def test_moodle_floor_makes_the_same_calls_and_decodes_the_same_rows():
    """The I/O floor and our client read the same course from a fake Moodle in its own process."""
    from bench.common import bench_as_of, moodle_process
    from bench.moodle_load import floor_load, ours_load

    as_of = bench_as_of()
    with moodle_process([(861, 40)], as_of) as moodle:
        ours = ours_load(moodle.url, moodle.std, moodle.cus, 861, as_of)
        wide = floor_load(moodle.url, moodle.std, moodle.cus, 861, per_user=False)
        each = floor_load(moodle.url, moodle.std, moodle.cus, 861, per_user=True)
    assert ours["grades_mode"] == "course" and ours["students"] == wide["students"] == 40
    assert ours["rows"] == wide["rows"] == each["rows"] > 0
    assert wide["grade_replies"] == 1 and each["grade_replies"] == 40
    assert moodle.by_function["gradereport_user_get_grade_items"] == 1 + 1 + 40
