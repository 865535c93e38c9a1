"""Names agree with the numbers: no "highly engaged" group below the course median engagement, no "middle"
group at an extreme."""

from __future__ import annotations

import pandas as pd

from analytics.profiles import _archetype, _name_agrees, rule_profile

COURSE = pd.Series({"total_events": 100.0, "engagement_score": 50.0})


def _z(**values: float) -> pd.Series:
    base = {"total_events": 0.0, "weekly_regularity": 0.0, "mean_quiz_pct": 0.0, "days_since_last_activity": 0.0,
            "forum_posts": 0.0, "forum_views": 0.0, "events_per_active_day": 0.0, "night_share": 0.0,
            "weekend_share": 0.0, "engagement_score": 0.0, "content_share": 0.0}
    return pd.Series({**base, **values})


def test_engaged_only_at_or_above_the_course_median():
    z = _z(engagement_score=0.6)
    above = pd.Series({"total_events": 100.0, "engagement_score": 62.0})
    below = pd.Series({"total_events": 100.0, "engagement_score": 45.0})
    median = pd.Series({"engagement_score": 55.0})
    assert _archetype(z, above, COURSE, median) == "engaged"
    assert _archetype(z, below, COURSE, median) != "engaged"


def test_middle_never_at_an_extreme():
    means = pd.Series({"total_events": 100.0, "engagement_score": 50.0})
    assert _archetype(_z(content_share=0.4), means, COURSE) == "middle"
    assert _archetype(_z(content_share=1.6), means, COURSE) == "focused"
    stats = {"mean": {"total_events": 100.0, "engagement_score": 50.0, "content_share": 0.8}, "size": 10,
             "share": 0.1}
    en = rule_profile(3, stats, COURSE, _z(content_share=1.6), [], language="en")
    vi = rule_profile(3, stats, COURSE, _z(content_share=-1.6), [], language="vi")
    assert en["archetype"] == "focused" and en["name"].startswith("More ") and "Middle" not in en["name"]
    assert vi["name"].startswith("Ít ")


def test_an_llm_name_that_overstates_engagement_is_replaced():
    rules = {"name": "Low engagement", "title": "Low engagement - 12 students"}
    llm = {"name": "Highly engaged learners", "title": "Highly engaged learners - 12 students", "source": "llm"}
    fixed = _name_agrees(llm, rules, group_eng=30.0, median_eng=50.0)
    assert fixed["name"] == "Low engagement" and fixed["title"] == "Low engagement - 12 students"
    assert _name_agrees(llm, rules, group_eng=70.0, median_eng=50.0)["name"] == "Highly engaged learners"
