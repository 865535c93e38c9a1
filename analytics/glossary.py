"""The one glossary of Vietnamese terms used by every generated and UI text.

Each entry is ``English term -> the Vietnamese term we use``; ``AVOID`` lists the variants that must not
appear (other words for the same thing, or the older "oa/oe" tone-mark placement). A test scans the
UI strings and the analytics texts for them.
"""

from __future__ import annotations

import re

__all__ = ["TERMS", "AVOID", "violations"]

TERMS: dict[str, str] = {
    "student": "sinh viên",
    "course": "khóa học",
    "group": "nhóm",
    "instructor": "giảng viên",
    "run": "lần chạy",
    "engagement": "mức tham gia",
    "engagement score": "điểm tham gia",
    "alert": "cảnh báo",
    "feature": "đặc trưng",
    "contact": "liên hệ",
    "action list": "danh sách cần liên hệ",
    "re-engaged": "đã quay lại học",
    "report": "báo cáo",
    "delete": "xóa",
    "optional": "tùy chọn",
}

#: variant -> the glossary term to use instead
AVOID: dict[str, str] = {
    "học viên": "sinh viên",
    "khoá": "khóa",
    "xoá": "xóa",
    "tuỳ": "tùy",
    "hoá": "hóa",
    "thoả": "thỏa",
}

_AVOID_RE = re.compile("|".join(re.escape(v) for v in AVOID), re.IGNORECASE)


def violations(text: str) -> list[str]:
    """The avoided variants found in ``text`` (empty when the text follows the glossary)."""
    return [m.group(0) for m in _AVOID_RE.finditer(text or "")]
