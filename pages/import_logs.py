"""Import: upload a Moodle "Logs" report (CSV), preview it, then cluster it as a course (source csv:PATH)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from ui import loaders
from ui.auth import current_user, is_admin, require_course
from ui.common import header, redact, run_page
from ui.i18n import t
from ui.resources import SESSION_KEYS, data_dir, get_store
from ui.widgets import job_progress


def _read(upload: Any) -> Any:
    """The canonical log frame of an uploaded Moodle log export (moodle.read_log_export)."""
    from moodle import read_log_export

    return read_log_export(io.BytesIO(upload.getvalue()))


def _save(cid: int, name: str, log_bytes: bytes, grades: bytes | None) -> str:
    folder = data_dir() / "imports"  # raw logs hold names and IPs: readable by this account only
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"course{cid}_{stamp}.csv"
    path.write_bytes(log_bytes)
    if grades:
        path.with_suffix(".grades.csv").write_bytes(grades)
    get_store().courses.upsert({"id": cid, "fullname": name or f"Course {cid}", "source": "csv"})
    return str(path.resolve())


def body() -> None:
    header("im.title", "im.subtitle")
    upload = st.file_uploader(t("im.log"), type=["csv"], key="import_log")
    grades = st.file_uploader(t("im.grades"), type=["csv"], key="import_grades")
    job_progress()
    if upload is None:
        st.info(t("im.need_file"))
        return
    try:
        with st.spinner(t("common.loading")):
            logs = _read(upload)
    except Exception as exc:  # bad file: a clear message, not a traceback
        st.error(t("im.bad", msg=redact(str(exc))))
        return
    times = logs["time"] if "time" in logs else None
    st.success(t("im.preview", rows=len(logs), users=logs["user"].nunique() if "user" in logs else "?",
                 start=str(times.min())[:16] if times is not None else "?",
                 end=str(times.max())[:16] if times is not None else "?"))
    st.dataframe(logs.head(50), hide_index=True, key="import_preview")

    c1, c2 = st.columns([1, 3])
    default_id = int(st.session_state.get(SESSION_KEYS["course"]) or 9001)
    cid = int(c1.number_input(t("im.course_id"), min_value=1, value=default_id, step=1, key="import_course_id"))
    stem = re.sub(r"[_-]+", " ", upload.name.rsplit(".", 1)[0]).strip()
    name = c2.text_input(t("im.course_name"), value=stem, key="import_course_name")
    if st.button(t("im.submit"), key="import_submit", type="primary"):
        if not is_admin(current_user()):
            require_course(cid)  # an instructor imports only into a course granted to them
        from jobs.runner import submit

        path = _save(cid, name.strip(), upload.getvalue(), grades.getvalue() if grades else None)
        try:
            job_id = submit(get_store(), [cid], "manual", source=f"csv:{path}")
        except Exception as exc:
            st.error(t("jb.submit_failed", msg=redact(str(exc))))
            return
        loaders.clear_loaders()
        st.session_state[SESSION_KEYS["job"]] = job_id
        st.success(t("im.saved", job=job_id))
        st.rerun()


run_page(body)
