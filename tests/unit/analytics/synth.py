"""Synthetic courses with known behaviour types, shaped like ``moodle.CourseData`` (duck-typed).

Every type differs from the others on several features at once, so a good pipeline should recover the
types (adjusted Rand index near 1) and their number. Generation is vectorised so 20,000 students stay
quick. Used by the analytics tests only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

__all__ = ["TYPES", "SynthCourse", "make_course", "EVENTS"]

# category -> (eventname, component, action, target, contextlevel)
EVENTS = {
    "course": ("\\core\\event\\course_viewed", "core", "viewed", "course", 50),
    "resource": ("\\mod_resource\\event\\course_module_viewed", "mod_resource", "viewed", "course_module", 70),
    "page": ("\\mod_page\\event\\course_module_viewed", "mod_page", "viewed", "course_module", 70),
    "url": ("\\mod_url\\event\\course_module_viewed", "mod_url", "viewed", "course_module", 70),
    "forum_view": ("\\mod_forum\\event\\discussion_viewed", "mod_forum", "viewed", "discussion", 70),
    "forum_post": ("\\mod_forum\\event\\post_created", "mod_forum", "created", "post", 70),
    "quiz_view": ("\\mod_quiz\\event\\course_module_viewed", "mod_quiz", "viewed", "course_module", 70),
    "quiz_attempt": ("\\mod_quiz\\event\\attempt_submitted", "mod_quiz", "submitted", "attempt", 70),
    "assign_view": ("\\mod_assign\\event\\course_module_viewed", "mod_assign", "viewed", "course_module", 70),
    "submission": ("\\mod_assign\\event\\assessable_submitted", "mod_assign", "submitted", "assessable", 70),
}
_CATS = list(EVENTS)

# Behaviour types: weekly activity probability, per-day probability on weekdays / weekends, events per
# active day (Poisson mean), activity mix, hours (day or night), last active week, quiz attempt
# probability and score (mean, sd, out of 10), score trend per quiz.
TYPES: dict[str, dict] = {
    # weekday daytime, every week, balanced mix, best grades
    "steady": dict(p_week=0.95, p_wd=0.6, p_we=0.1, lam=12, night=False, stop=99, p_quiz=0.98,
                   score=(8.8, 0.6), trend=0.0,
                   mix=[3, 4, 3, 1, 2, 0.3, 2, 1, 1.5, 0.5]),
    # bursts before each quiz closes, at night and weekends, quiz/resource heavy
    "crammer": dict(p_week=0.0, p_wd=0.0, p_we=0.0, lam=55, night=True, stop=99, p_quiz=0.85,
                    score=(6.0, 1.0), trend=0.0, cram=True,
                    mix=[2, 5, 2, 0.5, 0.5, 0.05, 4, 1.5, 2, 0.6]),
    # forum-heavy, also at weekends, high volume, middling grades
    "social": dict(p_week=0.9, p_wd=0.5, p_we=0.4, lam=20, night=False, stop=99, p_quiz=0.8,
                   score=(6.3, 1.0), trend=0.0,
                   mix=[2, 1, 1, 0.5, 8, 3, 1, 1, 0.7, 0.3]),
    # a few clicks in the first two weeks, then gone
    "disengaged": dict(p_week=0.5, p_wd=0.2, p_we=0.05, lam=3, night=False, stop=2, p_quiz=0.1,
                       score=(3.5, 1.2), trend=0.0,
                       mix=[4, 2, 1, 0.5, 0.5, 0.0, 0.5, 0.2, 0.3, 0.0]),
    # regular but at night and weekends, reads content rather than discussing, low volume
    "night_owl": dict(p_week=0.9, p_wd=0.15, p_we=0.8, lam=9, night=True, stop=99, p_quiz=0.9,
                      score=(7.5, 0.8), trend=0.0,
                      mix=[2, 8, 6, 2, 1, 0.1, 1, 0.5, 0.7, 0.3]),
    # very active on quizzes (many attempts), weekday daytime, low grades
    "struggler": dict(p_week=0.95, p_wd=0.7, p_we=0.3, lam=20, night=False, stop=99, p_quiz=1.0,
                      score=(3.0, 0.8), trend=0.0,
                      mix=[3, 3, 3, 1, 2, 0.5, 5, 3, 2, 0.5]),
}

N_WEEKS = 10
QUIZ_WEEKS = [2, 4, 6, 8, 10]  # a quiz closes at the end of these weeks (1-based)


@dataclass
class SynthCourse:
    """CourseData look-alike."""

    course: dict
    students: pd.DataFrame
    logs: pd.DataFrame
    grades: pd.DataFrame
    teachers: pd.DataFrame
    source: str = "synth"
    timezone: str = "Asia/Ho_Chi_Minh"
    extracted_at: datetime | None = None
    suspended_students: int = 0
    truth: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))


def make_course(n_students: int, types: list[str], *, seed: int = 0, shares: list[float] | None = None,
                course_id: int = 900, timezone: str = "Asia/Ho_Chi_Minh",
                start: datetime = datetime(2026, 9, 7, tzinfo=UTC)) -> SynthCourse:
    """A course of ``n_students`` split over ``types`` (shares random but at least 10% each)."""
    rng = np.random.default_rng(seed)
    k = len(types)
    if shares is None:
        raw = rng.dirichlet(np.full(k, 4.0))
        shares = list(0.1 + (1 - 0.1 * k) * raw) if k * 0.1 < 1 else [1 / k] * k
    counts = np.floor(np.asarray(shares) * n_students).astype(int)
    counts[: n_students - counts.sum()] += 1
    counts = np.maximum(counts, 1)
    counts[0] += n_students - counts.sum()
    type_of = np.repeat(np.arange(k), counts)
    rng.shuffle(type_of)
    ids = np.arange(1000, 1000 + n_students, dtype=np.int64) + seed * 7
    offset = 7 * 3600 if timezone == "Asia/Ho_Chi_Minh" else 0
    t0 = int(start.timestamp()) - offset  # local midnight of the first Monday
    now = start + timedelta(weeks=N_WEEKS)

    # active (student, week, day-of-week)
    W = N_WEEKS
    p_wd = np.array([TYPES[types[t]]["p_wd"] for t in type_of])
    p_we = np.array([TYPES[types[t]]["p_we"] for t in type_of])
    p_week = np.array([TYPES[types[t]]["p_week"] for t in type_of])
    stop = np.array([TYPES[types[t]]["stop"] for t in type_of])
    week_on = rng.random((n_students, W)) < p_week[:, None]
    week_on &= np.arange(W)[None, :] < stop[:, None]
    pd_day = np.concatenate([np.repeat(p_wd[:, None], 5, 1), np.repeat(p_we[:, None], 2, 1)], axis=1)
    day_on = (rng.random((n_students, W, 7)) < pd_day[:, None, :]) & week_on[:, :, None]
    cram = np.array([bool(TYPES[types[t]].get("cram")) for t in type_of])
    if cram.any():
        # crammers: active only on the 2-3 days before each quiz closes (Fri-Sun of quiz weeks)
        qw = np.zeros(W, dtype=bool)
        qw[np.asarray(QUIZ_WEEKS) - 1] = True
        cd = (rng.random((int(cram.sum()), W, 7)) < np.array([0, 0, 0, 0, 0.7, 0.9, 0.95])[None, None, :])
        cd &= qw[None, :, None]
        day_on[cram] = cd
    s_idx, w_idx, d_idx = np.nonzero(day_on)
    lam = np.array([TYPES[types[t]]["lam"] for t in type_of])[s_idx]
    n_ev = rng.poisson(lam) + 1
    ev_student = np.repeat(s_idx, n_ev)
    ev_day = np.repeat(w_idx * 7 + d_idx, n_ev)
    night = np.array([TYPES[types[t]]["night"] for t in type_of])[ev_student]
    # day learners 8:00-18:59, night owls 0:00-4:59 or 22:00-23:59; one session start per day + jitter
    start_h = np.where(night, rng.choice([22, 23, 0, 1, 2], size=len(ev_student)),
                       rng.integers(8, 18, size=len(ev_student)))
    minute = rng.integers(0, 60 * 60, size=len(ev_student))
    t = t0 + ev_day * 86400 + start_h * 3600 + minute
    # category per event by the type's mix
    cat = np.empty(len(ev_student), dtype=np.int64)
    st_type = type_of[ev_student]
    for ti, name in enumerate(types):
        m = st_type == ti
        p = np.asarray(TYPES[name]["mix"], dtype=float)
        cat[m] = rng.choice(len(_CATS), size=int(m.sum()), p=p / p.sum())
    uid = ids[ev_student]
    # teachers' rows (must be ignored by the features)
    teacher_ids = np.array([1, 2], dtype=np.int64)
    n_t = 300
    tt = t0 + rng.integers(0, W * 7 * 86400, size=n_t)
    tcat = rng.integers(0, len(_CATS), size=n_t)
    uid = np.r_[uid, rng.choice(teacher_ids, size=n_t)]
    t = np.r_[t, tt]
    cat = np.r_[cat, tcat]
    order = np.argsort(t, kind="stable")
    uid, t, cat = uid[order], t[order], cat[order]
    keep = t <= int(now.timestamp())
    uid, t, cat = uid[keep], t[keep], cat[keep]
    table = [EVENTS[c] for c in _CATS]
    logs = pd.DataFrame({
        "id": np.arange(1, len(t) + 1),
        "eventname": np.array([r[0] for r in table])[cat],
        "component": np.array([r[1] for r in table])[cat],
        "action": np.array([r[2] for r in table])[cat],
        "target": np.array([r[3] for r in table])[cat],
        "crud": "r",
        "edulevel": 2,
        "contextlevel": np.array([r[4] for r in table])[cat],
        "contextinstanceid": rng.integers(1, 40, size=len(t)),
        "userid": uid,
        "courseid": course_id,
        "relateduserid": np.nan,
        "anonymous": 0,
        "timecreated": t.astype(np.int64),
        "origin": "web",
    })
    # grades: 5 quizzes out of 10
    n_q = len(QUIZ_WEEKS)
    p_quiz = np.array([TYPES[types[ti]]["p_quiz"] for ti in type_of])
    mu = np.array([TYPES[types[ti]]["score"][0] for ti in type_of])
    sd = np.array([TYPES[types[ti]]["score"][1] for ti in type_of])
    trend = np.array([TYPES[types[ti]]["trend"] for ti in type_of])
    attempted = rng.random((n_students, n_q)) < p_quiz[:, None]
    score = np.clip(mu[:, None] + trend[:, None] * (np.arange(n_q) - 2)[None, :]
                    + rng.normal(0, 1, (n_students, n_q)) * sd[:, None], 0, 10)
    due = np.array([t0 + w * 7 * 86400 - 3600 for w in QUIZ_WEEKS])
    due_ok = due <= int(now.timestamp())
    grades = pd.DataFrame({
        "userid": np.repeat(ids, n_q),
        "id": np.tile(np.arange(1, n_q + 1), n_students),
        "itemtype": "mod",
        "itemmodule": "quiz",
        "iteminstance": np.tile(np.arange(1, n_q + 1), n_students),
        "itemname": np.tile([f"Quiz {i}" for i in range(1, n_q + 1)], n_students),
        "graderaw": np.where(attempted & due_ok[None, :], np.round(score, 2), np.nan).ravel(),
        "grademin": 0.0,
        "grademax": 10.0,
        "gradedatesubmitted": np.where(attempted, due[None, :], np.nan).ravel(),
        "gradedategraded": np.where(attempted, due[None, :] + 60, np.nan).ravel(),
    })
    students = pd.DataFrame({"id": ids, "fullname": [f"Student {i}" for i in ids],
                             "email": [f"s{i}@example.invalid" for i in ids],
                             "roles": [[{"shortname": "student"}]] * n_students,
                             "lastcourseaccess": 0})
    teachers = pd.DataFrame({"id": teacher_ids, "fullname": ["T One", "T Two"],
                             "roles": [[{"shortname": "editingteacher"}]] * 2})
    course = {"id": course_id, "fullname": f"Synthetic course {course_id}", "shortname": f"SYN{course_id}",
              "startdate": int(start.timestamp()) - offset, "enddate": 0}
    truth = pd.Series(np.asarray(types, dtype=object)[type_of], index=pd.Index(ids, name="user_id"),
                      name="type")
    return SynthCourse(course=course, students=students, logs=logs, grades=grades, teachers=teachers,
                       timezone=timezone, extracted_at=now, truth=truth)
