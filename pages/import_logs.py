"""Import: upload a Moodle "Logs" report, preview it (dates checked), then cluster it as a course (csv:PATH).

Steps (logic in ui/importer.py): the course dates and time zone the times are read with; the preview
and its warnings; the gradebook and any item maxima it lacks; a new course id by default (an existing
one only when confirmed); the upload stored under a unique name; "done" with a link to the groups.
"""

from __future__ import annotations

import streamlit as st

from ui import importer, loaders
from ui.auth import current_user, is_admin, require_course
from ui.common import header, redact, run_page
from ui.i18n import t
from ui.resources import SESSION_KEYS, get_config
from ui.widgets import job_progress


def body() -> None:
    header("im.title", "im.subtitle")
    importer.done_message()
    upload = st.file_uploader(t("im.log"), type=importer.LOG_TYPES, key="import_log")
    grades = st.file_uploader(t("im.grades"), type=importer.GRADE_TYPES, key="import_grades")
    job_progress()
    if upload is None:
        st.info(t("im.need_file"))
        st.caption(t("im.retention", days=get_config().import_retention_days))
        return
    start, end, tz = importer.frame_inputs()
    try:
        with st.spinner(t("common.loading")):
            logs = importer.read_upload(upload, start, end, tz)
    except Exception as exc:  # bad file: a clear message, not a traceback
        st.error(t("im.bad", msg=redact(str(exc))))
        return
    importer.preview(logs)
    grade_bytes, item_max = importer.grades_inputs(grades)
    cid, name, allowed = importer.course_target(logs, upload.name)
    if st.button(t("im.submit"), key="import_submit", type="primary", disabled=not allowed):
        if not is_admin(current_user()):
            require_course(cid)  # an instructor imports only into a course granted to them
        options = {"course_start": str(start) if start else None, "course_end": str(end) if end else None,
                   "timezone": tz, "item_max": item_max or None}
        try:
            job_id = importer.store_and_submit(cid, name, upload, grade_bytes, options)
        except Exception as exc:
            st.error(t("jb.submit_failed", msg=redact(str(exc))))
            return
        loaders.clear_loaders()
        st.session_state[SESSION_KEYS["job"]] = job_id
        st.success(t("im.saved", job=job_id))
        st.rerun()
    st.caption(t("im.retention", days=get_config().import_retention_days))


run_page(body)
