"""Pure pandas shaping of run documents and snapshots into what the pages draw (no streamlit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "activity_headline",
    "schedule_words",
    "fmt_changed",
    "movers_frame",
    "heatmap_frame",
    "members_frame",
    "scores_frame",
    "assignments_from_history",
    "student_path_rows",
    "jobs_frame",
    "job_duration",
]


def fmt_changed(value: Any, label: Callable[[str], str] | None = None) -> str:
    """A mover's ``changed`` list (strings or {feature, ...} dicts) as short text; ``label`` names features."""
    if isinstance(value, list | tuple):
        parts = []
        for item in value:
            if isinstance(item, Mapping):
                feat = item.get("feature") or item.get("name") or ""
                feat = label(feat) if label and feat else feat
                z = item.get("z")
                delta = item.get("delta", item.get("change"))
                if isinstance(z, int | float):
                    parts.append(f"{feat} ({z:+.1f} SD)")
                elif isinstance(delta, int | float):
                    parts.append(f"{feat} ({delta:+.2f})")
                else:
                    parts.append(str(feat))
            else:
                parts.append(str(item))
        return ", ".join(parts)
    return "" if value is None else str(value)


def heatmap_frame(run: Mapping[str, Any], snapshot: pd.DataFrame | None = None) -> pd.DataFrame:
    """Cluster means as z-scores against the course (rows = cluster names, columns = features used)."""
    clusters = list(run.get("clusters") or [])
    if not clusters:
        return pd.DataFrame()
    means = {c.get("name") or f"#{c['cluster_id']}": (c.get("stats") or {}).get("mean") or {} for c in clusters}
    frame = pd.DataFrame(means).T.astype(float)
    used = [f for f in run.get("features_used") or [] if f in frame.columns]
    frame = frame[used] if used else frame
    if snapshot is not None and not snapshot.empty and set(frame.columns) <= set(snapshot.columns):
        mu = snapshot[frame.columns].astype(float).mean()
        sd = snapshot[frame.columns].astype(float).std(ddof=0)
    else:  # pooled from the cluster statistics
        shares = np.array([float(c.get("share") or 0) for c in clusters])
        shares = shares / shares.sum() if shares.sum() else np.full(len(clusters), 1 / len(clusters))
        stds = pd.DataFrame({c.get("name") or f"#{c['cluster_id']}": (c.get("stats") or {}).get("std") or {}
                             for c in clusters}).T.reindex(index=frame.index, columns=frame.columns).astype(float)
        mu = (frame.mul(shares, axis=0)).sum()
        var = ((stds.fillna(0) ** 2 + (frame - mu) ** 2).mul(shares, axis=0)).sum()
        sd = np.sqrt(var)
    return ((frame - mu) / sd.replace(0.0, np.nan)).fillna(0.0)


