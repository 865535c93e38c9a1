from __future__ import annotations

import json

import pandas as pd
import pytest

from analytics import (
    build_prompt,
    check_numbers,
    cluster_statistics,
    describe_clusters,
    parse_llm_reply,
    top_features,
)
from analytics.profiles import prompt_statistics


def _data():
    idx = pd.Index(range(1, 9), name="user_id")
    f = pd.DataFrame({
        "total_events": [300.0, 280, 320, 310, 5, 0, 3, 2],
        "weekly_regularity": [0.9, 0.8, 1.0, 0.9, 0.1, 0.0, 0.1, 0.1],
        "mean_quiz_pct": [85.0, 90, 80, 85, 20, 0, 10, 30],
        "days_since_last_activity": [1.0, 2, 1, 0, 40, 50, 45, 41],
        "engagement_score": [85.0, 80, 90, 88, 5, 0, 4, 6],
    }, index=idx)
    labels = pd.Series([0, 0, 0, 0, 1, 1, 1, 1], index=idx)
    return f, labels


def test_cluster_statistics_and_top_features():
    f, lab = _data()
    st = cluster_statistics(f, lab)
    assert st[0]["size"] == 4 and st[0]["share"] == 0.5
    assert st[0]["mean"]["total_events"] == pytest.approx(302.5)
    assert st[1]["median"]["mean_quiz_pct"] == pytest.approx(15.0)
    assert set(st[0]) == {"size", "share", "mean", "std", "median"}
    tops = top_features(f, lab)
    assert tops[0][0]["direction"] == "high" and tops[1][0]["direction"] == "low"
    assert all(t["feature"] != "engagement_score" for t in tops[0])


def test_rule_profiles_deterministic_in_both_languages():
    f, lab = _data()
    vi = describe_clusters(f, lab)
    en = describe_clusters(f, lab, language="en")
    assert vi == describe_clusters(f, lab)
    assert en[0]["name"] == "Steady achievers" and vi[0]["name"] == "Nhóm học đều đặn, kết quả tốt"
    assert en[1]["source"] == "rules" and en[1]["language"] == "en" and vi[1]["language"] == "vi"
    assert "4 students" in en[0]["summary"] and "sinh viên" in vi[0]["summary"]
    assert en[1]["characteristics"] and en[1]["recommendations"]
    for p in en.values():
        assert set(p) >= {"name", "title", "summary", "characteristics", "recommendations", "language",
                          "source", "note"}


def _good_reply(prompt: str) -> str:
    stats = json.loads(prompt.split("Statistics: ", 1)[1])
    m = stats["features"]["mean_quiz_pct"]["cluster_mean"]
    n = stats["students"]
    return json.dumps({"name": "Focused group", "summary": f"{n} students, mean quiz score {m}%.",
                       "characteristics": [f"Quiz score {m}% on average"],
                       "recommendations": ["Keep giving feedback."]})


def test_llm_good_reply_is_used_and_cached():
    f, lab = _data()
    calls = []

    def llm(prompt: str) -> str:
        calls.append(prompt)
        return _good_reply(prompt)

    cache: dict = {}
    out = describe_clusters(f, lab, language="en", llm=llm, min_llm_size=4, cache=cache)
    assert out[0]["source"] == "llm" and out[0]["name"] == "Focused group"
    assert "85.0%" in out[0]["summary"] and out[0]["note"] == ""
    assert len(calls) == 2 and len(cache) == 2
    again = describe_clusters(f, lab, language="en", llm=llm, min_llm_size=4, cache=cache)
    assert len(calls) == 2 and again[0]["source"] == "llm" and "cached" in again[0]["note"]
    # changed statistics -> new calls (the course mean in both prompts changes too)
    f2 = f.copy()
    f2.loc[1, "mean_quiz_pct"] = 95.0
    describe_clusters(f2, lab, language="en", llm=llm, min_llm_size=4, cache=cache)
    assert len(calls) == 4


