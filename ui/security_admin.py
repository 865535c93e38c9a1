"""Settings > Sign-in security (admin): locked accounts and computers with Unlock, and the audit log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from ui.auth import audit, policy, require_admin, unlock
from ui.common import fmt_dt
from ui.i18n import t

__all__ = ["security_section"]


def security_section(store: Any, me: dict) -> None:
    require_admin()
    st.subheader(t("sec.title"))
    p = policy()
    now = store.now()
    failures = store.login_failures.keys(since=now - timedelta(seconds=p["window_s"]))
    locked = []
    for key, n in sorted(failures.items()):
        limit = p["lock_after"] if key.startswith("user:") else p["client_lock_after"]
        if n >= limit:
            stamps = store.login_failures.recent(key, since=now - timedelta(seconds=p["window_s"]))
            until = stamps[-1] + timedelta(seconds=p["lock_s"])
            if until > now:
                locked.append({"key": key, "failures": n, "until": fmt_dt(until)})
    st.markdown(f"**{t('sec.locks')}**")
    if not locked:
        st.caption(t("sec.no_locks"))
    else:
        st.dataframe(pd.DataFrame(locked), hide_index=True, key="locks_table")
        c1, c2 = st.columns([3, 1])
        key = c1.selectbox(t("sec.locks"), [r["key"] for r in locked], key="unlock_pick")
        if c2.button(t("sec.unlock"), key="unlock_button"):
            unlock(store, key, by=me["username"])
            st.success(t("sec.unlocked", key=key))
            st.rerun()
    others = [u["username"] for u in store.users.list()]
    c1, c2 = st.columns([3, 1])
    who = c1.selectbox(t("sec.end_all"), others, key="end_sessions_pick")
    if c2.button(t("sec.end_all"), key="end_sessions_button"):
        from ui.auth import end_sessions

        end_sessions(store, who, by=me["username"], reason="admin")
        st.rerun()
    st.markdown(f"**{t('sec.audit')}**")
    rows = [{"at": fmt_dt(r.get("at")), "event": r.get("event"), "user": r.get("username"),
             "client": r.get("client"), "detail": ", ".join(f"{k}={v}" for k, v in (r.get("detail") or {}).items())}
            for r in store.audit.recent(200)]
    st.dataframe(pd.DataFrame(rows, columns=["at", "event", "user", "client", "detail"]), hide_index=True,
                 key="audit_table")


def audit_user_change(me: dict, action: str, username: str, **detail: Any) -> None:
    audit(action, username=me.get("username"), user=username, **detail)
