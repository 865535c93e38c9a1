"""Who moved where between two runs, who dropped most, and when to alert."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["compute_transitions", "transition_summary", "rank_movers", "detect_alerts", "explain_change"]

_PERCENT = {"weekly_regularity", "night_share", "weekend_share", "quiz_completion_share", "content_share",
            "forum_share", "quiz_share", "assignment_share", "quiz_completion_share_to_date"}
_PER_WEEK = {"course_views", "resource_views", "page_views", "url_views", "forum_views", "forum_posts",
             "quiz_views", "quiz_attempt_events", "assignment_views", "submissions", "other_events",
             "total_events", "active_days", "sessions", "quiz_attempts"}


def _fmt_value(feature: str, value: float, lang: str) -> str:
    if feature in _PERCENT:
        text = f"{value * 100:.0f}%"
    elif feature.startswith("mean_quiz_pct"):
        text = f"{value:.0f}%"
    elif abs(value) >= 10:
        text = f"{value:.0f}"
    else:
        text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "vi" else text


def explain_change(changed: list[dict], *, language: str = "en") -> str:
    """Plain words for a mover's own feature changes: ``"forum posts per week 0.2 -> 3.1; share of weeks
    active 100% -> 25%"`` (``changed``: items of ``rank_movers``'s ``changed`` column)."""
    from .profiles import FEATURE_LABELS

    lang = "en" if str(language).lower().startswith("en") else "vi"
    parts = []
    for item in changed or []:
        f = str(item.get("feature"))
        before, after = item.get("before"), item.get("after")
        if before is None or after is None or not (np.isfinite(before) and np.isfinite(after)):
            continue
        en, vi = FEATURE_LABELS.get(f, (f.replace("_", " "),) * 2)
        label = en if lang == "en" else vi
        if f in _PER_WEEK:
            label += " per week" if lang == "en" else " mỗi tuần"
        parts.append(f"{label} {_fmt_value(f, float(before), lang)} -> {_fmt_value(f, float(after), lang)}")
    return "; ".join(parts)


def compute_transitions(previous: pd.Series | None, current: pd.Series) -> pd.DataFrame:
    """Per student: previous -> current stable cluster id.

    Returns columns ``user_id``, ``previous_cluster_id`` (nullable Int64; missing for students new to
    this run), ``cluster_id``, ``transition_type`` (``initial`` when there was no previous cluster,
    ``stable`` when unchanged, ``moved`` otherwise). Students only in ``previous`` are not listed.
    """
    current = pd.Series(current)
    user_ids = pd.Index(current.index).astype(np.int64)
    cur = current.to_numpy().astype(np.int64)
    if previous is None or len(previous) == 0:
        prev = pd.array([pd.NA] * len(cur), dtype="Int64")
    else:
        p = pd.Series(previous)
        p.index = pd.Index(p.index).astype(np.int64)
        prev = p.reindex(user_ids).astype("Int64").array
    out = pd.DataFrame({"user_id": user_ids.to_numpy(), "previous_cluster_id": prev, "cluster_id": cur})
    has_prev = out["previous_cluster_id"].notna().to_numpy()
    same = has_prev & (out["previous_cluster_id"].fillna(-1).to_numpy(dtype=np.int64) == cur)
    out["transition_type"] = np.where(~has_prev, "initial", np.where(same, "stable", "moved"))
    return out


def transition_summary(transitions: pd.DataFrame) -> dict:
    """Counts per transition type and the from -> to matrix (moved and stable students)."""
    counts = transitions["transition_type"].value_counts()
    tracked = transitions[transitions["transition_type"] != "initial"]
    matrix = (tracked.groupby(["previous_cluster_id", "cluster_id"]).size().reset_index(name="count")
              if len(tracked) else pd.DataFrame(columns=["previous_cluster_id", "cluster_id", "count"]))
    return {
        "stable": int(counts.get("stable", 0)),
        "moved": int(counts.get("moved", 0)),
        "initial": int(counts.get("initial", 0)),
        "matrix": [{"from": int(r.previous_cluster_id), "to": int(r.cluster_id), "count": int(r.count)}
                   for r in matrix.itertuples(index=False)],
    }


