"""run_course on a small demo site: the stored run, reruns, weekly transitions, crash safety."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from jobs.clock import utcnow
from jobs.errors import SkipCourse
from jobs.pipeline import STAGES, export_assignments, run_course


@pytest.fixture
def as_of():
    return utcnow().replace(microsecond=0) - timedelta(days=1)


def test_run_course_end_to_end(store, config, small_site, as_of, tmp_path):
    stages: list[tuple[str, float]] = []
    summary = run_course(201, source="demo", store=store, as_of=as_of, config=config, job_id="job-1",
                         progress=lambda s, f: stages.append((s, f)))
    assert [s for s, _ in stages] == list(STAGES)
    assert all(0 <= f <= 1 for _, f in stages)
    assert summary["course_id"] == 201 and summary["students"] == 36 and summary["source"] == "demo"
    assert summary["k"] == len(summary["sizes"]) and sum(summary["sizes"].values()) == 36
    assert summary["moved"] == 0 and summary["initial"] == 36 and summary["events"] > 0
    assert -1 <= summary["silhouette"] <= 1 and summary["seconds"] > 0

    run = store.runs.latest(201)
    assert run["run_id"] == summary["run_id"] and run["status"] == "finished" and run["job_id"] == "job-1"
    assert run["k"] == summary["k"] and len(run["clusters"]) == run["k"]
    members = [u for c in run["clusters"] for u in c["user_ids"]]
    assert len(members) == len(set(members)) == 36
    cluster = run["clusters"][0]
    assert {"cluster_id", "name", "size", "share", "user_ids", "profile", "centroid", "stats", "top_features",
            "engagement"} <= set(cluster)
    assert cluster["profile"]["source"] == "rules" and cluster["name"]
    assert set(cluster["stats"]) == {"mean", "std", "median"}
    assert run["diagnostics"]["chosen_k"] == run["k"] and run["diagnostics"]["votes"]
    assert {s["k"] for s in run["diagnostics"]["scores"]} >= {2, 3}
    assert run["metadata"]["total_students"] == 36 and run["metadata"]["course_name"] == "Small Seminar"
    assert run["transitions"]["initial"] == 36 and run["transitions"]["matrix"] == []

    frame, meta = store.snapshots.load(run["run_id"])
    assert len(frame) == 36
    assert {"x", "y", "silhouette", "cluster_id"} <= set(frame.columns)
    assert any(c.startswith("scaled__") for c in frame.columns)
    assert set(meta["feature_columns"]) <= set(frame.columns)
    assert meta["as_of"] == run["as_of"] is not None  # the Student page's trend dates its points by it
    assert store.history.for_user(201, members[0])["history"][0]["transition_type"] == "initial"
    assert store.courses.get(201)["last_run_id"] == run["run_id"]
    assert store.activity.list(201) and run["metadata"]["warnings"] == []

    out = tmp_path / "assign.csv"
    assert export_assignments(store, run["run_id"], out) == 36
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["user_id", "cluster_id", "cluster_name"] and len(rows) == 36
    assert {int(r["user_id"]) for r in rows} == set(members)


def test_identical_rerun_moves_nobody(store, config, small_site, as_of):
    first = run_course(201, source="demo", store=store, as_of=as_of, config=config)
    second = run_course(201, source="demo", store=store, as_of=as_of, config=config)
    assert second["run_id"] != first["run_id"]
    assert second["moved"] == 0 and second["stable"] == 36 and second["clusters_changed"] == 0
    assert second["sizes"] == first["sizes"]  # stable ids: the same clusters keep their ids


def test_next_week_shows_transitions(store, config, small_site, as_of):
    run_course(201, source="demo", store=store, as_of=as_of - timedelta(weeks=1), config=config)
    summary = run_course(201, source="demo", store=store, as_of=as_of, config=config)
    assert summary["stable"] + summary["moved"] == 36 and summary["initial"] == 0
    run = store.runs.latest(201)
    assert run["transitions"]["matrix"] and sum(m["count"] for m in run["transitions"]["matrix"]) == 36
    assert run["metadata"]["previous_run_id"] is not None
    assert run["drift"]  # previous snapshot features were found
    assert store.runs.count(201) == 2
    history = store.history.for_course(201)
    assert len(history) == 36 and all(len(h["history"]) == 2 for h in history)
    if summary["moved"]:
        assert run["movers"] and {"user_id", "from", "to", "delta"} <= set(run["movers"][0])


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("step", [
    pytest.param("insert_pending", marks=pytest.mark.slow), "snapshots.save",
    pytest.param("history.stage", marks=pytest.mark.slow), "activity.upsert"])
def test_crash_mid_write_leaves_previous_run_intact(store, config, small_site, as_of, step):
    first = run_course(201, source="demo", store=store, as_of=as_of - timedelta(weeks=1), config=config)

    def boom(name: str) -> None:
        if name == step:
            raise Crash(name)

    with pytest.raises(Crash):
        run_course(201, source="demo", store=store, as_of=as_of, config=config, after_write=boom)
    assert store.runs.latest(201)["run_id"] == first["run_id"]
    assert store.runs.count(201) == 1 and [r["run_id"] for r in store.runs.list(201)] == [first["run_id"]]
    pending = store.runs.collection.find({"course_id": 201, "status": "pending"})
    assert len(pending) == 1
    # the history shows only the finished run
    for doc in store.history.for_course(201):
        assert [h["run_id"] for h in doc["history"] if h["run_id"] != first["run_id"]] in ([], [pending[0]["run_id"]])
    # the next run cleans the leftovers up and compares with the previous finished run
    third = run_course(201, source="demo", store=store, as_of=as_of, config=config)
    assert store.runs.get(pending[0]["run_id"]) is None
    assert store.runs.collection.find({"course_id": 201, "status": "pending"}) == []
    with pytest.raises(KeyError):
        store.snapshots.load(pending[0]["run_id"])
    assert all(pending[0]["run_id"] not in [h["run_id"] for h in doc["history"]]
               for doc in store.history.for_course(201))
    assert store.runs.latest(201)["metadata"]["previous_run_id"] == first["run_id"]
    assert third["initial"] == 0


def test_skips(store, config, small_site, as_of):
    with pytest.raises(SkipCourse, match="invalid course 999"):
        run_course(999, source="demo", store=store, as_of=as_of, config=config)
    from dataclasses import replace

    with pytest.raises(SkipCourse, match="24 active students; at least 30"):
        run_course(202, source="demo", store=store, as_of=as_of, config=replace(config, min_students=30))
    assert store.runs.courses_with_runs() == []


def test_dry_run_writes_nothing(store, config, small_site, as_of):
    summary = run_course(202, source="demo", store=store, as_of=as_of, config=config, dry_run=True)
    assert summary["run_id"] is None and summary["dry_run"] is True and sum(summary["sizes"].values()) == 24
    assert store.runs.courses_with_runs() == [] and store.runs.collection.find({}) == []
    assert store.history.for_course(202) == [] and store.courses.get(202) is None


def test_pinned_k_and_retention(store, config, small_site, as_of):
    from dataclasses import replace

    cfg = replace(config, courses={202: {"k": 3}}, snapshot_retention=2)
    run_ids = [run_course(202, source="demo", store=store, as_of=as_of - timedelta(weeks=w), config=cfg)["run_id"]
               for w in (2, 1, 0)]
    run = store.runs.latest(202)
    assert run["k"] == 3 and run["k_pinned"] is True and run["diagnostics"]["pinned"] is True
    assert store.runs.count(202) == 3  # every run's summary is kept
    with pytest.raises(KeyError):
        store.snapshots.load(run_ids[0])  # only the last 2 snapshots are kept
    assert len(store.snapshots.load(run_ids[2])[0]) == 24


def test_llm_profiles_are_cached(store, config, small_site, as_of):
    calls: list[str] = []

    def fake_llm(prompt: str) -> str:
        calls.append(prompt)
        raise RuntimeError("quota exceeded")  # the rules take over

    summary = run_course(202, source="demo", store=store, as_of=as_of, config=config, llm=fake_llm)
    run = store.runs.get(summary["run_id"])
    assert calls and all(c["profile"]["source"] == "rules" for c in run["clusters"])


def test_a_failing_activity_report_does_not_cost_the_clusters(store, config, small_site, as_of, monkeypatch):
    import analytics

    def broken(data, *, timezone="UTC"):
        raise ValueError("output array is read-only")

    monkeypatch.setattr(analytics, "activity_report", broken)
    summary = run_course(202, source="demo", store=store, as_of=as_of, config=config)
    run = store.runs.get(summary["run_id"])
    assert run["status"] == "finished" and store.activity.list(202) == []
    assert run["metadata"]["warnings"] == ["activity report failed: ValueError: output array is read-only"]


def test_a_backfilled_older_run_never_costs_a_newer_run_its_snapshot(store, config, small_site, as_of):
    """Snapshots are kept for the newest runs on the runs' own timeline (a backfilled run sits at its data
    date), not for the most recently saved ones."""
    from dataclasses import replace

    keep_one = replace(config, snapshot_retention=1)
    newer = run_course(201, source="demo", store=store, as_of=as_of, config=keep_one)["run_id"]
    older = run_course(201, source="demo", store=store, as_of=as_of - timedelta(weeks=2), config=keep_one)["run_id"]
    assert store.runs.latest(201)["run_id"] == newer
    assert store.snapshots.run_ids(201) == [newer]
    assert older not in store.snapshots.run_ids(201)
