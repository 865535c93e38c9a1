"""Runs as the reader sees them: every generated text (group names, profiles, alerts, the k vote's and
the feature drops' reasons) in the reader's language.

A run stores both languages (``clusters[].profiles``, ``alerts[].messages``, ``diagnostics.reason_i18n``,
``features_dropped[].reason_i18n``). Older runs stored one language: their profiles stay as written
(``profile_language`` says which), their English reasons and alerts are translated here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from analytics.texts import alert_text, translate_reason

__all__ = ["localize_run", "localize_alert", "cluster_profile"]


def _label(run: Mapping[str, Any], lang: str):
    labels = run.get("feature_labels") or {}

    def name(feature: str) -> str:
        item = labels.get(feature) or {}
        return item.get(lang) or item.get("en") or feature
    return name


def cluster_profile(cluster: Mapping[str, Any], lang: str) -> dict:
    """The cluster's profile in ``lang`` (the stored one of another language when that is all there is)."""
    profiles = cluster.get("profiles") or {}
    return dict(profiles.get(lang) or cluster.get("profile") or {})


def localize_alert(alert: Mapping[str, Any], lang: str, names: Mapping[int, str] | None = None) -> dict:
    """A copy of an alert whose ``message`` is in ``lang`` (group names from ``names``)."""
    out = dict(alert)
    stored = (alert.get("messages") or {}).get(lang)
    if alert.get("params") and (names or not stored):
        out["message"] = alert_text(alert, lang, names)
    elif stored:
        out["message"] = stored
    return out


def localize_run(run: Mapping[str, Any] | None, lang: str) -> dict | None:
    """A copy of ``run`` with names, profiles, alerts and reasons in ``lang``."""
    if run is None:
        return None
    out = copy.copy(dict(run))
    label = _label(run, lang)
    clusters = []
    for c in run.get("clusters") or []:
        c2 = dict(c)
        prof = cluster_profile(c, lang)
        if prof:
            c2["profile"] = prof
            c2["name"] = prof.get("name") or c.get("name")
            c2["profile_language"] = prof.get("language") or lang
        clusters.append(c2)
    out["clusters"] = clusters
    names = {int(c["cluster_id"]): str(c.get("name") or c["cluster_id"]) for c in clusters}
    out["alerts"] = [localize_alert(a, lang, names) for a in run.get("alerts") or []]
    diag = dict(run.get("diagnostics") or {})
    if diag:
        diag["reason"] = (diag.get("reason_i18n") or {}).get(lang) or translate_reason(diag.get("reason", ""), lang)
        out["diagnostics"] = diag
    out["features_dropped"] = [
        {**d, "reason": (d.get("reason_i18n") or {}).get(lang) or translate_reason(d.get("reason", ""), lang, label)}
        for d in run.get("features_dropped") or []]
    out["anomalies"] = [{**a, "reason": translate_reason(a.get("reason", ""), lang)}
                        for a in run.get("anomalies") or []]
    out["language_shown"] = lang
    return out
