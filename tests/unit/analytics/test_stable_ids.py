from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import assign_stable_ids, compute_transitions, relabel


def _labels(values, start=1):
    return pd.Series(values, index=pd.Index(range(start, start + len(values)), name="user_id"))


def test_first_run_orders_by_engagement_or_size():
    lab = _labels([0, 0, 1, 1, 1, 2])
    eng = pd.Series([10, 20, 50, 60, 70, 90.0], index=lab.index)
    assert assign_stable_ids(lab, None, engagement=eng) == {2: 0, 1: 1, 0: 2}
    assert assign_stable_ids(lab, None) == {1: 0, 0: 1, 2: 2}
    assert assign_stable_ids(lab, None, next_id=5) == {1: 5, 0: 6, 2: 7}


def test_permuted_labels_get_the_same_ids_and_rerun_has_zero_moves():
    prev = _labels([0, 0, 0, 1, 1, 2, 2, 2])          # stable ids of the last run
    raw = _labels([2, 2, 2, 0, 0, 1, 1, 1])           # same groups, KMeans numbered them differently
    mapping = assign_stable_ids(raw, prev)
    assert mapping == {2: 0, 0: 1, 1: 2}
    t = compute_transitions(prev, relabel(raw, mapping))
    assert (t.transition_type == "stable").all()


def test_new_cluster_gets_next_id_and_movers_are_moved():
    prev = _labels([0, 0, 0, 0, 1, 1, 1, 1])
    raw = _labels([1, 1, 1, 0, 0, 0, 2, 2])           # regrouped: {1,2,3}, {4,5,6}, {7,8}
    mapping = assign_stable_ids(raw, prev, next_id=3)
    # Jaccard: raw1~old0 = 3/4, raw2~old1 = 2/4, raw0~old1 = 2/5 -> raw0 is the new cluster
    assert mapping == {1: 0, 2: 1, 0: 3}
    cur = relabel(raw, mapping)
    t = compute_transitions(prev, cur)
    assert t.set_index("user_id").loc[4, "transition_type"] == "moved"
    assert (t.transition_type == "moved").sum() == 3


def test_no_overlap_means_new_ids_unless_centroids_match():
    prev = _labels([0, 0, 1, 1], start=1)
    raw = _labels([0, 0, 1, 1], start=100)            # a whole new roster
    assert sorted(assign_stable_ids(raw, prev).values()) == [2, 3]
    pc = pd.DataFrame({"a": [0.0, 5.0]}, index=[0, 1])
    cc = pd.DataFrame({"a": [5.1, 0.1]}, index=[0, 1])
    assert assign_stable_ids(raw, prev, centroids=cc, previous_centroids=pc) == {0: 1, 1: 0}


def test_centroids_break_overlap_ties():
    prev = _labels([0, 0, 1, 1])
    raw = _labels([0, 1, 0, 1])                       # overlap is ambiguous (Jaccard 1/3 everywhere)
    pc = pd.DataFrame({"a": [0.0, 10.0]}, index=[0, 1])
    cc = pd.DataFrame({"a": [10.0, 0.0]}, index=[0, 1])
    assert assign_stable_ids(raw, prev, centroids=cc, previous_centroids=pc) == {0: 1, 1: 0}


def test_identical_pipeline_rerun_zero_moves():
    from analytics import cluster_students, extract_features

    from .synth import make_course

    c = make_course(150, ["steady", "disengaged", "social"], seed=4)
    f = extract_features(c)
    r1 = cluster_students(f)
    ids1 = relabel(r1.labels, assign_stable_ids(r1.labels, None, engagement=f.engagement_score))
    r2 = cluster_students(extract_features(c))
    m2 = assign_stable_ids(r2.labels, ids1, centroids=r2.centroids,
                           previous_centroids=r1.centroids.rename(index=dict(zip(r1.labels, ids1))))
    t = compute_transitions(ids1, relabel(r2.labels, m2))
    assert (t.transition_type == "stable").all() and np.array_equal(ids1.to_numpy(), t.cluster_id.to_numpy())
