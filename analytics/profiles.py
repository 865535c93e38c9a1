"""Plain-language cluster profiles: deterministic rules, or an LLM held to the statistics.

The LLM path sends only aggregate statistics (sizes, means, medians; no names, ids or emails), asks for
JSON (name, summary, characteristics, recommendations), checks every number in the reply against the
statistics and falls back to the rule text, saying why, when a number does not match or the reply is
malformed. ``llm`` is any callable ``prompt -> str`` (the Gemini client lives in jobs/).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, MutableMapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FEATURE_LABELS",
    "PROMPT_VERSION",
    "cluster_statistics",
    "top_features",
    "describe_clusters",
    "rule_profile",
    "prompt_statistics",
    "build_prompt",
    "parse_llm_reply",
    "check_numbers",
    "statistics_key",
]

PROMPT_VERSION = "cohortlens-profile-v1"

#: Feature -> (English, Vietnamese) label.
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "course_views": ("course page views", "lượt xem trang khóa học"),
    "resource_views": ("file/resource views", "lượt xem tài liệu"),
    "page_views": ("page/book views", "lượt xem trang nội dung/sách"),
    "url_views": ("link views", "lượt mở liên kết"),
    "forum_views": ("forum reads", "lượt đọc diễn đàn"),
    "forum_posts": ("forum posts", "bài đăng diễn đàn"),
    "quiz_views": ("quiz views", "lượt xem bài kiểm tra"),
    "quiz_attempt_events": ("quiz attempt events", "lượt làm bài kiểm tra"),
    "assignment_views": ("assignment views", "lượt xem bài tập"),
    "submissions": ("assignment submissions", "lượt nộp bài tập"),
    "other_events": ("other actions", "hoạt động khác"),
    "total_events": ("total actions", "tổng số hoạt động"),
    "content_share": ("share of actions on course content", "tỉ lệ hoạt động xem nội dung"),
    "forum_share": ("share of actions in forums", "tỉ lệ hoạt động trên diễn đàn"),
    "quiz_share": ("share of actions on quizzes", "tỉ lệ hoạt động với bài kiểm tra"),
    "assignment_share": ("share of actions on assignments", "tỉ lệ hoạt động với bài tập"),
    "active_days": ("active days", "số ngày hoạt động"),
    "active_span_days": ("days between first and last activity", "số ngày từ lần đầu đến lần cuối hoạt động"),
    "events_per_active_day": ("actions per active day", "số hoạt động mỗi ngày học"),
    "sessions": ("study sessions", "số phiên học"),
    "weekly_regularity": ("share of weeks active", "tỉ lệ tuần có hoạt động"),
    "night_share": ("share of activity at night", "tỉ lệ hoạt động ban đêm"),
    "weekend_share": ("share of activity at weekends", "tỉ lệ hoạt động cuối tuần"),
    "days_since_last_activity": ("days since last activity", "số ngày kể từ lần hoạt động gần nhất"),
    "quiz_attempts": ("quizzes attempted", "số bài kiểm tra đã làm"),
    "mean_quiz_pct": ("mean quiz score (%)", "điểm kiểm tra trung bình (%)"),
    "quiz_completion_share": ("share of quizzes attempted", "tỉ lệ bài kiểm tra đã làm"),
    "grade_trend": ("quiz score trend (points per quiz)", "xu hướng điểm (điểm mỗi bài)"),
    "events_last_14d": ("actions in the last 2 weeks", "số hoạt động trong 2 tuần gần nhất"),
    "activity_trend": ("recent activity trend (change per week)", "xu hướng hoạt động gần đây (mỗi tuần)"),
    "engagement_score": ("engagement score", "điểm tham gia"),
}
_SHARE_FEATURES = {"weekly_regularity", "night_share", "weekend_share", "quiz_completion_share",
                   "content_share", "forum_share", "quiz_share", "assignment_share"}

_ARCHETYPES: dict[str, dict[str, Any]] = {
    "none": {"en": "No activity yet", "vi": "Nhóm chưa hoạt động",
             "rec_en": ["Send a personal welcome message with the first steps of the course.",
                        "Check that these students can log in and find the course materials."],
             "rec_vi": ["Gửi lời chào và hướng dẫn các bước đầu tiên của khóa học.",
                        "Kiểm tra xem sinh viên có đăng nhập và tìm được tài liệu không."]},
    "inactive": {"en": "Low activity (at risk)", "vi": "Nhóm ít hoạt động (có nguy cơ)",
                 "rec_en": ["Contact these students early: ask what stops them from taking part.",
                            "Point them to one short, concrete task to restart."],
                 "rec_vi": ["Liên hệ sớm với sinh viên để tìm hiểu khó khăn.",
                            "Giao một nhiệm vụ ngắn, cụ thể để bắt đầu lại."]},
    "fading": {"en": "Fading out", "vi": "Nhóm đang giảm dần hoạt động",
               "rec_en": ["Reach out now: they were active but have not been seen recently.",
                          "Remind them of upcoming deadlines and what they have missed."],
               "rec_vi": ["Liên hệ ngay: nhóm từng hoạt động nhưng gần đây vắng mặt.",
                          "Nhắc hạn nộp sắp tới và nội dung đã bỏ lỡ."]},
    "achievers": {"en": "Steady achievers", "vi": "Nhóm học đều đặn, kết quả tốt",
                  "rec_en": ["Offer optional challenge material to keep them stretched.",
                             "Invite them to help peers in the forum."],
                  "rec_vi": ["Cung cấp thêm tài liệu nâng cao.",
                             "Mời nhóm hỗ trợ bạn học trên diễn đàn."]},
    "struggling": {"en": "Busy but struggling", "vi": "Nhóm chăm chỉ nhưng gặp khó khăn",
                   "rec_en": ["Review the quiz topics they miss and offer worked examples.",
                              "Suggest a study-skills session or office hours."],
                   "rec_vi": ["Rà soát các chủ đề hay sai và cung cấp ví dụ mẫu.",
                              "Gợi ý buổi hỗ trợ kỹ năng học hoặc giờ tư vấn."]},
    "social": {"en": "Discussion-driven learners", "vi": "Nhóm tích cực thảo luận",
               "rec_en": ["Use them to seed forum discussions on harder topics.",
                          "Make sure discussion turns into quiz and assignment work."],
               "rec_vi": ["Khuyến khích nhóm mở thảo luận về các chủ đề khó.",
                          "Đảm bảo thảo luận đi kèm với làm bài kiểm tra và bài tập."]},
    "crammers": {"en": "Last-minute crammers", "vi": "Nhóm học dồn",
                 "rec_en": ["Break work into weekly milestones with reminders.",
                            "Open short weekly quizzes to spread the study time."],
                 "rec_vi": ["Chia nhỏ công việc theo mốc hằng tuần kèm nhắc nhở.",
                            "Mở các bài kiểm tra ngắn hằng tuần để học đều hơn."]},
    "efficient": {"en": "Efficient performers", "vi": "Nhóm học hiệu quả",
                  "rec_en": ["No action needed; check that the course still challenges them.",
                             "Ask them which materials helped most."],
                  "rec_vi": ["Chưa cần can thiệp; kiểm tra độ thử thách của khóa học.",
                             "Hỏi nhóm tài liệu nào hữu ích nhất."]},
    "night": {"en": "Night owls", "vi": "Nhóm học ban đêm",
              "rec_en": ["Keep deadlines and forum answers reachable outside office hours.",
                         "Check whether work or other commitments limit their daytime study."],
              "rec_vi": ["Đảm bảo hạn nộp và hỗ trợ diễn đàn phù hợp ngoài giờ hành chính.",
                         "Tìm hiểu xem công việc có hạn chế thời gian học ban ngày không."]},
    "weekend": {"en": "Weekend learners", "vi": "Nhóm học cuối tuần",
                "rec_en": ["Release material before the weekend and avoid Monday-morning deadlines.",
                           "Offer asynchronous support they can use at weekends."],
                "rec_vi": ["Đăng tài liệu trước cuối tuần, tránh hạn nộp sáng thứ Hai.",
                           "Cung cấp hỗ trợ không đồng bộ vào cuối tuần."]},
    "regular": {"en": "Regular participants", "vi": "Nhóm tham gia đều đặn",
                "rec_en": ["Keep the weekly rhythm; add feedback on quiz results.",
                           "Encourage them to contribute to discussions."],
                "rec_vi": ["Duy trì nhịp học hằng tuần; bổ sung phản hồi về kết quả kiểm tra.",
                           "Khuyến khích nhóm tham gia thảo luận."]},
    "engaged": {"en": "Highly engaged", "vi": "Nhóm tích cực",
                "rec_en": ["Offer extension activities.", "Invite them to mentor other students."],
                "rec_vi": ["Cung cấp hoạt động mở rộng.", "Mời nhóm hỗ trợ các bạn khác."]},
    "low": {"en": "Low engagement", "vi": "Nhóm tham gia thấp",
            "rec_en": ["Send a check-in message with clear next steps.",
                       "Highlight the most important activities of the week."],
            "rec_vi": ["Gửi tin nhắn hỏi thăm kèm các bước tiếp theo rõ ràng.",
                       "Nhấn mạnh các hoạt động quan trọng nhất trong tuần."]},
    "focused": {"en": "Distinct group", "vi": "Nhóm khác biệt",
                "rec_en": ["Look at what sets this group apart and whether it helps or hinders them.",
                           "Check in with a few students to understand the pattern."],
                "rec_vi": ["Xem điểm khác biệt của nhóm giúp ích hay cản trở việc học.",
                           "Trao đổi với vài sinh viên để hiểu rõ xu hướng này."]},
    "middle": {"en": "Middle of the pack", "vi": "Nhóm trung bình",
               "rec_en": ["Keep regular reminders and feedback.",
                          "Watch for students drifting to lower activity."],
               "rec_vi": ["Duy trì nhắc nhở và phản hồi định kỳ.",
                          "Theo dõi các sinh viên có dấu hiệu giảm hoạt động."]},
}


def _lang(language: str) -> str:
    return "en" if str(language).lower().startswith("en") else "vi"


def _label(feature: str, lang: str) -> str:
    en, vi = FEATURE_LABELS.get(feature, (feature.replace("_", " "), feature.replace("_", " ")))
    return en if lang == "en" else vi


def _numeric(features: pd.DataFrame) -> pd.DataFrame:
    return features.select_dtypes(include=[np.number])


def cluster_statistics(features: pd.DataFrame, labels: pd.Series) -> dict[int, dict]:
    """cluster_id -> ``{"size", "share", "mean", "std", "median"}`` (per-feature dicts of floats)."""
    num = _numeric(features)
    lab = pd.Series(labels).reindex(num.index)
    ok = lab.notna().to_numpy()
    num, lab = num[ok], lab[ok].astype(int)
    g = num.groupby(lab.to_numpy())
    mean, std, med = g.mean(), g.std(ddof=0), g.median()
    sizes = lab.value_counts()
    total = int(len(lab))
    out: dict[int, dict] = {}
    for cid in sorted(sizes.index):
        out[int(cid)] = {
            "size": int(sizes[cid]),
            "share": float(sizes[cid]) / total if total else 0.0,
            "mean": {c: float(v) for c, v in mean.loc[cid].items()},
            "std": {c: float(v) for c, v in std.loc[cid].fillna(0.0).items()},
            "median": {c: float(v) for c, v in med.loc[cid].items()},
        }
    return out


def _z_table(features: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """cluster x feature: (cluster mean - course mean) / course std (0 where the std is 0)."""
    num = _numeric(features)
    lab = pd.Series(labels).reindex(num.index)
    ok = lab.notna().to_numpy()
    num, lab = num[ok], lab[ok].astype(int)
    mu = num.mean()
    sd = num.std(ddof=0)
    cm = num.groupby(lab.to_numpy()).mean()
    z = (cm - mu) / sd.replace(0.0, np.nan)
    return z.fillna(0.0)


def top_features(features: pd.DataFrame, labels: pd.Series, n: int = 5) -> dict[int, list[dict]]:
    """Per cluster, the features whose cluster mean is furthest from the course mean (in course SDs)."""
    z = _z_table(features, labels).drop(columns=["engagement_score"], errors="ignore")
    out: dict[int, list[dict]] = {}
    for cid, row in z.iterrows():
        order = row.abs().sort_values(ascending=False, kind="stable")
        items = []
        for f in order.index[:n]:
            v = float(row[f])
            if abs(v) < 1e-9:
                continue
            items.append({"feature": f, "z": round(v, 3), "direction": "high" if v > 0 else "low"})
        out[int(cid)] = items
    return out


#: A "middle of the pack" group has no feature further than this from the course mean (in course SDs);
#: a group that has one is named after it instead (naming rule: no "middle" group at an extreme).
MIDDLE_MAX_Z = 1.0
#: Features that never give a group its name (cumulative context beside the window, the score itself).
_NOT_NAMING = ("engagement_score",)


def _archetype(z: pd.Series, means: pd.Series, course: pd.Series, course_median: pd.Series | None = None) -> str:
    """The archetype whose rule fits the group's numbers. Naming rules: "engaged" only for a group at or
    above the course's median engagement; "middle" only when no feature is at an extreme (``MIDDLE_MAX_Z``),
    else "focused" (named after its most distinctive feature)."""
    def g(name: str) -> float:
        return float(z.get(name, 0.0))

    act = g("total_events")
    reg = g("weekly_regularity")
    perf = g("mean_quiz_pct")
    rec = -g("days_since_last_activity")
    forum = max(g("forum_posts"), g("forum_views"))
    burst = g("events_per_active_day")
    eng = g("engagement_score")
    total_mean = float(means.get("total_events", 0.0))
    course_total = float(course.get("total_events", 0.0))
    if total_mean == 0.0:
        return "none"
    if act <= -0.8 and total_mean < 0.35 * max(course_total, 1e-9):
        return "inactive"
    if rec <= -0.8 and act > -0.8:
        return "fading"
    if perf >= 0.5 and reg >= 0.3 and act >= 0.0:
        return "achievers"
    if act >= 0.3 and perf <= -0.5:
        return "struggling"
    if forum >= 0.8:
        return "social"
    if burst >= 0.5 and reg <= -0.3:
        return "crammers"
    if perf >= 0.5 and act < 0.0:
        return "efficient"
    if g("night_share") >= 1.0:
        return "night"
    if g("weekend_share") >= 1.0:
        return "weekend"
    if reg >= 0.5:
        return "regular"
    median_eng = float((course_median if course_median is not None else course).get("engagement_score", np.nan))
    group_eng = float(means.get("engagement_score", np.nan))
    above_median = not (np.isfinite(median_eng) and np.isfinite(group_eng)) or group_eng >= median_eng
    if eng >= 0.5 and above_median:
        return "engaged"
    if eng <= -0.5:
        return "low"
    extremes = z.drop(labels=[c for c in z.index if c in _NOT_NAMING or str(c).endswith("_to_date")],
                      errors="ignore").abs()
    if len(extremes) and float(extremes.max()) >= MIDDLE_MAX_Z:
        return "focused"
    return "middle"


def _fmt(feature: str, value: float, lang: str) -> str:
    if feature in _SHARE_FEATURES:
        s = f"{value * 100:.1f}%"
    elif feature in ("mean_quiz_pct",):
        s = f"{value:.1f}%"
    elif abs(value) >= 100:
        s = f"{value:.0f}"
    else:
        s = f"{value:.1f}"
    return s.replace(".", ",") if lang == "vi" else s


def _focused_name(z: pd.Series, lang: str) -> str:
    """"More forum posts than most" / "Ít lượt ... hơn đa số": the group's most distinctive feature."""
    zz = z.drop(labels=[c for c in z.index if c in _NOT_NAMING or str(c).endswith("_to_date")], errors="ignore")
    feature = str(zz.abs().idxmax())
    high = float(zz[feature]) > 0
    if lang == "en":
        return f"{'More' if high else 'Less'} {_label(feature, lang)} than most"
    return f"{'Nhiều' if high else 'Ít'} {_label(feature, lang)} hơn đa số"