def members_frame(run: Mapping[str, Any], snapshot: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per student: user_id, fullname (when known), cluster_id, cluster (name), engagement_score,
    silhouette, anomaly."""
    names = {int(c["cluster_id"]): c.get("name") or f"#{c['cluster_id']}" for c in run.get("clusters") or []}
    if snapshot is not None and not snapshot.empty and "user_id" in snapshot:
        cols = [c for c in ("user_id", "fullname", "cluster_id", "engagement_score", "silhouette") if c in snapshot]
        out = snapshot[cols].copy()
    else:
        out = pd.DataFrame([(int(u), int(c["cluster_id"])) for c in run.get("clusters") or []
                            for u in c.get("user_ids") or []], columns=["user_id", "cluster_id"])
    out["user_id"] = out["user_id"].astype("int64")
    out.insert(list(out.columns).index("cluster_id") + 1, "cluster",
               out["cluster_id"].map(lambda c: names.get(int(c), f"#{c}")))
    flags: dict[int, list[str]] = {}
    for a in run.get("anomalies") or []:
        flags.setdefault(int(a["user_id"]), []).append(str(a.get("reason") or a.get("feature")))
    out["anomaly"] = out["user_id"].map(lambda u: "; ".join(flags.get(int(u), [])))
    if "engagement_score" in out:
        out["engagement_score"] = out["engagement_score"].astype(float).round(1)
    if "silhouette" in out:
        out["silhouette"] = out["silhouette"].astype(float).round(3)
    return out.sort_values(["cluster_id", "user_id"]).reset_index(drop=True)


def scores_frame(run: Mapping[str, Any]) -> pd.DataFrame:
    """The per-k diagnostics scores as a frame with a ``k`` column."""
    scores = ((run.get("diagnostics") or {}).get("scores")) or []
    frame = pd.DataFrame(list(scores))
    if frame.empty or "k" not in frame:
        return pd.DataFrame(columns=["k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz"])
    frame["k"] = frame["k"].astype(int)
    return frame.sort_values("k").reset_index(drop=True)


def assignments_from_history(docs: Sequence[Mapping[str, Any]], run_ids: Sequence[str]) -> list[dict[int, int]]:
    """user_id -> cluster_id for each of ``run_ids`` from user_cluster_history documents."""
    wanted = {rid: i for i, rid in enumerate(run_ids)}
    out: list[dict[int, int]] = [{} for _ in run_ids]
    for doc in docs:
        uid = int(doc["user_id"])
        for h in doc.get("history") or []:
            i = wanted.get(h.get("run_id"))
            if i is not None and h.get("cluster_id") is not None:
                out[i][uid] = int(h["cluster_id"])
    return out


def student_path_rows(doc: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The history entries of one student, oldest first."""
    rows = [dict(h) for h in (doc or {}).get("history") or [] if h.get("cluster_id") is not None]
    return sorted(rows, key=lambda h: str(h.get("timestamp")))


def job_duration(job: Mapping[str, Any]) -> float | None:
    start, end = job.get("started_at"), job.get("finished_at")
    if start is None or end is None:
        return None
    try:
        return round((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds(), 1)
    except (TypeError, ValueError):
        return None


def jobs_frame(jobs: Sequence[Mapping[str, Any]], visible: set[int] | None = None) -> pd.DataFrame:
    """Job history rows; course ids the viewer may not see are left out of the text."""
    rows = []
    for j in jobs:
        ids = [int(c) for c in j.get("course_ids") or []]
        if visible is not None:
            ids = [c for c in ids if c in visible]
        err = j.get("error") or {}
        rows.append({
            "job_id": j.get("job_id"),
            "courses": ", ".join(map(str, ids)),
            "trigger": j.get("trigger"),
            "status": j.get("status"),
            "created_at": j.get("created_at"),
            "duration_s": job_duration(j),
            "attempts": len(j.get("attempts") or []),
            "error": (f"{err.get('type', '')}: {err.get('message', '')}".strip(": ") if isinstance(err, Mapping)
                      else str(err)),
        })
    return pd.DataFrame(rows, columns=["job_id", "courses", "trigger", "status", "created_at", "duration_s",
                                       "attempts", "error"])


def movers_frame(run: Mapping[str, Any], lang: str, label: Callable[[str], str] | None = None,
                 who: Mapping[int, str] | None = None, limit: int | None = None) -> pd.DataFrame:
    """The run's movers as shown: user_id, name, from/to group names, engagement change, and what changed in
    plain words in ``lang`` (stored with the run, else written from the numbers)."""
    from analytics.texts import mover_text

    names = {int(c["cluster_id"]): c.get("name") or f"#{c['cluster_id']}" for c in run.get("clusters") or []}
    rows = []
    for m in list(run.get("movers") or [])[:limit]:
        stored = next((e.get(lang) for e in (m.get("explanations"), m.get("explanation")) if isinstance(e, Mapping)),
                      None)
        frm = m.get("from")
        uid = int(m["user_id"])
        rows.append({
            "user_id": uid, "name": str((who or {}).get(uid, "")).rsplit(" (", 1)[0] if who else "",
            "from": names.get(int(frm), str(frm)) if frm is not None and frm == frm else "—",
            "to": names.get(int(m["to"]), str(m["to"])) if m.get("to") is not None else "—",
            "delta": round(float(m["delta"]), 1) if isinstance(m.get("delta"), int | float) and m["delta"] == m["delta"]
            else None,
            "changed": stored or mover_text(m.get("changed"), lang, label),
        })
    return pd.DataFrame(rows, columns=["user_id", "name", "from", "to", "delta", "changed"])


def activity_headline(frame: pd.DataFrame) -> dict[str, Any]:
    """The Activity page's headline over the whole report period (not its last, often partial, day):
    start, end, days, total views, students, active days and views per student per active day."""
    if frame is None or frame.empty:
        return {"start": None, "end": None, "days": 0, "views": 0, "students": 0, "active_days": 0, "avg": 0.0}
    col = "extraction_date" if "extraction_date" in frame else "date"
    dates = pd.to_datetime(frame[col].astype(str).str[:10], errors="coerce").dropna()
    views = int(pd.to_numeric(frame.get("total_views"), errors="coerce").fillna(0).sum())
    students = int(pd.to_numeric(frame.get("num_students"), errors="coerce").fillna(0).max()) \
        if "num_students" in frame else 0
    if "active_days" in frame:
        active = int(pd.to_numeric(frame["active_days"], errors="coerce").fillna(0).sum())
    else:
        active = int((pd.to_numeric(frame.get("total_views"), errors="coerce").fillna(0) > 0).sum())
    avg = round(views / students / active, 2) if students and active else 0.0
    return {"start": dates.min().date() if len(dates) else None, "end": dates.max().date() if len(dates) else None,
            "days": int((dates.max() - dates.min()).days + 1) if len(dates) else 0, "views": views,
            "students": students, "active_days": active, "avg": avg}


_DAYS = {"en": ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
         "vi": ["Chủ nhật", "thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy"]}
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def _dow(token: str) -> int | None:
    token = token.strip().lower()
    if token.isdigit():
        return int(token) % 7
    return _DAY_NAMES.get(token[:3])


def schedule_words(cron: str, lang: str = "en") -> str:
    """A cron line in plain words ("every day at 02:00", "mỗi thứ Hai lúc 07:30"); the cron line itself when
    it is not one of the common shapes."""
    lang = "en" if str(lang).startswith("en") else "vi"
    parts = str(cron or "").split()
    if len(parts) != 5:
        return str(cron)
    minute, hour, dom, month, dow = parts
    en = lang == "en"
    if minute.startswith("*/") and minute[2:].isdigit() and hour == dom == month == dow == "*":
        n = int(minute[2:])
        return f"every {n} minutes" if en else f"mỗi {n} phút"
    if minute.isdigit() and hour == dom == month == dow == "*":
        return f"every hour at minute {int(minute)}" if en else f"mỗi giờ vào phút {int(minute)}"
    if not (minute.isdigit() and hour.isdigit()) or month != "*":
        return str(cron)
    at = f"{int(hour):02d}:{int(minute):02d}"
    if dom == "*" and dow == "*":
        return f"every day at {at}" if en else f"hằng ngày lúc {at}"
    if dom == "*":
        if dow in ("1-5", "mon-fri"):
            return f"on weekdays at {at}" if en else f"các ngày trong tuần (thứ Hai đến thứ Sáu) lúc {at}"
        days = [_dow(d) for d in dow.split(",")]
        if all(d is not None for d in days):
            names = [_DAYS[lang][d] for d in days]  # type: ignore[index]
            joined = (", ".join(names[:-1]) + " and " + names[-1]) if en and len(names) > 1 else \
                (", ".join(names[:-1]) + " và " + names[-1]) if len(names) > 1 else names[0]
            return f"every {joined} at {at}" if en else f"mỗi {joined} lúc {at}"
        return str(cron)
    if dow == "*" and dom.isdigit():
        return f"on day {int(dom)} of every month at {at}" if en else f"ngày {int(dom)} hằng tháng lúc {at}"
    return str(cron)
