"""CohortLens dashboard script: login, shared sidebar (course, language, logout), page routing.

Served by ``app.py`` (``streamlit run app.py``), whose lifespan starts the process-wide service
(scheduler, recovery, first-start setup) at server start. No logic lives here: pages read through
ui.loaders.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from ui import auth
from ui.bootstrap import start_background
from ui.common import Labels
from ui.i18n import LANGUAGES, default_language, t
from ui.loaders import course_list
from ui.plain import md
from ui.resources import PAGE_FILES, SESSION_KEYS, get_store

st.set_page_config(page_title="CohortLens", page_icon=":material/insights:", layout="wide")


def _language_switch() -> None:
    """Sidebar vi/en switch. The choice lives in a plain session key ("lang"), not the widget's own key,
    so it survives runs in which the widget is not drawn."""
    lang_key = SESSION_KEYS["lang"]
    if lang_key not in st.session_state:
        st.session_state[lang_key] = default_language()
    st.session_state["lang_switch"] = st.session_state[lang_key]
    st.sidebar.segmented_control(t("side.language"), list(LANGUAGES), key="lang_switch", format_func=LANGUAGES.get,
                                 required=True, on_change=_copy, args=("lang_switch", lang_key))


def _copy(src: str, dst: str) -> None:
    if st.session_state.get(src) is not None:
        st.session_state[dst] = st.session_state[src]


def _course_picker() -> None:
    """Sidebar course picker; ``?course=`` and session state go through the same guard."""
    key = SESSION_KEYS["course"]
    wanted = st.query_params.get("course")
    if wanted is not None and wanted != st.session_state.get("_course_in_url"):  # typed or opened as a link
        st.session_state["_course_in_url"] = wanted
        st.session_state[key] = auth.require_course(wanted)
    current = st.session_state.get(key)
    if current is not None:
        auth.require_course(current)
    courses = course_list()
    ids = [int(c["id"]) for c in courses]
    if not ids:
        st.session_state[key] = None
        st.sidebar.info(t("side.no_courses"))
        return
    if st.session_state.get(key) not in ids:
        st.session_state[key] = ids[0]
    names = {int(c["id"]): f"{c['id']} · {c.get('fullname') or c.get('shortname') or ''}".rstrip(" ·")
             for c in courses}
    st.session_state["course_picker"] = st.session_state[key]
    st.sidebar.selectbox(t("side.course"), ids, key="course_picker", format_func=Labels(names),
                         on_change=_copy, args=("course_picker", key))
    st.session_state["_course_in_url"] = st.query_params["course"] = str(st.session_state[key])


def _pages(admin: bool) -> list[st.Page]:
    """The pages this user may open. The URL paths (/groups, /moves, ...) are the app's links and
    differ from the file names; app.py keeps Streamlit out of its pages/-folder mode, in which a
    url_path equal to a file stem ran that file without this router."""
    pages = [
        st.Page(PAGE_FILES["overview"], title=t("nav.overview"), icon=":material/home:", url_path="home", default=True),
        st.Page(PAGE_FILES["actions"], title=t("nav.actions"), icon=":material/campaign:", url_path="act"),
        st.Page(PAGE_FILES["clusters"], title=t("nav.clusters"), icon=":material/groups:", url_path="groups"),
        st.Page(PAGE_FILES["transitions"], title=t("nav.transitions"), icon=":material/swap_horiz:", url_path="moves"),
        st.Page(PAGE_FILES["student"], title=t("nav.student"), icon=":material/person:", url_path="learner"),
        st.Page(PAGE_FILES["diagnostics"], title=t("nav.diagnostics"), icon=":material/monitoring:", url_path="quality"),
        st.Page(PAGE_FILES["activity"], title=t("nav.activity"), icon=":material/bar_chart:", url_path="usage"),
        st.Page(PAGE_FILES["jobs"], title=t("nav.jobs"), icon=":material/schedule:", url_path="runs"),
        st.Page(PAGE_FILES["import"], title=t("nav.import"), icon=":material/upload_file:", url_path="upload"),
    ]
    if admin:
        pages.append(st.Page(PAGE_FILES["settings"], title=t("nav.settings"), icon=":material/settings:", url_path="admin"))
    return pages


def _wanted_page() -> str:
    """The page path this session was opened at (a reload, a bookmark, a deep link), remembered from its
    first run: until the sign-in (a form, or the cookie on a reload) no navigation exists to honour it."""
    if "_wanted_path" not in st.session_state:
        try:
            path = urlsplit(str(st.context.url or "")).path
        except Exception:  # no browser context (AppTest): the default page
            path = ""
        st.session_state["_wanted_path"] = path.rstrip("/").rsplit("/", 1)[-1]
    return str(st.session_state["_wanted_path"] or "")


def main() -> None:
    wanted = _wanted_page()
    start_background()  # the server's service; started here only when no server lifespan ran (AppTest)
    store = get_store()
    if SESSION_KEYS["lang"] not in st.session_state:  # a new session: the link's ?lang= (a reload keeps it)
        asked = st.query_params.get("lang")
        st.session_state[SESSION_KEYS["lang"]] = asked if asked in LANGUAGES else default_language()
    authenticator = auth.authenticator(store)
    user = auth.login(authenticator, store)
    _language_switch()
    st.query_params["lang"] = st.session_state[SESSION_KEYS["lang"]]
    if user is None:
        # the pages are registered (hidden, never run) so that a deep link such as /groups resolves
        # and, once signed in, the browser returns to it; each page file also guards itself
        st.navigation(_pages(False), position="hidden")
        st.stop()
    if auth.logout_button(authenticator):  # signed out just now: back to the form, no data
        auth.login(authenticator, store)
        st.stop()
    role = t(f"role.{user.get('role', 'instructor')}") if user.get("role") in auth.ROLES else user.get("role")
    st.sidebar.caption(t("side.user", name=md(user.get("name") or user["username"]), role=role))
    _course_picker()
    pages = _pages(auth.is_admin(user))
    current = st.navigation(pages)
    if wanted:
        st.session_state["_wanted_path"] = ""  # once: afterwards the user's own clicks decide
        target = next((p for p in pages if p.url_path == wanted), None)
        if target is not None and target.url_path != current.url_path:
            st.switch_page(target)
    current.run()


main()
