"""grouping_models: one document per (course, version); the newest or a named version comes back."""

from __future__ import annotations

from analytics.grouping import GroupingModel


def _model(k: int) -> dict:
    return GroupingModel(features_in=["a", "b"], features_used=["a", "b"], log_columns=["a"], log_scale={"a": 2.0},
                         mean=[0.0, 1.0], scale=[1.0, 2.0], share_damping=5.0,
                         centroids=[[float(i), -float(i)] for i in range(k)], cluster_ids=list(range(k)),
                         fit_silhouette=0.4, fit_spread=1.2).to_doc()


def test_versions_get_list_prune(store):
    assert store.models.get(5) is None
    assert store.models.save(5, _model(3)) == 1
    assert store.models.save(5, _model(4)) == 2
    assert store.models.save(6, _model(2)) == 1
    assert store.models.get(5)["k"] == 4 and store.models.get(5, 1)["k"] == 3
    back = GroupingModel.from_doc(store.models.get(5, 1))
    assert back.k == 3 and back.log_scale == {"a": 2.0} and back.centroids[2] == [2.0, -2.0]
    assert [d["version"] for d in store.models.list(5)] == [2, 1] and "centroids" not in store.models.list(5)[0]
    for _ in range(3):
        store.models.save(5, _model(2))
    assert store.models.prune(5, keep={1}, keep_latest=2) == 2     # versions 2 and 3 go; 1 (in use), 4, 5 stay
    assert sorted(d["version"] for d in store.models.list(5)) == [1, 4, 5]
    assert store.models.delete_course(5) == 3 and store.models.get(6)["version"] == 1