def rule_profile(cluster_id: int, stats: dict, course_mean: pd.Series, z: pd.Series, tops: list[dict],
                 *, language: str = "vi", course_median: pd.Series | None = None) -> dict:
    """Deterministic profile of one cluster from its statistics (no LLM)."""
    lang = _lang(language)
    means = pd.Series(stats["mean"])
    kind = _archetype(z, means, course_mean, course_median)
    arche = _ARCHETYPES[kind]
    name = _focused_name(z, lang) if kind == "focused" else arche[lang]
    size, share = stats["size"], stats["share"]
    share_txt = _fmt("weekly_regularity", share, lang)
    chars = []
    phrases = []
    for item in tops[:4]:
        f = item["feature"]
        cv, av = float(means.get(f, 0.0)), float(course_mean.get(f, 0.0))
        if lang == "en":
            word = "higher" if item["direction"] == "high" else "lower"
            chars.append(f"{_label(f, lang).capitalize()}: {_fmt(f, cv, lang)} vs course average "
                         f"{_fmt(f, av, lang)} ({word}).")
            phrases.append(f"{word} {_label(f, lang)}")
        else:
            word = "cao hơn" if item["direction"] == "high" else "thấp hơn"
            chars.append(f"{_label(f, lang).capitalize()}: {_fmt(f, cv, lang)} so với trung bình khóa học "
                         f"{_fmt(f, av, lang)} ({word}).")
            phrases.append(f"{_label(f, lang)} {word}")
    eng = means.get("engagement_score")
    if lang == "en":
        summary = f"{size} students ({share_txt} of the course)."
        if phrases:
            summary += " Compared with the course average: " + ", ".join(phrases[:3]) + "."
        if eng is not None:
            summary += f" Mean engagement score {_fmt('engagement_score', float(eng), lang)}/100."
        title = f"{name} - {size} students"
    else:
        summary = f"{size} sinh viên ({share_txt} khóa học)."
        if phrases:
            summary += " So với trung bình khóa học: " + ", ".join(phrases[:3]) + "."
        if eng is not None:
            summary += f" Điểm tham gia trung bình {_fmt('engagement_score', float(eng), lang)}/100."
        title = f"{name} - {size} sinh viên"
    return {"name": name, "title": title, "summary": summary, "characteristics": chars,
            "recommendations": list(arche[f"rec_{lang}"]), "language": lang, "source": "rules",
            "note": "", "archetype": kind}


