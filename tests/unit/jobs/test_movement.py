"""Movement instructors can trust: weekly runs of a demo course whose students change type at a known week.

Every run goes through the real pipeline (``run_course`` on the demo source) into a real file-backed store;
the demo site knows each student's behaviour type per week (``truth_history``), so the moves the runs
report can be scored: k never changes, few false moves before the change, the changed students found
after it (precision and recall), final groups that match the current types, no moves on a rerun.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from jobs.pipeline import run_course
from moodle.demo import CHANGE_COURSE, DemoSite

CID = CHANGE_COURSE.course_id
FIRST_WEEK, LAST_WEEK = 4, 16           # weekly runs at the start of weeks 4..16 (data of weeks 0..w-1)


@pytest.fixture(scope="module")
def change_site():
    return DemoSite(11, anchor=date(2026, 2, 2), courses=[CHANGE_COURSE])


@pytest.fixture
def weekly(store, config, clock, monkeypatch, change_site):
    """Run the course weekly; returns per-run records and the store."""
    from moodle import sources

    monkeypatch.setattr(sources, "demo_site", lambda config=None: change_site)
    rows = []
    for w in range(FIRST_WEEK, LAST_WEEK + 1):
        as_of = change_site.week_start(CID, w)
        clock.set(as_of + timedelta(hours=2))
        summary = run_course(CID, source="demo", store=store, as_of=as_of, config=config)
        run = store.runs.get(summary["run_id"])
        labels = pd.Series({u: c["cluster_id"] for c in run["clusters"] for u in c["user_ids"]})
        rows.append({"week": w, "run": run, "summary": summary, "labels": labels})
    return rows, store


def _moved(prev: pd.Series, cur: pd.Series) -> set[int]:
    common = prev.index.intersection(cur.index)
    return {int(u) for u in common[(prev[common] != cur[common]).to_numpy()]}


def test_weekly_runs_track_known_behaviour_changes(weekly, change_site, config):
    rows, store = weekly
    truth = change_site.truth_history(CID)
    week = CHANGE_COURSE.change_week
    changed = set(truth.index[(truth[week - 1] != truth[week]).to_numpy()])
    n = len(truth)
    assert 0.2 * n < len(changed) < 0.4 * n

    ks = [r["run"]["k"] for r in rows]
    assert len(set(ks)) == 1, ks                                           # k never changes
    actions = [r["run"]["grouping"]["action"] for r in rows]
    assert actions[0] == "fit" and set(actions[1:]) == {"place"}, actions

    false_before, flagged_after = [], set()
    for prev, cur in zip(rows, rows[1:]):
        moved = _moved(prev["labels"], cur["labels"])
        assert cur["run"]["transitions"]["moved"] == len(moved)            # the run reports what changed
        if cur["week"] <= week:            # data up to week w-1: no change in it yet
            false_before.append(len(moved))
            assert len(moved) <= 0.02 * n, (cur["week"], len(moved))
        else:
            flagged_after |= moved
    true_pos = len(flagged_after & changed)
    precision = true_pos / max(len(flagged_after), 1)
    recall = true_pos / len(changed)
    assert precision >= 0.85 and recall >= 0.85, (precision, recall, false_before)

    final = rows[-1]["labels"]
    current = change_site.truth(CID, change_site.week_start(CID, LAST_WEEK) - timedelta(seconds=1))
    ari = adjusted_rand_score(current.reindex(final.index), final)
    assert ari >= 0.85, ari

    # a mover says what changed in their own features, in plain words
    movers = [m for r in rows[1:] for m in r["run"]["movers"]]
    assert movers and all(m["changed"] and m.get("explanation") for m in movers)
    assert all("->" in m["explanation"] for m in movers)
    # alerts name groups by name, never by internal id
    names = {c["name"] for r in rows for c in r["run"]["clusters"]}
    for r in rows:
        for a in r["run"]["alerts"]:
            assert "cluster " not in a["message"].lower(), a["message"]
            if a.get("cluster_id") is not None:
                assert any(nm in a["message"] for nm in names), a["message"]

    # the window is recorded and the model named by every run
    last = rows[-1]["run"]
    assert last["window"]["days"] == 28 and last["window"]["counts"] == "per week"
    assert last["grouping"]["model_version"] == rows[0]["run"]["grouping"]["model_version"] == 1

    # an identical rerun moves nobody and keeps the groups
    again = run_course(CID, source="demo", store=store, as_of=change_site.week_start(CID, LAST_WEEK), config=config)
    rerun = store.runs.get(again["run_id"])
    assert again["moved"] == 0 and rerun["k"] == ks[0] and rerun["grouping"]["action"] == "place"
    print(f"\nk={ks[0]} precision={precision:.3f} recall={recall:.3f} ARI={ari:.3f} "
          f"false moves before={false_before} of {n}")


def test_first_start_demo_backfill_keeps_k_and_raises_no_regrouping_alert(store, config, monkeypatch):
    """The real first-start backfill (jobs.bootstrap.ensure_demo: 6 weekly runs) of demo course 101."""
    from jobs.bootstrap import ensure_demo
    from moodle import sources
    from moodle.demo import DemoSite

    site = DemoSite(7, anchor=date(2026, 1, 5))   # the default courses, a fixed calendar
    monkeypatch.setattr(sources, "demo_site", lambda config=None: site)
    store.clock = lambda: site.week_start(101, 10) + timedelta(hours=3)   # week 11, as the demo looks live
    result = ensure_demo(store, config, weeks=6, course_ids=[101])
    assert result["status"] == "done" and result["courses"] == [101]
    runs = sorted((store.runs.get(r["run_id"]) for r in store.runs.list(101)), key=lambda r: r["as_of"])
    assert len(runs) == 6
    assert len({r["k"] for r in runs}) == 1, [r["k"] for r in runs]
    assert [r["grouping"]["action"] for r in runs] == ["fit"] + ["place"] * 5
    alerts = [a for r in runs for a in r["alerts"]]
    assert not [a for a in alerts if a["type"] == "regrouping"]
    assert all(r["transitions"].get("regrouped", 0) == 0 for r in runs)
    # a realistic few move each week (the demo's students drift), never a mass re-cut
    moved = [r["transitions"]["moved"] for r in runs[1:]]
    assert max(moved) <= 0.2 * runs[-1]["metadata"]["total_students"], moved
