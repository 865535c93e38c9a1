"""Moodle "Logs" report downloads (report_log) -> canonical log rows -> CourseData.

:func:`read_log_export` takes what any teacher can download from *Reports > Logs* and copes with the
variants found in the wild: any column order, extra columns (e.g. ``Course`` on site-level logs),
localized or English headers, a UTF-8 BOM, CR-only / CRLF / LF line endings, comma / semicolon / tab
separators, JSON or Excel (.xlsx) downloads, times as ``14/03/24, 09:15:02``, ``14/03/24, 09:15``,
month-first US English (``03/14/24, 9:15 AM``), ``11 May, 09:44`` without a year (inferred from
``course_start`` or from the file's order), ISO or Unix times, and names blanked to ``-`` (the user id
then comes from the Description, which Moodle always writes in English: "The user with id '12' ...").

Canonical columns (DESIGN.md): ``time`` (aware UTC), ``user`` (the user id as text when known, else
the full name), ``user_full_name``, ``affected_user``, ``event_context``, ``component``,
``event_name``, ``description``, ``origin``, ``ip``; plus helpers ``userid`` / ``relateduserid`` /
``courseid`` / ``cmid`` (nullable ints parsed from Description) and ``row`` (the row number in the
file, header = row 1). Rows are returned oldest first.

:func:`course_data_from_export` maps the localized Component / Event name display names back to
logstore-like rows (``component``, ``eventname``, ``action``, ``target``, ``objecttable``, ``crud``,
``edulevel``, ``contextlevel``, ``contextinstanceid``) so the same feature extraction works. Event
names it does not know (other language packs) are recognised from the Description, which Moodle
writes in English whatever the site language; unknown ones still get a slug eventname.

**Who is a student** (there is no role column in a log export): every user who acts in the course,
except users who did at least one staff-only event — editing the course (course module / section
created, updated or deleted, course updated, backups, resets), grading (``The submission has been
graded``, ``Grading table viewed``, ``Grader report viewed``, grade items created / updated / deleted),
managing people (role assigned / unassigned, enrolments updated, groups), teacher reports (logs,
statistics, participation, attendance taken), or viewing *another* user's grade report or quiz attempt.
Users enrolled by an ``User enrolled in course`` event but never active are students with no activity;
users later unenrolled are dropped. Rows of origin ``cli`` / ``restore`` never make a student.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from moodle.data import LOG_COLUMNS, STUDENT_COLUMNS, CourseData, grades_frame
from moodle.errors import LogExportError

log = logging.getLogger(__name__)

__all__ = [
    "CANONICAL_COLUMNS",
    "check_export",
    "course_data_from_export",
    "export_course_info",
    "read_gradebook_export",
    "read_log_export",
    "unknown_ranges",
]

CANONICAL_COLUMNS = ["time", "user", "user_full_name", "affected_user", "event_context", "component",
                     "event_name", "description", "origin", "ip"]
_REQUIRED = ("time", "event_name")


def _norm(text: object) -> str:
    """Lower-case, accents and punctuation removed, single spaces."""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()
    s = s.replace("\ufeff", "")
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return s.strip()


# Header names -> canonical column (English, en_us and a few common language packs).
_HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "date", "timestamp", "date time", "thoi gian", "hora", "heure", "zeit", "ora",
             "tijd", "czas", "data", "fecha", "tempo", "waktu"),
    "user_full_name": ("user full name", "full name", "user", "username", "user name", "ho ten nguoi dung",
                       "ten day du nguoi dung", "ho va ten", "nombre completo del usuario", "nombre completo",
                       "nom complet de l utilisateur", "nom complet", "vollstandiger name",
                       "vollstandiger name des nutzers", "nome completo", "nome completo do usuario",
                       "nome completo dell utente", "volledige naam", "nama lengkap pengguna"),
    "affected_user": ("affected user", "related user", "nguoi dung bi anh huong", "usuario afectado",
                      "utilisateur concerne", "betroffene r nutzer in", "betroffener nutzer",
                      "usuario afetado", "utente coinvolto", "betrokken gebruiker", "pengguna terdampak"),
    "event_context": ("event context", "context", "ngu canh su kien", "contexto del evento",
                      "contexte de l evenement", "ereigniskontext", "contexto do evento",
                      "contesto dell evento", "gebeurteniscontext", "konteks kejadian"),
    "component": ("component", "thanh phan", "componente", "composant", "komponente", "komponen"),
    "event_name": ("event name", "event", "ten su kien", "nombre evento", "nombre del evento",
                   "nom de l evenement", "ereignisname", "ereignis", "nome do evento", "nome evento",
                   "naam gebeurtenis", "nama kejadian"),
    "description": ("description", "mo ta", "descripcion", "beschreibung", "descricao", "descrizione",
                    "beschrijving", "deskripsi"),
    "origin": ("origin", "nguon goc", "nguon", "origen", "origine", "ursprung", "origem", "oorsprong", "asal"),
    "ip": ("ip address", "ip", "dia chi ip", "direccion ip", "adresse ip", "ip adresse", "endereco ip",
           "indirizzo ip", "ip adres", "alamat ip"),
    "course": ("course", "khoa hoc", "curso", "cours", "kurs", "corso", "cursus", "kursus"),
    "email": ("email address", "email", "e mail", "dia chi email", "adresse de courriel", "correo electronico",
              "e mail adresse", "endereco de email", "indirizzo email", "alamat email"),
    "idnumber": ("id number", "idnumber", "so id", "ma so", "numero de id", "numero id", "id nummer",
                 "numero de identificacion", "nomor id"),
}
_HEADER_LOOKUP = {alias: canon for canon, aliases in _HEADER_ALIASES.items() for alias in aliases}

_MONTHS = {m.lower(): i for i, m in enumerate(
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
     "November", "December"], start=1)}
_MONTHS.update({k[:3]: v for k, v in list(_MONTHS.items())})
_MONTHS["sept"] = 9
# Month names of a few common language packs (accents removed; see _month_number)
for _i, _names in enumerate([
        ("janvier", "enero", "januar", "janeiro", "gennaio", "januari", "jan", "ene", "janv", "gen"),
        ("fevrier", "febrero", "februar", "fevereiro", "febbraio", "februari", "fev", "feb", "fevr"),
        ("mars", "marzo", "marz", "marco", "maart", "mar", "mrz"),
        ("avril", "abril", "aprile", "avr", "abr"),
        ("mai", "mayo", "maio", "maggio", "mei", "may"),
        ("juin", "junio", "juni", "junho", "giugno", "jun"),
        ("juillet", "julio", "juli", "julho", "luglio", "juil", "jul", "lug"),
        ("aout", "agosto", "augustus", "ago", "aug"),
        ("septembre", "septiembre", "setembro", "settembre", "sep", "set"),
        ("octobre", "octubre", "oktober", "outubro", "ottobre", "oct", "okt", "out", "ott"),
        ("novembre", "noviembre", "novembro", "nov"),
        ("decembre", "diciembre", "dezember", "dezembro", "dicembre", "december", "dic", "dez"),
], start=1):
    for _n in _names:
        _MONTHS.setdefault(_n, _i)


def _month_number(name: object) -> float:
    """Month name (any case, accents, trailing dot, Vietnamese "tháng 5") -> 1..12, NaN if unknown."""
    if not isinstance(name, str):
        return np.nan
    key = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().strip(". ")
    m = re.fullmatch(r"(?:thg|thang)\s*(\d{1,2})", key)
    if m:
        return float(m.group(1))
    return float(_MONTHS[key]) if key in _MONTHS else np.nan

_RE_NUMERIC = re.compile(
    r"^\s*(?P<a>\d{1,4})[/.\-](?P<b>\d{1,2})[/.\-](?P<c>\d{1,4})(?:,|\s)\s*(?:at\s+)?"
    r"(?P<H>\d{1,2})[:.h](?P<M>\d{2})(?:[:.](?P<S>\d{2}))?(?:\.\d+)?\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?\s*"
    r"(?:(?:Z|UTC|GMT)?(?P<tz>[+-]\d{2}:?\d{2})?)?\s*$")
_RE_ISO = re.compile(
    r"^\s*(?P<a>\d{4})-(?P<b>\d{1,2})-(?P<c>\d{1,2})[T\s]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
    r"(?:\.\d+)?\s*(?:Z|UTC|(?P<tz>[+-]\d{2}:?\d{2}))?\s*$")
_RE_DAY_MONTH = re.compile(
    r"^\s*(?:[^\W\d_]+\.?,\s*)?(?P<d>\d{1,2})(?:st|nd|rd|th|\.)?\s+(?:de\s+)?"
    r"(?P<mon>th[aá]ng\s*\d{1,2}|thg\s*\d{1,2}|[^\W\d_]{3,12})\.?,?\s*(?:de\s+)?(?P<y>\d{4})?,?\s+"
    r"(?:at\s+)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?\s*$")
_RE_MONTH_DAY = re.compile(
    r"^\s*(?:[^\W\d_]+,\s*)?(?P<mon>[^\W\d_]{3,12})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s*(?P<y>\d{4})?,?\s+"
    r"(?:at\s+)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*(?P<ampm>[AaPp]\.?\s?[Mm]\.?)?\s*$")
_RE_UNIX = re.compile(r"^\s*\d{9,11}\s*$")

_RE_USER_ID = re.compile(r"user with (?:the )?id '?(-?\d+)'?", re.IGNORECASE)
_RE_COURSE_ID = re.compile(r"course with id '?(\d+)'?|at course: (\d+)", re.IGNORECASE)
_RE_CMID = re.compile(r"course module (?:with )?id '(\d+)'", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------
# reading
_MAX_TIME_CHARS = 64            # a Time cell longer than this is not a date (and never reaches a regex)
_MIN_TS, _MAX_TS = 0, 4_102_444_800     # 1970-01-01 .. 2100-01-01: anything else is a misread
_EXCEL_SERIAL = re.compile(r"^\s*(\d{5})(?:\.(\d+))?\s*$")
_FAST_FORMATS: list[tuple[str, bool | None]] = [
    ("%d/%m/%y, %H:%M:%S", True), ("%d/%m/%y, %H:%M", True), ("%d/%m/%Y, %H:%M:%S", True),
    ("%d/%m/%Y, %H:%M", True), ("%m/%d/%y, %H:%M:%S", False), ("%m/%d/%y, %H:%M", False),
    ("%m/%d/%Y, %H:%M:%S", False), ("%m/%d/%Y, %H:%M", False), ("%Y-%m-%d %H:%M:%S", None),
    ("%Y-%m-%dT%H:%M:%S", None), ("%Y-%m-%d %H:%M", None),
]
_CATEGORY_COLUMNS = ("user_full_name", "affected_user", "event_context", "component", "event_name", "origin",
                     "ip", "course", "email", "idnumber")


def _find_header(rows: list[list[str]]) -> tuple[int, dict[str, int]]:
    best: tuple[int, dict[str, int]] = (-1, {})
    for i, row in enumerate(rows[:10]):
        mapping: dict[str, int] = {}
        for j, cell in enumerate(row[:512]):
            canon = _HEADER_LOOKUP.get(_norm(str(cell)[:80]))
            if canon and canon not in mapping:
                mapping[canon] = j
        if len(mapping) > len(best[1]):
            best = (i, mapping)
        if all(k in mapping for k in _REQUIRED) and len(mapping) >= 4:
            return i, mapping
    return best


def _encode(col: Any) -> tuple[np.ndarray, Any]:
    """(int codes, Arrow string dictionary) of a string column (Array or ChunkedArray)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray) and col.num_chunks != 1:
        col = col.combine_chunks() if col.num_chunks else pa.array([], pa.string())
    if isinstance(col, pa.ChunkedArray):
        col = col.chunk(0)
    enc = pc.dictionary_encode(col)
    return enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary


