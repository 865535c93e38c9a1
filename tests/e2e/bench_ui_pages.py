"""Page render time for a 5,000-student course with 52 weekly runs (issue 6, item 4). Not a test.

Fills DATA_DIR once with synthetic but complete run documents (course 901: 52 weekly runs, snapshots of
the last 12, per-student history, a year of activity) through the storage API, then renders every page
with AppTest as a signed-in admin, once with empty caches ("cold": right after a run lands) and once
again ("warm": the cached loaders). AppTest time = the server-side script run; the browser adds drawing.

Usage: python tests/e2e/bench_ui_pages.py [DATA_DIR]     (default /tmp/cohortlens_bench_ui)
Filling takes ~14 min on the embedded store (history.record of 5,000 students x 52 runs).
"""
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
N, RUNS, K, F = 5000, 52, 6, 20
CID = 901


def fill(store) -> None:
    """52 weekly runs of a 5,000-student course, written through the storage API."""
    feats = [f"f{i:02d}" for i in range(F)]
    rng = np.random.default_rng(0)
    if store.runs.count(CID) < RUNS:
        t0 = time.time()
        store.courses.upsert({"id": CID, "fullname": "Bench course (5,000 students)", "shortname": "BENCH"})
        labels = rng.integers(0, K, N)
        uids = np.arange(100000, 100000 + N)
        start = datetime.now(UTC) - timedelta(weeks=RUNS)
        prev = None
        for r in range(RUNS):
            move = rng.random(N) < 0.05
            labels = np.where(move, rng.integers(0, K, N), labels)
            X = rng.normal(size=(N, F)) + labels[:, None] * 0.5
            when = start + timedelta(weeks=r)
            frame = pd.DataFrame(X, columns=feats)
            frame.insert(0, "user_id", uids)
            for f in feats:
                frame["scaled__" + f] = (frame[f] - frame[f].mean()) / frame[f].std()
            frame["engagement_score"] = rng.uniform(0, 100, N)
            frame["x"], frame["y"] = X[:, 0], X[:, 1]
            frame["silhouette"] = rng.uniform(-0.2, 0.8, N)
            frame["cluster_id"] = labels
            clusters = []
            for c in range(K):
                m = labels == c
                clusters.append({"cluster_id": c, "name": f"Group {c}", "size": int(m.sum()), "share": float(m.mean()),
                                 "user_ids": [int(u) for u in uids[m]],
                                 "profile": {"name": f"Group {c}", "summary": "Synthetic group.", "source": "rules",
                                             "recommendations": ["Check in."]},
                                 "stats": {"mean": dict(zip(feats, X[m].mean(0).tolist())), "std": dict(zip(feats, X[m].std(0).tolist()))},
                                 "top_features": [{"feature": feats[j], "z": 1.0, "direction": "above"} for j in range(3)],
                                 "engagement": 50.0})
            trans = [{"user_id": int(u), "cluster_id": int(lab), "previous_cluster_id": None if prev is None else int(p),
                      "transition_type": "initial" if prev is None else ("stable" if lab == p else "moved")}
                     for u, lab, p in zip(uids, labels, prev if prev is not None else labels)]
            doc = {"course_id": CID, "run_at": when, "as_of": when, "k": K, "k_pinned": False, "clusters": clusters,
                   "features_used": feats, "features_dropped": [{"name": "x1", "reason": "near-constant"}],
                   "diagnostics": {"scores": [{"k": k, "inertia": 1e5 / k, "silhouette": 0.3, "davies_bouldin": 1.1,
                                               "calinski_harabasz": 100.0} for k in range(2, 11)],
                                   "votes": {"elbow": K, "silhouette": K, "davies_bouldin": K}, "chosen_k": K,
                                   "reason": "synthetic", "pinned": False},
                   "quality": {"silhouette": 0.3, "davies_bouldin": 1.1, "calinski_harabasz": 100.0},
                   "transitions": {"stable": int((~move).sum()), "moved": int(move.sum()), "initial": 0, "matrix": []},
                   "drift": [{"feature": f, "psi": 0.1, "ks": 0.05, "p_value": 0.3, "shifted": False} for f in feats],
                   "anomalies": [{"user_id": int(u), "feature": "f00", "value": 9.0, "z": 4.0, "reason": "f00 very high"} for u in uids[:50]],
                   "alerts": [], "movers": [{"user_id": int(u), "from": 0, "to": 1, "engagement_before": 40.0, "engagement_after": 30.0,
                                             "delta": -10.0, "changed": []} for u in uids[:50]],
                   "metadata": {"total_students": N, "events": 10**6, "source": "bench", "execution_time_seconds": 1.0,
                                "course_name": "Bench course"}}
            rid = store.runs.insert_pending(doc)
            if r >= RUNS - 12:
                store.snapshots.save(CID, rid, frame, {"feature_columns": feats})
            store.history.record(CID, rid, when, trans)
            store.runs.mark_finished(rid)
            prev = labels.copy()
        store.activity.upsert(CID, [{"extraction_date": (start + timedelta(days=d)).date().isoformat(), "file_views": 100 + d,
                                     "video_views": 50, "forum_views": 20, "quiz_views": 30, "assignment_views": 10, "url_views": 5,
                                     "total_views": 215 + d, "num_students": N, "num_teachers": 3, "active_days": 1,
                                     "avg_activity_per_student_per_day": 0.04} for d in range(365)])
        print(f"filled in {time.time() - t0:.0f} s", flush=True)


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/cohortlens_bench_ui")
    os.environ.update(COHORTLENS_DATA_DIR=str(data), COHORTLENS_COOKIE_KEY=secrets.token_urlsafe(40),
                      COHORTLENS_BOOTSTRAP="0", CLUSTER_JOB_ENABLED="0", COHORTLENS_LANGUAGE="en",
                      COHORTLENS_LLM_ENABLED="0")
    sys.path.insert(0, str(ROOT))
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from storage import open_store
    from ui.auth import make_user

    store = open_store(data_dir=data)
    fill(store)
    if store.users.get("bench-admin") is None:
        store.users.upsert(make_user("bench-admin", secrets.token_urlsafe(12), role="admin"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["authentication_status"] = True  # signed in (the form itself is not what we time)
    at.session_state["username"] = "bench-admin"
    at.session_state["course_id"] = CID
    at.run()
    out = {}
    for page in ["overview", "clusters", "transitions", "diagnostics", "activity", "jobs"]:
        st.cache_data.clear()
        t0 = time.perf_counter()
        at.switch_page(f"pages/{page}.py").run()
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        out[page] = {"cold_s": round(cold, 2), "warm_s": round(warm, 2), "charts": len(at.get("plotly_chart")),
                     "errors": [e.value for e in at.error], "exception": bool(at.exception)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
