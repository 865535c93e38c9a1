"""The courses record keeps an admin's time frame, window and regroup request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest


def test_set_frame_and_regroup_request(store):
    store.courses.upsert({"course_id": 7, "fullname": "C"})
    start, end = datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)
    assert store.courses.set_frame(7, start, end, timezone="Asia/Ho_Chi_Minh")
    frame = store.courses.get(7)["frame"]
    assert frame["source"] == "admin" and frame["timezone"] == "Asia/Ho_Chi_Minh"
    assert frame["start"].replace(tzinfo=UTC) == start and frame["end"].replace(tzinfo=UTC) == end
    with pytest.raises(ValueError, match="must be after the start"):
        store.courses.set_frame(7, end, start)
    assert store.courses.set_frame(7, None, None) and store.courses.get(7)["frame"] is None
    assert store.courses.request_regroup(7, by="admin")
    assert store.courses.get(7)["regroup_requested"]["by"] == "admin"
    assert store.courses.request_regroup(7, False) and store.courses.get(7)["regroup_requested"] is None
    assert not store.courses.set_frame(99, start, end)
