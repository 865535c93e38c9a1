"""Whom to contact now, and why, in plain words (English and Vietnamese); whether contacted students
re-engaged afterwards.

Pure pandas: the caller passes the run's per-student frame (the snapshot), the previous run's frame
and the run's ``as_of`` moment (never the wall clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "REASONS",
    "AT_RISK_ARCHETYPES",
    "action_list",
    "reason_text",
    "message_text",
    "MESSAGE_TEMPLATES",
    "outcome",
    "outcome_summary",
]

#: archetypes (analytics.profiles) whose members are at risk
AT_RISK_ARCHETYPES = frozenset({"none", "inactive", "low", "fading"})
#: no activity for this many days counts as "gone quiet"
QUIET_DAYS = 7.0
#: an engagement drop of this many points since the last run counts as "fading"
FADING_POINTS = 10.0

#: reason code -> (priority, English template, Vietnamese template)
REASONS: dict[str, tuple[int, str, str]] = {
    "at_risk": (40, "in an at-risk group", "thuộc nhóm có nguy cơ"),
    "gone_quiet": (30, "no activity for {days} days", "không hoạt động {days} ngày"),
    "fading": (25, "engagement fell from {before} to {after} since the last run",
               "mức tham gia giảm từ {before} xuống {after} so với lần chạy trước"),
    "moved_down": (20, "moved to a less active group since the last run",
                   "chuyển sang nhóm kém tích cực hơn so với lần chạy trước"),
    "unusual": (10, "unusual: {feature} far {direction} the course average",
                "bất thường: {feature} {direction} trung bình khóa học nhiều"),
}
_DIRECTION = {"en": {"above": "above", "below": "below"}, "vi": {"above": "cao hơn", "below": "thấp hơn"}}


def _lang(lang: str) -> str:
    return "en" if str(lang).lower().startswith("en") else "vi"


def _num(value: Any, lang: str, digits: int = 0) -> str:
    s = f"{float(value):.{digits}f}"
    return s.replace(".", ",") if lang == "vi" else s


def reason_text(reasons: Sequence[Mapping[str, Any]], lang: str,
                group_names: Mapping[int, str] | None = None,
                feature_labels: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Reasons ``[{"code", ...params}]`` as one plain sentence fragment in ``lang`` ("; "-joined)."""
    lang = _lang(lang)
    parts = []
    for r in reasons:
        code = r.get("code")
        if code not in REASONS:
            continue
        tpl = REASONS[code][1 if lang == "en" else 2]
        params: dict[str, Any] = {}
        if code == "at_risk":
            cid = r.get("cluster_id")
            params["group"] = (group_names or {}).get(int(cid), f"#{cid}") if cid is not None else "—"
        elif code == "gone_quiet":
            params["days"] = _num(r.get("days", 0), lang)
        elif code == "fading":
            params["before"] = _num(r.get("before", 0), lang)
            params["after"] = _num(r.get("after", 0), lang)
        elif code == "unusual":
            f = str(r.get("feature", ""))
            labels = (feature_labels or {}).get(f) or {}
            params["feature"] = labels.get(lang) or labels.get("en") or f.replace("_", " ")
            params["direction"] = _DIRECTION[lang].get(str(r.get("direction")), "")
        parts.append(tpl.format(**params))
    return "; ".join(parts)


#: the message a teacher starts from; {name} and {reason} are filled per student
MESSAGE_TEMPLATES = {
    "en": ("Hello {name},\n\nI noticed that you are {reason} in {course}. Is anything getting in the way? "
           "Reply to this message and we can find a next step together.\n\n{teacher}"),
    "vi": ("Chào {name},\n\nThầy/cô thấy em đang {reason} trong khóa học {course}. Em có gặp khó khăn gì "
           "không? Hãy trả lời tin nhắn này để chúng ta cùng tìm bước tiếp theo nhé.\n\n{teacher}"),
}
_MESSAGE_REASON = {
    "at_risk": ("taking part less than most of the class", "tham gia ít hơn phần lớn lớp học"),
    "gone_quiet": ("not active for {days} days", "không hoạt động {days} ngày"),
    "fading": ("less active than before", "hoạt động ít hơn trước"),
    "moved_down": ("less active than before", "hoạt động ít hơn trước"),
    "unusual": ("working quite differently from the class", "học khác khá nhiều so với lớp"),
}