def _dedupe_names(profiles: dict[int, dict], tops: dict[int, list[dict]], lang: str) -> None:
    seen: dict[str, list[int]] = {}
    for cid, p in profiles.items():
        seen.setdefault(p["name"], []).append(cid)
    for name, cids in seen.items():
        if len(cids) < 2:
            continue
        used: set[str] = set()
        for cid in cids:
            qual = ""
            for item in tops.get(cid, []):
                word = ("more " if item["direction"] == "high" else "less ") if lang == "en" else \
                       ("nhiều " if item["direction"] == "high" else "ít ")
                cand = word + _label(item["feature"], lang)
                if cand not in used:
                    qual = cand
                    break
            if not qual:
                qual = f"#{cid}"
            used.add(qual)
            p = profiles[cid]
            p["name"] = f"{name} ({qual})"
            p["title"] = p["name"] + p["title"][len(name):]


# ---------------------------------------------------------------- LLM path

def prompt_statistics(cluster_id: int, stats: dict, course_mean: pd.Series, tops: list[dict]) -> dict:
    """The aggregate numbers an LLM may see and quote for one cluster (rounded; no personal data)."""
    feats = {}
    for f, m in stats["mean"].items():
        feats[f] = {
            "cluster_mean": round(float(m), 2),
            "cluster_median": round(float(stats["median"].get(f, np.nan)), 2),
            "course_mean": round(float(course_mean.get(f, np.nan)), 2),
        }
    return {
        "cluster_id": int(cluster_id),
        "students": int(stats["size"]),
        "share_of_course_pct": round(100.0 * float(stats["share"]), 1),
        "features": feats,
        "most_distinctive": [{"feature": t["feature"], "direction": t["direction"]} for t in tops[:5]],
    }