def _categorical(col: Any, *, strip: bool = True) -> pd.Categorical:
    codes, dictionary = _encode(col)
    cats = pd.Index(dictionary.to_pylist(), dtype=object)
    if strip:
        cats = cats.str.strip()
        if not cats.is_unique:          # " x" and "x" are one value
            re_codes, cats = pd.factorize(cats)
            codes = re_codes[codes]
            cats = pd.Index(cats, dtype=object)
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=cats)


def _ids_from_descriptions(col: Any) -> tuple[dict[str, np.ndarray], pd.Categorical]:
    """userid / relateduserid / courseid / cmid (float arrays, NaN = none) parsed from each distinct
    Description (Moodle writes them in English: "The user with id '12' viewed ... course module id '7'."),
    and the Descriptions as a Categorical."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, uniq = _encode(col)

    def num(arr: Any) -> np.ndarray:
        bad = pc.or_(pc.equal(arr, ""), pc.greater(pc.utf8_length(arr), 16))     # none, or too big for an id
        arr = pc.if_else(bad, pa.scalar(None, arr.type), arr)
        return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    user = pc.extract_regex(uniq, r"(?i)user with (?:the )?id '?(?P<a>-?\d+)")
    where = pc.extract_regex(uniq, r"(?i)(?:course with id '?(?P<c>\d+)|at course: (?P<d>\d+))")
    module = pc.extract_regex(uniq, r"(?i)course module (?:with )?id '(?P<m>\d+)'")
    userid = num(pc.struct_field(user, [0]))
    course = num(pc.struct_field(where, [0]))
    course = np.where(np.isnan(course), num(pc.struct_field(where, [1])), course)
    cmid = num(pc.struct_field(module, [0]))
    related = np.full(len(uniq), np.nan)
    twice = np.flatnonzero(pc.greater(pc.count_substring_regex(uniq, r"(?i)user with (?:the )?id"), 1)
                           .to_numpy(zero_copy_only=False))
    if len(twice):
        sub = uniq.take(pa.array(twice))
        m = pc.extract_regex(sub, r"(?i)user with (?:the )?id '?-?\d+.*?user with (?:the )?id '?(?P<b>-?\d+)")
        related[twice] = num(pc.struct_field(m, [0]))
    out = {}
    for key, values in (("userid", userid), ("relateduserid", related), ("courseid", course), ("cmid", cmid)):
        out[key] = values[codes] if len(codes) else values[:0]
    desc = pd.Categorical.from_codes(codes.astype(np.int32),
                                     categories=pd.Index(pd.arrays.ArrowStringArray(uniq.cast(pa.large_string()))))
    return out, desc


def read_log_export(path_or_buffer: str | Path | bytes | IO[Any], *, course_start: Any = None,
                    course_end: Any = None, timezone: str = "UTC", dayfirst: bool | None = None) -> pd.DataFrame:
    """Read a Moodle Logs report download into the canonical columns (see module docstring).

    ``course_start`` / ``course_end``: the course's dates (anything ``pd.Timestamp`` takes), used to put
    a year on times written without one and to judge whether the dates are plausible.
    ``timezone``: the time zone the export was downloaded in (the course's; times carry none).
    ``dayfirst``: force day-first / month-first for numeric dates (default: detect).

    Any file that is not a readable export raises :class:`moodle.errors.LogExportError` (naming the row
    and column where it can), never another exception; devices, pipes and oversized files are refused
    (limits: :mod:`moodle.export_io`). Warnings about implausible dates (see :func:`check_export`) are in
    ``df.attrs["warnings"]``.
    """
    try:
        df = _read_log_export(path_or_buffer, course_start=course_start, course_end=course_end,
                              timezone=timezone, dayfirst=dayfirst)
    except LogExportError:
        raise
    except MemoryError:
        raise LogExportError("The export is too large to read in the memory available; split it by date "
                             "range or raise no limit.") from None
    except Exception as exc:  # the importer's own error for anything a damaged file can provoke
        log.warning("log export: unexpected %s while reading: %s", exc.__class__.__name__, str(exc)[:200])
        raise LogExportError(f"The file cannot be read as a Moodle log export "
                             f"({exc.__class__.__name__}: {str(exc)[:150]}).") from exc
    df.attrs["warnings"] = df.attrs.get("warnings", []) + check_export(df, course_start=course_start,
                                                                       course_end=course_end)
    return df


def _read_log_export(source: Any, *, course_start: Any, course_end: Any, timezone: str,
                     dayfirst: bool | None) -> pd.DataFrame:
    import pyarrow as pa

    from moodle.export_io import cells_of, limits, read_source

    if timezone:
        try:
            ZoneInfo(str(timezone))
        except (KeyError, ValueError, OSError):
            raise LogExportError(f"Unknown time zone {str(timezone)[:60]!r} (use an IANA name such as "
                                 "Asia/Ho_Chi_Minh).") from None
    lim = limits()
    raw, name = read_source(source, lim)
    if not raw[:65536].strip(b" \t\r\n\x00\xef\xbb\xbf") and not raw.strip(b" \t\r\n\x00\xef\xbb\xbf"):
        raise LogExportError(f"{name} is empty: no header row with Time, Event name, ...", row=1)
    cells = cells_of(raw, name, lim)
    del raw
    if isinstance(cells, pa.Table):
        head = [[str(v) for v in r] for r in zip(*[c.slice(0, 10).to_pylist() for c in cells.columns])]
    else:
        head = [list(map(str, r)) for r in cells[:10]]
    header_at, cols = _find_header(head)
    missing = [k for k in _REQUIRED if k not in cols]
    if header_at < 0 or missing or len(cols) < 3:
        got = head[header_at if header_at >= 0 else 0] if head else []
        want = ", ".join(_display(k) for k in (missing or list(_REQUIRED)))
        shown = [str(c)[:30] for c in got[:12]]
        raise LogExportError(
            f"{name} is not a Moodle log export: row {max(header_at, 0) + 1} has the columns "
            f"{shown}, but a log export has Time, User full name, Affected user, Event context, "
            f"Component, Event name, Description, Origin, IP address (missing: {want}).",
            row=max(header_at, 0) + 1, column=want)
    header_row = head[header_at]
    if isinstance(cells, pa.Table):
        columns = {canon: cells.column(j).slice(header_at + 1) for canon, j in cols.items()}
        n = cells.num_rows - header_at - 1
        rownum = np.arange(n, dtype=np.int64) + header_at + 2
        del cells
    else:
        columns, rownum = _columns_from_rows(cells, header_at, cols, name)
        del cells
    return _finish(columns, rownum, header_row, cols, course_start=course_start, course_end=course_end,
                   dayfirst=dayfirst, timezone=timezone or "UTC", name=name)


def _columns_from_rows(rows: list[list[str]], header_at: int, cols: dict[str, int], name: str
                       ) -> tuple[dict[str, Any], np.ndarray]:
    import pyarrow as pa

    width = max(cols.values()) + 1
    keep: list[list[str]] = []
    line_no: list[int] = []
    for i in range(header_at + 1, len(rows)):
        r = rows[i]
        if not r or all(not str(c).strip() for c in r):
            continue
        if len(r) < width:
            short = [k for k, j in cols.items() if j >= len(r)]
            raise LogExportError(
                f"{name}: row {i + 1} has {len(r)} fields but the header has {len(rows[header_at])}; column "
                f"'{_display(short[0])}' is missing. The file may be cut off or not a Moodle log export.",
                row=i + 1, column=_display(short[0]))
        keep.append(r)
        line_no.append(i + 1)
    columns = {canon: pa.array([str(r[j]) for r in keep], pa.string()) for canon, j in cols.items()}
    return columns, np.asarray(line_no, dtype=np.int64)


def _empty_frame() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in CANONICAL_COLUMNS})
    out["time"] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("userid", "relateduserid", "courseid", "cmid"):
        out[c] = pd.Series(dtype="Int64")
    out["row"] = pd.Series(dtype=np.int64)
    return out


def _finish(columns: dict[str, Any], rownum: np.ndarray, header_row: list[str], cols: dict[str, int], *,
            course_start: Any, course_end: Any, dayfirst: bool | None, timezone: str, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    from moodle.export_io import limits

    str_type = columns["time"].type
    if len(rownum) > limits().max_rows:
        raise LogExportError(f"{name} has {len(rownum):,} rows; the import limit is {limits().max_rows:,} "
                             "(COHORTLENS_IMPORT_MAX_ROWS).")
    # drop blank rows and repeated header rows (two downloads pasted into one file): only rows whose
    # Time is blank or reads like the header's are looked at
    time_col = columns["time"]
    suspect = pc.or_(pc.equal(pc.utf8_trim_whitespace(time_col), ""),
                     pc.equal(time_col, str(header_row[cols["time"]])))
    idx = np.flatnonzero(suspect.to_numpy(zero_copy_only=False)) if len(time_col) else np.zeros(0, np.int64)
    if len(idx):
        sub = {c: v.take(pa.array(idx)).to_pylist() for c, v in columns.items()}
        hdr = {c: str(header_row[j]).strip() for c, j in cols.items()}
        drop = [k for k in range(len(idx))
                if all(not (sub[c][k] or "").strip() for c in sub)
                or all((sub[c][k] or "").strip() == hdr[c] for c in sub)]
        if drop:
            keep = np.ones(len(rownum), dtype=bool)
            keep[idx[drop]] = False
            mask = pa.array(keep)
            columns = {c: pc.filter(v, mask) for c, v in columns.items()}
            rownum = rownum[keep]
    n = len(rownum)
    warnings: list[str] = []
    if n == 0:
        out = _empty_frame()
        out.attrs["warnings"] = warnings
        return out
    for canon in CANONICAL_COLUMNS:
        if canon not in columns and canon != "user":
            columns[canon] = pa.array([""] * n, str_type)
    # the heavy steps run side by side (Arrow compute releases the GIL)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        f_ids = pool.submit(_ids_from_descriptions, columns["description"])
        f_cats = {c: pool.submit(_categorical, columns[c]) for c in _CATEGORY_COLUMNS if c in columns}
        ts = _parse_time_column(columns["time"], rownum, course_start=course_start, course_end=course_end,
                                dayfirst=dayfirst, timezone=timezone, warnings=warnings)
        if len(ts) < 2 or bool(np.all(ts[1:] >= ts[:-1])):
            order = np.arange(n)
        elif bool(np.all(ts[1:] <= ts[:-1])):          # newest first, as Moodle writes it
            order = np.arange(n)[::-1].copy()
        else:
            order = np.lexsort((-rownum, ts))
        ids, desc_cat = f_ids.result()
        cats = {c: f.result() for c, f in f_cats.items()}
    desc = pd.Categorical.from_codes(desc_cat.codes[order], categories=desc_cat.categories)
    data: dict[str, Any] = {}
    data["time"] = pd.DatetimeIndex(ts[order].astype("datetime64[s]").astype("datetime64[ns]"), tz=UTC)
    # user: the id from the Description, else the full name (blank / "-" = unknown)
    uid = ids["userid"][order]
    names = cats["user_full_name"]
    name_codes = names.codes[order]
    name_cats = np.asarray(names.categories, dtype=object)
    name_ok = np.isin(name_cats, ["", "-"], invert=True)
    uid_known = ~np.isnan(uid)
    u_codes, u_uniq = pd.factorize(uid[uid_known])
    user_cats = [str(int(v)) for v in u_uniq]
    user_codes = np.full(n, -1, dtype=np.int64)
    user_codes[uid_known] = u_codes
    named = ~uid_known & (name_codes >= 0)
    if named.any():
        nm_codes = name_codes[named]
        ok = name_ok[nm_codes]
        extra_idx, extra_uniq = pd.factorize(nm_codes[ok])
        sel = np.flatnonzero(named)[ok]
        user_codes[sel] = extra_idx + len(user_cats)
        user_cats += [str(name_cats[i]) for i in extra_uniq]
    cat_index, dedup = pd.factorize(pd.Index(user_cats, dtype=object))
    user_codes = np.where(user_codes >= 0, cat_index[np.maximum(user_codes, 0)] if len(cat_index) else -1, -1)
    data["user"] = pd.Categorical.from_codes(user_codes.astype(np.int32), categories=pd.Index(dedup, dtype=object))
    for c in CANONICAL_COLUMNS:
        if c in ("time", "user"):
            continue
        if c in cats:
            cat = cats[c]
            data[c] = pd.Categorical.from_codes(cat.codes[order], categories=cat.categories)
        else:
            data[c] = desc
    for c in ("userid", "relateduserid", "courseid", "cmid"):
        v = ids[c][order]
        data[c] = pd.arrays.IntegerArray(np.nan_to_num(v, nan=0).astype(np.int64), np.isnan(v))
    data["row"] = rownum[order].astype(np.int64)
    for c in ("course", "email", "idnumber"):       # extra columns some exports carry (identity fields)
        if c in cats:
            cat = cats[c]
            data[c] = pd.Categorical.from_codes(cat.codes[order], categories=cat.categories)
    frame = pd.DataFrame(data, copy=False)
    frame.attrs["warnings"] = warnings
    return frame


def _parse_time_column(col: Any, rownum: np.ndarray, *, course_start: Any, course_end: Any,
                       dayfirst: bool | None, timezone: str, warnings: list[str]) -> np.ndarray:
    """The Time column -> UTC Unix seconds per row: Moodle's usual formats parsed by Arrow in one go,
    anything else (no year, month names, AM/PM, mixed) one distinct text at a time."""
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(col)
    local = _fast_local_times(trimmed, dayfirst)
    if local is not None:
        _check_range(local, rownum, lambda i: str(trimmed[i].as_py()))
        return _localize(local, timezone)
    codes, uniq = _encode(trimmed)
    first_at = np.full(len(uniq), -1, dtype=np.int64)
    first_at[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    lengths = pc.utf8_length(uniq).to_numpy(zero_copy_only=False)
    too_long = np.flatnonzero(lengths > _MAX_TIME_CHARS)
    rows = rownum[first_at]
    if len(too_long):
        i = int(too_long[np.argmin(rows[too_long])])
        raise LogExportError(f"Row {int(rows[i])}, column 'Time': {str(uniq[i].as_py())[:40]!r}… is not a date "
                             "and time as Moodle writes it.", row=int(rows[i]), column="Time")
    values = pd.Series(uniq.to_pylist(), dtype=object)
    utc_s = _parse_unique(values, pd.Series(rows), course_start=course_start, course_end=course_end,
                          dayfirst=dayfirst, timezone=timezone, warnings=warnings)
    return utc_s[codes]


def _fast_local_times(values: Any, dayfirst: bool | None) -> np.ndarray | None:
    """Wall-clock seconds when every value has one of Moodle's usual numeric formats, else None.

    Formats are tried on a sample first; a day-first hit is checked against its month-first twin
    (every day <= 12 reads both ways: the careful path then decides)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0 or values.null_count:
        return None
    step = max(1, len(values) // 200)
    sample = values.take(pa.array(np.arange(0, len(values), step)))

    def parse(arr: Any, fmt: str) -> Any:
        try:
            return pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
        except pa.ArrowException:
            return None
    for fmt, first in _FAST_FORMATS:
        if dayfirst is not None and first is not None and first != dayfirst:
            continue
        got = parse(sample, fmt)
        if got is None or got.null_count:
            continue
        full = parse(values, fmt)
        if full is None or full.null_count:
            return None
        if first is not None and dayfirst is None:
            twin = fmt.replace("%d/%m", "%D").replace("%m/%d", "%d/%m").replace("%D", "%m/%d")
            other = parse(sample, twin)
            if other is not None and other.null_count == 0:
                other = parse(values, twin)
                if other is not None and other.null_count == 0:
                    return None
        return full.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)
    return None


def _check_range(local: np.ndarray, rows: np.ndarray, text_of: Callable[[int], str]) -> None:
    bad = np.flatnonzero((local < _MIN_TS - 86400) | (local > _MAX_TS))
    if len(bad):
        i = int(bad[np.argmin(rows[bad])])
        raise LogExportError(f"Row {int(rows[i])}, column 'Time': {text_of(i)[:40]!r} is outside 1970-2100; "
                             "not a date of a Moodle log.", row=int(rows[i]), column="Time")


def _localize(local: np.ndarray, timezone: str) -> np.ndarray:
    """Wall-clock seconds in ``timezone`` -> UTC seconds (DST gaps shift forward; repeated hour: the first).

    Offsets change on whole hours, so each distinct wall-clock hour is localized once."""
    if not timezone or timezone.upper() == "UTC" or len(local) == 0:
        return local.astype(np.int64)
    tz = ZoneInfo(timezone)
    hour_of = local // 3600
    lo, hi = int(hour_of.min()), int(hour_of.max())
    if hi - lo < 2_000_000:                       # < 228 years of hours: a table, no sort
        hours = np.arange(lo, hi + 1, dtype=np.int64)
        inverse = hour_of - lo
    else:
        hours, inverse = np.unique(hour_of, return_inverse=True)
    naive = pd.to_datetime(hours * 3600, unit="s")
    aware = naive.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    amb = np.asarray(aware.isna())
    if amb.any():
        fixed = naive[amb].tz_localize(tz, ambiguous=np.ones(int(amb.sum()), dtype=bool))
        aware = pd.Series(aware)
        aware[amb] = fixed
        aware = pd.DatetimeIndex(aware)
    utc_hour = aware.tz_convert(UTC).as_unit("s").asi8.astype(np.int64)
    shift = utc_hour - hours * 3600          # per hour: UTC - wall clock (a gap's shift included)
    return (local + shift[inverse.reshape(-1)]).astype(np.int64)


def _parse_unique(values: pd.Series, rows: pd.Series, *, course_start: Any, course_end: Any = None,
                  dayfirst: bool | None, timezone: str, warnings: list[str] | None = None) -> np.ndarray:
    """Vectorised parse of every time format above; returns UTC Unix seconds (int64)."""
    s = values.astype(str).str.strip()
    n = len(s)
    year = np.full(n, -1, dtype=np.int64)
    month = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    hour = np.zeros(n, dtype=np.int64)
    minute = np.zeros(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    offset_min = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)     # explicit UTC offset, if any
    done = np.zeros(n, dtype=bool)
    unix = np.full(n, -1, dtype=np.int64)

    def hms(m: pd.DataFrame, idx: np.ndarray) -> None:
        h = m["H"].astype(int).to_numpy()
        if "ampm" in m:
            ap = m["ampm"].fillna("").str.lower().str.replace(r"[\s.]", "", regex=True).to_numpy()
            h = np.where(ap == "pm", h % 12 + 12, np.where(ap == "am", h % 12, h))
        hour[idx] = h
        minute[idx] = m["M"].astype(int).to_numpy()
        second[idx] = m["S"].fillna("0").astype(int).to_numpy()
        if "tz" in m:
            tz = m["tz"].fillna("")
            has = tz.str.len().to_numpy() > 0
            if has.any():
                t = tz[has].str.replace(":", "", regex=False)
                sign = np.where(t.str[0] == "-", -1, 1)
                offset_min[idx[has]] = sign * (t.str[1:3].astype(int) * 60 + t.str[3:5].astype(int)).to_numpy()

    # unix seconds
    is_unix = s.str.match(_RE_UNIX).to_numpy()
    if is_unix.any():
        unix[is_unix] = s[is_unix].astype(np.int64).to_numpy()
        done |= is_unix
    # Excel serial day numbers (an .xlsx saved with real date cells): days since 1899-12-30
    serial = s.str.extract(_EXCEL_SERIAL)
    is_serial = serial[0].notna().to_numpy() & ~done
    if is_serial.any():
        days = s[is_serial].astype(float).to_numpy()
        unix[is_serial] = np.round((days - 25569.0) * 86400).astype(np.int64)
        done |= is_serial
    is_unix = is_unix | is_serial
    # ISO first (4-digit year first)
    m = s[~done].str.extract(_RE_ISO)
    ok = m["a"].notna().to_numpy()
    if ok.any():
        idx = np.flatnonzero(~done)[ok]
        mm = m[ok]
        year[idx], month[idx], day[idx] = (mm["a"].astype(int).to_numpy(), mm["b"].astype(int).to_numpy(),
                                           mm["c"].astype(int).to_numpy())
        hms(mm, idx)
        done[idx] = True
    # numeric a/b/c
    m = s[~done].str.extract(_RE_NUMERIC)
    ok = m["a"].notna().to_numpy()
    if ok.any():
        idx = np.flatnonzero(~done)[ok]
        mm = m[ok]
        a, b, c = (mm["a"].astype(int).to_numpy(), mm["b"].astype(int).to_numpy(), mm["c"].astype(int).to_numpy())
        ylong = mm["a"].str.len().to_numpy() == 4
        if ylong.any():        # 2024/03/14
            year[idx[ylong]], month[idx[ylong]], day[idx[ylong]] = a[ylong], b[ylong], c[ylong]
        rest = ~ylong
        if rest.any():
            ia, ib, ic = a[rest], b[rest], c[rest]
            yy = np.where(ic < 100, np.where(ic < 70, 2000 + ic, 1900 + ic), ic)
            first_day = _decide_dayfirst(ia, ib, yy, mm[rest], dayfirst)
            year[idx[rest]] = yy
            day[idx[rest]] = ia if first_day else ib
            month[idx[rest]] = ib if first_day else ia
        hms(mm, idx)
        done[idx] = True
    # "11 May, 09:44" / "Thursday, 11 May 2023, 9:44 AM" / "May 11, 09:44"
    for rx in (_RE_DAY_MONTH, _RE_MONTH_DAY):
        if done.all():
            break
        m = s[~done].str.extract(rx)
        mon = m["mon"].map(_month_number)
        ok = (m["d"].notna() & mon.notna()).to_numpy()
        if ok.any():
            idx = np.flatnonzero(~done)[ok]
            mm = m[ok]
            month[idx] = mon[ok].astype(int).to_numpy()
            day[idx] = mm["d"].astype(int).to_numpy()
            year[idx] = mm["y"].fillna("-1").astype(int).to_numpy()
            hms(mm, idx)
            done[idx] = True
    if not done.all():
        pending = np.flatnonzero(~done)
        bad = int(pending[np.argmin(rows.to_numpy()[pending])])
        raise LogExportError(
            f"Row {int(rows.iloc[bad])}, column 'Time': {s.iloc[bad][:40]!r} is not a date and time as Moodle "
            "writes it (e.g. '14/03/24, 09:15:02'). Is this a Moodle log export?",
            row=int(rows.iloc[bad]), column="Time")
    not_unix = ~is_unix
    bad_date = not_unix & ((month < 1) | (month > 12) | (day < 1) | (day > 31) | (hour > 23) | (minute > 59)
                           | (second > 60))
    if bad_date.any():
        pending = np.flatnonzero(bad_date)
        bad = int(pending[np.argmin(rows.to_numpy()[pending])])
        raise LogExportError(f"Row {int(rows.iloc[bad])}, column 'Time': {s.iloc[bad][:40]!r} is not a valid date.",
                             row=int(rows.iloc[bad]), column="Time")
    no_year = (year < 0) & not_unix
    if no_year.any():
        year[no_year] = _infer_years(month[no_year], day[no_year], course_start, course_end, warnings)
    if ((year < 1970) | (year > 2099))[not_unix].any():
        pending = np.flatnonzero(not_unix & ((year < 1970) | (year > 2099)))
        bad = int(pending[np.argmin(rows.to_numpy()[pending])])
        raise LogExportError(f"Row {int(rows.iloc[bad])}, column 'Time': {s.iloc[bad][:40]!r} is outside "
                             "1970-2100; not a date of a Moodle log.", row=int(rows.iloc[bad]), column="Time")
    # Days past a month's end (real exports hold e.g. '29/02/18') roll over into the next month, as
    # PHP's mktime does, instead of losing the row.
    parts = pd.DataFrame({"year": np.where(not_unix, year, 1970), "month": np.where(not_unix, month, 1),
                          "day": np.ones(n, dtype=np.int64)})
    month_start = pd.to_datetime(parts).to_numpy().astype("datetime64[s]").astype(np.int64)
    local = month_start + (np.where(not_unix, day, 1) - 1) * 86400 + hour * 3600 + minute * 60 + second
    rolled_days = pd.to_datetime(local, unit="s").day.to_numpy()
    rolled = int((not_unix & (rolled_days != day)).sum())
    if rolled:
        log.warning("log export: %d distinct time(s) had a day past the month's end (e.g. 29/02 in a "
                    "non-leap year); rolled over into the next month", rolled)
    out = _localize(local, timezone)
    has_off = offset_min != np.iinfo(np.int64).min
    if has_off.any():
        out[has_off] = local[has_off] - offset_min[has_off] * 60
    if is_unix.any():
        out[is_unix] = unix[is_unix]
    _check_range(out, rows.to_numpy(), lambda i: str(s.iloc[i]))
    return out.astype(np.int64)


def _decide_dayfirst(a: np.ndarray, b: np.ndarray, y: np.ndarray, mm: pd.DataFrame,
                     dayfirst: bool | None) -> bool:
    if dayfirst is not None:
        return dayfirst
    if (a > 12).any() and not (b > 12).any():
        return True
    if (b > 12).any() and not (a > 12).any():
        return False
    if (a > 12).any() and (b > 12).any():
        raise LogExportError("Column 'Time' mixes day-first and month-first dates.", column="Time")
    # Ambiguous (every day <= 12): the reading whose times are closer to sorted (exports are
    # newest first) wins; day-first (English) on a tie.
    h = mm["H"].astype(int).to_numpy()
    mi = mm["M"].astype(int).to_numpy()

    def disorder(d: np.ndarray, m: np.ndarray) -> int:
        key = ((y * 13 + m) * 32 + d) * 1440 + h * 60 + mi
        diff = np.diff(key)
        return int(min((diff > 0).sum(), (diff < 0).sum()))
    return disorder(a, b) <= disorder(b, a)


_CUM_DAYS = np.cumsum([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])     # a leap year's day offsets
_YEAR_MARGIN_DAYS = 45          # activity up to ~6 weeks before the official start still counts


def _infer_years(month: np.ndarray, day: np.ndarray, course_start: Any, course_end: Any = None,
                 warnings: list[str] | None = None) -> np.ndarray:
    """Years for dates written without one. Never from the rows' order (exports may be grouped by user,
    newest or oldest first): from the course start when known, else from the calendar gap.

    Without a course start the dates are taken to cover less than a year: the longest stretch of the
    calendar with no activity is the break between two runs of the course; the course starts after it.
    The newest date is placed in the most recent past occurrence. Refused when the dates leave no gap
    of a month (they could belong to any year).
    """
    doy = _CUM_DAYS[np.clip(month, 1, 12) - 1] + np.clip(day, 1, 31) - 1          # 0..365
    if len(doy) == 0:
        return np.zeros(0, dtype=np.int64)
    if course_start is not None and str(course_start).strip():
        start = pd.Timestamp(course_start)
        if course_end is not None and str(course_end).strip():
            end = pd.Timestamp(course_end)
            if (end - start).days > 366 - _YEAR_MARGIN_DAYS:
                raise LogExportError("The Time column has no year and the course runs for more than a year "
                                     f"({start.date()} to {end.date()}): the year of each row cannot be known. "
                                     "Download the log with full dates (Moodle's CSV download has them).",
                                     column="Time")
        anchor = start - pd.Timedelta(days=_YEAR_MARGIN_DAYS)
        a_doy = int(_CUM_DAYS[anchor.month - 1] + anchor.day - 1)
        return np.where(doy >= a_doy, anchor.year, anchor.year + 1).astype(np.int64)
    days = np.unique(doy)
    gaps = np.diff(np.concatenate([days, [days[0] + 366]]))     # gap after each distinct day, circular
    g = int(np.argmax(gaps))
    if gaps[g] < 31:
        raise LogExportError("The Time column has no year and the dates cover the whole calendar, so the year "
                             "of each row cannot be inferred. Give the course start date (Import page, "
                             "Settings or --course-start).", column="Time")
    start_doy = int(days[(g + 1) % len(days)])
    newest_doy = int(days[g])
    wrapped = start_doy > newest_doy       # the course runs across New Year
    today = datetime.now(UTC)
    today_doy = int(_CUM_DAYS[today.month - 1] + today.day - 1)
    newest_year = today.year if newest_doy <= today_doy else today.year - 1
    first_year = newest_year - 1 if wrapped else newest_year
    if warnings is not None:
        span = f"{first_year}" + (f"-{newest_year}" if wrapped else "")
        warnings.append(f"The Time column has no year: the dates were placed in {span} (the most recent "
                        "time they fit). Give the course start date to be sure.")
    return np.where(doy >= start_doy, first_year, first_year + 1).astype(np.int64)


def check_export(df: pd.DataFrame, *, course_start: Any = None, course_end: Any = None,
                 now: datetime | None = None) -> list[str]:
    """Warnings (plain sentences) when the parsed dates look implausible: a span of more than a year,
    many rows outside the course dates, rows in the future, or times out of order within each user's
    rows (a sign of day and month read the wrong way round)."""
    out: list[str] = []
    if df is None or not len(df) or "time" not in df:
        return out
    t = df["time"]
    lo, hi = t.min(), t.max()
    span = (hi - lo).days
    if span > 400:
        out.append(f"The rows span {span} days ({lo:%Y-%m-%d} to {hi:%Y-%m-%d}); a course usually runs for "
                   "less than a year. Check the course dates and the day/month order before importing.")
    def utc(value: Any) -> pd.Timestamp | None:
        if value in (None, ""):
            return None
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    start, end = utc(course_start), utc(course_end)
    if start is not None or end is not None:
        early = (t < start - pd.Timedelta(days=_YEAR_MARGIN_DAYS)) if start is not None else False
        late = (t > end + pd.Timedelta(days=60)) if end is not None else False
        outside = float(np.mean(early | late))
        if outside > 0.02:
            out.append(f"{outside:.0%} of the rows fall outside the course dates "
                       f"({start.date() if start is not None else '…'} to {end.date() if end is not None else '…'}).")
    now = now or datetime.now(UTC)
    if hi > pd.Timestamp(now) + pd.Timedelta(days=2):
        out.append(f"Some rows are dated in the future (latest {hi:%Y-%m-%d %H:%M} UTC).")
    if "row" in df and "user" in df and len(df) > 20:
        by_file = df[["row", "user", "time"]].sort_values("row")
        same = (by_file["user"].astype(object).to_numpy()[1:] == by_file["user"].astype(object).to_numpy()[:-1])
        d = np.diff(by_file["time"].astype("int64").to_numpy())[same]
        up, down = int((d > 0).sum()), int((d < 0).sum())
        if up + down >= 20 and min(up, down) / (up + down) > 0.2:
            out.append(f"Within each user's rows the times are not in order ({min(up, down) / (up + down):.0%} "
                       "go against the file's order): the day and month may have been read the wrong way round.")
    return out


def _display(canon: str) -> str:
    return {"time": "Time", "user_full_name": "User full name", "affected_user": "Affected user",
            "event_context": "Event context", "component": "Component", "event_name": "Event name",
            "description": "Description", "origin": "Origin", "ip": "IP address", "course": "Course"}.get(canon, canon)


# ------------------------------------------------------------------------------------------------
# display names -> logstore rows
_COMPONENTS: dict[str, str] = {
    "system": "core", "core": "core", "file": "mod_resource", "page": "mod_page", "url": "mod_url",
    "folder": "mod_folder", "book": "mod_book", "forum": "mod_forum", "quiz": "mod_quiz",
    "assignment": "mod_assign", "h5p": "mod_h5pactivity", "interactive content": "mod_hvp",
    "lesson": "mod_lesson", "label": "mod_label", "text and media area": "mod_label", "choice": "mod_choice",
    "feedback": "mod_feedback", "glossary": "mod_glossary", "wiki": "mod_wiki", "workshop": "mod_workshop",
    "scorm package": "mod_scorm", "scorm": "mod_scorm", "chat": "mod_chat", "database": "mod_data",
    "external tool": "mod_lti", "survey": "mod_survey", "ims content package": "mod_imscp",
    "turnitin assignment 2": "mod_turnitintooltwo", "turnitin assignment": "mod_turnitintool",
    "attendance": "mod_attendance", "bigbluebuttonbn": "mod_bigbluebuttonbn", "bigbluebutton": "mod_bigbluebuttonbn",
    "realtime quiz": "mod_realtimequiz", "questionnaire": "mod_questionnaire", "zoom meeting": "mod_zoom",
    "custom certificate": "mod_customcert", "certificate": "mod_certificate", "checklist": "mod_checklist",
    "scheduler": "mod_scheduler", "hotpot": "mod_hotpot", "game": "mod_game", "subsection": "mod_subsection",
    "logs": "report_log", "live logs": "report_loglive", "statistics": "report_stats",
    "course participation": "report_participation", "activity report": "report_outline",
    "course completion": "report_completion", "activity completion": "report_progress",
    "file submissions": "assignsubmission_file", "online text submissions": "assignsubmission_onlinetext",
    "submission comments": "assignsubmission_comments", "feedback comments": "assignfeedback_comments",
    "file feedback": "assignfeedback_file", "annotate pdf": "assignfeedback_editpdf",
    "user report": "gradereport_user", "grader report": "gradereport_grader",
    "overview report": "gradereport_overview", "single view": "gradereport_singleview",
    "self enrolment": "enrol_self", "manual enrolments": "enrol_manual", "guest access": "enrol_guest",
    "recycle bin": "tool_recyclebin", "content bank": "core_contentbank", "badges": "core_badges",
    "comments": "core_comment", "calendar": "core_calendar", "notes": "core_notes",
}
# Context prefixes ("Quiz: Quiz 1") -> module name, for objecttable and contextlevel.
_MODULE_OF = {v: v[4:] for v in _COMPONENTS.values() if v.startswith("mod_")}

# event display name -> (class, action, target, objecttable, crud, edulevel, staff_only, component)
# staff_only: True = only staff do it; "other" = staff when the related user is someone else.
_E = tuple[str, str, str, str | None, str, int, bool | str, str | None]
_EVENTS: dict[str, _E] = {
    "course viewed": ("course_viewed", "viewed", "course", None, "r", 2, False, "core"),
    "course module viewed": ("course_module_viewed", "viewed", "course_module", "*", "r", 2, False, None),
    "activity viewed": ("activity_viewed", "viewed", "activity", "*", "r", 2, False, None),
    "course module instance list viewed": ("course_module_instance_list_viewed", "viewed",
                                           "course_module_instance_list", None, "r", 2, False, None),
    "course activity completion updated": ("course_module_completion_updated", "updated",
                                           "course_module_completion", "course_modules_completion", "u", 0,
                                           False, "core"),
    "course completed": ("course_completed", "completed", "course", "course_completions", "u", 0, False, "core"),
    "quiz attempt started": ("attempt_started", "started", "attempt", "quiz_attempts", "c", 2, False, "mod_quiz"),
    "quiz attempt submitted": ("attempt_submitted", "submitted", "attempt", "quiz_attempts", "u", 2, False,
                               "mod_quiz"),
    "quiz attempt reviewed": ("attempt_reviewed", "reviewed", "attempt", "quiz_attempts", "r", 2, "other",
                              "mod_quiz"),
    "quiz attempt viewed": ("attempt_viewed", "viewed", "attempt", "quiz_attempts", "r", 2, "other", "mod_quiz"),
    "quiz attempt summary viewed": ("attempt_summary_viewed", "viewed", "attempt_summary", "quiz_attempts",
                                    "r", 2, "other", "mod_quiz"),
    "quiz attempt abandoned": ("attempt_abandoned", "abandoned", "attempt", "quiz_attempts", "u", 2, False,
                               "mod_quiz"),
    "quiz attempt became overdue": ("attempt_becameoverdue", "becameoverdue", "attempt", "quiz_attempts", "u",
                                    2, False, "mod_quiz"),
    "attempt updated": ("attempt_updated", "updated", "attempt", "quiz_attempts", "u", 2, False, None),
    "quiz report viewed": ("report_viewed", "viewed", "report", "quiz", "r", 1, True, "mod_quiz"),
    "quiz edit page viewed": ("edit_page_viewed", "viewed", "edit_page", None, "r", 1, True, "mod_quiz"),
    "question manually graded": ("question_manually_graded", "manually", "question_graded", "question", "u", 1,
                                 True, "mod_quiz"),
    "the status of the submission has been viewed": ("submission_status_viewed", "viewed", "submission_status",
                                                     "assign", "r", 2, False, "mod_assign"),
    "submission form viewed": ("submission_form_viewed", "viewed", "submission_form", "assign", "r", 2, False,
                               "mod_assign"),
    "submission confirmation form viewed": ("submission_confirmation_form_viewed", "viewed",
                                            "submission_confirmation_form", "assign", "r", 2, False,
                                            "mod_assign"),
    "remove submission confirmation viewed": ("remove_submission_form_viewed", "viewed",
                                              "remove_submission_form", "assign", "r", 2, False, "mod_assign"),
    "a submission has been submitted": ("assessable_submitted", "submitted", "assessable", "assign_submission",
                                        "u", 2, False, "mod_assign"),
    "the user has accepted the statement of the submission": ("statement_accepted", "accepted", "statement",
                                                              "assign_submission", "r", 2, False, "mod_assign"),
    "submission created": ("submission_created", "created", "submission", "*sub", "c", 2, False, None),
    "submission updated": ("submission_updated", "updated", "submission", "*sub", "u", 2, False, None),
    "submission removed": ("submission_removed", "removed", "submission", "assign_submission", "d", 2, False,
                           None),
    "a file has been uploaded": ("assessable_uploaded", "uploaded", "assessable", "assign_submission", "c", 2,
                                 False, None),
    "an online text has been uploaded": ("assessable_uploaded", "uploaded", "assessable", "assign_submission",
                                         "c", 2, False, None),
    "feedback viewed": ("feedback_viewed", "viewed", "feedback", "assign_grades", "r", 2, False, "mod_assign"),
    "the submission has been graded": ("submission_graded", "graded", "submission", "assign_grades", "u", 1,
                                       True, "mod_assign"),
    "the status of the submission has been updated": ("submission_status_updated", "updated",
                                                      "submission_status", "assign_submission", "u", 1, True,
                                                      "mod_assign"),
    "grading table viewed": ("grading_table_viewed", "viewed", "grading_table", None, "r", 1, True, "mod_assign"),
    "grading form viewed": ("grading_form_viewed", "viewed", "grading_form", None, "r", 1, True, "mod_assign"),
    "all the submissions are being downloaded": ("all_submissions_downloaded", "downloaded", "all_submissions",
                                                 None, "r", 1, True, "mod_assign"),
    "an extension has been granted": ("extension_granted", "granted", "extension", "assign", "u", 1, True,
                                      "mod_assign"),
    "workflow state updated": ("workflow_state_updated", "updated", "workflow_state", "assign", "u", 1, True,
                               "mod_assign"),
    "discussion viewed": ("discussion_viewed", "viewed", "discussion", "forum_discussions", "r", 2, False,
                          "mod_forum"),
    "discussion created": ("discussion_created", "created", "discussion", "forum_discussions", "c", 2, False,
                           "mod_forum"),
    "discussion deleted": ("discussion_deleted", "deleted", "discussion", "forum_discussions", "d", 2, False,
                           "mod_forum"),
    "post created": ("post_created", "created", "post", "forum_posts", "c", 2, False, "mod_forum"),
    "post updated": ("post_updated", "updated", "post", "forum_posts", "u", 2, False, "mod_forum"),
    "post deleted": ("post_deleted", "deleted", "post", "forum_posts", "d", 2, False, "mod_forum"),
    "some content has been posted": ("assessable_uploaded", "uploaded", "assessable", "forum_posts", "c", 2,
                                     False, "mod_forum"),
    "discussion subscription created": ("discussion_subscription_created", "created", "discussion_subscription",
                                        "forum_discussion_subs", "c", 0, False, "mod_forum"),
    "subscription created": ("subscription_created", "created", "subscription", "forum_subscriptions", "c", 0,
                             False, None),
    "user report viewed": ("user_report_viewed", "viewed", "user_report", None, "r", 0, "other", None),
    "discussion pinned": ("discussion_pinned", "pinned", "discussion", "forum_discussions", "u", 1, True,
                          "mod_forum"),
    "grade user report viewed": ("grade_report_viewed", "viewed", "grade_report", None, "r", 1, "other",
                                 "gradereport_user"),
    "grader report viewed": ("grade_report_viewed", "viewed", "grade_report", None, "r", 1, True,
                             "gradereport_grader"),
    "grade overview report viewed": ("grade_report_viewed", "viewed", "grade_report", None, "r", 1, False,
                                     "gradereport_overview"),
    "grade single view report viewed": ("grade_report_viewed", "viewed", "grade_report", None, "r", 1, True,
                                        "gradereport_singleview"),
    "user graded": ("user_graded", "graded", "user", "grade_grades", "u", 0, False, "core"),
    "grade item created": ("grade_item_created", "created", "grade_item", "grade_items", "c", 0, True, "core"),
    "grade item updated": ("grade_item_updated", "updated", "grade_item", "grade_items", "u", 0, True, "core"),
    "grade item deleted": ("grade_item_deleted", "deleted", "grade_item", "grade_items", "d", 0, True, "core"),
    "grade deleted": ("grade_deleted", "deleted", "grade", "grade_grades", "d", 0, True, "core"),
    "grade exported": ("grade_exported", "exported", "grade", None, "r", 1, True, None),
    "log report viewed": ("report_viewed", "viewed", "report", None, "r", 1, True, "report_log"),
    "user log report viewed": ("user_report_viewed", "viewed", "user_report", None, "r", 1, "other", "report_log"),
    "statistics report viewed": ("report_viewed", "viewed", "report", None, "r", 1, True, "report_stats"),
    "participation report viewed": ("report_viewed", "viewed", "report", None, "r", 1, True,
                                    "report_participation"),
    "activity report viewed": ("activity_report_viewed", "viewed", "activity_report", None, "r", 1, True,
                               "report_outline"),
    "outline report viewed": ("outline_report_viewed", "viewed", "outline_report", None, "r", 1, True,
                              "report_outline"),
    "course user report viewed": ("course_user_report_viewed", "viewed", "course_user_report", None, "r", 1,
                                  "other", "core"),
    "user list viewed": ("user_list_viewed", "viewed", "user_list", "course", "r", 0, False, "core"),
    "user profile viewed": ("user_profile_viewed", "viewed", "user_profile", "user", "r", 0, False, "core"),
    "recent activity viewed": ("recent_activity_viewed", "viewed", "recent_activity", None, "r", 0, False,
                               "core"),
    "badge listing viewed": ("badge_listing_viewed", "viewed", "badge_listing", None, "r", 0, False, "core"),
    "comments viewed": ("comments_viewed", "viewed", "comments", None, "r", 2, False, None),
    "comment created": ("comment_created", "created", "comment", "comments", "c", 2, False, None),
    "comment deleted": ("comment_deleted", "deleted", "comment", "comments", "d", 2, False, None),
    "course module created": ("course_module_created", "created", "course_module", "course_modules", "c", 1,
                              True, "core"),
    "course module updated": ("course_module_updated", "updated", "course_module", "course_modules", "u", 1,
                              True, "core"),
    "course module deleted": ("course_module_deleted", "deleted", "course_module", "course_modules", "d", 1,
                              True, "core"),
    "course section created": ("course_section_created", "created", "course_section", "course_sections", "c",
                               1, True, "core"),
    "course section updated": ("course_section_updated", "updated", "course_section", "course_sections", "u",
                               1, True, "core"),
    "course section deleted": ("course_section_deleted", "deleted", "course_section", "course_sections", "d",
                               1, True, "core"),
    "course updated": ("course_updated", "updated", "course", "course", "u", 1, True, "core"),
    "course created": ("course_created", "created", "course", "course", "c", 1, True, "core"),
    "course backup created": ("course_backup_created", "created", "course_backup", None, "c", 0, True, "core"),
    "course restored": ("course_restored", "restored", "course", "course", "c", 0, True, "core"),
    "course reset started": ("course_reset_started", "started", "course_reset", None, "u", 0, True, "core"),
    "course reset ended": ("course_reset_ended", "ended", "course_reset", None, "u", 0, True, "core"),
    "role assigned": ("role_assigned", "assigned", "role", "role", "c", 0, True, "core"),
    "role unassigned": ("role_unassigned", "unassigned", "role", "role", "d", 0, True, "core"),
    "user enrolled in course": ("user_enrolment_created", "created", "user_enrolment", "user_enrolments", "c", 0,
                                False, "core"),
    "user unenrolled from course": ("user_enrolment_deleted", "deleted", "user_enrolment", "user_enrolments",
                                    "d", 0, False, "core"),
    "user unenrolment updated": ("user_enrolment_updated", "updated", "user_enrolment", "user_enrolments", "u",
                                 0, True, "core"),
    "enrolment instance created": ("enrol_instance_created", "created", "enrol_instance", "enrol", "c", 0, True,
                                   "core"),
    "group created": ("group_created", "created", "group", "groups", "c", 0, True, "core"),
    "group deleted": ("group_deleted", "deleted", "group", "groups", "d", 0, True, "core"),
    "group updated": ("group_updated", "updated", "group", "groups", "u", 0, True, "core"),
    "group member added": ("group_member_added", "added", "group_member", "groups", "c", 0, True, "core"),
    "group member removed": ("group_member_removed", "removed", "group_member", "groups", "d", 0, True, "core"),
    "calendar event created": ("calendar_event_created", "created", "calendar_event", "event", "c", 0, True,
                               "core"),
    "calendar event updated": ("calendar_event_updated", "updated", "calendar_event", "event", "u", 0, True,
                               "core"),
    "calendar event deleted": ("calendar_event_deleted", "deleted", "calendar_event", "event", "d", 0, True,
                               "core"),
    "folder updated": ("folder_updated", "updated", "folder", "folder", "u", 1, True, "mod_folder"),
    "zip archive of folder downloaded": ("all_files_downloaded", "downloaded", "all_files", "folder", "r", 2,
                                         False, "mod_folder"),
    "chapter viewed": ("chapter_viewed", "viewed", "chapter", "book_chapters", "r", 2, False, "mod_book"),
    "wiki page viewed": ("page_viewed", "viewed", "page", "wiki_pages", "r", 2, False, "mod_wiki"),
    "wiki page created": ("page_created", "created", "page", "wiki_pages", "c", 2, False, "mod_wiki"),
    "wiki page updated": ("page_updated", "updated", "page", "wiki_pages", "u", 2, False, "mod_wiki"),
    "wiki history viewed": ("page_history_viewed", "viewed", "page_history", "wiki_pages", "r", 2, False,
                            "mod_wiki"),
    "wiki page map viewed": ("page_map_viewed", "viewed", "page_map", "wiki_pages", "r", 2, False, "mod_wiki"),
    "meeting joined": ("meeting_joined", "joined", "meeting", None, "r", 2, False, "mod_bigbluebuttonbn"),
    "meeting left": ("meeting_left", "left", "meeting", None, "r", 2, False, "mod_bigbluebuttonbn"),
    "meeting created": ("meeting_created", "created", "meeting", None, "c", 2, True, "mod_bigbluebuttonbn"),
    "recording viewed": ("recording_viewed", "viewed", "recording", None, "r", 2, False, "mod_bigbluebuttonbn"),
    "session added": ("session_added", "added", "session", "attendance_sessions", "c", 1, True, "mod_attendance"),
    "attendance taken": ("attendance_taken", "taken", "attendance", "attendance_log", "u", 1, True,
                         "mod_attendance"),
    "attendance taken by student": ("attendance_taken_by_student", "taken", "attendance", "attendance_log",
                                    "u", 2, False, "mod_attendance"),
    "attendance report viewed": ("attendance_report_viewed", "viewed", "attendance_report", None, "r", 1, True,
                                 "mod_attendance"),
    "session report viewed": ("session_report_viewed", "viewed", "session_report", None, "r", 2, False,
                              "mod_attendance"),
    "status updated": ("status_updated", "updated", "status", "attendance_statuses", "u", 1, True,
                       "mod_attendance"),
    "list submissions": ("list_submissions", "list", "submissions", None, "r", 2, False, "mod_turnitintooltwo"),
    "add submission": ("add_submission", "add", "submission", None, "c", 2, False, "mod_turnitintooltwo"),
    "delete submission": ("delete_submission", "delete", "submission", None, "d", 2, False,
                          "mod_turnitintooltwo"),
    "statement received": ("statement_received", "received", "statement", None, "c", 2, False,
                           "mod_h5pactivity"),
    "h5p content viewed": ("content_viewed", "viewed", "content", None, "r", 2, False, None),
    "dashboard viewed": ("dashboard_viewed", "viewed", "dashboard", None, "r", 0, False, "core"),
    "user has logged in": ("user_loggedin", "loggedin", "user", "user", "r", 0, False, "core"),
    "user logged out": ("user_loggedout", "loggedout", "user", "user", "r", 0, False, "core"),
    "choice made": ("answer_created", "created", "answer", "choice_answers", "c", 2, False, "mod_choice"),
    "choice answer added": ("answer_created", "created", "answer", "choice_answers", "c", 2, False, "mod_choice"),
    "response submitted": ("response_submitted", "submitted", "response", None, "c", 2, False, None),
    "lesson started": ("lesson_started", "started", "lesson", "lesson", "c", 2, False, "mod_lesson"),
    "lesson ended": ("lesson_ended", "ended", "lesson", "lesson", "u", 2, False, "mod_lesson"),
    "content page viewed": ("content_page_viewed", "viewed", "content_page", "lesson_pages", "r", 2, False,
                            "mod_lesson"),
    "question answered": ("question_answered", "answered", "question", "lesson_pages", "c", 2, False,
                          "mod_lesson"),
    "sco launched": ("sco_launched", "launched", "sco", "scorm_scoes", "r", 2, False, "mod_scorm"),
}
_VERBS = {"viewed": "r", "downloaded": "r", "launched": "r", "joined": "r", "created": "c", "added": "c",
          "started": "c", "uploaded": "c", "submitted": "u", "sent": "c", "posted": "c", "updated": "u",
          "graded": "u", "taken": "u", "completed": "u", "ended": "u", "deleted": "d", "removed": "d"}
_SUB_TABLE = {"assignsubmission_file": "assignsubmission_file",
              "assignsubmission_onlinetext": "assignsubmission_onlinetext"}


def _slug(text: str) -> str:
    return re.sub(r"_+", "_", _norm(text).replace(" ", "_")).strip("_") or "unknown"


def _component_of(display: str, context: str) -> str:
    key = _norm(display)
    if key in _COMPONENTS:
        return _COMPONENTS[key]
    if re.fullmatch(r"[a-z]+_[a-z0-9_]+", display.strip()):        # already frankenstyle
        return display.strip()
    prefix = _norm(context.split(":", 1)[0]) if ":" in context else ""
    if prefix and prefix == key:                                      # "Attendance: Week 1" + "Attendance"
        return f"mod_{key.replace(' ', '')}"
    return f"local_{key.replace(' ', '')}" if key else "core"


# Descriptions are written in English whatever the site language: when a (localized) event name is
# unknown, its Description tells the event. (regex, English event display name, component or None)
_DESC_RULES: list[tuple[re.Pattern[str], str, str | None]] = [(re.compile(rx, re.IGNORECASE), ev, comp) for rx, ev, comp in [
    (r"viewed the course with id", "course viewed", "core"),
    (r"viewed the '(?P<mod>\w+)' activity with course module id", "course module viewed", None),
    (r"viewed the instance list for the module '(?P<mod>\w+)'", "course module instance list viewed", None),
    (r"has started the attempt with id", "quiz attempt started", "mod_quiz"),
    (r"has submitted the attempt with id", "quiz attempt submitted", "mod_quiz"),
    (r"has reviewed the attempt with id|has had their attempt with id '\d+' reviewed", "quiz attempt reviewed",
     "mod_quiz"),
    (r"has viewed the summary for the attempt", "quiz attempt summary viewed", "mod_quiz"),
    (r"has viewed the attempt with id", "quiz attempt viewed", "mod_quiz"),
    (r"has created the post with id", "post created", "mod_forum"),
    (r"has created the discussion with id", "discussion created", "mod_forum"),
    (r"has viewed the discussion with id", "discussion viewed", "mod_forum"),
    (r"has submitted the submission with id", "a submission has been submitted", "mod_assign"),
    (r"created a file submission", "submission created", "assignsubmission_file"),
    (r"created an online text submission", "submission created", "assignsubmission_onlinetext"),
    (r"has viewed the submission status page", "the status of the submission has been viewed", "mod_assign"),
    (r"has viewed their submission for the assignment|viewed the submission form", "submission form viewed",
     "mod_assign"),
    (r"has graded the submission", "the submission has been graded", "mod_assign"),
    (r"viewed the grading table", "grading table viewed", "mod_assign"),
    (r"(created|added) the '(?P<mod>\w+)' activity with course module id", "course module created", "core"),
    (r"updated the '(?P<mod>\w+)' activity with course module id", "course module updated", "core"),
    (r"deleted the '(?P<mod>\w+)' activity with course module id", "course module deleted", "core"),
    (r"viewed the log report", "log report viewed", "report_log"),
    (r"viewed the grader report", "grader report viewed", "gradereport_grader"),
    (r"viewed the user report in the gradebook", "grade user report viewed", "gradereport_user"),
    (r"viewed the list of users in the course", "user list viewed", "core"),
    (r"viewed the profile for the user", "user profile viewed", "core"),
    (r"updated the completion state for the course module", "course activity completion updated", "core"),
    (r"updated the grade with id", "user graded", "core"),
    (r"enrolled the user with id", "user enrolled in course", "core"),
    (r"unenrolled the user with id", "user unenrolled from course", "core"),
    (r"assigned the role with id", "role assigned", "core"),
]]


def _from_description(description: str) -> tuple[str, str | None] | None:
    """(English event display name, frankenstyle component) from an English Description, or None."""
    for rx, event, comp in _DESC_RULES:
        m = rx.search(description or "")
        if m:
            mod = m.groupdict().get("mod")
            if comp is None and mod:
                comp = "mod_" + mod
            return event, comp
    return None


# Event context prefixes ("Course: ...") in English and a few language packs (normalised)
_CTX_COURSE = {"course", "cours", "curso", "kurs", "corso", "cursus", "khoa hoc", "kursus"}
_CTX_SYSTEM = {"system", "site", "front page", "systeme", "sistema", "he thong", "sisteem"}
_CTX_USER = {"user", "utilisateur", "usuario", "nutzer in", "nutzer", "utente", "nguoi dung", "gebruiker"}
_CTX_CATEGORY = {"category", "course category", "categorie", "categoria", "kursbereich", "danh muc"}


def _event_row(component_display: str, event_display: str, context: str) -> tuple:
    """(component, eventname, action, target, objecttable, crud, edulevel, staff, contextlevel, modname)."""
    comp = _component_of(component_display, context)
    ev_key = _norm(event_display)
    m = re.match(r"^(mod_[a-z0-9]+)\s*:?\s*(.*)$", event_display.strip())   # "mod_hvp: attempt submitted"
    if m and ev_key not in _EVENTS:
        comp, ev_key = m.group(1), _norm(m.group(2))
    spec = _EVENTS.get(ev_key)
    ctx_prefix = _norm(context.split(":", 1)[0]) if ":" in context else _norm(context)
    if ctx_prefix in _CTX_COURSE:
        ctxlevel = 50
    elif ctx_prefix in _CTX_SYSTEM:
        ctxlevel = 10
    elif ctx_prefix in _CTX_USER:
        ctxlevel = 30
    elif ctx_prefix in _CTX_CATEGORY:
        ctxlevel = 40
    elif ctx_prefix in ("block",):
        ctxlevel = 80
    elif ctx_prefix:
        ctxlevel = 70
    else:
        ctxlevel = 50
    if spec is None:
        words = ev_key.split()
        verb = next((w for w in reversed(words) if w in _VERBS), None)
        action = verb or (words[-1] if words else "unknown")
        target = "_".join(w for w in words if w != action) or "event"
        cls = _slug(ev_key)
        crud = _VERBS.get(action, "r")
        return (comp, f"\\{comp}\\event\\{cls}", action, target, None, crud, 2, False, ctxlevel,
                comp[4:] if comp.startswith("mod_") else None)
    cls, action, target, table, crud, edulevel, staff, fixed = spec
    if fixed and (fixed == "core" or not comp.startswith(("mod_", "assign", "report_", "gradereport_"))):
        comp = fixed
    modname = comp[4:] if comp.startswith("mod_") else None
    if table == "*":
        table = modname
    elif table == "*sub":
        table = _SUB_TABLE.get(comp, "assign_submission")
    if target in ("course_module", "activity") and ctxlevel != 70:
        ctxlevel = 70 if ctx_prefix not in _CTX_COURSE | _CTX_SYSTEM else ctxlevel
    if ctxlevel == 70 and comp == "core" and target in ("course", "user_list", "course_module_completion"):
        ctxlevel = 50
    return (comp, f"\\{comp}\\event\\{cls}", action, target, table, crud, edulevel, staff, ctxlevel, modname)


def export_course_info(log_df: pd.DataFrame, course_id: int | None = None) -> dict:
    """id, fullname, shortname, startdate, enddate of the course an export covers."""
    counts = log_df.get("event_context", pd.Series(dtype=object)).astype(str).value_counts()
    course_ctx = {k.split(":", 1)[1].strip(): v for k, v in counts.items()
                  if ":" in k and _norm(k.split(":", 1)[0]) in _CTX_COURSE}
    fullname = max(course_ctx, key=lambda k: course_ctx[k]) if course_ctx else None
    if course_id is None:
        ids = log_df.get("courseid", pd.Series(dtype="Int64")).dropna()
        ids = ids[ids > 1]
        course_id = int(ids.mode().iloc[0]) if len(ids) else 0
    fullname = fullname or f"Imported course {course_id}"
    short = re.sub(r"[^A-Za-z0-9]+", "", "".join(w[0] for w in fullname.split() if w))[:12] or str(course_id)
    times = log_df["time"] if "time" in log_df and len(log_df) else None
    start = int(times.min().timestamp()) if times is not None else 0
    return {"id": int(course_id), "fullname": fullname, "shortname": short, "startdate": start, "enddate": 0}


def _category(series: pd.Series) -> pd.Categorical:
    """A text column as a Categorical (as it is when read by :func:`read_log_export`)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.array
    return pd.Categorical(series.fillna("").astype(str).to_numpy(dtype=object))


def _text(series: pd.Series) -> np.ndarray:
    """Text of a column as an object array ("" for missing) — by category codes when categorical (no
    per-row string conversion: millions of rows stay cheap)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = np.append(np.asarray(series.cat.categories.astype(object), dtype=object), "")
        codes = series.cat.codes.to_numpy()
        return cats[np.where(codes < 0, len(cats) - 1, codes)]
    return series.fillna("").astype(str).to_numpy(dtype=object)


def course_data_from_export(log_df: pd.DataFrame, *, course_id: int, fullname: str | None = None,
                            grades: str | Path | bytes | IO[Any] | None = None,
                            progress: Callable[[str, float], None] | None = None,
                            timezone: str = "UTC", item_max: dict[str, float] | None = None,
                            course_start: Any = None, course_end: Any = None) -> CourseData:
    """Canonical export rows (from :func:`read_log_export`) -> CourseData with logstore-like logs.

    Students are decided as the module docstring says. ``grades``: a gradebook CSV export (users
    matched by full name, or by email / ID number when the log has them); its quiz columns become
    ``grades`` rows; item maxima come from the export or ``item_max`` (see :func:`read_gradebook_export`).
    ``course_start`` / ``course_end`` (the course frame, when known) become the course's start/end dates.
    ``progress(label, fraction)`` is called as the steps go.
    """
    def step(label: str, frac: float) -> None:
        if progress is not None:
            progress(label, frac)

    step("mapping events", 0.1)
    df = log_df.reset_index(drop=True)
    n = len(df)
    # one lookup per distinct (component, event name, context prefix), by integer codes
    comp_codes, comp_u = pd.factorize(_text(df["component"]))
    ev_codes, ev_u = pd.factorize(_text(df["event_name"]))
    ctx_codes, ctx_u = pd.factorize(_text(df["event_context"]))
    pfx_of_ctx, pfx_u = pd.factorize(np.array([c.split(":", 1)[0] for c in ctx_u], dtype=object))
    pfx_codes = pfx_of_ctx[ctx_codes] if n else np.zeros(0, dtype=np.int64)
    key = (comp_codes.astype(np.int64) * max(len(ev_u), 1) + ev_codes) * max(len(pfx_u), 1) + pfx_codes
    key_codes, key_u = pd.factorize(key)
    mapped = []
    example_at = np.zeros(len(key_u), dtype=np.int64)
    example_at[key_codes[::-1]] = np.arange(n)[::-1]        # first row of each key
    descriptions = _text(df["description"])
    for i, k in enumerate(key_u):
        rest, p_i = divmod(int(k), max(len(pfx_u), 1))
        c_i, e_i = divmod(rest, max(len(ev_u), 1))
        xp, comp_name, ev_name = pfx_u[p_i], comp_u[c_i], ev_u[e_i]
        known = _norm(ev_name) in _EVENTS or re.match(r"^mod_[a-z0-9]+\s*:", ev_name.strip())
        if not known:                     # a localized event name: let the English Description tell
            found = _from_description(descriptions[example_at[i]])
            if found:
                ev_name, comp = found
                if comp and _norm(comp_name) not in _COMPONENTS:
                    comp_name = comp
        mapped.append(_event_row(comp_name, ev_name, xp + (":" if xp else "")))
    fields = list(zip(*mapped)) if mapped else [() for _ in range(10)]
    comp, eventname, action, target, table, crud, edulevel, staff, ctxlevel, modname = (
        np.asarray(f, dtype=object)[key_codes] if n else np.asarray([], dtype=object) for f in fields)

    # user ids: Description first; else a stable synthetic id per full name (negative, never clashes)
    userid = df["userid"].astype("Int64") if "userid" in df else pd.Series(pd.NA, index=df.index, dtype="Int64")
    names = pd.Series(_text(df["user_full_name"]), index=df.index)
    missing = userid.isna()
    if missing.any():
        named = names.where(~names.isin(["", "-"]))
        codes = {nm: -(i + 1000) for i, nm in enumerate(sorted(named[missing].dropna().unique()))}
        userid = userid.copy()
        userid[missing] = named[missing].map(codes).astype("Int64")
    keep = userid.notna().to_numpy()
    related = df["relateduserid"].astype("Int64") if "relateduserid" in df else pd.Series(pd.NA, index=df.index,
                                                                                         dtype="Int64")
    step("people", 0.4)
    # ---- who is staff ---------------------------------------------------------------------------
    uid_np = userid.fillna(0).astype(np.int64).to_numpy()
    rel_np = related.fillna(0).astype(np.int64).to_numpy()
    staff_arr = np.asarray(staff, dtype=object)
    is_staff_event = (staff_arr == True) | ((staff_arr == "other") & (rel_np != 0) & (rel_np != uid_np))  # noqa: E712
    origin = np.char.lower(_text(df["origin"]).astype(str)) if n else np.array([], dtype=object)
    system_row = np.isin(origin, ["cli", "restore"])
    staff_ids = set(uid_np[is_staff_event & keep & ~system_row].tolist())
    actors = set(uid_np[keep & ~system_row].tolist())
    ev_np = np.asarray(eventname, dtype=object)
    enrolled = set(rel_np[(ev_np == "\\core\\event\\user_enrolment_created") & (rel_np > 0)].tolist())
    unenrolled = set(rel_np[(ev_np == "\\core\\event\\user_enrolment_deleted") & (rel_np > 0)].tolist())
    student_ids = sorted(((actors | enrolled) - staff_ids - unenrolled) - {0, 1})
    teacher_ids = sorted(staff_ids - {0})

    step("logs", 0.6)
    # ---- logstore-like rows -----------------------------------------------------------------------
    ts = (df["time"].astype("datetime64[ns, UTC]").astype("int64") // 10**9).to_numpy() if n else np.zeros(0, np.int64)
    # context ids: one per distinct Event context (ranked by name, stable across files of one course)
    rank = np.empty(len(ctx_u), dtype=np.int64)
    rank[np.argsort(np.asarray(ctx_u, dtype=str), kind="stable")] = np.arange(len(ctx_u))
    context_ids = 9_000_000 + rank[ctx_codes] if n else np.zeros(0, dtype=np.int64)
    cmid = df["cmid"].astype("Int64") if "cmid" in df else pd.Series(pd.NA, index=df.index, dtype="Int64")
    # one cmid per activity context: from Descriptions where known, else the synthetic context id
    known = cmid.notna().to_numpy()
    cm_of_ctx = np.full(len(ctx_u), -1, dtype=np.int64)
    if known.any():
        first = pd.DataFrame({"c": ctx_codes[known], "m": cmid[known].astype(np.int64).to_numpy()}
                             ).drop_duplicates("c")
        cm_of_ctx[first["c"].to_numpy()] = first["m"].to_numpy()
    cm_final = cm_of_ctx[ctx_codes] if n else np.zeros(0, dtype=np.int64)
    cm_final = np.where(cm_final >= 0, cm_final, context_ids)
    level = np.asarray(ctxlevel, dtype=np.int64)
    contextinstanceid = np.where(level == 70, cm_final, np.where(level == 10, 0, int(course_id)))
    def per_key(i: int) -> pd.Categorical:          # a mapped field, as a category column (cheap at 1M rows)
        codes_k, uniq_k = pd.factorize(np.asarray(fields[i], dtype=object)) if n else (np.zeros(0, int), [])
        return pd.Categorical.from_codes(codes_k[key_codes] if n else np.zeros(0, np.int32),
                                         categories=pd.Index(list(uniq_k), dtype=object))
    logs = pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "eventname": per_key(1), "component": per_key(0), "action": per_key(2), "target": per_key(3),
        "objecttable": per_key(4), "objectid": pd.array([pd.NA] * n, dtype="Int64"), "crud": per_key(5),
        "edulevel": np.asarray(edulevel, dtype=np.int64), "contextid": context_ids.astype(np.int64),
        "contextlevel": level, "contextinstanceid": contextinstanceid.astype(np.int64),
        "userid": userid.astype("Int64"), "courseid": np.full(n, int(course_id), dtype=np.int64),
        "relateduserid": related.astype("Int64"), "anonymous": np.zeros(n, dtype=np.int64),
        "other": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=["null"]),
        "timecreated": ts.astype(np.int64), "origin": _category(df["origin"]), "ip": _category(df["ip"]),
        "realuserid": pd.array([pd.NA] * n, dtype="Int64"),
    })[LOG_COLUMNS]
    logs["modname"] = per_key(9)
    logs["event_context"] = _category(df["event_context"])
    logs["event_display"] = _category(df["event_name"])
    logs = logs[keep].reset_index(drop=True)
    logs["userid"] = logs["userid"].astype(np.int64)
    logs["id"] = np.arange(1, len(logs) + 1, dtype=np.int64)

    # ---- people frames -------------------------------------------------------------------------------
    first = logs.groupby("userid")["timecreated"].min()
    last = logs.groupby("userid")["timecreated"].max()
    name_of = (pd.DataFrame({"u": uid_np[keep], "n": names.to_numpy()[keep]})
               .query("n != '-' and n != ''").drop_duplicates("u").set_index("u")["n"])
    student_role = {"roleid": None, "name": "", "shortname": "student", "sortorder": 0}
    students = pd.DataFrame([{
        "id": int(u), "fullname": str(name_of.get(u, f"User {u}")), "email": "",
        "roles": [dict(student_role)], "firstaccess": int(first.get(u, 0)), "lastaccess": int(last.get(u, 0)),
        "lastcourseaccess": int(last.get(u, 0)),
    } for u in student_ids], columns=STUDENT_COLUMNS)
    if len(students):
        students["id"] = students["id"].astype(np.int64)
    teachers = pd.DataFrame([{"id": int(u), "fullname": str(name_of.get(u, f"User {u}")),
                              "roles": [{"roleid": None, "name": "", "shortname": "teacher", "sortorder": 0}]}
                             for u in teacher_ids], columns=["id", "fullname", "roles"])
    step("grades", 0.8)
    grade_frame = grades_frame([])
    if grades is not None:
        people = None
        if {"email", "idnumber"} & set(df.columns):
            people = pd.DataFrame({"id": uid_np, "email": _text(df["email"]) if "email" in df else "",
                                   "idnumber": _text(df["idnumber"]) if "idnumber" in df else ""}
                                  )[keep].drop_duplicates()
        grade_frame = _grades_for(read_gradebook_export(grades, item_max=item_max), students, people)
    info = export_course_info(df, course_id)
    frame = None
    given: dict[str, datetime | None] = {"start": None, "end": None}
    for key, value in (("start", course_start), ("end", course_end)):
        if value not in (None, ""):
            when = pd.Timestamp(value)
            if when.tzinfo is None:
                if key == "end" and when == when.normalize():      # a date: the end of that day
                    when = when + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
                when = when.tz_localize(ZoneInfo(timezone or "UTC"))
            given[key] = when.to_pydatetime()
            info[f"{key}date"] = int(when.timestamp())
    if given["start"] is not None or given["end"] is not None:
        from moodle.data import frame_from_course

        try:
            frame = frame_from_course(info, timezone=timezone or "UTC", start=given["start"], end=given["end"])
        except ValueError as exc:
            raise LogExportError(f"The course dates do not fit: {exc}") from None
    if fullname:
        info["fullname"] = fullname
    info["import"] = {"rows": int(n), "rows_kept": int(keep.sum()), "rows_without_user": int((~keep).sum()),
                      "students": len(student_ids), "teachers": len(teacher_ids)}
    if (~keep).any():
        log.info("log export: %d of %d rows name no user (no id in Description, name blanked) and were "
                 "left out", int((~keep).sum()), n)
    extracted = datetime.fromtimestamp(int(logs["timecreated"].max()), UTC) if len(logs) else datetime.now(UTC)
    step("done", 1.0)
    data = CourseData(course=info, students=students, logs=logs, grades=grade_frame, teachers=teachers,
                      source="csv", timezone=timezone or "UTC", extracted_at=extracted, suspended_students=0)
    if frame is not None:
        data.frame = frame
    return data


