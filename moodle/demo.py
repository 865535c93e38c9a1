"""A deterministic synthetic Moodle site whose data has Moodle's own shapes.

``DemoSite`` serves courses (ids 101, 102, 103 by default) with enrolments and roles, a course-module
catalogue, ``logstore_standard_log`` rows and gradereport items. Students follow one of five behaviour
types (:data:`BEHAVIOUR_TYPES`); every week a few of them drift to another type, so successive weekly
runs show real transitions. Everything is generated week by week with numpy, from generators seeded with
``(seed, course_id, week, stream)``: the data of a week never depends on ``as_of``, so
``course_data(cid, t1)`` is exactly the prefix (``timecreated <= t1``) of ``course_data(cid, t2)``.

Time: week 0 starts at ``anchor`` (a Monday, local midnight in the course timezone). Each week has a
quiz closing on Sunday 23:59 local; every third week an assignment is due on Friday 23:59 local.
"""

from __future__ import annotations

import json
import math
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from moodle.data import STUDENT_COLUMNS, CourseData, empty_logs, grades_frame

__all__ = [
    "BEHAVIOUR_TYPES",
    "CHANGE_COURSE",
    "DEFAULT_COURSES",
    "DEFAULT_TYPE_MIX",
    "DemoCourseSpec",
    "DemoSite",
    "default_anchor",
]

#: Behaviour types, in code order (index = internal code).
BEHAVIOUR_TYPES: tuple[str, ...] = (
    "steady", "deadline_crammer", "forum_social", "passive_reader", "disengaged",
)
DEFAULT_TYPE_MIX: dict[str, float] = {
    "steady": 0.25, "deadline_crammer": 0.20, "forum_social": 0.15,
    "passive_reader": 0.20, "disengaged": 0.20,
}
WEEK_S = 7 * 86400
_T = len(BEHAVIOUR_TYPES)
_STEADY, _CRAM, _FORUM, _PASSIVE, _DIS = range(_T)


@dataclass(frozen=True)
class DemoCourseSpec:
    """One demo course: size, behaviour mix, calendar and how much activity it produces."""

    course_id: int
    fullname: str
    shortname: str
    n_students: int
    type_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TYPE_MIX))
    timezone: str = "Asia/Ho_Chi_Minh"
    n_weeks: int = 14                 # course length; no student activity after it
    drift_rate: float = 0.07          # share of students that change type at each week boundary
    activity_scale: float = 1.0       # multiplies every student event rate (benchmarks: bigger logs)
    n_teachers: int = 2               # an editing teacher, then non-editing teachers
    suspended: int = 1                # suspended students (enrolled, left out of `students`)
    category: int = 1
    summary: str = ""
    change_week: int | None = None    # at the start of this week, ``change_share`` of students change type
    change_share: float = 0.0         # (a known behaviour change, for tests of movement)

    def __post_init__(self) -> None:
        if self.course_id <= 1:
            raise ValueError(f"course_id={self.course_id} must be > 1 (1 is Moodle's site course)")
        if self.n_students < 1:
            raise ValueError(f"n_students={self.n_students} must be >= 1")
        unknown = set(self.type_mix) - set(BEHAVIOUR_TYPES)
        if unknown:
            raise ValueError(f"unknown behaviour types {sorted(unknown)}; known: {BEHAVIOUR_TYPES}")
        if not self.type_mix or sum(self.type_mix.values()) <= 0:
            raise ValueError("type_mix needs at least one positive share")
        if self.n_weeks < 1:
            raise ValueError("n_weeks must be >= 1")
        if not 0.0 <= self.change_share <= 1.0:
            raise ValueError(f"change_share={self.change_share} must be between 0 and 1")
        if self.change_week is not None and not 1 <= self.change_week < self.n_weeks:
            raise ValueError(f"change_week={self.change_week} must be between 1 and n_weeks - 1")
        ZoneInfo(self.timezone)  # raises for an unknown zone


DEFAULT_COURSES: tuple[DemoCourseSpec, ...] = (
    DemoCourseSpec(101, "Introduction to Programming", "IT101", 180,
                   summary="Python basics: variables, control flow, functions, files."),
    DemoCourseSpec(102, "Academic Writing", "AW102", 60,
                   type_mix={"steady": 0.3, "deadline_crammer": 0.2, "forum_social": 0.2,
                             "passive_reader": 0.15, "disengaged": 0.15},
                   summary="Reading, arguing and writing in English for university study."),
    DemoCourseSpec(103, "Data Science Foundations", "DS103", 420,
                   summary="Statistics, pandas and visualisation with real data."),
)

#: A course where known students change behaviour at a known week (tests of movement): 30% of the
#: students switch to another type at the start of week 9 (0-based), nobody drifts otherwise. Not one of
#: the default courses; build it with ``DemoSite(courses=[CHANGE_COURSE])``.
CHANGE_COURSE = DemoCourseSpec(301, "Behaviour Change Study", "BC301", 240, n_weeks=16, drift_rate=0.0,
                               change_week=9, change_share=0.3,
                               summary="A synthetic course whose students change behaviour in week 10.")


def default_anchor(today: date | None = None) -> date:
    """The Monday ten weeks before ``today`` (UTC), so the demo always looks live."""
    today = today or datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(weeks=10)


