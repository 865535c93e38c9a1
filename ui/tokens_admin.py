"""Settings > API tokens: create a token for a user (shown once), list live tokens, revoke one."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from jobs.tokens import create_token, list_tokens, revoke_token
from ui.auth import require_admin
from ui.common import fmt_dt
from ui.i18n import t

__all__ = ["tokens_section"]


def tokens_section(store: Any) -> None:
    require_admin()
    st.subheader(t("tk.title"))
    st.caption(t("tk.help"))
    users = [u["username"] for u in store.users.list()]
    with st.form("token_form", clear_on_submit=True):
        c1, c2 = st.columns(2)
        who = c1.selectbox(t("tk.user"), users, key="token_user")
        label = c2.text_input(t("tk.label"), key="token_label")
        if st.form_submit_button(t("tk.create")) and who:
            token, _doc = create_token(store, who, label=label)
            st.success(t("tk.created", user=who))
            st.code(token, language=None)  # the only time the token is shown
    tokens = list_tokens(store)
    if not tokens:
        st.caption(t("tk.none"))
        return
    st.dataframe(pd.DataFrame([{t("tk.col.id"): r["token_id"], t("st.col.user"): r["username"],
                                t("tk.label"): r.get("label") or "", t("tk.col.prefix"): f"{r.get('prefix')}…",
                                t("tk.col.created"): fmt_dt(r.get("created_at")),
                                t("tk.col.used"): fmt_dt(r.get("last_used_at")) if r.get("last_used_at") else ""}
                               for r in tokens]), hide_index=True, key="tokens_table")
    d1, d2 = st.columns([3, 1])
    victim = d1.selectbox(t("tk.revoke"), [r["token_id"] for r in tokens], key="token_revoke_pick")
    if d2.button(t("tk.revoke"), key="token_revoke") and victim:
        revoke_token(store, victim)
        st.success(t("tk.revoked", token=victim))
        st.rerun()