def build_prompt(stats: dict, language: str = "vi") -> str:
    """Prompt asking for one cluster's profile as JSON, from aggregate statistics only."""
    lang = _lang(language)
    lang_name = "Vietnamese" if lang == "vi" else "English"
    glossary = {f: FEATURE_LABELS[f][0] for f in stats.get("features", {}) if f in FEATURE_LABELS}
    return (
        "You help a university instructor understand one group (cluster) of students in a Moodle course.\n"
        "Below are aggregate statistics of the group and of the whole course. Shares are fractions "
        "between 0 and 1 (you may write them as percentages).\n"
        f"Write in {lang_name}. Reply with ONE JSON object and nothing else, with keys:\n"
        '  "name": a short group name (2-5 words, no numbers),\n'
        '  "summary": 1-3 sentences,\n'
        '  "characteristics": 3-5 short strings,\n'
        '  "recommendations": 2-4 short, practical actions for the instructor.\n'
        "Rules: use only numbers that appear in the statistics below (rounded as given, or a share as a "
        "percentage); do not compute new numbers, differences or ratios; do not invent facts.\n"
        f"Feature glossary: {json.dumps(glossary, ensure_ascii=False, sort_keys=True)}\n"
        f"Statistics: {json.dumps(stats, ensure_ascii=False, sort_keys=True)}\n"
    )