# --------------------------------------------------------------------------------------------
# Event kinds: the logstore fields of each event the generator emits.
# (eventname, component, action, target, objecttable, crud, edulevel, contextlevel)
_KINDS: list[tuple[str, str, str, str, str | None, str, int, int]] = [
    ("\\core\\event\\course_viewed", "core", "viewed", "course", None, "r", 2, 50),                  # 0
    ("\\mod_resource\\event\\course_module_viewed", "mod_resource", "viewed", "course_module",
     "resource", "r", 2, 70),                                                                         # 1
    ("\\mod_page\\event\\course_module_viewed", "mod_page", "viewed", "course_module", "page",
     "r", 2, 70),                                                                                     # 2
    ("\\mod_url\\event\\course_module_viewed", "mod_url", "viewed", "course_module", "url",
     "r", 2, 70),                                                                                     # 3
    ("\\mod_forum\\event\\course_module_viewed", "mod_forum", "viewed", "course_module", "forum",
     "r", 2, 70),                                                                                     # 4
    ("\\mod_forum\\event\\discussion_viewed", "mod_forum", "viewed", "discussion",
     "forum_discussions", "r", 2, 70),                                                                # 5
    ("\\mod_forum\\event\\post_created", "mod_forum", "created", "post", "forum_posts", "c", 2, 70),  # 6
    ("\\mod_forum\\event\\discussion_created", "mod_forum", "created", "discussion",
     "forum_discussions", "c", 2, 70),                                                                # 7
    ("\\mod_quiz\\event\\course_module_viewed", "mod_quiz", "viewed", "course_module", "quiz",
     "r", 2, 70),                                                                                     # 8
    ("\\mod_quiz\\event\\attempt_started", "mod_quiz", "started", "attempt", "quiz_attempts",
     "c", 2, 70),                                                                                     # 9
    ("\\mod_quiz\\event\\attempt_submitted", "mod_quiz", "submitted", "attempt", "quiz_attempts",
     "u", 2, 70),                                                                                     # 10
    ("\\mod_quiz\\event\\attempt_reviewed", "mod_quiz", "reviewed", "attempt", "quiz_attempts",
     "r", 2, 70),                                                                                     # 11
    ("\\mod_assign\\event\\course_module_viewed", "mod_assign", "viewed", "course_module", "assign",
     "r", 2, 70),                                                                                     # 12
    ("\\mod_assign\\event\\submission_status_viewed", "mod_assign", "viewed", "submission_status",
     "assign", "r", 2, 70),                                                                           # 13
    ("\\assignsubmission_file\\event\\submission_created", "assignsubmission_file", "created",
     "submission", "assignsubmission_file", "c", 2, 70),                                              # 14
    ("\\mod_assign\\event\\assessable_submitted", "mod_assign", "submitted", "assessable",
     "assign_submission", "u", 2, 70),                                                                # 15
    ("\\core\\event\\course_module_created", "core", "created", "course_module", "course_modules",
     "c", 1, 70),                                                                                     # 16
    ("\\gradereport_grader\\event\\grade_report_viewed", "gradereport_grader", "viewed",
     "grade_report", None, "r", 1, 50),                                                               # 17
    ("\\mod_assign\\event\\submission_graded", "mod_assign", "graded", "submission", "assign_grades",
     "u", 1, 70),                                                                                     # 18
    ("\\report_log\\event\\report_viewed", "report_log", "viewed", "report", None, "r", 1, 50),      # 19
    ("\\gradereport_user\\event\\grade_report_viewed", "gradereport_user", "viewed", "grade_report",
     None, "r", 2, 50),                                                                               # 20
]
(K_COURSE, K_RES, K_PAGE, K_URL, K_FORUM, K_DISC_VIEW, K_POST, K_DISC_NEW, K_QUIZ_VIEW, K_ATT_START,
 K_ATT_SUBMIT, K_ATT_REVIEW, K_ASSIGN_VIEW, K_SUB_STATUS, K_SUB_CREATED, K_ASSESSABLE, K_CM_CREATED,
 K_GRADER, K_GRADED, K_LOGREPORT, K_USER_GRADES) = range(len(_KINDS))

# Free (session) events per week by type; columns follow _FREE_KINDS.
_FREE_KINDS = [K_RES, K_PAGE, K_URL, K_FORUM, K_DISC_VIEW, K_POST, K_DISC_NEW, K_QUIZ_VIEW,
               K_ASSIGN_VIEW, K_USER_GRADES]
_FREE_RATES = np.array([
    # res   page  url  forum dview post  dnew  qview aview grades
    [4.0,  3.0, 1.5, 1.5,  2.0, 0.4, 0.05, 1.5, 0.8, 0.8],   # steady
    [1.2,  0.8, 0.4, 0.4,  0.5, 0.1, 0.02, 0.6, 0.4, 1.0],   # deadline crammer (+ bursts below)
    [1.5,  1.2, 0.8, 6.0, 10.0, 4.0, 1.00, 0.8, 0.4, 0.3],   # forum-social
    [10.0, 7.0, 3.5, 1.5,  1.5, 0.05, 0.0, 0.5, 0.4, 0.3],   # passive reader
    [0.6,  0.3, 0.2, 0.2,  0.2, 0.02, 0.0, 0.2, 0.1, 0.1],   # disengaged
])
_SESSIONS = np.array([5.0, 2.0, 5.0, 5.0, 1.2])            # sessions per week
_QUIZ_P = np.array([0.97, 0.92, 0.80, 0.35, 0.30])         # attempts this week's quiz
_QUIZ_EXTRA = np.array([0.35, 0.45, 0.20, 0.05, 0.05])     # per extra attempt (2 max)
_QUIZ_MU = np.array([8.4, 6.4, 7.0, 6.0, 3.8])             # mean grade /10
_QUIZ_SD = np.array([0.9, 1.5, 1.3, 1.6, 1.8])
_ASSIGN_P = np.array([0.98, 0.90, 0.80, 0.45, 0.25])
_ASSIGN_MU = np.array([84.0, 66.0, 72.0, 62.0, 42.0])      # /100
# hours before the deadline at which the quiz / assignment is done (uniform low..high)
_QUIZ_LEAD = np.array([[48, 120], [0.5, 22], [8, 96], [4, 72], [0.5, 40]], dtype=float)
_ASSIGN_LEAD = np.array([[40, 96], [0.3, 14], [10, 60], [6, 48], [0.3, 30]], dtype=float)
# day of week (Mon..Sun) of sessions
_DAY_P = np.array([
    [0.17, 0.17, 0.17, 0.16, 0.15, 0.09, 0.09],
    [0.03, 0.03, 0.05, 0.09, 0.15, 0.25, 0.40],
    [0.14, 0.14, 0.14, 0.14, 0.14, 0.15, 0.15],
    [0.18, 0.18, 0.18, 0.17, 0.15, 0.07, 0.07],
    [0.14, 0.14, 0.14, 0.14, 0.14, 0.15, 0.15],
])


def _hour_profile(peaks: list[tuple[float, float, float]]) -> np.ndarray:
    h = np.arange(24)
    p = np.full(24, 0.002)
    for centre, width, weight in peaks:
        d = np.minimum(np.abs(h - centre), 24 - np.abs(h - centre))
        p += weight * np.exp(-0.5 * (d / width) ** 2)
    return p / p.sum()


_HOUR_P = np.vstack([
    _hour_profile([(10, 2.0, 1.0), (15, 2.0, 1.0)]),          # steady: office hours
    _hour_profile([(23.5, 1.8, 1.0), (2, 1.5, 0.5)]),          # crammer: nights
    _hour_profile([(20, 2.5, 1.0), (13, 2.0, 0.4)]),           # forum-social: evenings
    _hour_profile([(9, 2.0, 1.0), (14, 2.5, 0.7)]),            # passive reader: daytime
    _hour_profile([(12, 6.0, 1.0)]),                           # disengaged: anywhere
])
# Where a drifting student goes (row: from, column: to; diagonal 0).
_DRIFT_TO = np.array([
    [0.00, 0.35, 0.20, 0.30, 0.15],
    [0.30, 0.00, 0.10, 0.20, 0.40],
    [0.35, 0.20, 0.00, 0.25, 0.20],
    [0.30, 0.25, 0.15, 0.00, 0.30],
    [0.25, 0.35, 0.15, 0.25, 0.00],
])

_FIRST = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương",
          "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Ngọc", "Nhung", "Phong",
          "Phương", "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo", "Thu", "Trang", "Trung", "Tuấn", "Vy",
          "Yến", "Anna", "David", "Maria", "Lucas", "Sofia"]
_LAST = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
         "Hồ", "Ngô", "Dương", "Lý", "Smith", "Souza", "Kim", "Tanaka"]
def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


_MOD_PLURAL = {"resource": "Files", "page": "Pages", "url": "URLs", "forum": "Forums", "quiz": "Quizzes",
               "assign": "Assignments"}


