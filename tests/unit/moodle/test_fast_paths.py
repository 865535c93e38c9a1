"""The fast paths for big courses: vectorised log encoding in the fake, streamed log decoding in the
client, category columns, keep-alive connections and the opt-in course-wide grade call."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from moodle.client import (
    CATEGORY_LOG_COLUMNS,
    GradeReplyStream,
    LogRowsStream,
    MoodleClient,
    decode_log_rows,
    logs_frame,
)
from moodle.data import grades_frame
from moodle.demo import DemoSite
from moodle.errors import MoodleUnavailableError
from moodle.fake_server import FakeMoodleServer, encode_log_reply

from .conftest import AS_OF


def _client(fake: FakeMoodleServer, tokens: dict[str, str], **kw) -> MoodleClient:
    opts = {"timeout": 5.0, "retries": 2, "backoff": 0.001, "max_backoff": 0.01}
    opts.update(kw)
    return MoodleClient(fake.url, tokens["standard"], tokens["custom"], **opts)


def _tricky_frame(demo_site: DemoSite, rows: int = 2500) -> pd.DataFrame:
    """Demo rows plus strings that need escaping: unicode, slashes, quotes, backslashes, JSON in "other"."""
    frame = demo_site.log_frame(102, AS_OF).iloc[-rows:].reset_index(drop=True)
    other = frame["other"].astype(object).to_numpy().copy()
    ip = frame["ip"].astype(object).to_numpy().copy()
    other[1] = '{"url":"https://x.example/mod/page/view.php?id=3","name":"Bình \\"quoted\\""}'
    other[2] = '[{"a":1},{"id":2}]'                 # a row separator look-alike inside a string
    other[3] = None
    other[4] = "tab\there, newline\nthere, emoji \U0001F600, back\\slash"
    ip[5] = "2001:db8::1"
    frame["other"] = pd.Series(other, dtype=object)
    frame["ip"] = pd.Series(ip, dtype=object)
    return frame


def test_encode_log_reply_matches_pandas_json(demo_site: DemoSite) -> None:
    frame = _tricky_frame(demo_site)
    for n, part in ((len(frame), 400), (777, 10_000), (1, 50)):
        body = b"".join(bytes(p) for p in encode_log_reply(frame, n, rows_per_part=part))
        ref = frame.iloc[len(frame) - n:].iloc[::-1].to_json(orient="records", force_ascii=True).encode()
        assert body == ref
        rows = json.loads(body)
        assert len(rows) == n and rows[0]["id"] == int(frame["id"].iloc[-1])     # newest first
    body = b"".join(bytes(p) for p in encode_log_reply(frame, len(frame)))
    assert b"\\/" in body and b"\\u00ec" in body and b"\\ud83d\\ude00" in body and b'"relateduserid":null' in body
    assert json.loads(body)[len(frame) - 5]["other"] == "tab\there, newline\nthere, emoji \U0001F600, back\\slash"
    assert encode_log_reply(frame, 0) == [b"[]"]


def _old_decode(body: bytes) -> pd.DataFrame:
    """The reference: every row through json.loads, then the typed frame."""
    return logs_frame(json.loads(body))


@pytest.mark.parametrize("slice_bytes", [1, 3000, 64 << 10, 1 << 30])
def test_stream_decoder_equals_json_loads(demo_site: DemoSite, slice_bytes: int) -> None:
    frame = _tricky_frame(demo_site)
    body = b"".join(bytes(p) for p in encode_log_reply(frame, len(frame)))
    stream = LogRowsStream(slice_bytes=slice_bytes)
    for i in range(0, len(body), 997):                       # chunks that cut rows and escapes anywhere
        stream.feed(body[i: i + 997])
    got = stream.finish()
    ref = _old_decode(body)
    pd.testing.assert_frame_equal(got, ref)
    assert list(got["id"]) == sorted(frame["id"])             # oldest first
    for col in CATEGORY_LOG_COLUMNS:
        assert isinstance(got[col].dtype, pd.CategoricalDtype), col
    assert got["other"].astype(object).where(got["other"].notna(), None).tolist() == frame["other"].tolist()
    assert got["ip"].astype(object).tolist() == frame["ip"].tolist()
    assert got["timecreated"].dtype == np.int64 and str(got["relateduserid"].dtype) == "Int64"


def test_stream_decoder_odd_replies() -> None:
    assert decode_log_rows(bytearray(b"[]")).empty
    assert decode_log_rows(bytearray(b" [ ] ")).empty
    # keys in another order, pretty-printed, an unknown extra field: the generic path still decodes
    body = json.dumps([{"timecreated": 20, "id": 2, "eventname": "\\core\\event\\course_viewed", "x": 1},
                       {"timecreated": 10, "id": 1, "eventname": "\\core\\event\\course_viewed", "x": 2}],
                      indent=1).encode()
    got = decode_log_rows(bytearray(body), slice_bytes=8)
    assert got["id"].tolist() == [1, 2] and got["eventname"].astype(str).tolist()[0] == "\\core\\event\\course_viewed"
    cut = b'[{"id":1,"timecreated":5},{"id":2,"timecreated":6}'
    with pytest.raises(ValueError):
        decode_log_rows(bytearray(cut))
    with pytest.raises(ValueError):
        decode_log_rows(bytearray(cut[:-9] + b"]"))


def test_client_log_frame_equals_demo_frame_and_is_lean(fake: FakeMoodleServer, tokens: dict[str, str],
                                                        demo_site: DemoSite) -> None:
    c = _client(fake, tokens)
    got = c.course_logs(103)
    ref = demo_site.log_frame(103, AS_OF)
    pd.testing.assert_frame_equal(got, ref)            # same dtypes too: categories sorted, ints int64
    assert got.memory_usage(deep=True).sum() / len(got) < 140        # bytes per row (object strings: ~260)
    # the encoded reply is cached per (course, now, rows): a second call is byte-identical and cheap
    first = fake._logs(103, 5_000_000)
    assert fake._logs(103, 5_000_000) is first


def test_truncated_log_reply_is_retried_on_the_stream_path(fake: FakeMoodleServer, tokens: dict[str, str],
                                                           demo_site: DemoSite) -> None:
    fake.faults.truncated = 1
    got = _client(fake, tokens).course_logs(102)
    assert len(got) == len(demo_site.log_frame(102, AS_OF))
    assert len(fake.calls("local_userlog_get_logs_course")) == 2
    fake.faults.truncated = 5
    with pytest.raises(MoodleUnavailableError):
        _client(fake, tokens, retries=1).course_logs(102)


def test_keep_alive_reuses_one_connection(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    c = _client(fake, tokens, workers=1)
    for _ in range(5):
        c.grade_items(102, c.enrolled_students(102)["id"].iloc[0])
    manager = c._session.get_adapter(fake.url).poolmanager
    pools = [manager.pools[key] for key in manager.pools.keys()]
    assert sum(p.num_requests for p in pools) >= 10
    assert sum(p.num_connections for p in pools) == 1          # HTTP/1.1 keep-alive: one socket for all


def test_course_wide_grades_mode_matches_per_user(fake: FakeMoodleServer, tokens: dict[str, str]) -> None:
    per_user = _client(fake, tokens, grades_mode="per_user")
    ids = per_user.enrolled_students(102)["id"].tolist()
    fake.requests.clear()
    ref = per_user.quiz_grades(102, ids)
    assert len(fake.calls("gradereport_user_get_grade_items")) == len(ids)
    fake.requests.clear()
    wide = _client(fake, tokens, grades_mode="course").quiz_grades(102, ids[:-3])
    calls = fake.calls("gradereport_user_get_grade_items")
    assert len(calls) == 1 and calls[0]["args"]["userid"] == "0"
    pd.testing.assert_frame_equal(wide, ref[ref["userid"].isin(ids[:-3])].reset_index(drop=True))
    with pytest.raises(Exception, match="grades_mode"):
        _client(fake, tokens, grades_mode="everyone")


@pytest.mark.parametrize("slice_bytes", [200, 64 << 10])
def test_stream_decoder_any_row_order_and_odd_columns(demo_site: DemoSite, slice_bytes: int) -> None:
    """Rows in no order (a sort, not a reversal), ints beyond int32 and below zero, nulls in int columns,
    slices where a column is absent: the compact slice parts assemble to the reference frame."""
    frame = _tricky_frame(demo_site, rows=600)
    rows = json.loads(frame.to_json(orient="records"))
    order = np.random.default_rng(5).permutation(len(rows))
    rows = [rows[i] for i in order]
    rows[0]["id"] = 2**40 + 7                             # needs int64
    rows[1]["objectid"] = -3
    rows[2]["contextid"] = 2**31                          # just beyond int32
    rows[3]["relateduserid"] = None
    rows[4]["realuserid"] = 12
    for r in rows[-40:]:                                  # the last slices lack a column
        r.pop("origin", None)
        r.pop("anonymous", None)
    body = json.dumps(rows, separators=(",", ":")).encode()
    stream = LogRowsStream(slice_bytes=slice_bytes)
    for i in range(0, len(body), 4093):
        stream.feed(body[i: i + 4093])
    got = stream.finish()
    pd.testing.assert_frame_equal(got, _old_decode(body))
    assert got["id"].is_monotonic_increasing or got["timecreated"].is_monotonic_increasing


def test_grade_reply_stream_equals_whole_decode(demo_site: DemoSite) -> None:
    """The whole-course grade report decoded in slices while it arrives = decoded at once, for any
    slice size and chunking; other replies (errors) are not taken; a cut-off reply is an error."""
    usergrades = [demo_site.grade_items_raw(102, int(u), AS_OF)
                  for u in demo_site.course_data(102, AS_OF).students["id"]]
    usergrades[3]["userfullname"] = 'Bình "quoted" },{"courseid": 1'     # a separator look-alike
    body = json.dumps({"usergrades": usergrades, "warnings": [{"item": "x"}]}, separators=(",", ":")).encode()
    ref = grades_frame(usergrades)
    for slice_bytes, step in ((1, 997), (5000, 64), (1 << 30, 1 << 20)):
        assert GradeReplyStream.wants(body[:step]) is True
        stream = GradeReplyStream(slice_bytes=slice_bytes)
        for i in range(0, len(body), step):
            stream.feed(body[i: i + step])
        got = stream.finish()
        pd.testing.assert_frame_equal(got["usergrades"], ref)
        assert got["warnings"] == [{"item": "x"}]
    assert GradeReplyStream.wants(b'{"exception":"x"}') is False and GradeReplyStream.wants(b' {"user') is None
    empty = GradeReplyStream()
    empty.feed(b'{"usergrades":[],"warnings":[]}')
    assert empty.finish()["usergrades"].empty
    cut = GradeReplyStream(slice_bytes=100)
    cut.feed(body[: len(body) // 2])
    with pytest.raises(ValueError):
        cut.finish()