def rank_movers(transitions: pd.DataFrame, previous_features: pd.DataFrame | None, features: pd.DataFrame,
                top_n_features: int = 3, *, limit: int | None = None) -> pd.DataFrame:
    """Students who moved, ranked by their drop in engagement (largest drop first).

    Columns ``user_id``, ``from``, ``to``, ``engagement_before``, ``engagement_after``, ``delta``
    (after - before) and ``changed``: the ``top_n_features`` features whose change is largest in units of
    the current course-wide standard deviation, each ``{"feature", "before", "after", "change", "z"}``.
    """
    cols = ["user_id", "from", "to", "engagement_before", "engagement_after", "delta", "changed"]
    moved = transitions[transitions["transition_type"] == "moved"]
    if moved.empty:
        return pd.DataFrame(columns=cols)
    uids = moved["user_id"].to_numpy(dtype=np.int64)
    after = features.reindex(uids)
    before = (previous_features.reindex(uids) if previous_features is not None
              else pd.DataFrame(np.nan, index=uids, columns=features.columns))
    eng_a = after["engagement_score"].to_numpy(dtype=float) if "engagement_score" in after else np.full(len(uids), np.nan)
    eng_b = (before["engagement_score"].to_numpy(dtype=float) if "engagement_score" in before
             else np.full(len(uids), np.nan))
    num_cols = [c for c in features.select_dtypes(include=[np.number]).columns
                if c != "engagement_score" and c in before.columns]
    std = features[num_cols].std(ddof=0).replace(0, np.nan)
    diff = after[num_cols].to_numpy(dtype=float) - before[num_cols].to_numpy(dtype=float)
    z = diff / std.to_numpy(dtype=float)
    absz = np.where(np.isfinite(z), np.abs(z), -1.0)
    k = min(top_n_features, len(num_cols))
    top = np.argsort(-absz, axis=1, kind="stable")[:, :k] if k else np.zeros((len(uids), 0), dtype=int)
    a_vals = after[num_cols].to_numpy(dtype=float)
    b_vals = before[num_cols].to_numpy(dtype=float)
    changed = []
    for r in range(len(uids)):
        items = []
        for c in top[r]:
            if absz[r, c] <= 0:
                continue
            items.append({"feature": num_cols[c], "before": float(b_vals[r, c]), "after": float(a_vals[r, c]),
                          "change": float(diff[r, c]), "z": round(float(z[r, c]), 3)})
        changed.append(items)
    out = pd.DataFrame({
        "user_id": uids, "from": moved["previous_cluster_id"].astype("Int64").to_numpy(),
        "to": moved["cluster_id"].to_numpy(dtype=np.int64), "engagement_before": eng_b,
        "engagement_after": eng_a, "delta": eng_a - eng_b, "changed": changed,
    })
    out = out.sort_values(["delta", "user_id"], ascending=[True, True], na_position="last", kind="stable")
    out = out.reset_index(drop=True)
    return out.head(limit) if limit is not None else out


def detect_alerts(previous_sizes: Mapping[int, int] | None, sizes: Mapping[int, int],
                  transitions: pd.DataFrame, cluster_engagement: Mapping[int, float], *,
                  size_threshold: float = 0.25, downward_share: float = 0.15,
                  previous_engagement: Mapping[int, float] | None = None,
                  names: Mapping[int, str] | None = None) -> list[dict]:
    """Alerts between two runs: ``{type, cluster_id, message, value, params}`` (``params``: the numbers of
    the message, so analytics.texts can write it in either language).

    - ``size_shift``: a cluster's size changed by more than ``size_threshold`` (relative);
    - ``new_cluster`` / ``cluster_gone``: a cluster id appeared / disappeared;
    - ``downward_moves``: more than ``downward_share`` of the students seen in both runs moved to a
      cluster with lower mean engagement (``cluster_engagement``, cluster id -> mean score; the origin's
      engagement is taken from ``previous_engagement`` when given, else from ``cluster_engagement``).

    Messages name groups by ``names`` (cluster id -> group name; current names first, then the previous
    run's for a group that is gone), never by internal id; without a name a group is "a group".
    """
    alerts: list[dict] = []
    known = {int(k): str(v) for k, v in (names or {}).items() if v}

    def label(cid: int | None) -> str:
        return f'"{known[int(cid)]}"' if cid is not None and int(cid) in known else "a group"

    if not previous_sizes:
        return alerts
    prev = {int(k): int(v) for k, v in previous_sizes.items()}
    cur = {int(k): int(v) for k, v in sizes.items()}
    for cid in sorted(set(prev) | set(cur)):
        before, now = prev.get(cid), cur.get(cid)
        if before is None:
            alerts.append({"type": "new_cluster", "cluster_id": cid, "value": float(now or 0),
                           "params": {"now": int(now or 0)},
                           "message": f"New group {label(cid)} with {now} students."})
        elif now is None:
            alerts.append({"type": "cluster_gone", "cluster_id": cid, "value": float(before),
                           "params": {"before": int(before)},
                           "message": f"Group {label(cid)} ({before} students last run) no longer exists."})
        elif before > 0:
            change = (now - before) / before
            if abs(change) > size_threshold:
                verb = "grew" if change > 0 else "shrank"
                alerts.append({"type": "size_shift", "cluster_id": cid, "value": round(float(change), 4),
                               "params": {"before": before, "now": now, "threshold": float(size_threshold)},
                               "message": f"Group {label(cid)} {verb} by {abs(change):.0%} ({before} -> {now} "
                                          f"students; threshold {size_threshold:.0%})."})
    tracked = transitions[transitions["transition_type"] != "initial"]
    if len(tracked):
        eng_to = {int(k): float(v) for k, v in cluster_engagement.items()}
        eng_from = {int(k): float(v) for k, v in (previous_engagement or cluster_engagement).items()}
        moved = tracked[tracked["transition_type"] == "moved"]
        f = moved["previous_cluster_id"].astype(int).map(eng_from).to_numpy(dtype=float)
        t = moved["cluster_id"].astype(int).map(eng_to).to_numpy(dtype=float)
        down = np.isfinite(f) & np.isfinite(t) & (t < f)
        share = float(down.sum()) / len(tracked)
        if share > downward_share:
            dest = moved.loc[down, "cluster_id"].value_counts()
            main = int(dest.index[0]) if len(dest) else None
            alerts.append({"type": "downward_moves", "cluster_id": main, "value": round(share, 4),
                           "params": {"moved": int(down.sum()), "tracked": int(len(tracked)), "main": main,
                                      "threshold": float(downward_share)},
                           "message": f"{int(down.sum())} of {len(tracked)} students ({share:.0%}) moved to a "
                                      f"less engaged group (threshold {downward_share:.0%})"
                                      + (f"; most went to {label(main)}." if main is not None else ".")})
    return alerts
