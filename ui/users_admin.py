"""Settings > Users: list accounts, add/update one (hashed password, role, course grants), delete one."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from jobs.accounts import ROLES, save_user
from ui.auth import require_admin
from ui.i18n import t

__all__ = ["users_section", "save_user"]


def users_section(store: Any, me: dict, courses: list[int]) -> None:
    require_admin()
    st.subheader(t("st.users"))
    users = store.users.list()
    st.dataframe(pd.DataFrame([{t("st.col.user"): u["username"], t("st.name"): u.get("name"),
                                t("st.col.role"): u.get("role"),
                                t("st.col.courses"): ", ".join(map(str, u.get("courses") or []))} for u in users]),
                 hide_index=True, key="users_table")
    with st.form("user_form", clear_on_submit=True):
        st.markdown(f"**{t('st.new_user')}**")
        c1, c2 = st.columns(2)
        username = c1.text_input(t("st.username"), key="user_name")
        name = c2.text_input(t("st.name"), key="user_fullname")
        password = c1.text_input(t("st.password"), type="password", key="user_password")
        role = c2.selectbox(t("st.role"), list(ROLES), index=1, key="user_role")
        email = c1.text_input(t("st.email"), key="user_email", help=t("st.email_help"))
        granted = st.multiselect(t("st.courses"), courses, key="user_courses")
        if st.form_submit_button(t("st.save_user")):
            try:
                save_user(store, username, name=name, password=password, role=role, courses=granted,
                          email=email.strip() or None)
                st.success(t("st.user_saved", user=username.strip().lower()))
            except ValueError as exc:
                st.error(t("st.user_bad", msg=str(exc)))
    others = [u["username"] for u in users if u["username"] != me["username"]]
    if others:
        d1, d2 = st.columns([3, 1])
        victim = d1.selectbox(t("st.delete_user"), others, key="user_delete_pick")
        if d2.button(t("st.delete_user"), key="user_delete"):
            store.users.delete(victim)
            st.success(t("st.deleted", user=victim))
            st.rerun()
