"""Settings (admin only): Moodle connection, language model, default language, users and course grants."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.auth import all_courses, require_admin
from ui.common import header, redact, run_page
from ui.i18n import LANGUAGES, t
from ui.resources import get_config, get_store
from ui.secrets_file import SecretsFileError, is_set, update_secrets
from ui.tokens_admin import tokens_section
from ui.users_admin import users_section


def _moodle() -> None:
    st.subheader(t("st.moodle"))
    cfg = get_config()
    state = {True: t("common.set"), False: t("common.not_set")}
    st.caption(t("st.token_state", std=state[is_set("MOODLE_STANDARD_TOKEN")],
                 custom=state[is_set("MOODLE_CUSTOM_TOKEN")]))
    with st.form("moodle_form", clear_on_submit=True):  # tokens never stay in the widgets
        url = st.text_input(t("st.moodle_url"), value=cfg.moodle_url or "", key="moodle_url")
        std = st.text_input(t("st.std_token"), type="password", key="moodle_std", help=t("st.token_help"))
        custom = st.text_input(t("st.custom_token"), type="password", key="moodle_custom", help=t("st.token_help"))
        if st.form_submit_button(t("st.save_moodle")):
            try:
                update_secrets({"MOODLE_URL": url, "MOODLE_STANDARD_TOKEN": std, "MOODLE_CUSTOM_TOKEN": custom})
            except SecretsFileError as exc:  # a broken file is never overwritten
                st.error(str(exc))
            else:
                get_config.clear()
                st.success(t("common.saved"))
    if st.button(t("st.test"), key="test_connection"):
        _test_connection()


def _test_connection() -> None:
    from moodle import MoodleClient, check_connection

    cfg = get_config()
    if not cfg.moodle_url or not cfg.moodle_standard_token:
        st.warning(t("st.test_fail", msg=t("common.not_set")))
        return
    try:
        with st.spinner(t("common.loading")):
            rows = check_connection(MoodleClient(cfg.moodle_url, cfg.moodle_standard_token, cfg.moodle_custom_token))
    except Exception as exc:  # any client failure, with tokens redacted
        st.error(t("st.test_fail", msg=redact(str(exc))))
        return
    ok = all(r.get("ok") for r in rows)
    (st.success if ok else st.warning)(t("st.test_ok", site=cfg.moodle_url) if ok else
                                       t("st.test_fail", msg=f"{sum(not r.get('ok') for r in rows)} ✗"))
    st.dataframe(pd.DataFrame([{t("st.col.function"): r.get("function"), t("st.col.ok"): "✅" if r.get("ok") else "❌",
                                t("st.col.detail"): redact(str(r.get("message", "")))} for r in rows]),
                 hide_index=True, key="connection_table")


def _llm_and_language() -> None:
    from jobs.config import effective_settings, save_settings

    eff = effective_settings(get_store(), get_config())
    st.subheader(t("st.llm"))
    st.caption(t("st.llm_key", state=t("common.set") if is_set("GEMINI_API_KEY") else t("common.not_set")))
    with st.form("llm_form"):
        on = st.checkbox(t("st.llm_on"), value=bool(eff.llm_enabled), key="llm_on")
        model = st.text_input(t("st.llm_model"), value=eff.gemini_model, key="llm_model")
        lang = st.selectbox(t("st.language"), list(LANGUAGES), index=list(LANGUAGES).index(eff.language)
                            if eff.language in LANGUAGES else 0, format_func=LANGUAGES.get, key="default_lang")
        if st.form_submit_button(t("common.save")):
            save_settings(get_store(), llm_enabled=bool(on), llm_model=model.strip() or eff.gemini_model,
                          language=lang)
            st.success(t("common.saved"))


def body() -> None:
    user = require_admin()
    header("st.title")
    _moodle()
    _llm_and_language()
    from ui.importer import imports_settings

    imports_settings()
    users_section(get_store(), user, sorted(all_courses()))
    tokens_section(get_store())


run_page(body)
