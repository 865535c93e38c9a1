"""Generated texts in both languages: alerts, the k vote's reason, feature drop reasons, anomaly reasons.

The analytics modules write their reasons in English; :func:`translate_reason` renders those known
sentences in Vietnamese (phrase by phrase, feature names as plain labels), so a run stores both and an
older run (English only) can still be shown in Vietnamese. :func:`alert_text` writes an alert from its
type and numbers, with group names in the reader's language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["alert_text", "translate_reason", "bilingual_reason", "mover_text"]

_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in [
    (r"k=(\d+) was pinned for this course; the vote alone would choose k=(\d+)\. Vote: ",
     r"k=\1 được cố định cho khóa học này; nếu chỉ bỏ phiếu sẽ chọn k=\2. Bỏ phiếu: "),
    (r"k=(\d+) was chosen from k=(\d+)\.\.(\d+)", r"k=\1 được chọn trong khoảng k=\2..\3"),
    (r"all three criteria agree \(", "cả ba tiêu chí đều đồng ý ("),
    (r"2 of 3 criteria vote for it \(", "2 trên 3 tiêu chí chọn giá trị này ("),
    (r"the three criteria disagree \(", "ba tiêu chí không thống nhất ("),
    (r"\), so the tie is broken by the best silhouette among k=", "), nên chọn theo silhouette tốt nhất trong các k="),
    (r"the elbow of the inertia curve", "điểm khuỷu của đường quán tính"),
    (r"the best silhouette", "silhouette tốt nhất"),
    (r"the lowest Davies-Bouldin index", "chỉ số Davies-Bouldin thấp nhất"),
    (r"\belbow k=", "khuỷu tay k="),
    (r"scores computed on a fixed random sample of ([\d,]+) of ([\d,]+) students",
     r"điểm được tính trên một mẫu ngẫu nhiên cố định gồm \1 trên \2 sinh viên"),
    (r"silhouette on the same fixed sample of ([\d,]+) students for every k",
     r"silhouette tính trên cùng mẫu \1 sinh viên cho mọi k"),
    (r"excluded: a composite of other features, shown but not clustered",
     "loại: chỉ số tổng hợp từ các đặc trưng khác, chỉ hiển thị, không dùng để phân nhóm"),
    (r"excluded: recent activity is shown but not clustered \(it mostly repeats total activity and lowered "
     r"type recovery in testing\)",
     "loại: hoạt động gần đây chỉ hiển thị, không dùng để phân nhóm (phần lớn lặp lại tổng hoạt động và "
     "làm giảm độ chính xác khi thử nghiệm)"),
    (r"constant \(every student has ([^)]+)\)", r"không đổi (mọi sinh viên đều có \1)"),
    (r"near-constant \(([\d.]+)% of students share one value, threshold (\d+)%\)",
     r"gần như không đổi (\1% sinh viên có cùng một giá trị, ngưỡng \2%)"),
    (r"no group structure \(split score ([\d.]+) < ([\d.]+)\)",
     r"không thể hiện cấu trúc nhóm (điểm tách \1 < \2)"),
    (r"correlated with (\w+) \(r=(-?[\d.]+), \|r\| > ([\d.]+)\); (\w+) shows clearer groups",
     r"tương quan với \1 (r=\2, |r| > \3); \4 thể hiện nhóm rõ hơn"),
    (r"over the cap of (\d+) features: weakest group structure left \(split score ([\d.]+)\)",
     r"vượt giới hạn \1 đặc trưng: cấu trúc nhóm yếu nhất (điểm tách \2)"),
    (r"^(.+?) = (-?[\d.]+) is ([\d.]+) SD (above|below) the course mean \((-?[\d.]+); threshold ([\d.]+) SD\)",
     r"\1 = \2, \3 độ lệch chuẩn \4 trung bình khóa học (\5; ngưỡng \6 độ lệch chuẩn)"),
    (r"\babove trung bình", "trên trung bình"),
    (r"\bbelow trung bình", "dưới trung bình"),
    (r"\bsilhouette (\d)", r"silhouette \1"),
    (r" and ", " và "),
]]
_FEATURE_WORD = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


def translate_reason(text: str, lang: str, label: Callable[[str], str] | None = None) -> str:
    """An English reason of the analytics in ``lang`` ("en": unchanged but for feature names).

    ``label`` names a feature column in that language (e.g. ``days_since_last_activity`` -> "số ngày kể
    từ lần hoạt động gần nhất"). Unknown sentences keep their English words."""
    out = str(text or "")
    if str(lang).startswith("vi"):
        for pattern, repl in _RULES:
            out = pattern.sub(repl, out)
    if label is not None:
        out = _FEATURE_WORD.sub(lambda m: label(m.group(0)), out)
    return out


def bilingual_reason(text: str, labels: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    """``{"en", "vi"}`` of one English reason (feature names as plain labels of ``labels``)."""
    def namer(lang: str) -> Callable[[str], str]:
        return lambda f: ((labels or {}).get(f) or {}).get(lang) or f
    return {lang: translate_reason(text, lang, namer(lang) if labels else None) for lang in ("en", "vi")}


def _pct(value: float, lang: str) -> str:
    s = f"{abs(float(value)) * 100:.0f}%"
    return s


def alert_text(alert: Mapping[str, Any], lang: str, names: Mapping[int, str] | None = None) -> str:
    """One alert in ``lang``, from its type and numbers (``params``); group names from ``names``.

    Alerts stored before ``params`` existed: their stored text in that language, else the English one."""
    lang = "en" if str(lang).startswith("en") else "vi"
    p = dict(alert.get("params") or {})
    kind = alert.get("type")
    cid = alert.get("cluster_id")
    group = (names or {}).get(int(cid), f"#{cid}") if cid is not None else ""
    stored = (alert.get("messages") or {}).get(lang)
    if not p:
        return stored or str(alert.get("message") or "")
    en = lang == "en"
    if kind == "new_cluster":
        return (f"New group {group} with {p.get('now')} students." if en
                else f"Nhóm mới {group} với {p.get('now')} sinh viên.")
    if kind == "cluster_gone":
        return (f"Group {group} ({p.get('before')} students last run) no longer exists." if en
                else f"Nhóm {group} ({p.get('before')} sinh viên ở lần chạy trước) không còn nữa.")
    if kind == "size_shift":
        change = float(alert.get("value") or 0)
        thr = _pct(p.get("threshold", 0), lang)
        if en:
            verb = "grew" if change > 0 else "shrank"
            return (f"Group {group} {verb} by {_pct(change, lang)} ({p.get('before')} -> {p.get('now')} students; "
                    f"threshold {thr}).")
        verb = "tăng" if change > 0 else "giảm"
        return (f"Nhóm {group} {verb} {_pct(change, lang)} ({p.get('before')} -> {p.get('now')} sinh viên; "
                f"ngưỡng {thr}).")
    if kind == "downward_moves":
        main = p.get("main")
        dest = (names or {}).get(int(main), f"#{main}") if main is not None else None
        share = _pct(alert.get("value") or 0, lang)
        thr = _pct(p.get("threshold", 0), lang)
        if en:
            return (f"{p.get('moved')} of {p.get('tracked')} students ({share}) moved to a less engaged group "
                    f"(threshold {thr})" + (f"; most went to {dest}." if dest else "."))
        return (f"{p.get('moved')} trên {p.get('tracked')} sinh viên ({share}) chuyển sang nhóm kém tích cực "
                f"hơn (ngưỡng {thr})" + (f"; phần lớn sang nhóm {dest}." if dest else "."))
    return stored or str(alert.get("message") or "")


def _short(value: Any, lang: str) -> str:
    v = float(value)
    s = f"{v:.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2f}".rstrip("0").rstrip(".")
    return s.replace(".", ",") if lang == "vi" else s


def mover_text(changed: Any, lang: str, label: Callable[[str], str] | None = None) -> str:
    """What changed for a student who moved, in plain words: "days since last activity up from 1.6 to
    8.6; share of weeks active down from 0.89 to 0.8". ``changed``: the mover's
    ``[{"feature", "before", "after", "z"}]``."""
    lang = "en" if str(lang).startswith("en") else "vi"
    parts = []
    for item in changed or []:
        if not isinstance(item, Mapping):
            parts.append(str(item))
            continue
        f = str(item.get("feature") or item.get("name") or "")
        name = label(f) if label else f.replace("_", " ")
        b, a = item.get("before"), item.get("after")
        if isinstance(b, int | float) and isinstance(a, int | float) and b == b and a == a:
            up = a > b
            if lang == "en":
                parts.append(f"{name} {'up' if up else 'down'} from {_short(b, lang)} to {_short(a, lang)}")
            else:
                parts.append(f"{name} {'tăng' if up else 'giảm'} từ {_short(b, lang)} "
                             f"{'lên' if up else 'xuống'} {_short(a, lang)}")
        elif isinstance(a, int | float) and a == a:
            parts.append(f"{name}: {_short(a, lang)}" if lang == "en" else f"{name}: {_short(a, lang)}")
        else:
            parts.append(name)
    return "; ".join(parts)