def _category_of(codes: np.ndarray, table: Any) -> pd.Categorical:
    """``table[codes]`` as a Categorical (sorted categories, None -> NaN) without per-row objects."""
    values = list(table)
    used = np.bincount(codes, minlength=len(values)) > 0 if len(codes) else np.zeros(len(values), bool)
    cats = sorted({v for v, u in zip(values, used, strict=True) if u and v is not None})
    where = {v: i for i, v in enumerate(cats)}
    remap = np.array([where.get(v, -1) if v is not None else -1 for v in values] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(remap[codes], categories=pd.Index(cats, dtype="str"))


def _rng(seed: int, course_id: int, week: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(course_id), int(week) + 1000, int(stream)])


def _to_utc_ts(as_of: datetime | date | int | float | None) -> int:
    if as_of is None:
        return int(datetime.now(UTC).timestamp())
    if isinstance(as_of, int | float | np.integer | np.floating):
        return int(as_of)
    if isinstance(as_of, pd.Timestamp):
        as_of = as_of.to_pydatetime()
    if isinstance(as_of, datetime):
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        return int(math.floor(as_of.timestamp()))
    if isinstance(as_of, date):  # a date means the end of that day, UTC
        return int(datetime.combine(as_of, time(23, 59, 59), UTC).timestamp())
    raise TypeError(f"as_of must be a datetime, date or unix seconds, not {type(as_of).__name__}")


