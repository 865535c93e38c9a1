"""The Import page's steps: read an upload (with the course frame), preview and warn, ask what the
gradebook does not say, choose a course safely, store the upload, and say when it is done."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ui.common import redact
from ui.i18n import t
from ui.resources import PAGE_FILES, SESSION_KEYS, data_dir, get_config, get_store

LOG_TYPES = ["csv", "xlsx", "json", "ods", "txt"]
GRADE_TYPES = ["csv", "xlsx", "ods", "txt"]
_DONE_KEY = "import_done"


def read_upload(upload: Any, start: date | None, end: date | None, tz: str) -> pd.DataFrame:
    """The canonical frame of an uploaded export, read once per (file, frame, time zone) this session."""
    from moodle import read_log_export

    key = (getattr(upload, "file_id", None) or upload.name, upload.size, str(start), str(end), tz)
    cache = st.session_state.setdefault("_import_cache", {})
    if key not in cache:
        cache.clear()  # one upload at a time in memory
        cache[key] = read_log_export(upload.getvalue(), course_start=start, course_end=end, timezone=tz)
    return cache[key]


def frame_inputs() -> tuple[date | None, date | None, str]:
    """Course start / end and the export's time zone (the configured one by default)."""
    from jobs.config import effective_settings

    eff = effective_settings(get_store(), get_config())
    st.caption(t("im.frame"))
    c1, c2, c3 = st.columns(3)
    start = c1.date_input(t("im.start"), value=None, key="import_start")
    end = c2.date_input(t("im.end"), value=None, key="import_end")
    tz = c3.text_input(t("im.tz"), value=eff.timezone, key="import_tz").strip() or eff.timezone
    return start, end, tz


def preview(logs: pd.DataFrame) -> None:
    times = logs["time"] if len(logs) else None
    st.success(t("im.preview", rows=f"{len(logs):,}", users=logs["user"].nunique() if len(logs) else 0,
                 start=str(times.min())[:16] if times is not None else "-",
                 end=str(times.max())[:16] if times is not None else "-"))
    for msg in logs.attrs.get("warnings", []):
        st.warning(t("im.check", msg=msg))
    st.dataframe(logs.head(50), hide_index=True, key="import_preview")


def grades_inputs(grades: Any) -> tuple[bytes | None, dict[str, float]]:
    """The gradebook bytes and the item maxima the user gave for items whose range the file lacks."""
    if grades is None:
        return None, {}
    from moodle.log_export import read_gradebook_export, unknown_ranges

    raw = grades.getvalue()
    try:
        book = read_gradebook_export(raw)
    except Exception as exc:  # a clear message, not a traceback
        st.error(t("im.grades_bad", msg=redact(str(exc))))
        return None, {}
    quiz = book[book["itemmodule"] == "quiz"]
    ranges = quiz.drop_duplicates("itemname")
    shown = ", ".join(f"{r.itemname}: {r.grademin:g}-{r.grademax:g} ({r.range_source})"
                      for r in ranges.itertuples() if pd.notna(r.grademax)) or "-"
    st.caption(t("im.grades_read", items=len(ranges), rows=int(book["row"].nunique()), ranges=shown))
    item_max: dict[str, float] = {}
    missing = unknown_ranges(book)
    if missing:
        st.info(t("im.max_ask"))
        cols = st.columns(min(3, len(missing)))
        for i, item in enumerate(missing):
            value = cols[i % len(cols)].number_input(t("im.max_of", item=item), min_value=0.0, value=None,
                                                     step=1.0, key=f"import_max_{i}")
            if value:
                item_max[item] = float(value)
    return raw, item_max


def _next_free_id(store: Any) -> int:
    ids = [int(d.get("course_id", d.get("id", 0)) or 0) for d in store.courses.list()]
    return max([9000, *ids]) + 1