def message_text(template: str, *, name: str, reasons: Sequence[Mapping[str, Any]], lang: str,
                 course: str = "", teacher: str = "") -> str:
    """Fill a message template for one student: ``{name}``, ``{reason}`` (student-friendly words, not
    the analyst's), ``{course}``, ``{teacher}``. Unknown placeholders are left as typed."""
    lang = _lang(lang)
    phrases: list[str] = []
    for r in reasons:
        code = r.get("code")
        if code not in _MESSAGE_REASON:
            continue
        phrase = _MESSAGE_REASON[code][0 if lang == "en" else 1].format(days=_num(r.get("days", 0), lang))
        if phrase not in phrases:
            phrases.append(phrase)
    joiner = " and " if lang == "en" else " và "
    reason = joiner.join(phrases[:2]) or ("less active lately" if lang == "en" else "ít hoạt động gần đây")
    values = {"name": name or "", "reason": reason, "course": course, "teacher": teacher}

    class _Keep(dict):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    try:
        return template.format_map(_Keep(values)).strip()
    except (ValueError, IndexError):  # a stray brace typed by the teacher: fill what can be filled
        out = template
        for k, v in values.items():
            out = out.replace("{" + k + "}", v)
        return out.strip()


def action_list(current: pd.DataFrame, *, archetypes: Mapping[int, str], as_of: datetime | None,
                previous: pd.DataFrame | None = None, previous_engagement: Mapping[int, float] | None = None,
                cluster_engagement: Mapping[int, float] | None = None,
                anomalies: Sequence[Mapping[str, Any]] = (), quiet_days: float = QUIET_DAYS,
                fading_points: float = FADING_POINTS) -> pd.DataFrame:
    """The students worth contacting now, most urgent first.

    ``current``: one row per student with ``user_id``, ``cluster_id``, ``engagement_score``,
    ``days_since_last_activity`` (and ``fullname``, ``email``, ``events_last_14d`` when known).
    ``archetypes``: cluster_id -> archetype of this run; ``previous``: the previous run's frame (same
    columns) for the change since then; ``previous_engagement`` / ``cluster_engagement``: cluster mean
    engagement of the previous / this run (to tell a move to a less active group).

    Columns: ``user_id, fullname, email, cluster_id, previous_cluster_id, reasons`` (list of
    ``{"code", ...}``), ``priority, days_inactive, last_access, engagement, engagement_change,
    events_last_14d``. Students without any reason are left out.
    """
    cols = ["user_id", "fullname", "email", "cluster_id", "previous_cluster_id", "reasons", "priority",
            "days_inactive", "last_access", "engagement", "engagement_change", "events_last_14d"]
    if current is None or current.empty or "user_id" not in current:
        return pd.DataFrame(columns=cols)
    cur = current.copy()
    cur["user_id"] = cur["user_id"].astype("int64")
    cur = cur.drop_duplicates("user_id").set_index("user_id")
    prev = None
    if previous is not None and not previous.empty and "user_id" in previous:
        prev = previous.copy()
        prev["user_id"] = prev["user_id"].astype("int64")
        prev = prev.drop_duplicates("user_id").set_index("user_id").reindex(cur.index)
    eng = pd.to_numeric(cur.get("engagement_score"), errors="coerce") if "engagement_score" in cur else \
        pd.Series(np.nan, index=cur.index)
    idle = pd.to_numeric(cur["days_since_last_activity"], errors="coerce") if "days_since_last_activity" in cur \
        else pd.Series(np.nan, index=cur.index)
    eng_prev = (pd.to_numeric(prev["engagement_score"], errors="coerce") if prev is not None
                and "engagement_score" in prev else pd.Series(np.nan, index=cur.index))
    cl_prev = (pd.to_numeric(prev["cluster_id"], errors="coerce") if prev is not None and "cluster_id" in prev
               else pd.Series(np.nan, index=cur.index))
    unusual: dict[int, Mapping[str, Any]] = {}
    for a in anomalies or ():
        uid = int(a.get("user_id"))
        if uid in cur.index and uid not in unusual:  # anomalies come largest |z| first
            unusual[uid] = a
    eng_to = {int(k): float(v) for k, v in (cluster_engagement or {}).items() if v is not None}
    eng_from = {int(k): float(v) for k, v in (previous_engagement or cluster_engagement or {}).items()
                if v is not None}
    # the few fields read per student, as plain dicts (``cur.loc[uid]`` built a row of every column)
    fields = cur[[c for c in ("cluster_id", "fullname", "email", "events_last_14d") if c in cur]].to_dict("index")
    rows = []
    for uid in cur.index:
        row = fields[uid]
        cid = int(row["cluster_id"]) if pd.notna(row.get("cluster_id")) else None
        reasons: list[dict[str, Any]] = []
        if cid is not None and archetypes.get(cid) in AT_RISK_ARCHETYPES:
            reasons.append({"code": "at_risk", "cluster_id": cid})
        d = idle.get(uid)
        if pd.notna(d) and float(d) >= quiet_days:
            reasons.append({"code": "gone_quiet", "days": int(np.floor(float(d)))})
        e, ep = eng.get(uid), eng_prev.get(uid)
        if pd.notna(e) and pd.notna(ep) and float(ep) - float(e) >= fading_points:
            reasons.append({"code": "fading", "before": round(float(ep)), "after": round(float(e))})
        pc = cl_prev.get(uid)
        if (cid is not None and pd.notna(pc) and int(pc) != cid and int(pc) in eng_from and cid in eng_to
                and eng_to[cid] < eng_from[int(pc)]):
            reasons.append({"code": "moved_down", "from": int(pc), "to": cid})
        if uid in unusual:
            a = unusual[uid]
            reasons.append({"code": "unusual", "feature": str(a.get("feature")),
                            "direction": "above" if float(a.get("z", 0)) > 0 else "below"})
        if not reasons:
            continue
        priority = sum(REASONS[r["code"]][0] for r in reasons)
        if pd.notna(d):
            priority += min(float(d), 60.0) / 2.0
        last = (as_of - timedelta(days=float(d))) if as_of is not None and pd.notna(d) else None
        rows.append({
            "user_id": int(uid), "fullname": str(row.get("fullname") or "") if "fullname" in cur else "",
            "email": str(row.get("email") or "") if "email" in cur else "",
            "cluster_id": cid, "previous_cluster_id": int(pc) if pd.notna(pc) else None,
            "reasons": reasons, "priority": round(priority, 1),
            "days_inactive": int(np.floor(float(d))) if pd.notna(d) else None, "last_access": last,
            "engagement": round(float(e), 1) if pd.notna(e) else None,
            "engagement_change": round(float(e) - float(ep), 1) if pd.notna(e) and pd.notna(ep) else None,
            "events_last_14d": (int(row["events_last_14d"]) if "events_last_14d" in cur
                                and pd.notna(row.get("events_last_14d")) else None),
        })
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    out = out.sort_values(["priority", "engagement", "user_id"], ascending=[False, True, True],
                          na_position="last", kind="stable")
    return out.reset_index(drop=True)