class _Course:
    """Static structure of one course plus a cache of generated weeks."""

    def __init__(self, site: DemoSite, spec: DemoCourseSpec, index: int, user_base: int) -> None:
        self.spec = spec
        self.seed = site.seed
        cid = spec.course_id
        tz = ZoneInfo(spec.timezone)
        n_days = spec.n_weeks * 7 + 7
        self.day_start = np.array([
            int(datetime.combine(site.anchor + timedelta(days=d), time(0), tz).timestamp())
            for d in range(n_days + 1)
        ], dtype=np.int64)
        self.start_ts = int(self.day_start[0])
        self.end_ts = int(self.day_start[spec.n_weeks * 7])
        self.context_id = 1000 * index + 50
        rng = _rng(self.seed, cid, -1, 0)
        # --- people ------------------------------------------------------------------------
        n = spec.n_students + spec.suspended
        self.n = n
        self.user_ids = np.arange(user_base, user_base + n, dtype=np.int64)
        self.suspended_mask = np.zeros(n, dtype=bool)
        if spec.suspended:
            self.suspended_mask[rng.choice(n, size=min(spec.suspended, n), replace=False)] = True
        self.teacher_ids = np.arange(10 + 10 * index, 10 + 10 * index + max(spec.n_teachers, 0),
                                     dtype=np.int64)
        first = rng.integers(0, len(_FIRST), n + len(self.teacher_ids))
        last = rng.integers(0, len(_LAST), n + len(self.teacher_ids))
        self.names = [f"{_FIRST[f]} {_LAST[g]}" for f, g in zip(first, last)]
        self.ips = np.array([f"10.{(cid % 200) + 1}.{(i // 250) % 250}.{i % 250 + 2}"
                             for i in range(n + len(self.teacher_ids))], dtype=object)
        self.propensity = np.exp(rng.normal(0.0, 0.25, n))
        self.first_access = self.start_ts + rng.integers(-5 * 86400, 2 * 86400, n)
        # initial types in exact proportions, shuffled
        mix = np.array([max(spec.type_mix.get(t, 0.0), 0.0) for t in BEHAVIOUR_TYPES])
        mix = mix / mix.sum()
        counts = np.floor(mix * n).astype(int)
        for i in np.argsort(-(mix * n - counts))[: n - counts.sum()]:
            counts[i] += 1
        types0 = np.repeat(np.arange(_T), counts)
        rng.shuffle(types0)
        self._types = [types0.astype(np.int8)]
        self._since = [np.where(types0 == _DIS, 0, -1).astype(np.int16)]  # weeks in disengaged
        # --- module catalogue --------------------------------------------------------------
        self.modules = self._catalogue(index)
        mods = self.modules
        self.mod_week = np.array([m["week"] for m in mods], dtype=np.int32)
        self.mod_cmid = np.array([m["cmid"] for m in mods], dtype=np.int64)
        self.mod_instance = np.array([m["instance"] for m in mods], dtype=np.int64)
        self.mod_name = np.array([m["modname"] for m in mods], dtype=object)
        self.mod_other = np.array(
            [json.dumps({f"{m['modname']}id": m["instance"]}, separators=(",", ":"))
             if m["modname"] in ("quiz", "forum") else "null" for m in mods], dtype=object)
        self.by_modname: dict[str, list[np.ndarray]] = {}
        for name in ("resource", "page", "url", "forum", "quiz", "assign"):
            per_week = []
            for w in range(spec.n_weeks):
                per_week.append(np.flatnonzero((self.mod_name == name) & (self.mod_week == w)))
            self.by_modname[name] = per_week
        self._weeks: dict[int, dict[str, np.ndarray]] = {}
        self._lock = threading.RLock()          # a job thread and a page may read one course at once

    # ---------------------------------------------------------------------------------------
    def _catalogue(self, index: int) -> list[dict]:
        spec = self.spec
        cm = 1000 * index + 101
        inst = {k: 10 * index + 1 for k in _MOD_PLURAL}
        mods: list[dict] = []

        def add(week: int, modname: str, name: str, **extra: object) -> None:
            nonlocal cm
            mods.append({"cmid": cm, "instance": inst[modname], "modname": modname, "name": name,
                         "week": week, "section": week + 1 if week >= 0 else 0, **extra})
            cm += 1
            inst[modname] += 1

        add(-1, "forum", "Announcements", forumtype="news")
        add(-1, "forum", "Q&A forum", forumtype="general")
        add(-1, "resource", "Course syllabus")
        for w in range(spec.n_weeks):
            add(w, "resource", f"Week {w + 1} lecture slides")
            add(w, "resource", f"Week {w + 1} reading")
            add(w, "page", f"Week {w + 1} notes")
            add(w, "url", f"Week {w + 1} video")
            add(w, "forum", f"Week {w + 1} discussion", forumtype="general")
            close = int(self.day_start[(w + 1) * 7]) - 60
            add(w, "quiz", f"Quiz {w + 1}", timeopen=int(self.day_start[w * 7]), timeclose=close)
            if w % 3 == 2:
                due = int(self.day_start[w * 7 + 5]) - 60
                add(w, "assign", f"Assignment {w // 3 + 1}", duedate=due)
        # week -1 modules are released in week 0
        for m in mods:
            m["week"] = max(m["week"], 0)
        return mods

    # ---------------------------------------------------------------------------------------
    def week_of(self, ts: int) -> int:
        return int(math.floor((ts - self.start_ts) / WEEK_S))

    def types_at_week(self, w: int) -> np.ndarray:
        w = max(0, min(w, self.spec.n_weeks - 1))
        with self._lock:
            return self._types_at_week(w)

    def _types_at_week(self, w: int) -> np.ndarray:
        while len(self._types) <= w:
            k = len(self._types)
            prev, since = self._types[-1], self._since[-1]
            rng = _rng(self.seed, self.spec.course_id, k, 1)
            rate = self.spec.change_share if k == self.spec.change_week else self.spec.drift_rate
            move = rng.random(self.n) < rate
            cum = np.cumsum(_DRIFT_TO[prev], axis=1)
            to = (rng.random(self.n)[:, None] > cum).sum(axis=1).clip(0, _T - 1).astype(np.int8)
            new = np.where(move, to, prev).astype(np.int8)
            since = np.where(new == _DIS, np.where(prev == _DIS, since + 1, 0), -1).astype(np.int16)
            self._types.append(new)
            self._since.append(since)
        return self._types[w]

    def _multiplier(self, w: int) -> np.ndarray:
        self.types_at_week(w)
        since = self._since[w]
        mult = self.propensity * self.spec.activity_scale
        mult = np.where(since >= 0, mult * 0.65 ** since, mult)
        # suspended students stop at the end of week 1
        return np.where(self.suspended_mask & (w >= 2), 0.0, mult)

    # ---------------------------------------------------------------------------------------
    def week(self, w: int) -> dict[str, np.ndarray]:
        with self._lock:
            if w not in self._weeks:
                self._weeks[w] = self._generate_week(w)
            return self._weeks[w]

    def _generate_week(self, w: int) -> dict[str, np.ndarray]:
        spec, n = self.spec, self.n
        rng = _rng(self.seed, spec.course_id, w, 2)
        types = self.types_at_week(w).astype(np.intp)
        mult = self._multiplier(w)
        wk0 = int(self.day_start[w * 7])
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("kind", "u", "ts", "mod", "rel", "obj")}

        def emit(kind: int | np.ndarray, u: np.ndarray, ts: np.ndarray, mod: np.ndarray | int = -1,
                 rel: np.ndarray | int = -1, obj: np.ndarray | int = -1) -> None:
            m = len(u)
            if m == 0:
                return
            parts["kind"].append(np.broadcast_to(np.asarray(kind, dtype=np.int16), (m,)))
            parts["u"].append(np.asarray(u, dtype=np.int64))
            parts["ts"].append(np.asarray(ts, dtype=np.int64))
            parts["mod"].append(np.broadcast_to(np.asarray(mod, dtype=np.int32), (m,)))
            parts["rel"].append(np.broadcast_to(np.asarray(rel, dtype=np.int64), (m,)))
            parts["obj"].append(np.broadcast_to(np.asarray(obj, dtype=np.int64), (m,)))

        def released(modname: str) -> np.ndarray:
            return np.concatenate(self.by_modname[modname][: w + 1])

        def pick_module(modname: str, size: int) -> np.ndarray:
            cur = self.by_modname[modname][w]
            pool = released(modname)
            if len(pool) == 0:
                return np.full(size, -1, dtype=np.int32)
            take_cur = (rng.random(size) < 0.6) & (len(cur) > 0)
            a = pool[rng.integers(0, len(pool), size)]
            b = cur[rng.integers(0, max(len(cur), 1), size)] if len(cur) else a
            return np.where(take_cur, b, a).astype(np.int32)

        # ---- sessions and free events ----------------------------------------------------
        rates = _FREE_RATES[types] * mult[:, None]
        counts = rng.poisson(rates)
        n_sess = rng.poisson(_SESSIONS[types] * mult)
        n_sess = np.where((counts.sum(axis=1) > 0) & (n_sess == 0), 1, n_sess)
        owner = np.repeat(np.arange(n), n_sess)
        o_type = types[owner]
        day = np.empty(len(owner), dtype=np.int64)
        hour = np.empty(len(owner), dtype=np.int64)
        for t in range(_T):
            sel = np.flatnonzero(o_type == t)
            day[sel] = rng.choice(7, size=len(sel), p=_DAY_P[t])
            hour[sel] = rng.choice(24, size=len(sel), p=_HOUR_P[t])
        sess_ts = self.day_start[w * 7 + day] + hour * 3600 + rng.integers(0, 3600, len(owner))
        sess_off = np.concatenate([[0], np.cumsum(n_sess)[:-1]]).astype(np.int64)
        emit(K_COURSE, owner, sess_ts)
        for j, kind in enumerate(_FREE_KINDS):
            u = np.repeat(np.arange(n), counts[:, j])
            if len(u) == 0:
                continue
            s = sess_off[u] + (rng.random(len(u)) * n_sess[u]).astype(np.int64)
            ts = sess_ts[s] + 60 + rng.integers(0, 2700, len(u))
            if kind == K_USER_GRADES:
                emit(kind, u, ts)
                continue
            modname = {K_RES: "resource", K_PAGE: "page", K_URL: "url", K_QUIZ_VIEW: "quiz",
                       K_ASSIGN_VIEW: "assign"}.get(kind, "forum")
            mod = pick_module(modname, len(u))
            ok = mod >= 0
            obj = -1
            if kind in (K_DISC_VIEW, K_POST, K_DISC_NEW):
                obj = (w + 1) * 100000 + rng.integers(1, 5000, len(u))
            emit(kind, u[ok], ts[ok], mod[ok], obj=obj if np.isscalar(obj) else obj[ok])

        # ---- this week's quiz ------------------------------------------------------------------
        q_grades = {"u": np.empty(0, np.int64), "mod": np.empty(0, np.int32),
                    "grade": np.empty(0), "ts": np.empty(0, np.int64)}
        quiz = self.by_modname["quiz"][w]
        if len(quiz):
            qm = int(quiz[0])
            close = int(self.modules[qm]["timeclose"])
            p = _QUIZ_P[types] * np.minimum(mult / max(spec.activity_scale, 1e-9), 1.0) ** 0.5
            takers = np.flatnonzero((rng.random(n) < p) & (mult > 0))
            if len(takers):
                tt = types[takers]
                n_att = 1 + rng.binomial(2, _QUIZ_EXTRA[tt])
                lead = rng.uniform(_QUIZ_LEAD[tt, 0], _QUIZ_LEAD[tt, 1]) * 3600
                first = np.maximum(close - lead, wk0 + 3600).astype(np.int64)
                u = np.repeat(takers, n_att)
                k = np.concatenate([np.arange(c) for c in n_att])
                start = first[np.repeat(np.arange(len(takers)), n_att)] + k * rng.integers(
                    1800, 7200, len(u))
                dur = rng.integers(480, 2400, len(u))
                start = np.minimum(start, close - dur - 60)
                start = np.maximum(start, wk0 + 60)
                submit = start + dur
                att_id = (w + 1) * 1_000_000 + np.arange(len(u)) + 1
                emit(K_QUIZ_VIEW, u, start - 40, qm)
                emit(K_ATT_START, u, start, qm, rel=self.user_ids[u], obj=att_id)
                emit(K_ATT_SUBMIT, u, submit, qm, rel=self.user_ids[u], obj=att_id)
                ut = types[u]
                review = rng.random(len(u)) < np.where(ut == _STEADY, 0.8, 0.4)
                emit(K_ATT_REVIEW, u[review], submit[review] + 25, qm, rel=self.user_ids[u[review]],
                     obj=att_id[review])
                score = np.clip(rng.normal(_QUIZ_MU[ut], _QUIZ_SD[ut]) + 0.4 * k, 0, 10)
                score = np.round(score * 4) / 4
                order = np.lexsort((score, u))          # per user, best grade last
                last = np.r_[u[order][1:] != u[order][:-1], True]
                best = order[last]
                q_grades = {"u": u[best], "mod": np.full(len(best), qm, np.int32),
                            "grade": score[best], "ts": submit[best]}

        # ---- assignment due this week -------------------------------------------------------
        a_grades = {"u": np.empty(0, np.int64), "mod": np.empty(0, np.int32),
                    "grade": np.empty(0), "ts": np.empty(0, np.int64), "sub": np.empty(0, np.int64)}
        assign = self.by_modname["assign"][w]
        if len(assign):
            am = int(assign[0])
            due = int(self.modules[am]["duedate"])
            subs = np.flatnonzero((rng.random(n) < _ASSIGN_P[types]) & (mult > 0))
            if len(subs):
                st = types[subs]
                lead = rng.uniform(_ASSIGN_LEAD[st, 0], _ASSIGN_LEAD[st, 1]) * 3600
                t = np.maximum(due - lead, wk0 + 120).astype(np.int64)
                sub_id = (w + 1) * 100000 + np.arange(len(subs)) + 1
                emit(K_ASSIGN_VIEW, subs, t - 120, am)
                emit(K_SUB_STATUS, subs, t - 60, am)
                emit(K_SUB_CREATED, subs, t, am, obj=sub_id)
                emit(K_ASSESSABLE, subs, t + 30, am, obj=sub_id)
                graded_at = due + rng.integers(2 * 86400, 5 * 86400, len(subs))
                grade = np.round(np.clip(rng.normal(_ASSIGN_MU[st], 10.0), 0, 100))
                a_grades = {"u": subs, "mod": np.full(len(subs), am, np.int32), "grade": grade,
                            "ts": graded_at, "sub": t + 30}

        # ---- teachers ---------------------------------------------------------------------------
        tch = np.arange(n, n + len(self.teacher_ids))  # teacher indices follow students
        if len(tch):
            editing = tch[0]
            for i, ti in enumerate(tch):
                views = 7 if i == 0 else 3
                ts = wk0 + np.sort(rng.integers(0, WEEK_S, views))
                emit(K_COURSE, np.full(views, ti), ts)
            new_mods = np.flatnonzero(self.mod_week == w)     # section-0 modules come with week 0's
            emit(K_CM_CREATED, np.full(len(new_mods), editing), wk0 + 8 * 3600 + 60 * np.arange(
                len(new_mods)), new_mods.astype(np.int32))
            emit(K_GRADER, np.full(2, editing), wk0 + rng.integers(86400, WEEK_S, 2))
            emit(K_LOGREPORT, np.full(1, editing), wk0 + rng.integers(86400, WEEK_S, 1))
            news = int(np.flatnonzero(self.mod_name == "forum")[0])     # the Announcements forum
            emit(K_DISC_NEW, np.full(1, editing), np.array([wk0 + 9 * 3600]), news,
                 obj=(w + 1) * 100000 + 9000)
            helper = tch[-1]
            fmods = self.by_modname["forum"][w]
            if len(fmods):
                k = 3
                emit(K_POST, np.full(k, helper), wk0 + rng.integers(86400, WEEK_S, k),
                     np.full(k, fmods[0], np.int32), obj=(w + 1) * 100000 + rng.integers(1, 5000, k))
            if len(a_grades["u"]):
                grader = rng.choice(tch, len(a_grades["u"]))
                emit(K_GRADED, grader, a_grades["ts"], a_grades["mod"],
                     rel=self.user_ids[a_grades["u"]], obj=a_grades["u"] + 1)

        if parts["kind"]:
            out = {k: np.concatenate(v) for k, v in parts.items()}
        else:
            out = {k: np.empty(0, dtype=np.int64) for k in parts}
        out["ts"] = np.maximum(out["ts"], wk0)       # a week's rows never precede the week
        out["q_u"], out["q_mod"], out["q_grade"], out["q_ts"] = (
            q_grades["u"], q_grades["mod"], q_grades["grade"], q_grades["ts"])
        out["a_u"], out["a_mod"], out["a_grade"], out["a_ts"], out["a_sub"] = (
            a_grades["u"], a_grades["mod"], a_grades["grade"], a_grades["ts"], a_grades["sub"])
        return out

    # ---------------------------------------------------------------------------------------
    def weeks_until(self, ts: int) -> list[int]:
        last = min(self.week_of(ts), self.spec.n_weeks - 1)
        return list(range(0, last + 1)) if ts >= self.start_ts - WEEK_S else []

    def collect(self, ts: int, prefix: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
        weeks = [self.week(w) for w in self.weeks_until(ts)]
        return {k: (np.concatenate([wk[prefix + k] for wk in weeks]) if weeks else np.empty(0))
                for k in keys}


class DemoSite:
    """A deterministic synthetic Moodle site (see module docstring).

    ``DemoSite(seed=7, anchor=None, courses=None)``: ``anchor`` is the Monday on which every course
    starts (default: the Monday ten weeks before today); ``courses`` a list of :class:`DemoCourseSpec`
    (default :data:`DEFAULT_COURSES`: 101, 102, 103).
    """

    def __init__(self, seed: int = 7, *, anchor: date | None = None,
                 courses: list[DemoCourseSpec] | tuple[DemoCourseSpec, ...] | None = None) -> None:
        self.seed = int(seed)
        if isinstance(anchor, datetime):
            anchor = anchor.date()
        self.anchor: date = anchor or default_anchor()
        specs = list(courses) if courses is not None else list(DEFAULT_COURSES)
        ids = [s.course_id for s in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate course ids in {ids}")
        self._specs = {s.course_id: s for s in specs}
        self._courses: dict[int, _Course] = {}
        base = 1000
        self._user_base: dict[int, int] = {}
        for s in specs:
            self._user_base[s.course_id] = base
            base += s.n_students + s.suspended + 100
        self._index = {s.course_id: i + 1 for i, s in enumerate(specs)}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DemoSite(seed={self.seed}, anchor={self.anchor.isoformat()}, courses={self.course_ids()})"

    # ------------------------------------------------------------------ structure
    def course_ids(self) -> list[int]:
        return list(self._specs)

    def spec(self, course_id: int) -> DemoCourseSpec:
        return self._course(course_id).spec

    def _course(self, course_id: int) -> _Course:
        cid = int(course_id)
        if cid not in self._specs:
            raise KeyError(f"demo course {cid} does not exist (courses: {self.course_ids()})")
        with self._lock:
            if cid not in self._courses:
                self._courses[cid] = _Course(self, self._specs[cid], self._index[cid], self._user_base[cid])
            return self._courses[cid]

    def week_start(self, course_id: int, week: int) -> datetime:
        """Aware UTC start of ``week`` (0-based) of the course."""
        c = self._course(course_id)
        return datetime.fromtimestamp(int(c.day_start[0]) + week * WEEK_S, UTC)

    def current_week(self, course_id: int, as_of: datetime | None = None) -> int:
        return self._course(course_id).week_of(_to_utc_ts(as_of))

    def suspended_user_ids(self, course_id: int) -> set[int]:
        c = self._course(course_id)
        return {int(u) for u in c.user_ids[c.suspended_mask]}

    def teacher_ids(self, course_id: int) -> list[int]:
        return [int(u) for u in self._course(course_id).teacher_ids]

    # ------------------------------------------------------------------ truth
    def truth(self, course_id: int, as_of: datetime | date | int | None = None, *,
              window_weeks: int | None = None) -> pd.Series:
        """Behaviour type name per active student at ``as_of`` (index user id, name "behaviour").

        With ``window_weeks``, the type each student had most often over the last ``window_weeks``
        weeks up to ``as_of`` (ties: the most recent).
        """
        c = self._course(course_id)
        w = max(0, min(c.week_of(_to_utc_ts(as_of)), c.spec.n_weeks - 1))
        if window_weeks and window_weeks > 1:
            ws = range(max(0, w - window_weeks + 1), w + 1)
            stack = np.vstack([c.types_at_week(i) for i in ws])
            counts = np.stack([(stack == t).sum(axis=0) for t in range(_T)], axis=1).astype(float)
            counts[np.arange(c.n), stack[-1]] += 0.5     # ties go to the latest type
            codes = counts.argmax(axis=1)
        else:
            codes = c.types_at_week(w)
        keep = ~c.suspended_mask
        return pd.Series(np.array(BEHAVIOUR_TYPES, dtype=object)[codes[keep]],
                         index=pd.Index(c.user_ids[keep], name="userid"), name="behaviour")

    def truth_history(self, course_id: int) -> pd.DataFrame:
        """user id x week -> behaviour type for the whole course (active students)."""
        c = self._course(course_id)
        keep = ~c.suspended_mask
        names = np.array(BEHAVIOUR_TYPES, dtype=object)
        return pd.DataFrame({w: names[c.types_at_week(w)[keep]] for w in range(c.spec.n_weeks)},
                            index=pd.Index(c.user_ids[keep], name="userid"))

    # ------------------------------------------------------------------ raw Moodle shapes
    def courses_raw(self, *, include_site: bool = False) -> list[dict]:
        """core_course_get_courses items (site course 1 only with ``include_site``)."""
        out: list[dict] = []
        if include_site:
            out.append({"id": 1, "shortname": "demo", "categoryid": 0, "categorysortorder": 1,
                        "fullname": "CohortLens Demo University", "displayname": "CohortLens Demo University",
                        "idnumber": "", "summary": "", "summaryformat": 1, "format": "site",
                        "showgrades": 1, "newsitems": 3, "startdate": 0, "enddate": 0,
                        "numsections": 1, "maxbytes": 0, "showreports": 0, "visible": 1,
                        "groupmode": 0, "groupmodeforce": 0, "defaultgroupingid": 0,
                        "timecreated": 1700000000, "timemodified": 1700000000,
                        "enablecompletion": 0, "completionnotify": 0, "lang": "",
                        "forcetheme": "", "courseformatoptions": []})
        for cid in self.course_ids():
            c = self._course(cid)
            s = c.spec
            out.append({"id": cid, "shortname": s.shortname, "categoryid": s.category,
                        "categorysortorder": 10000 + cid, "fullname": s.fullname,
                        "displayname": s.fullname, "idnumber": s.shortname, "summary": s.summary,
                        "summaryformat": 1, "format": "topics", "showgrades": 1, "newsitems": 5,
                        "startdate": c.start_ts, "enddate": c.end_ts, "numsections": s.n_weeks,
                        "maxbytes": 0, "showreports": 0, "visible": 1, "groupmode": 0,
                        "groupmodeforce": 0, "defaultgroupingid": 0,
                        "timecreated": c.start_ts - 30 * 86400, "timemodified": c.start_ts - 86400,
                        "enablecompletion": 1, "completionnotify": 0, "lang": "", "forcetheme": "",
                        "courseformatoptions": [], "timezone": s.timezone})
        return out

    def course_raw(self, course_id: int) -> dict:
        return next(c for c in self.courses_raw() if c["id"] == int(course_id))

    def contents_raw(self, course_id: int, as_of: datetime | int | None = None) -> list[dict]:
        """core_course_get_contents sections with the modules released by ``as_of``."""
        c = self._course(course_id)
        ts = _to_utc_ts(as_of)
        wk = c.week_of(ts)
        sections = []
        for sec in range(c.spec.n_weeks + 1):
            mods = []
            for m in c.modules:
                if m["section"] != sec or m["week"] > wk:
                    continue
                mod = {"id": m["cmid"],
                       "url": f"https://demo.cohortlens.invalid/mod/{m['modname']}/view.php?id={m['cmid']}",
                       "name": m["name"], "instance": m["instance"], "contextid": c.context_id + m["cmid"],
                       "visible": 1, "uservisible": True, "visibleoncoursepage": 1,
                       "modicon": f"https://demo.cohortlens.invalid/theme/image.php/boost/{m['modname']}/1/icon",
                       "modname": m["modname"], "modplural": _MOD_PLURAL[m["modname"]], "indent": 0,
                       "onclick": "", "afterlink": None, "customdata": "\"\"", "noviewlink": False,
                       "completion": 1}
                if "timeclose" in m:
                    mod["dates"] = [{"label": "Closes:", "timestamp": m["timeclose"]}]
                if "duedate" in m:
                    mod["dates"] = [{"label": "Due:", "timestamp": m["duedate"]}]
                mods.append(mod)
            if sec == 0 or mods:
                sections.append({"id": 100 * self._index[int(course_id)] + sec,
                                 "name": "General" if sec == 0 else f"Week {sec}", "visible": 1,
                                 "summary": "", "summaryformat": 1, "section": sec, "hiddenbynumsections": 0,
                                 "uservisible": True, "modules": mods})
        return sections

    def modules(self, course_id: int) -> pd.DataFrame:
        """The course-module catalogue (cmid, instance, modname, name, week, section, dates)."""
        return pd.DataFrame(self._course(course_id).modules)

    def _last_access(self, c: _Course, ts: int) -> np.ndarray:
        ev = c.collect(ts, "", ("u", "ts"))
        u, t = ev["u"].astype(np.int64), ev["ts"].astype(np.int64)
        keep = t <= ts
        last = np.zeros(c.n + len(c.teacher_ids), dtype=np.int64)
        np.maximum.at(last, u[keep], t[keep])
        return last

    def enrolled_users_raw(self, course_id: int, as_of: datetime | int | None = None) -> list[dict]:
        """core_enrol_get_enrolled_users items for every enrolled user (suspended ones included).

        Sorted by id. ``lastcourseaccess`` is the last log time up to ``as_of`` (0 = never).
        Which users are suspended: :meth:`suspended_user_ids` (the API itself does not say).
        """
        c = self._course(course_id)
        ts = _to_utc_ts(as_of)
        last = self._last_access(c, ts)
        spec = c.spec
        course_ref = [{"id": spec.course_id, "fullname": spec.fullname, "shortname": spec.shortname}]
        users = []
        all_ids = np.concatenate([c.user_ids, c.teacher_ids])
        for i, uid in enumerate(all_ids):
            is_teacher = i >= c.n
            if is_teacher:
                j = i - c.n
                role = ({"roleid": 3, "name": "", "shortname": "editingteacher", "sortorder": 0} if j == 0
                        else {"roleid": 4, "name": "", "shortname": "teacher", "sortorder": 0})
                first_access = c.start_ts - 20 * 86400
            else:
                role = {"roleid": 5, "name": "", "shortname": "student", "sortorder": 0}
                first_access = int(c.first_access[i])
            fullname = c.names[i]
            first, _, lastname = fullname.partition(" ")
            username = _ascii(f"{first}.{lastname}".lower()).replace(" ", "") + str(int(uid))
            la = int(last[i])
            users.append({
                "id": int(uid), "username": username, "firstname": first, "lastname": lastname,
                "fullname": fullname, "email": f"{username}@demo.cohortlens.invalid", "department": "",
                "firstaccess": first_access if la else 0, "lastaccess": la, "lastcourseaccess": la,
                "description": "", "descriptionformat": 1, "country": "VN",
                "profileimageurlsmall": f"https://demo.cohortlens.invalid/pluginfile.php/{int(uid)}/user/icon/f2",
                "profileimageurl": f"https://demo.cohortlens.invalid/pluginfile.php/{int(uid)}/user/icon/f1",
                "roles": [role], "enrolledcourses": course_ref,
            })
        users.sort(key=lambda u: u["id"])
        return users

    def _grades(self, c: _Course, ts: int, modname: str) -> tuple[np.ndarray, ...]:
        if modname == "quiz":
            g = c.collect(ts, "q_", ("u", "mod", "grade", "ts"))
            keep = g["ts"] <= ts
            return (g["u"][keep].astype(np.int64), g["mod"][keep].astype(np.int64), g["grade"][keep],
                    g["ts"][keep].astype(np.int64), g["ts"][keep].astype(np.int64))
        g = c.collect(ts, "a_", ("u", "mod", "grade", "ts", "sub"))
        keep = g["ts"] <= ts
        return (g["u"][keep].astype(np.int64), g["mod"][keep].astype(np.int64), g["grade"][keep],
                g["sub"][keep].astype(np.int64), g["ts"][keep].astype(np.int64))

    def _grade_table(self, c: _Course, ts: int) -> tuple[list[int], dict[tuple[int, int], tuple]]:
        """Released graded modules (quiz, assign) and (user index, module) -> (grade, sub, graded)."""
        wk = c.week_of(ts)
        items = [i for i, m in enumerate(c.modules) if m["modname"] in ("quiz", "assign") and m["week"] <= wk]
        table: dict[tuple[int, int], tuple] = {}
        for modname in ("quiz", "assign"):
            u, mod, grade, sub, graded = self._grades(c, ts, modname)
            for a, b, g, s, d in zip(u.tolist(), mod.tolist(), grade.tolist(), sub.tolist(), graded.tolist()):
                table[(a, b)] = (g, s, d)
        return items, table

    def grade_items_raw(self, course_id: int, userid: int, as_of: datetime | int | None = None) -> dict:
        """One ``usergrades[]`` entry of gradereport_user_get_grade_items for ``userid`` at ``as_of``.

        Quiz (/10) and assignment (/100) items released by then, ungraded ones with ``graderaw``
        None and ``"-"``, and the course total last (itemname None, no cmid, no weight).
        """
        return self.grade_report_raw(course_id, [userid], as_of)[0]

    def grade_report_raw(self, course_id: int, userids: list[int] | None = None,
                         as_of: datetime | int | None = None) -> list[dict]:
        """``usergrades`` entries for several users at once (all students when ``userids`` is None)."""
        c = self._course(course_id)
        ts = _to_utc_ts(as_of)
        items, table = self._grade_table(c, ts)
        index = {int(u): i for i, u in enumerate(c.user_ids)}
        if userids is None:
            userids = [int(u) for u in c.user_ids]
        n_items = max(len(items), 1)
        out = []
        for uid in userids:
            uid = int(uid)
            if uid not in index:
                raise KeyError(f"user {uid} is not a student of course {course_id}")
            ui = index[uid]
            gitems = []
            total, total_max, graded_any, last_graded = 0.0, 0.0, False, None
            for k, mi in enumerate(items):
                m = c.modules[mi]
                gmax = 10 if m["modname"] == "quiz" else 100
                total_max += gmax
                g = table.get((ui, mi))
                item = {"id": 500 * self._index[int(course_id)] + k + 1, "itemname": m["name"],
                        "itemtype": "mod", "itemmodule": m["modname"], "iteminstance": m["instance"],
                        "itemnumber": 0, "idnumber": "", "categoryid": 10 * self._index[int(course_id)],
                        "outcomeid": None, "scaleid": None, "locked": False, "cmid": m["cmid"],
                        "weightraw": round(1.0 / n_items, 5),
                        "weightformatted": f"{100.0 / n_items:.2f} %"}
                if g is None:
                    item.update({"graderaw": None, "gradedatesubmitted": None, "gradedategraded": None,
                                 "gradehiddenbydate": False, "gradeneedsupdate": False,
                                 "gradeishidden": False, "gradeislocked": False, "gradeisoverridden": False,
                                 "gradeformatted": "-", "grademin": 0, "grademax": gmax,
                                 "rangeformatted": f"0.00&ndash;{gmax:.2f}", "percentageformatted": "-",
                                 "feedback": "", "feedbackformat": 0, "status": "novalue"})
                else:
                    grade, sub, graded = g
                    total += grade
                    graded_any = True
                    last_graded = max(last_graded or 0, graded)
                    item.update({"graderaw": grade, "gradedatesubmitted": sub, "gradedategraded": graded,
                                 "gradehiddenbydate": False, "gradeneedsupdate": False,
                                 "gradeishidden": False, "gradeislocked": False, "gradeisoverridden": False,
                                 "gradeformatted": f"{grade:.2f}", "grademin": 0, "grademax": gmax,
                                 "rangeformatted": f"0.00&ndash;{gmax:.2f}",
                                 "percentageformatted": f"{100.0 * grade / gmax:.2f} %",
                                 "feedback": "", "feedbackformat": 1})
                gitems.append(item)
            course_item = {"id": 500 * self._index[int(course_id)], "itemname": None, "itemtype": "course",
                           "itemmodule": None, "iteminstance": int(course_id), "itemnumber": None,
                           "idnumber": None, "categoryid": None, "outcomeid": None, "scaleid": None,
                           "locked": False,
                           "graderaw": round(total, 5) if graded_any else None,
                           "gradedatesubmitted": None, "gradedategraded": last_graded,
                           "gradehiddenbydate": False, "gradeneedsupdate": False, "gradeishidden": False,
                           "gradeislocked": False, "gradeisoverridden": False,
                           "gradeformatted": f"{total:.2f}" if graded_any else "-",
                           "grademin": 0, "grademax": total_max,
                           "rangeformatted": f"0.00&ndash;{total_max:.2f}",
                           "percentageformatted": (f"{100.0 * total / total_max:.2f} %"
                                                   if graded_any and total_max else "-"),
                           "feedback": "", "feedbackformat": 0}
            if not graded_any:
                course_item["status"] = "novalue"
            gitems.append(course_item)
            out.append({"courseid": int(course_id), "courseidnumber": c.spec.shortname, "userid": uid,
                        "userfullname": c.names[ui], "useridnumber": "", "maxdepth": 2,
                        "gradeitems": gitems})
        return out

    # ------------------------------------------------------------------ logs
    def log_frame(self, course_id: int, as_of: datetime | date | int | None = None) -> pd.DataFrame:
        """logstore_standard_log rows with ``timecreated <= as_of``, oldest first (LOG_COLUMNS)."""
        c = self._course(course_id)
        ts = _to_utc_ts(as_of)
        weeks = c.weeks_until(ts)
        if not weeks:
            return empty_logs()
        data = [c.week(w) for w in weeks]
        kind = np.concatenate([d["kind"] for d in data]).astype(np.int64)
        u = np.concatenate([d["u"] for d in data]).astype(np.int64)
        t = np.concatenate([d["ts"] for d in data]).astype(np.int64)
        mod = np.concatenate([d["mod"] for d in data]).astype(np.int64)
        rel = np.concatenate([d["rel"] for d in data]).astype(np.int64)
        obj = np.concatenate([d["obj"] for d in data]).astype(np.int64)
        wk = np.concatenate([np.full(len(d["kind"]), i) for i, d in enumerate(data)])
        seq = np.arange(len(kind))
        order = np.lexsort((seq, wk, t))
        keep = order[t[order] <= ts]
        kind, u, t, mod, rel, obj = kind[keep], u[keep], t[keep], mod[keep], rel[keep], obj[keep]
        m = len(kind)
        all_ids = np.concatenate([c.user_ids, c.teacher_ids])
        ktab = list(zip(*_KINDS))
        take = lambda col: _category_of(kind, ktab[col])  # noqa: E731
        ctxlevel = np.asarray(ktab[7], dtype=np.int64)[kind]
        has_mod = mod >= 0
        safe_mod = np.where(has_mod, mod, 0)
        cmid = np.where(has_mod, c.mod_cmid[safe_mod], 0)
        at_module = (ctxlevel == 70) & has_mod
        ctxlevel = np.where(at_module, 70, 50)
        contextinstanceid = np.where(at_module, cmid, c.spec.course_id)
        contextid = np.where(at_module, c.context_id + cmid, c.context_id)
        # objectid: module instance for course_module_viewed, else the generated object id
        objectid = np.where(obj >= 0, obj, np.where(has_mod, c.mod_instance[safe_mod], -1))
        objectid = np.where(kind == K_CM_CREATED, cmid, objectid)
        objectid = np.where(np.isin(kind, [K_COURSE, K_GRADER, K_LOGREPORT, K_USER_GRADES]), -1, objectid)
        other = np.full(m, "null", dtype=object)
        is_quiz_att = np.isin(kind, [K_ATT_START, K_ATT_SUBMIT, K_ATT_REVIEW])
        other[is_quiz_att] = c.mod_other[safe_mod[is_quiz_att]]
        is_forum = np.isin(kind, [K_POST, K_DISC_NEW])
        other[is_forum] = c.mod_other[safe_mod[is_forum]]
        is_cm = kind == K_CM_CREATED
        other[is_cm] = np.array([json.dumps({"modulename": mn, "instanceid": int(i), "name": ""},
                                            separators=(",", ":"))
                                 for mn, i in zip(c.mod_name[safe_mod[is_cm]], c.mod_instance[safe_mod[is_cm]])],
                                dtype=object)
        rel_ids = pd.array(np.where(rel >= 0, rel, 0), dtype="Int64")
        rel_ids[rel < 0] = pd.NA
        obj_ids = pd.array(np.where(objectid >= 0, objectid, 0), dtype="Int64")
        obj_ids[objectid < 0] = pd.NA
        ids = np.arange(1, m + 1, dtype=np.int64) + 10_000_000 * self._index[int(course_id)]
        frame = pd.DataFrame({
            "id": ids,
            "eventname": take(0), "component": take(1), "action": take(2), "target": take(3),
            "objecttable": take(4), "objectid": obj_ids, "crud": take(5),
            "edulevel": np.asarray(ktab[6], dtype=np.int64)[kind],
            "contextid": contextid.astype(np.int64), "contextlevel": ctxlevel.astype(np.int64),
            "contextinstanceid": contextinstanceid.astype(np.int64),
            "userid": all_ids[u], "courseid": np.full(m, c.spec.course_id, dtype=np.int64),
            "relateduserid": rel_ids, "anonymous": np.zeros(m, dtype=np.int64),
            "other": pd.Categorical(other, categories=pd.Index(sorted(set(other)), dtype="str")),
            "timecreated": t, "origin": _category_of(np.zeros(m, dtype=np.int64), ["web"]),
            "ip": _category_of(u, c.ips),
            "realuserid": pd.array([pd.NA] * m, dtype="Int64"),
        })
        return frame

    def log_rows_raw(self, course_id: int, as_of: datetime | date | int | None = None, *,
                     limit: int | None = None) -> list[dict]:
        """local_userlog_get_logs_course rows: newest first, at most ``limit`` (None = all)."""
        frame = self.log_frame(course_id, as_of)
        frame = frame.iloc[::-1]
        if limit is not None:
            frame = frame.iloc[: max(int(limit), 0)]
        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for r in records:
            for k in ("id", "objectid", "edulevel", "contextid", "contextlevel", "contextinstanceid",
                      "userid", "courseid", "relateduserid", "anonymous", "timecreated", "realuserid"):
                if r[k] is not None:
                    r[k] = int(r[k])
        return records

    # ------------------------------------------------------------------ CourseData
    def course_data(self, course_id: int, as_of: datetime | date | int | None = None) -> CourseData:
        """Everything one pipeline run needs, at ``as_of`` (default now)."""
        c = self._course(course_id)
        ts = _to_utc_ts(as_of)
        users = self.enrolled_users_raw(course_id, ts)
        suspended = self.suspended_user_ids(course_id)
        student_rows = [u for u in users if any(r["shortname"] == "student" for r in u["roles"])
                        and u["id"] not in suspended]
        teacher_rows = [u for u in users if any(r["shortname"] in ("editingteacher", "teacher")
                                                for r in u["roles"])]
        students = pd.DataFrame(
            [{k: u.get(k) for k in STUDENT_COLUMNS} for u in student_rows], columns=STUDENT_COLUMNS)
        teachers = pd.DataFrame([{"id": u["id"], "fullname": u["fullname"], "roles": u["roles"]}
                                 for u in teacher_rows], columns=["id", "fullname", "roles"])
        grades = grades_frame(self.grade_report_raw(course_id, [u["id"] for u in student_rows], ts))
        course = {k: v for k, v in self.course_raw(course_id).items()
                  if k in ("id", "fullname", "shortname", "startdate", "enddate", "summary", "categoryid")}
        return CourseData(
            course=course, students=students, logs=self.log_frame(course_id, ts), grades=grades,
            teachers=teachers, source="demo", timezone=c.spec.timezone,
            extracted_at=datetime.fromtimestamp(ts, UTC), suspended_students=len(suspended),
        )


def _main() -> None:  # pragma: no cover - manual summary
    import time as _time

    site = DemoSite()
    print(site)
    for cid in site.course_ids():
        t0 = _time.perf_counter()
        data = site.course_data(cid)
        dt = _time.perf_counter() - t0
        truth = site.truth(cid).value_counts().to_dict()
        print(f"course {cid} {data.course['fullname']!r}: {data.summary()} in {dt:.2f}s; types {truth}")


if __name__ == "__main__":  # pragma: no cover
    _main()