def course_target(logs: pd.DataFrame, upload_name: str) -> tuple[int, str, bool]:
    """(course id, typed name, may submit): a new id by default; an existing course only when confirmed."""
    store = get_store()
    c1, c2 = st.columns([1, 3])
    if "import_course_id" not in st.session_state:
        st.session_state["import_course_id"] = _next_free_id(store)
    cid = int(c1.number_input(t("im.course_id"), min_value=1, step=1, key="import_course_id"))
    if "import_course_name" not in st.session_state:
        from moodle.log_export import export_course_info

        guess = export_course_info(logs).get("fullname") if len(logs) else ""
        stem = re.sub(r"[_-]+", " ", upload_name.rsplit(".", 1)[0]).strip()
        st.session_state["import_course_name"] = guess if guess and not guess.startswith("Imported") else stem
    name = c2.text_input(t("im.course_name"), key="import_course_name").strip()
    existing = store.courses.get(cid)
    if existing is None:
        st.caption(t("im.new_course"))
        return cid, name, True
    st.warning(t("im.exists", course=cid, name=existing.get("fullname") or "-"))
    confirmed = st.checkbox(t("im.confirm", course=cid), value=False, key=f"import_confirm_{cid}")
    return cid, name, bool(confirmed)


def store_and_submit(cid: int, name: str, upload: Any, grades: bytes | None, options: dict[str, Any]) -> str:
    """Save the upload (unique name + sidecar), register the course, queue its run; returns the job id."""
    from jobs.config import effective_settings
    from jobs.imports import purge_uploads, save_upload
    from jobs.runner import submit

    store = get_store()
    eff = effective_settings(store, get_config())
    purge_uploads(data_dir(), eff.import_retention_days)
    path = save_upload(data_dir(), cid, upload.getvalue(), original_name=upload.name, grades=grades,
                       options={**options, "fullname": name or f"Course {cid}"})
    store.courses.upsert({"id": cid, "fullname": name or f"Course {cid}", "source": "csv",
                          "upload": {"path": str(path.resolve()), "name": upload.name,
                                     "uploaded_at": datetime.now(UTC).isoformat()}})
    job_id = submit(store, [cid], "manual", source=f"csv:{path.resolve()}")
    st.session_state[_DONE_KEY] = {"job": job_id, "course": cid, "name": name}
    return job_id


def done_message() -> None:
    """After the import's job: "done" with a link to the groups, or why it did not run."""
    pending = st.session_state.get(_DONE_KEY)
    if not pending or st.session_state.get(SESSION_KEYS["job"]) == pending["job"]:
        return
    from ui import loaders

    job = loaders.job_record(pending["job"]) or {}
    status = job.get("status")
    if status not in ("succeeded", "failed", "skipped", "interrupted", "partial", "cancelled"):
        return
    outcome = (job.get("result") or {}).get(str(pending["course"])) or {}
    if (outcome.get("status") or status) == "succeeded":
        st.session_state[SESSION_KEYS["course"]] = pending["course"]
        st.success(t("im.done", course=pending["course"], name=pending["name"]))
        st.page_link(PAGE_FILES["clusters"], label=t("im.see_groups"), icon=":material/groups:")
    else:
        reason = outcome.get("reason") or (outcome.get("error") or job.get("error") or {}).get("message") or status
        st.error(t("im.not_done", course=pending["course"], status=outcome.get("status") or status,
                   reason=redact(str(reason))))


def imports_settings() -> None:
    """Settings: how long uploads are kept, and a course's dates (its frame) for reading its logs."""
    from jobs.config import effective_settings, save_settings

    store = get_store()
    eff = effective_settings(store, get_config())
    st.subheader(t("st.imports"))
    with st.form("imports_form"):
        days = st.number_input(t("st.retention_days"), min_value=1, max_value=3650,
                               value=int(eff.import_retention_days), step=1, key="import_retention")
        if st.form_submit_button(t("common.save")):
            save_settings(store, import_retention_days=int(days))
            st.success(t("common.saved"))
    courses = [int(d["course_id"]) for d in store.courses.list() if "course_id" in d]
    if not courses:
        return
    with st.form("frame_form"):
        c0, c1, c2 = st.columns(3)
        cid = c0.selectbox(t("st.frame_course"), courses, key="frame_course")
        start = c1.date_input(t("im.start"), value=None, key="frame_start")
        end = c2.date_input(t("im.end"), value=None, key="frame_end")
        if st.form_submit_button(t("common.save")):
            doc = store.courses.get(int(cid)) or {}
            tz = ZoneInfo(str((doc.get("frame") or {}).get("timezone") or doc.get("timezone") or eff.timezone))
            s = datetime(start.year, start.month, start.day, tzinfo=tz) if start else None
            e = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=tz) if end else None
            try:
                store.courses.set_frame(int(cid), s, e, source="admin")
            except ValueError as exc:
                st.error(redact(str(exc)))
                return
            st.success(t("st.frame_saved", course=cid))
