"""The action list, contacting students and the interventions log, for the pages (access-checked).

Pure shaping lives in analytics.actions; sending and logging in jobs.messaging; this module joins them to
the loaders (course grants) and the reader's language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from analytics.actions import action_list, message_text, outcome, outcome_summary, reason_text
from ui import loaders
from ui.auth import current_user, require_course
from ui.common import cluster_names, fmt_dt
from ui.i18n import current_language, t
from ui.localize import localize_run
from ui.resources import get_config, get_store

__all__ = ["course_actions", "action_table", "default_template", "fill_message", "send",
           "interventions_frame", "student_interventions", "uses_demo_moodle", "previous_run"]


def _as_utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def previous_run(run: dict) -> dict | None:
    """The run before ``run`` in its course (from its metadata, else the run list)."""
    prev_id = (run.get("metadata") or {}).get("previous_run_id")
    if prev_id:
        return loaders.run_by_id(prev_id)
    runs = loaders.run_list(int(run["course_id"]))
    ids = [r["run_id"] for r in runs]
    if run.get("run_id") in ids and ids.index(run["run_id"]) + 1 < len(ids):
        return loaders.run_by_id(ids[ids.index(run["run_id"]) + 1])
    return None


def _kept_snapshot(run_id: str) -> pd.DataFrame | None:
    """An earlier run's frame, or None when its snapshot is no longer kept (retention, or pruned
    before a newer one): the list then has no "since the previous run" reasons instead of failing."""
    try:
        return loaders.snapshot(run_id)[0]
    except KeyError:
        return None


def course_actions(course_id: int) -> tuple[dict | None, pd.DataFrame]:
    """The latest run and its action list (analytics.actions.action_list columns)."""
    cid = require_course(course_id)
    run = loaders.latest_run(cid)
    if run is None:
        return None, pd.DataFrame()
    snap, _ = loaders.snapshot(run["run_id"])
    prev = previous_run(run)
    prev_snap = _kept_snapshot(prev["run_id"]) if prev else None
    archetypes = {int(c["cluster_id"]): str((c.get("profile") or {}).get("archetype") or "")
                  for c in run.get("clusters") or []}
    frame = action_list(
        snap, archetypes=archetypes, as_of=_as_utc(run.get("as_of") or run.get("run_at")), previous=prev_snap,
        previous_engagement={int(c["cluster_id"]): c.get("engagement") for c in (prev or {}).get("clusters") or []},
        cluster_engagement={int(c["cluster_id"]): c.get("engagement") for c in run.get("clusters") or []},
        anomalies=run.get("anomalies") or [])
    return run, frame


def action_table(run: dict, frame: pd.DataFrame, lang: str | None = None,
                 previous: dict | None = None) -> pd.DataFrame:
    """The action list as the reader sees it: plain words in ``lang``, group names, readable dates.
    ``previous``: the run before (its group names; looked up when not given)."""
    lang = lang or current_language()
    names = cluster_names(run)
    prev = previous if previous is not None else (previous_run(run) or {})
    prev_names = cluster_names(localize_run(prev, lang) if prev else {})
    labels = run.get("feature_labels") or {}
    rows = []
    for r in frame.to_dict("records"):
        change = []
        if r.get("engagement_change") is not None and pd.notna(r.get("engagement_change")):
            change.append(t("act.change.engagement", lang=lang, delta=f"{float(r['engagement_change']):+.0f}"))
        pc = r.get("previous_cluster_id")
        if pc is not None and pd.notna(pc) and int(pc) != r.get("cluster_id"):
            change.append(t("act.change.group", lang=lang, before=prev_names.get(int(pc), f"#{int(pc)}"),
                            after=names.get(int(r["cluster_id"]), "—")))
        rows.append({
            "user_id": int(r["user_id"]), "fullname": r.get("fullname") or "", "email": r.get("email") or "",
            "group": names.get(int(r["cluster_id"]), "—") if r.get("cluster_id") is not None else "—",
            "reason": reason_text(r["reasons"], lang, names, labels),
            "last_access": fmt_dt(r.get("last_access"), with_time=False),
            "days_inactive": r.get("days_inactive"), "engagement": r.get("engagement"),
            "change": "; ".join(change) or t("act.change.none", lang=lang),
            "priority": r.get("priority"),
        })
    return pd.DataFrame(rows, columns=["user_id", "fullname", "email", "group", "reason", "last_access",
                                       "days_inactive", "engagement", "change", "priority"])


def column_labels(lang: str | None = None) -> dict[str, str]:
    return {c: t(f"act.col.{c}", lang=lang) for c in ("user_id", "fullname", "email", "group", "reason",
                                                       "last_access", "days_inactive", "engagement", "change",
                                                       "priority")}


def default_template(lang: str | None = None) -> str:
    from analytics.actions import MESSAGE_TEMPLATES

    return MESSAGE_TEMPLATES["en" if (lang or current_language()) == "en" else "vi"]


def fill_message(template: str, row: dict, run: dict, lang: str | None = None) -> str:
    user = current_user() or {}
    course = (run.get("metadata") or {}).get("course_name") or str(run.get("course_id"))
    return message_text(template, name=row.get("fullname") or str(row["user_id"]), reasons=row["reasons"],
                        lang=lang or current_language(), course=course,
                        teacher=user.get("name") or user.get("username") or "")


def uses_demo_moodle(course_id: int) -> bool:
    from jobs.messaging import channel_for

    cid = require_course(course_id)
    return channel_for(get_store().courses.get(cid), get_config()) == "demo_moodle"


def send(course_id: int, run: dict, frame: pd.DataFrame, user_ids: list[int], template: str) -> list[dict]:
    """Message the chosen students of the action list and log each contact; returns the logged docs."""
    from jobs.messaging import send_contacts

    cid = require_course(course_id)
    lang = current_language()
    user = current_user() or {}
    names = cluster_names(run)
    labels = run.get("feature_labels") or {}
    rows = {int(r["user_id"]): r for r in frame.to_dict("records")}
    items = []
    for uid in user_ids:
        r = rows.get(int(uid))
        if r is None:
            continue
        en_names = cluster_names(localize_run(run, "en"))
        vi_names = cluster_names(localize_run(run, "vi"))
        items.append({
            "user_id": int(uid), "name": r.get("fullname") or "", "text": fill_message(template, r, run, lang),
            "reasons": r["reasons"],
            "reason": {"en": reason_text(r["reasons"], "en", en_names, labels),
                       "vi": reason_text(r["reasons"], "vi", vi_names, labels)},
            "before": {"run_id": run.get("run_id"), "as_of": run.get("as_of"), "cluster_id": r.get("cluster_id"),
                       "cluster_name": names.get(int(r["cluster_id"])) if r.get("cluster_id") is not None else None,
                       "engagement": r.get("engagement"), "days_inactive": r.get("days_inactive"),
                       "events_last_14d": r.get("events_last_14d")},
        })
    store = get_store()
    return send_contacts(store, get_config(), course_id=cid, sender=user.get("username") or "?", items=items,
                         language=lang, run_id=run.get("run_id"), course=store.courses.get(cid))


def _later_rows(course_id: int, user_ids: set[int]) -> tuple[dict | None, dict[int, dict]]:
    """The latest run and the rows of ``user_ids`` in its snapshot (the snapshot is read only when
    someone was contacted; only their rows become dicts, not all 5,000)."""
    run = loaders.latest_run(course_id)
    if run is None or not user_ids:
        return run, {}
    snap, _ = loaders.snapshot(run["run_id"])
    if snap.empty:
        return run, {}
    rows = snap[snap["user_id"].astype(int).isin(user_ids)]
    return run, {int(r["user_id"]): r for r in rows.to_dict("records")}


def _outcomes(course_id: int, docs: list[dict]) -> list[dict]:
    run, by_user = _later_rows(course_id, {int(d["user_id"]) for d in docs if d.get("status") == "sent"})
    as_of = _as_utc((run or {}).get("as_of") or (run or {}).get("run_at"))
    out = []
    for d in docs:
        later = by_user.get(int(d["user_id"])) if d.get("status") == "sent" else None
        out.append(outcome({**d, "created_at": _as_utc(d.get("created_at"))}, later, as_of,
                           (run or {}).get("run_id")))
    return out


def error_words(doc: dict, lang: str) -> str:
    code = doc.get("error_code")
    key = f"act.err.{code}"
    text = t(key, lang=lang)
    return (text if text != key else t("act.err.other", lang=lang)) + (f" ({doc.get('error')})" if doc.get("error") else "")


def interventions_frame(course_id: int, user_id: int | None = None) -> tuple[pd.DataFrame, dict]:
    """The course's (or one student's) contacts with their outcome, and the course summary."""
    cid = require_course(course_id)
    store = get_store()
    docs = (store.interventions.for_user(cid, int(user_id)) if user_id is not None
            else store.interventions.for_course(cid))
    lang = current_language()
    names = cluster_names(loaders.latest_run(cid))
    outs = _outcomes(cid, docs)
    rows = []
    for d, o in zip(docs, outs, strict=True):
        if d.get("status") != "sent":
            result = t("act.out.failed", lang=lang)
        elif o["re_engaged"] is None:
            result = t("act.out.waiting", lang=lang)
        else:
            result = t("act.out.yes" if o["re_engaged"] else "act.out.no", lang=lang)
        cb, ca = o.get("cluster_before"), o.get("cluster_after")
        rows.append({
            "when": fmt_dt(d.get("created_at")), "user_id": int(d["user_id"]), "fullname": d.get("student_name") or "",
            "sender": d.get("sender"), "reason": (d.get("reason") or {}).get(lang) or (d.get("reason") or {}).get("en", ""),
            "channel": t(f"act.channel.{d.get('channel')}", lang=lang),
            "status": t(f"act.status.{d.get('status')}", lang=lang) + (
                "" if d.get("status") == "sent" else ": " + error_words(d, lang)),
            "message": d.get("message") or "",
            "engagement_before": o.get("engagement_before"), "engagement_after": o.get("engagement_after"),
            "group_before": names.get(int(cb), (d.get("before") or {}).get("cluster_name") or "—") if cb is not None else "—",
            "group_after": names.get(int(ca), f"#{ca}") if ca is not None else "—",
            "re_engaged": result,
        })
    cols = ["when", "user_id", "fullname", "sender", "reason", "channel", "status", "message", "engagement_before",
            "engagement_after", "group_before", "group_after", "re_engaged"]
    sent = [o for d, o in zip(docs, outs, strict=True) if d.get("status") == "sent"]
    return pd.DataFrame(rows, columns=cols), outcome_summary(sent)


def intervention_labels(lang: str | None = None) -> dict[str, str]:
    return {c: t(f"act.icol.{c}", lang=lang) for c in (
        "when", "user_id", "fullname", "sender", "reason", "channel", "status", "message", "engagement_before",
        "engagement_after", "group_before", "group_after", "re_engaged")}


def student_interventions(course_id: int, user_id: int) -> pd.DataFrame:
    return interventions_frame(course_id, user_id)[0]


def report_pdf(course_id: int, run: dict, frame: pd.DataFrame, lang: str | None = None) -> bytes:
    """The course report (groups, movement, action list) as PDF in ``lang`` (default: the reader's)."""
    from functools import partial

    from ui.common import run_label
    from ui.report import course_report_pdf

    cid = require_course(course_id)
    lang = lang or current_language()
    local = localize_run(run, lang)
    runs = list(reversed(loaders.run_list(cid)[:3]))
    assignments = [loaders.run_assignment(r["run_id"]) for r in runs]
    _, summary = interventions_frame(cid)
    return course_report_pdf(local, course_name=loaders.course_name(cid), t=partial(t, lang=lang),
                             assignments=assignments, run_labels=[run_label(r)[:10] for r in runs],
                             actions=action_table(local, frame, lang), contacts=summary)
