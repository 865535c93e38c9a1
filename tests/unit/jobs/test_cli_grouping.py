"""python -m jobs pin / regroup / frame and run --k / --regroup: pinned k and regroupings from the CLI."""

from __future__ import annotations

import json

from jobs.cli import EXIT_OK, EXIT_USAGE, main


def _out(capsys):
    return json.loads(capsys.readouterr().out)


def test_run_with_k_pins_and_regroups_then_places(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    assert main(["run", "--course", "201", "--source", "demo"]) == EXIT_OK
    first = _out(capsys)
    k0 = first["k"]
    assert first["grouping"] == "fit"
    k1 = 3 if k0 != 3 else 4
    assert main(["run", "--course", "201", "--source", "demo", "--k", str(k1)]) == EXIT_OK
    second = _out(capsys)
    assert second["k"] == k1 and second["grouping"] == "regroup" and second["moved"] == 0
    run = store.runs.get(second["run_id"])
    assert run["grouping"]["regrouping"] and "pinned" in run["grouping"]["reason"]
    assert run["k_pinned"] and store.courses.get(201)["k_pinned"] == k1
    assert [a["type"] for a in run["alerts"]] == ["regrouping"]
    # the pin stays: the next run places into the same k
    assert main(["run", "--course", "201", "--source", "demo"]) == EXIT_OK
    third = _out(capsys)
    assert third["k"] == k1 and third["grouping"] == "place"


def test_pin_regroup_and_frame_commands(small_site, store, capsys, monkeypatch):
    monkeypatch.setenv("COHORTLENS_MIN_STUDENTS", "5")
    assert main(["pin", "--course", "202", "--k", "3"]) == EXIT_OK
    assert _out(capsys)["k_pinned"] == 3 and store.courses.get(202)["k_pinned"] == 3
    assert main(["pin", "--course", "202", "--k", "40"]) == EXIT_USAGE
    capsys.readouterr()
    assert main(["pin", "--course", "202", "--unpin"]) == EXIT_OK
    capsys.readouterr()
    assert store.courses.get(202)["k_pinned"] is None

    assert main(["run", "--course", "202", "--source", "demo"]) == EXIT_OK
    capsys.readouterr()
    assert main(["regroup", "--course", "202"]) == EXIT_OK
    assert _out(capsys)["regroup_requested"] is True
    assert store.courses.get(202)["regroup_requested"]["by"] == "cli"
    assert main(["run", "--course", "202", "--source", "demo"]) == EXIT_OK
    summary = _out(capsys)
    assert summary["grouping"] == "regroup" and summary["moved"] == 0
    assert store.courses.get(202)["regroup_requested"] is None       # done once

    assert main(["frame", "--course", "202", "--start", "2026-01-05", "--end", "2026-04-30",
                 "--timezone", "Asia/Ho_Chi_Minh", "--window-days", "21"]) == EXIT_OK
    out = _out(capsys)
    assert out["frame"]["source"] == "admin" and out["window_days"] == 21
    assert main(["frame", "--course", "202", "--start", "2026-05-01", "--end", "2026-04-30"]) == EXIT_USAGE
    capsys.readouterr()
    assert main(["frame", "--course", "202", "--timezone", "Mars/Olympus"]) == EXIT_USAGE
    capsys.readouterr()
    assert main(["frame", "--course", "202", "--clear"]) == EXIT_OK
    assert _out(capsys)["frame"] is None