def test_llm_wrong_numbers_fall_back_to_rules():
    f, lab = _data()

    def llm(prompt: str) -> str:
        return json.dumps({"name": "Stars", "summary": "Their mean quiz score is 97.3%.",
                           "characteristics": ["Very good"], "recommendations": ["Praise them."]})

    cache: dict = {}
    out = describe_clusters(f, lab, language="en", llm=llm, min_llm_size=4, cache=cache)
    assert out[0]["source"] == "rules" and "97.3" in out[0]["note"] and "numbers" in out[0]["note"]
    assert out[0]["name"] == "Steady achievers" and cache == {}


@pytest.mark.parametrize("reply", ["not json at all", '{"name": "x"}', "[1, 2]",
                                   '{"name": "A", "summary": "B", "characteristics": [], "recommendations": ["c"]}'])
def test_llm_malformed_reply_falls_back(reply):
    f, lab = _data()
    out = describe_clusters(f, lab, language="en", llm=lambda p: reply, min_llm_size=4)
    assert out[1]["source"] == "rules" and "malformed" in out[1]["note"]


def test_llm_exception_falls_back_without_leaking_message():
    f, lab = _data()

    def llm(prompt: str) -> str:
        raise TimeoutError("https://example.invalid/?key=test-token-abc timed out")

    out = describe_clusters(f, lab, llm=llm, min_llm_size=4)
    assert out[0]["source"] == "rules" and "TimeoutError" in out[0]["note"]
    assert "test-token-abc" not in out[0]["note"]


def test_prompt_has_only_aggregates():
    f, lab = _data()
    f = f.assign(fullname="Nguyen Van A", email="a@example.invalid")
    prompts = []
    describe_clusters(f, lab, llm=lambda p: prompts.append(p) or "{}", min_llm_size=4)
    text = "\n".join(prompts)
    assert "Nguyen" not in text and "example.invalid" not in text and "user_id" not in text
    assert "Vietnamese" in prompts[0]
    st = cluster_statistics(f, lab)
    p = build_prompt(prompt_statistics(0, st[0], f.select_dtypes("number").mean(), []), "en")
    assert "English" in p and "JSON" in p


def test_number_check_tolerates_rounding_percent_and_vietnamese_commas():
    stats = {"students": 42, "share_of_course_pct": 35.0,
             "features": {"night_share": {"cluster_mean": 0.23}, "mean_quiz_pct": {"cluster_mean": 82.57}}}
    ok = {"name": "A", "summary": "42 sinh viên, điểm 82,6%, 23% ban đêm, 35%", "characteristics": ["83%"],
          "recommendations": ["x"]}
    assert check_numbers(ok, stats) == []
    bad = dict(ok, characteristics=["82.9%", "7 ngày"])
    assert check_numbers(bad, stats) == ["82.9", "7"]


def test_parse_llm_reply_accepts_code_fence():
    reply = '```json\n{"name": "A", "summary": "B", "characteristics": ["c"], "recommendations": ["d"]}\n```'
    assert parse_llm_reply(reply)["name"] == "A"


def test_every_feature_has_labels():
    from analytics import FEATURE_COLUMNS, FEATURE_LABELS

    assert set(FEATURE_COLUMNS) | {"engagement_score"} <= set(FEATURE_LABELS)


def test_small_clusters_are_never_sent_to_the_llm():
    """A cluster of fewer than 5 students: its mean is nearly one person's figures, so rules only."""
    f, lab = _data()
    lab = lab.copy()
    lab.loc[[7, 8]] = 2  # a cluster of two; the others have 4 and 2 students
    prompts: list[str] = []

    def llm(prompt: str) -> str:
        prompts.append(prompt)
        return _good_reply(prompt)

    out = describe_clusters(f, lab, language="en", llm=llm, min_llm_size=3)
    assert out[2]["source"] == "rules" and "fewer than 3 students" in out[2]["note"]
    assert out[1]["source"] == "rules" and len(prompts) == 1  # only cluster 0 (4 students) was sent
    assert describe_clusters(f, lab, language="en", llm=llm)[0]["source"] == "rules"  # default minimum 5
