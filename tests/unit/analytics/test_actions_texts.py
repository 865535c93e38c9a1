"""Action list, re-engagement, bilingual generated texts and the Vietnamese glossary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from analytics import profiles
from analytics.actions import (
    MESSAGE_TEMPLATES,
    REASONS,
    action_list,
    message_text,
    outcome,
    outcome_summary,
    reason_text,
)
from analytics.glossary import AVOID, violations
from analytics.texts import alert_text, mover_text, translate_reason

AS_OF = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "fullname", "email", "cluster_id", "engagement_score",
                                       "days_since_last_activity", "events_last_14d"])


def test_action_list_reasons_and_order():
    cur = _frame([
        (1, "An", "an@x", 0, 80.0, 1.0, 40),     # fine: not listed
        (2, "Bình", "b@x", 1, 20.0, 3.0, 2),     # in the at-risk group
        (3, "Chi", "c@x", 0, 60.0, 12.5, 0),     # gone quiet
        (4, "Dũng", "d@x", 0, 55.0, 2.0, 10),    # fading: 75 -> 55
        (5, "Em", "e@x", 0, 85.0, 1.0, 90),      # unusual
    ])
    prev = _frame([(4, "Dũng", "d@x", 0, 75.0, 1.0, 30), (2, "Bình", "b@x", 0, 50.0, 1.0, 20)])
    out = action_list(cur, archetypes={0: "regular", 1: "inactive"}, as_of=AS_OF, previous=prev,
                      previous_engagement={0: 70.0}, cluster_engagement={0: 70.0, 1: 30.0},
                      anomalies=[{"user_id": 5, "feature": "forum_posts", "z": 4.2}])
    codes = {int(r.user_id): [x["code"] for x in r.reasons] for r in out.itertuples()}
    assert codes == {2: ["at_risk", "fading", "moved_down"], 3: ["gone_quiet"], 4: ["fading"], 5: ["unusual"]}
    assert list(out["user_id"])[0] == 2  # most reasons first
    quiet = out[out["user_id"] == 3].iloc[0]
    assert quiet["days_inactive"] == 12 and quiet["last_access"] == AS_OF - timedelta(days=12.5)
    assert out[out["user_id"] == 4].iloc[0]["engagement_change"] == -20.0
    en = reason_text(out.iloc[0]["reasons"], "en", {1: "Low activity"})
    vi = reason_text(out.iloc[0]["reasons"], "vi", {1: "Nhóm ít hoạt động"})
    assert en.startswith("in an at-risk group; engagement fell from 50 to 20")
    assert vi.startswith("thuộc nhóm có nguy cơ; mức tham gia giảm từ 50 xuống 20")


def test_message_template_fills_name_and_student_friendly_reason():
    reasons = [{"code": "gone_quiet", "days": 12}]
    en = message_text(MESSAGE_TEMPLATES["en"], name="Chi", reasons=reasons, lang="en", course="Maths", teacher="T")
    vi = message_text(MESSAGE_TEMPLATES["vi"], name="Chi", reasons=reasons, lang="vi", course="Toán", teacher="T")
    assert en.startswith("Hello Chi,") and "not active for 12 days in Maths" in en
    assert vi.startswith("Chào Chi,") and "không hoạt động 12 ngày" in vi
    assert message_text("Hi {name} {unknown} {", name="A", reasons=[], lang="en") == "Hi A {unknown} {"


def test_outcome_re_engaged_only_when_active_after_the_contact():
    sent = AS_OF
    contact = {"created_at": sent, "before": {"engagement": 20.0, "cluster_id": 1, "days_inactive": 12}}
    later = AS_OF + timedelta(days=7)
    back = outcome(contact, {"days_since_last_activity": 2.0, "engagement_score": 45.0, "cluster_id": 0}, later)
    still = outcome(contact, {"days_since_last_activity": 19.0, "engagement_score": 18.0, "cluster_id": 1}, later)
    waiting = outcome(contact, None, None)
    assert back["re_engaged"] is True and back["cluster_after"] == 0 and back["engagement_after"] == 45.0
    assert still["re_engaged"] is False and waiting["re_engaged"] is None
    assert outcome(contact, {"days_since_last_activity": 0.0}, sent - timedelta(days=1))["re_engaged"] is None
    assert outcome_summary([back, still, waiting]) == {"contacted": 3, "followed_up": 2, "re_engaged": 1}


def test_alerts_and_reasons_in_both_languages():
    alert = {"type": "size_shift", "cluster_id": 2, "value": -0.4, "params": {"before": 50, "now": 30, "threshold": 0.25}}
    assert alert_text(alert, "en", {2: "Fading out"}) == "Group Fading out shrank by 40% (50 -> 30 students; threshold 25%)."
    assert alert_text(alert, "vi", {2: "Nhóm giảm dần"}) == "Nhóm Nhóm giảm dần giảm 40% (50 -> 30 sinh viên; ngưỡng 25%)."
    old = {"type": "size_shift", "message": "Cluster 2 shrank by 40%."}  # stored before params existed
    assert alert_text(old, "vi") == "Cluster 2 shrank by 40%."
    vote = ("k=4 was chosen from k=2..10; 2 of 3 criteria vote for it (the best silhouette and the lowest "
            "Davies-Bouldin index; elbow k=3); silhouette 0.41.")
    vi = translate_reason(vote, "vi")
    assert vi.startswith("k=4 được chọn trong khoảng k=2..10; 2 trên 3 tiêu chí") and "chosen" not in vi
    drop = translate_reason("correlated with total_events (r=0.93, |r| > 0.9); total_events shows clearer groups", "vi",
                            lambda f: {"total_events": "tổng số hoạt động"}[f])
    assert drop == "tương quan với tổng số hoạt động (r=0.93, |r| > 0.9); tổng số hoạt động thể hiện nhóm rõ hơn"
    changed = [{"feature": "days_since_last_activity", "before": 1.6, "after": 8.6, "z": 1.0}]
    assert mover_text(changed, "en") == "days since last activity up from 1.6 to 8.6"
    assert mover_text(changed, "vi", lambda f: "số ngày vắng") == "số ngày vắng tăng từ 1,6 lên 8,6"


def test_profiles_in_both_languages_differ_and_follow_the_glossary():
    feats = pd.DataFrame({"total_events": [1, 2, 50, 60, 55, 3], "engagement_score": [5, 8, 80, 90, 85, 6],
                          "days_since_last_activity": [30, 25, 1, 2, 1, 28]}, index=range(1, 7))
    labels = pd.Series([0, 0, 1, 1, 1, 0], index=feats.index)
    vi = profiles.describe_clusters(feats, labels, language="vi")
    en = profiles.describe_clusters(feats, labels, language="en")
    for cid in vi:
        assert vi[cid]["name"] != en[cid]["name"] and vi[cid]["language"] == "vi" and en[cid]["language"] == "en"
        assert not violations(" ".join([vi[cid]["name"], vi[cid]["summary"], *vi[cid]["recommendations"]]))


def test_vietnamese_texts_use_one_glossary():
    from ui.i18n import STRINGS

    texts = list(STRINGS["vi"].values()) + [MESSAGE_TEMPLATES["vi"]] + [r[2] for r in REASONS.values()]
    for arche in profiles._ARCHETYPES.values():
        texts += [arche["vi"], *arche["rec_vi"]]
    bad = {tx: violations(tx) for tx in texts if violations(tx)}
    assert not bad, bad
    assert violations("Học viên của khoá học") == ["Học viên", "khoá"] and "học viên" in AVOID