# ------------------------------------------------------------------------------------------------
# gradebook export
_GRADE_COL = re.compile(r"^\s*(?P<mod>[^:]+):\s*(?P<name>.+?)\s*(?:\((?P<kind>[^()]*)\))?\s*(?:\[(?P<range>[^\[\]]*)\])?\s*$")
_GRADE_MODULES = {"quiz": "quiz", "assignment": "assign", "forum": "forum", "lesson": "lesson",
                  "workshop": "workshop", "h5p": "h5pactivity", "scorm package": "scorm", "glossary": "glossary",
                  "database": "data", "external tool": "lti", "turnitin assignment 2": "turnitintooltwo",
                  "test": "quiz", "bai kiem tra": "quiz", "examen": "quiz", "cuestionario": "quiz",
                  "devoir": "assign", "tarea": "assign", "bai tap": "assign", "aufgabe": "assign"}
_RE_RANGE = re.compile(r"^\s*(-?\d+(?:[.,]\d+)?)\s*(?:[-–—]|to|\.\.)\s*(-?\d+(?:[.,]\d+)?)\s*$")
_RANGE_WORDS = {"range", "pham vi", "rango", "plage", "bereich", "intervallo", "intervalo"}
_GRADEBOOK_COLUMNS = ["name", "email", "idnumber", "itemmodule", "itemname", "graderaw", "grademin", "grademax",
                      "range_source", "row"]