def outcome(contact: Mapping[str, Any], later: Mapping[str, Any] | None, later_as_of: datetime | None,
            later_run_id: str | None = None) -> dict[str, Any]:
    """Did a contacted student re-engage? ``contact``: the intervention (``created_at`` and ``before`` =
    the figures of the run it was made from); ``later``: the student's row in the newest run made after
    the contact (None when there is none yet).

    ``re_engaged``: True when the later run saw the student active after the contact, False when not,
    None when no later run exists yet (or the student left the course).
    """
    before = dict(contact.get("before") or {})
    out: dict[str, Any] = {
        "engagement_before": before.get("engagement"), "cluster_before": before.get("cluster_id"),
        "days_inactive_before": before.get("days_inactive"), "engagement_after": None,
        "cluster_after": None, "days_inactive_after": None, "re_engaged": None, "later_run_id": later_run_id,
    }
    sent = contact.get("created_at")
    if later is None or later_as_of is None or sent is None:
        return out
    if isinstance(sent, str):
        sent = datetime.fromisoformat(sent)
    if sent.tzinfo is None and later_as_of.tzinfo is not None:
        sent = sent.replace(tzinfo=later_as_of.tzinfo)
    if later_as_of <= sent:
        return out
    d = later.get("days_since_last_activity")
    e = later.get("engagement_score")
    out["engagement_after"] = round(float(e), 1) if e is not None and pd.notna(e) else None
    out["cluster_after"] = int(later["cluster_id"]) if later.get("cluster_id") is not None else None
    if d is not None and pd.notna(d):
        out["days_inactive_after"] = int(np.floor(float(d)))
        last_active = later_as_of - timedelta(days=float(d))
        out["re_engaged"] = bool(last_active > sent)
    return out


def outcome_summary(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per course: contacted students, how many a later run has seen, how many re-engaged."""
    known = [o for o in outcomes if o.get("re_engaged") is not None]
    return {"contacted": len(outcomes), "followed_up": len(known),
            "re_engaged": sum(1 for o in known if o["re_engaged"])}