def statistics_key(stats: dict, language: str) -> str:
    """Cache key: hash of the prompt version, language and the cluster statistics."""
    blob = json.dumps({"v": PROMPT_VERSION, "lang": _lang(language), "stats": stats}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class LLMReplyError(ValueError):
    """The LLM reply is not usable (malformed JSON or unsupported numbers)."""


def parse_llm_reply(text: str) -> dict:
    """Parse the JSON object of a reply (code fences tolerated); raise ``LLMReplyError`` if malformed."""
    if not isinstance(text, str) or not text.strip():
        raise LLMReplyError("empty reply")
    s = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", s, flags=re.S | re.I)
    if fence:
        s = fence.group(1).strip()
    try:
        obj = json.loads(s)
    except json.JSONDecodeError:
        start, end = s.find("{"), s.rfind("}")
        if start < 0 or end <= start:
            raise LLMReplyError("reply is not JSON") from None
        try:
            obj = json.loads(s[start:end + 1])
        except json.JSONDecodeError as exc:
            raise LLMReplyError(f"reply is not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise LLMReplyError("reply JSON is not an object")
    for key in ("name", "summary"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise LLMReplyError(f"reply has no text field {key!r}")
    for key in ("characteristics", "recommendations"):
        val = obj.get(key)
        if not isinstance(val, list) or not val or not all(isinstance(x, str) and x.strip() for x in val):
            raise LLMReplyError(f"reply field {key!r} is not a non-empty list of strings")
    return {"name": obj["name"].strip(), "summary": obj["summary"].strip(),
            "characteristics": [x.strip() for x in obj["characteristics"]],
            "recommendations": [x.strip() for x in obj["recommendations"]]}


_NUM = re.compile(r"(?<![A-Za-z_])\d+(?:[.,]\d+)*")


def _walk_numbers(obj: Any) -> list[float]:
    out: list[float] = []
    if isinstance(obj, dict):
        for v in obj.values():
            out.extend(_walk_numbers(v))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(_walk_numbers(v))
    elif isinstance(obj, bool):
        pass
    elif isinstance(obj, int | float) and np.isfinite(obj):
        out.append(abs(float(obj)))
    return out


def _readings(token: str) -> list[tuple[float, int]]:
    """Possible (value, decimals) readings of a number token (English and Vietnamese separators)."""
    out = []
    for dec, thou in ((".", ","), (",", ".")):
        parts = token.split(dec)
        if len(parts) > 2:
            continue
        whole = parts[0].replace(thou, "")
        if not whole.isdigit():
            continue
        if len(parts) == 2:
            if not parts[1].isdigit():
                continue
            out.append((float(f"{whole}.{parts[1]}"), len(parts[1])))
        else:
            if thou in parts[0] and not re.fullmatch(r"\d{1,3}(?:" + re.escape(thou) + r"\d{3})+", parts[0]):
                continue
            out.append((float(whole), 0))
    # "3,5" might also be a list "3, 5" written without a space
    if not out:
        out = [(float(p), 0) for p in re.split(r"[.,]", token) if p.isdigit()]
    return out


def check_numbers(reply: dict, stats: dict) -> list[str]:
    """Numbers in the reply text that match no statistic (within the precision they are written to)."""
    allowed = _walk_numbers(stats)
    allowed = np.array(sorted(set(allowed) | {round(a * 100.0, 6) for a in allowed if a <= 1.0}))
    texts = [reply["name"], reply["summary"], *reply["characteristics"], *reply["recommendations"]]
    bad = []
    for text in texts:
        for tok in _NUM.findall(text):
            ok = False
            for val, decimals in _readings(tok):
                tol = 0.5 * 10.0 ** (-decimals) + 1e-9
                if len(allowed) and np.min(np.abs(allowed - val)) <= tol:
                    ok = True
                    break
            if not ok:
                bad.append(tok)
    return bad


def _llm_profile(cluster_id: int, pstats: dict, rules: dict, lang: str, llm: Callable[[str], str],
                 cache: MutableMapping[str, dict] | Any | None) -> dict:
    key = statistics_key(pstats, lang)
    if cache is not None:
        try:
            hit = cache.get(key)
        except Exception:  # noqa: BLE001 - a broken cache must not break profiling
            hit = None
        if isinstance(hit, dict) and hit.get("source") == "llm":
            return {**hit, "note": "cached LLM text (statistics unchanged)"}
    prompt = build_prompt(pstats, lang)
    try:
        reply_text = llm(prompt)
    except Exception as exc:  # noqa: BLE001 - any client failure falls back to rules
        return {**rules, "note": f"LLM call failed ({type(exc).__name__}); rule-based text shown"}
    try:
        reply = parse_llm_reply(reply_text)
    except LLMReplyError as exc:
        return {**rules, "note": f"LLM reply was malformed ({exc}); rule-based text shown"}
    bad = check_numbers(reply, pstats)
    if bad:
        shown = ", ".join(bad[:5])
        return {**rules, "note": f"LLM reply stated numbers not in the statistics ({shown}); "
                                 "rule-based text shown"}
    size = pstats["students"]
    title = f"{reply['name']} - {size} " + ("students" if lang == "en" else "sinh viên")
    profile = {"name": reply["name"], "title": title, "summary": reply["summary"],
               "characteristics": reply["characteristics"], "recommendations": reply["recommendations"],
               "language": lang, "source": "llm", "note": "", "archetype": rules.get("archetype", "")}
    if cache is not None:
        try:
            if hasattr(cache, "set") and not isinstance(cache, MutableMapping):
                cache.set(key, profile)
            else:
                cache[key] = profile
        except Exception:  # noqa: BLE001 - caching is best effort
            pass
    return profile


#: below this many students a cluster's mean is close to one student's own figures: such clusters are
#: never described by the LLM (their statistics would identify a person), only by the rules.
MIN_LLM_CLUSTER_SIZE = 5


def describe_clusters(features: pd.DataFrame, labels: pd.Series, *, language: str = "vi",
                      llm: Callable[[str], str] | None = None,
                      cache: MutableMapping[str, dict] | Any | None = None,
                      min_llm_size: int = MIN_LLM_CLUSTER_SIZE) -> dict[int, dict]:
    """cluster_id -> profile ``{name, title, summary, characteristics, recommendations, language, source,
    note}``. Rule text always; LLM text when ``llm`` is given, the cluster has at least ``min_llm_size``
    students, and the reply passes the checks."""
    lang = _lang(language)
    stats = cluster_statistics(features, labels)
    z = _z_table(features, labels)
    tops = top_features(features, labels)
    course_mean = _numeric(features).mean()
    course_median = _numeric(features).median()
    profiles: dict[int, dict] = {}
    for cid, st in stats.items():
        profiles[cid] = rule_profile(cid, st, course_mean, z.loc[cid], tops.get(cid, []), language=lang,
                                     course_median=course_median)
    _dedupe_names(profiles, tops, lang)
    if llm is None:
        return profiles
    out: dict[int, dict] = {}
    for cid, st in stats.items():
        if int(st.get("size", 0)) < min_llm_size:
            out[cid] = {**profiles[cid], "note": (
                f"rule text: fewer than {min_llm_size} students, so no statistics were sent to the LLM"
                if lang == "en" else
                f"mô tả theo quy tắc: nhóm có ít hơn {min_llm_size} sinh viên nên không gửi số liệu cho LLM")}
            continue
        pstats = prompt_statistics(cid, st, course_mean, tops.get(cid, []))
        out[cid] = _name_agrees(_llm_profile(cid, pstats, profiles[cid], lang, llm, cache), profiles[cid],
                                float(st["mean"].get("engagement_score", np.nan)),
                                float(course_median.get("engagement_score", np.nan)))
    return out


_HIGH_ENGAGEMENT = re.compile(r"(?i)\b(highly|very|most|top)[ -]engaged|rất tích cực|tích cực nhất")


def _name_agrees(profile: dict, rules: dict, group_eng: float, median_eng: float) -> dict:
    """An LLM name that calls a group below the course's median engagement "highly engaged" is replaced
    by the rule name (names must agree with the numbers shown)."""
    name = str(profile.get("name") or "")
    if np.isfinite(group_eng) and np.isfinite(median_eng) and group_eng < median_eng \
            and _HIGH_ENGAGEMENT.search(name):
        title = str(profile.get("title") or "")
        return {**profile, "name": rules["name"], "title": rules["name"] + title[len(name):]
                if title.startswith(name) else rules["title"]}
    return profile