def _num(text: str) -> float:
    text = str(text).strip().replace("\u00a0", "").replace(" ", "")
    if text in ("", "-", "--"):
        return np.nan
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    text = text.replace(",", "").rstrip("%")
    try:
        value = float(text)
    except ValueError:
        return np.nan
    return value if np.isfinite(value) else np.nan


def _range_of(text: str) -> tuple[float, float] | None:
    m = _RE_RANGE.match(str(text or ""))
    if not m:
        return None
    lo, hi = _num(m.group(1)), _num(m.group(2))
    return (lo, hi) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else None


def read_gradebook_export(source: str | Path | bytes | IO[Any], *,
                          item_max: dict[str, float] | None = None) -> pd.DataFrame:
    """A gradebook export (Export > Plain text / Excel / ODS) -> long frame, one row per (student, item):
    ``name, email, idnumber, itemmodule, itemname, graderaw, grademin, grademax, range_source, row``.

    Item ranges are read, not guessed: from a ``Range`` row of the file ("0.00–15.00"), from a range
    in the column header (``Quiz: Q1 (Real) [0-15]``), from the Real and Percentage columns of the same
    item when both were exported (max = real / percentage), from Percentage columns alone (0-100), or
    from ``item_max`` (item name -> maximum, asked on the Import page). Otherwise ``grademax`` is NaN
    and :func:`unknown_ranges` names the item, so nobody is graded on a made-up scale.
    """
    try:
        return _read_gradebook(source, item_max or {})
    except LogExportError:
        raise
    except Exception as exc:  # the importer's own error for any damaged file
        raise LogExportError(f"The gradebook file cannot be read ({exc.__class__.__name__}: "
                             f"{str(exc)[:150]}).") from exc


def _read_gradebook(source: Any, item_max: dict[str, float]) -> pd.DataFrame:
    import pyarrow as pa

    from moodle.export_io import read_all

    cells, name = read_all(source)
    if isinstance(cells, pa.Table):
        rows = [list(r) for r in zip(*[c.to_pylist() for c in cells.columns])]
    else:
        rows = cells
    rows = [[str(c) for c in r] for r in rows]
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise LogExportError(f"{name} is empty.", row=1)
    header = rows[0]
    norm = [_norm(h) for h in header]

    def col(*names: str) -> int | None:
        return next((i for i, h in enumerate(norm) if h in names), None)
    fi, li = col("first name", "firstname", "ten", "prenom", "nombre", "vorname"), \
        col("last name", "surname", "lastname", "ho", "nom", "apellido", "apellidos", "nachname")
    ei = col("email address", "email", "dia chi email", "adresse de courriel", "correo electronico", "e mail")
    ii = col("id number", "idnumber", "so id", "ma so", "numero de id", "numero id", "id nummer")
    fn = col("full name", "user full name", "ho ten", "nom complet", "nombre completo")
    if (fi is None or li is None) and fn is None:
        raise LogExportError(f"{name} is not a gradebook export: row 1 has no 'First name'/'Last name' columns.",
                             row=1, column="First name")
    people = {fi, li, ei, ii, fn}
    # item columns: (col, module, item name, display kind, header range)
    items: list[tuple[int, str, str, str, tuple[float, float] | None]] = []
    for j, h in enumerate(header):
        m = _GRADE_COL.match(h)
        if m and _norm(m.group("mod")) in _GRADE_MODULES and j not in people:
            items.append((j, _GRADE_MODULES[_norm(m.group("mod"))], m.group("name").strip(),
                          _norm(m.group("kind") or "real"), _range_of(m.group("range") or "")))
    body = rows[1:]
    # a "Range" row (the grader report's download has one): its item cells are "lo–hi"
    row_ranges: dict[int, tuple[float, float]] = {}
    data_rows: list[tuple[int, list[str]]] = []
    for r_i, r in enumerate(body, start=2):
        first = [_norm(c) for c in r[:max(len(people), 3) + 3] if c.strip()]
        if first and first[0] in _RANGE_WORDS:
            for j, *_ in items:
                rg = _range_of(r[j]) if j < len(r) else None
                if rg:
                    row_ranges[j] = rg
            continue
        if first and first[0] in ("overall average", "average", "trung binh", "moyenne", "promedio"):
            continue
        if any(c.strip() for c in r):
            data_rows.append((r_i, r))
    by_item: dict[tuple[str, str], dict[str, int]] = {}
    for j, mod, item, kind, _rg in items:
        by_item.setdefault((mod, item), {})[kind] = j

    def cell(r: list[str], j: int | None) -> str:
        return r[j].strip() if j is not None and j < len(r) else ""
    out = []
    for (mod, item), kinds in by_item.items():
        j_real = kinds.get("real") or next((j for k, j in kinds.items() if k not in ("percentage", "letter")), None)
        j_pct = kinds.get("percentage")
        j_main = j_real if j_real is not None else j_pct
        if j_main is None:                     # only letters: nothing numeric to read
            continue
        lo, hi, how = 0.0, np.nan, ""
        meta = next((it for it in items if it[0] == j_main), None)
        if j_main in row_ranges:
            (lo, hi), how = row_ranges[j_main], "range row"
        elif meta and meta[4]:
            (lo, hi), how = meta[4], "header"
        elif j_real is None:
            hi, how = 100.0, "percentage"
        elif j_pct is not None:
            ratios = []
            for _, r in data_rows:
                real, pct = _num(cell(r, j_real)), _num(cell(r, j_pct))
                if np.isfinite(real) and np.isfinite(pct) and pct > 0:
                    ratios.append(real * 100.0 / pct)
            if ratios:
                hi, how = float(np.round(np.median(ratios), 2)), "real and percentage"
        if not np.isfinite(hi) and item in item_max and item_max[item]:
            hi, how = float(item_max[item]), "given"
        for r_i, r in data_rows:
            full = cell(r, fn) if fn is not None else f"{cell(r, fi)} {cell(r, li)}".strip()
            out.append({"name": full, "email": cell(r, ei), "idnumber": cell(r, ii), "itemmodule": mod,
                        "itemname": item, "graderaw": _num(cell(r, j_main)), "grademin": lo, "grademax": hi,
                        "range_source": how, "row": r_i})
    return pd.DataFrame(out, columns=_GRADEBOOK_COLUMNS)


def unknown_ranges(book: pd.DataFrame, modules: tuple[str, ...] = ("quiz",)) -> list[str]:
    """Item names (of ``modules``) whose maximum the gradebook export does not carry: ask for them."""
    if book is None or book.empty:
        return []
    b = book[book["itemmodule"].isin(modules)]
    return sorted(b.loc[b["grademax"].isna(), "itemname"].unique().tolist())


def _grades_for(book: pd.DataFrame, students: pd.DataFrame, people: pd.DataFrame | None = None) -> pd.DataFrame:
    """Gradebook rows -> grades of the log's students, matched by ID number, then email, then full name
    (a log whose names are blanked still matches by ID number / email when either side carries them)."""
    quiz = book[book["itemmodule"] == "quiz"].copy()
    if quiz.empty or students.empty:
        return grades_frame([])
    by_name = {_norm(nm): int(u) for u, nm in zip(students["id"], students["fullname"])
               if not str(nm).startswith("User ") and _norm(nm)}
    by_email: dict[str, int] = {}
    by_idnumber: dict[str, int] = {}
    if people is not None and len(people):
        for r in people.itertuples(index=False):
            if getattr(r, "email", ""):
                by_email[str(r.email).strip().lower()] = int(r.id)
            if getattr(r, "idnumber", ""):
                by_idnumber[str(r.idnumber).strip()] = int(r.id)
    if "email" in students:
        for u, e in zip(students["id"], students["email"]):
            if isinstance(e, str) and e.strip():
                by_email.setdefault(e.strip().lower(), int(u))
    student_ids = {int(u) for u in students["id"]}

    def match(r: Any) -> int | None:
        idn = str(r.idnumber or "").strip()
        if idn and idn in by_idnumber:
            return by_idnumber[idn]
        em = str(r.email or "").strip().lower()
        if em and em in by_email:
            return by_email[em]
        if _norm(r.name) in by_name:
            return by_name[_norm(r.name)]
        if idn.isdigit() and int(idn) in student_ids and not by_idnumber:   # ID number = Moodle user id
            return int(idn)
        return None
    quiz["userid"] = [match(r) for r in quiz.itertuples(index=False)]
    quiz = quiz.dropna(subset=["userid"])
    if quiz.empty:
        return grades_frame([])
    inst = {nm: i + 1 for i, nm in enumerate(dict.fromkeys(quiz["itemname"]))}
    usergrades: dict[int, list[dict]] = {}
    for r in quiz.itertuples(index=False):
        usergrades.setdefault(int(r.userid), []).append({
            "id": inst[r.itemname], "itemtype": "mod", "itemmodule": "quiz", "iteminstance": inst[r.itemname],
            "itemname": r.itemname, "graderaw": None if np.isnan(r.graderaw) else r.graderaw,
            "grademin": r.grademin, "grademax": None if np.isnan(r.grademax) else r.grademax,
            "gradedatesubmitted": None, "gradedategraded": None})
    return grades_frame([{"userid": u, "gradeitems": g} for u, g in usergrades.items()])
