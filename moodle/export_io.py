"""Safe, bounded reading of uploaded export files (logs and gradebooks): bytes in, cells out.

Everything here is about hostile or damaged input: a path that is a device or a pipe is refused
before it is opened, sizes and row counts are capped before parsing, archives (.xlsx / .ods) are
checked member by member and decompressed with a hard cap, JSON nesting and CSV field sizes are
bounded, and every failure becomes a :class:`~moodle.errors.LogExportError` whose message is short.

Limits (environment, read at call time; see :func:`limits`):

* ``COHORTLENS_IMPORT_MAX_MB`` (default 1024): largest file read, in MB.
* ``COHORTLENS_IMPORT_MAX_ROWS`` (default 5,000,000): most rows (lines) in one file.
* ``COHORTLENS_IMPORT_MAX_UNZIPPED_MB`` (default 1024): most bytes an .xlsx / .ods may expand to.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from moodle.errors import LogExportError

__all__ = ["Limits", "cells_of", "decode_text", "limits", "read_source", "shorten"]

MAX_MESSAGE = 400          # characters of any one error message (the cause is always at the front)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1024 << 20
    max_rows: int = 5_000_000
    max_columns: int = 512
    max_unzipped: int = 1024 << 20
    max_members: int = 2000
    max_ratio: int = 400          # uncompressed / compressed size of one archive member
    max_json_depth: int = 32


def limits() -> Limits:
    """The limits in force (environment overrides, read now)."""
    def env_int(name: str, default: int, scale: int = 1) -> int:
        try:
            value = int(float(os.environ.get(name, "") or 0) * scale)
        except ValueError:
            value = 0
        return value if value > 0 else default
    base = Limits()
    return Limits(max_bytes=env_int("COHORTLENS_IMPORT_MAX_MB", base.max_bytes, 1 << 20),
                  max_rows=env_int("COHORTLENS_IMPORT_MAX_ROWS", base.max_rows),
                  max_unzipped=env_int("COHORTLENS_IMPORT_MAX_UNZIPPED_MB", base.max_unzipped, 1 << 20))


def shorten(value: object, n: int = 60) -> str:
    """``repr``-like short text of a cell for an error message."""
    text = str(value)
    text = text if len(text) <= n else text[: n - 1] + "…"
    return repr(text)


# ------------------------------------------------------------------------------------------ bytes
def read_source(source: Any, lim: Limits) -> tuple[bytes, str]:
    """(raw bytes, display name) of a path, bytes, text or an open file; bounded; devices refused."""
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
        name = "<bytes>"
    elif isinstance(source, str | os.PathLike) and not (isinstance(source, str) and ("\n" in source
                                                                                     or "\r" in source)):
        path = Path(source)
        name = path.name or str(path)
        try:
            st = os.stat(path)
        except (OSError, ValueError) as exc:
            msg = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror or exc})"
            raise LogExportError(f"The export {shorten(str(path), 120)} {msg}.") from None
        if not stat.S_ISREG(st.st_mode):
            kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a pipe" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise LogExportError(f"{name} is {kind}, not a file: refusing to read it.")
        if st.st_size > lim.max_bytes:
            raise LogExportError(f"{name} is {st.st_size / 2**20:,.0f} MB; the import limit is "
                                 f"{lim.max_bytes / 2**20:,.0f} MB (COHORTLENS_IMPORT_MAX_MB).")
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):   # swapped since the stat
                    raise LogExportError(f"{name} is not a regular file: refusing to read it.")
                raw = fh.read(lim.max_bytes + 1)
        except OSError as exc:
            raise LogExportError(f"{name} cannot be read ({exc.strerror or exc}).") from None
    elif isinstance(source, str):          # literal CSV text
        raw = source.encode("utf-8", errors="replace")
        name = "<text>"
    elif hasattr(source, "read"):
        name = str(getattr(source, "name", "") or "<upload>")
        name = Path(name).name if isinstance(name, str) else "<upload>"
        try:
            data = source.read(lim.max_bytes + 1)
        except (OSError, ValueError) as exc:
            raise LogExportError(f"{name} cannot be read ({exc}).") from None
        raw = data.encode("utf-8", errors="replace") if isinstance(data, str) else bytes(data or b"")
    else:
        raise LogExportError(f"Cannot read an export from a {type(source).__name__}.")
    if len(raw) > lim.max_bytes:
        raise LogExportError(f"{name} is larger than the import limit of {lim.max_bytes / 2**20:,.0f} MB "
                             "(COHORTLENS_IMPORT_MAX_MB).")
    return raw, name


def _utf16_without_bom(raw: bytes) -> str | None:
    sample = raw[:4096]
    if len(sample) >= 4 and sample.count(b"\x00") >= len(sample) // 3:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        return "utf-16-le" if odd > even else "utf-16-be"
    return None


def decode_text(raw: bytes) -> str:
    """Text of a CSV/JSON download: BOM-aware UTF-8 / UTF-16; cp1252 for stray bytes. Never raises."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be")):
        if raw.startswith(bom):
            body = raw[len(bom):]
            if enc == "utf-8":
                break
            return body.decode(enc, errors="replace")
    else:
        body = raw
        enc16 = _utf16_without_bom(raw)
        if enc16:
            return raw.decode(enc16, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


# ------------------------------------------------------------------------------------------ cells
def kind_of(raw: bytes) -> str:
    """``zip`` (xlsx / ods), ``xls`` (old Excel), ``json``, ``html`` or ``csv``."""
    head = raw[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    text = decode_text(raw[:2048]).lstrip("\ufeff \t\r\n")
    if text[:1] in ("[", "{"):
        return "json"
    low = text[:64].lower()
    if low.startswith(("<!doctype html", "<html", "<table", "<?xml")):
        return "html"
    return "csv"


def cells_of(raw: bytes, name: str, lim: Limits) -> pa.Table | list[list[str]]:
    """Every cell as text: an Arrow table of string columns (CSV fast path) or a list of rows."""
    kind = kind_of(raw)
    if kind == "zip":
        return _rows_from_zip(raw, name, lim)
    if kind == "xls":
        raise LogExportError(f"{name} is an old Excel (.xls) file: download the log as CSV or .xlsx instead.",
                             row=1)
    if kind == "html":
        raise LogExportError(f"{name} is an HTML/XML page, not a data download: choose CSV in the "
                             "Logs report's download menu.", row=1)
    if kind == "json":
        _check_rows(raw, name, lim)
        return _rows_from_json(decode_text(raw), name, lim)
    table = _arrow_table(raw, lim)
    if table is not None:
        if table.num_rows > lim.max_rows:
            raise LogExportError(f"{name} has {table.num_rows:,} rows; the import limit is {lim.max_rows:,} rows "
                                 "(COHORTLENS_IMPORT_MAX_ROWS).")
        return table
    _check_rows(raw, name, lim)
    return _rows_from_text(decode_text(raw), name, lim)


def _check_rows(raw: bytes, name: str, lim: Limits) -> None:
    lines = max(raw.count(b"\n"), raw.count(b"\r"))
    if lines > lim.max_rows:
        raise LogExportError(f"{name} has about {lines:,} lines; the import limit is {lim.max_rows:,} rows "
                             "(COHORTLENS_IMPORT_MAX_ROWS).")


def sniff_delimiter(text: str) -> str:
    first = next((ln for ln in text[:65536].replace("\r", "\n").split("\n") if ln.strip()), "")[:8192]
    counts = {d: _count_outside_quotes(first, d) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def _count_outside_quotes(line: str, ch: str) -> int:
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            n += 1
    return n


def _header_width(sample: str, delim: str) -> int:
    """Fields of the widest of the first lines (the header; a title line before it is narrower)."""
    try:
        reader = csv.reader(io.StringIO(sample.replace("\r\n", "\n").replace("\r", "\n")), delimiter=delim)
        widths = [len(r) for _, r in zip(range(10), reader)]
    except csv.Error:
        return 0
    return max(widths, default=0)


def _arrow_table(raw: bytes, lim: Limits) -> pa.Table | None:
    """The CSV read by Arrow's C++ reader, every column as text; None when it needs the careful path."""
    import pyarrow.csv as pcsv

    if raw.startswith(codecs.BOM_UTF16_LE) or raw.startswith(codecs.BOM_UTF16_BE) or _utf16_without_bom(raw):
        return None
    start = 3 if raw.startswith(codecs.BOM_UTF8) else 0
    sample = decode_text(raw[start:start + 65536])
    delim = sniff_delimiter(sample)
    width = _header_width(sample, delim)
    if width < 2 or width > lim.max_columns:
        return None
    names = [f"c{i}" for i in range(width)]
    # first as one record per line (faster); a quoted value holding a line break splits its record into
    # rows of the wrong width, and then the file is read again with line breaks allowed in values
    for newlines in (False, True):
        bad: list[Any] = []

        def on_invalid(row: Any, bad: list[Any] = bad) -> str:
            bad.append(row)
            return "skip"
        try:
            table = pcsv.read_csv(
                pa.BufferReader(pa.py_buffer(raw).slice(start)),
                read_options=pcsv.ReadOptions(column_names=names, block_size=4 << 20),
                parse_options=pcsv.ParseOptions(delimiter=delim, quote_char='"', double_quote=True,
                                                newlines_in_values=newlines, ignore_empty_lines=True,
                                                invalid_row_handler=on_invalid),
                convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                    strings_can_be_null=False, quoted_strings_can_be_null=False))
        except (pa.ArrowException, ValueError, OverflowError):
            if newlines:
                return None
            continue
        # rows of another width before the header (a title line) are harmless; any other means the
        # careful path, which names the exact row
        if not bad or (len(bad) <= 10 and all(r.number is not None and r.number <= 10 for r in bad)):
            return table
        del table
    return None


def _rows_from_text(text: str, name: str, lim: Limits) -> list[list[str]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    delim = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"', doublequote=True,
                        strict=False)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(row) > lim.max_columns:
                raise LogExportError(f"{name}: row {reader.line_num} has {len(row):,} fields; a log export has "
                                     f"about 9 (limit {lim.max_columns}).", row=reader.line_num)
            rows.append(row)
    except csv.Error as exc:
        raise LogExportError(f"{name}: row {reader.line_num} cannot be read as CSV ({exc}).",
                             row=reader.line_num) from None
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)[:10000]
    return str(value)


def _depth_ok(text: str, max_depth: int) -> bool:
    """True when brackets nest no deeper than ``max_depth`` (strings skipped)."""
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        tok = m.group(0)
        if tok in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return False
        elif tok in ("]", "}"):
            depth -= 1
    return True


def _rows_from_json(text: str, name: str, lim: Limits) -> list[list[str]]:
    """dataformat_json: ``[[{col: value, ...}, ...]]`` (a list per sheet) or a flat list of objects/rows."""
    if not _depth_ok(text, lim.max_json_depth):
        raise LogExportError(f"{name}: the JSON nests deeper than {lim.max_json_depth} levels; a log export "
                             "is a list of rows.", row=1)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", 1)
        raise LogExportError(f"{name}: the JSON cannot be read at line {line}: "
                             f"{shorten(getattr(exc, 'msg', exc), 120)}.", row=line) from None
    while isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
        data = data[0]
    if isinstance(data, dict):      # {"sheet": [...]} or one row
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if lists else [data]
        while isinstance(data, list) and len(data) == 1 and isinstance(data[0], list):
            data = data[0]
    if not isinstance(data, list) or not data:
        raise LogExportError(f"{name}: the JSON holds no log rows.", row=1)
    first = next((r for r in data if isinstance(r, dict)), None)
    if first is not None:
        header = [str(k) for k in first.keys()][: lim.max_columns]
        rows = [header]
        for r in data:
            if isinstance(r, dict):
                rows.append([_cell(r.get(h)) for h in header])
        return rows
    return [[_cell(c) for c in r[: lim.max_columns]] if isinstance(r, list) else [_cell(r)] for r in data]


# ------------------------------------------------------------------------------------- archives
def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, lim: Limits, budget: list[int]) -> bytes:
    if info.file_size > budget[0]:
        raise LogExportError(f"{name}: the archive member {shorten(info.filename)} expands to "
                             f"{info.file_size / 2**20:,.0f} MB, over the limit of "
                             f"{lim.max_unzipped / 2**20:,.0f} MB (COHORTLENS_IMPORT_MAX_UNZIPPED_MB).")
    if info.compress_size and info.file_size > (1 << 20) and info.file_size / info.compress_size > lim.max_ratio:
        raise LogExportError(f"{name}: the archive member {shorten(info.filename)} expands "
                             f"{info.file_size / info.compress_size:,.0f} times; refusing a likely zip bomb.")
    with zf.open(info) as fh:
        data = fh.read(budget[0] + 1)
    if len(data) > budget[0]:
        raise LogExportError(f"{name}: the archive expands past the limit of {lim.max_unzipped / 2**20:,.0f} MB.")
    budget[0] -= len(data)
    return data


def _rows_from_zip(raw: bytes, name: str, lim: Limits) -> list[list[str]]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise LogExportError(f"{name} is a damaged zip/.xlsx file ({shorten(exc, 100)}).", row=1) from None
    if len(infos) > lim.max_members:
        raise LogExportError(f"{name}: the archive holds {len(infos):,} files; an .xlsx holds a few dozen.")
    by_name = {i.filename: i for i in infos}
    budget = [lim.max_unzipped]
    try:
        if "content.xml" in by_name and "xl/workbook.xml" not in by_name:
            return _ods_rows(_read_member(zf, by_name["content.xml"], name, lim, budget), name, lim)
        sheet = _first_sheet(zf, by_name, name, lim, budget)
        if sheet is None:
            raise LogExportError(f"{name} is a zip file but not an Excel workbook (no worksheet inside).", row=1)
        strings: list[str] = []
        if "xl/sharedStrings.xml" in by_name:
            strings = _shared_strings(_read_member(zf, by_name["xl/sharedStrings.xml"], name, lim, budget))
        return _sheet_rows(_read_member(zf, sheet, name, lim, budget), strings, name, lim)
    except LogExportError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError,
            KeyError, RuntimeError) as exc:   # bad CRC, encrypted member, truncated stream, ...
        raise LogExportError(f"{name} is a damaged .xlsx file ({exc.__class__.__name__}: {shorten(exc, 100)}).",
                             row=1) from None
    finally:
        zf.close()


_RE_SHEET = re.compile(rb"<(?:\w+:)?sheet\b[^>]*?\b(?:r:)?id=\"([^\"]+)\"", re.S)
_RE_REL = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>", re.S)


def _first_sheet(zf: zipfile.ZipFile, by_name: dict, name: str, lim: Limits, budget: list[int]) -> Any:
    """The first worksheet in workbook order (workbook.xml + its rels), else the first sheet file."""
    try:
        if "xl/workbook.xml" in by_name and "xl/_rels/workbook.xml.rels" in by_name:
            wb = _read_member(zf, by_name["xl/workbook.xml"], name, lim, budget)[: 1 << 20]
            rels = _read_member(zf, by_name["xl/_rels/workbook.xml.rels"], name, lim, budget)[: 1 << 20]
            m = _RE_SHEET.search(wb)
            if m:
                rid = m.group(1)
                for rm in _RE_REL.finditer(rels):
                    attrs = rm.group(1)
                    if re.search(rb'\bId="' + re.escape(rid) + rb'"', attrs):
                        t = re.search(rb'\bTarget="([^"]+)"', attrs)
                        if t:
                            target = t.group(1).decode("utf-8", "replace").lstrip("/")
                            target = target if target.startswith("xl/") else "xl/" + target
                            if target in by_name:
                                return by_name[target]
    except LogExportError:
        raise
    sheets = sorted((n for n in by_name if re.fullmatch(r"xl/worksheets/[^/]+\.xml", n)),
                    key=lambda n: (len(n), n))
    return by_name[sheets[0]] if sheets else None


def _xml_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


_RE_SI_START = re.compile(r"<(?:\w+:)?si\b")
_RE_T = re.compile(r"<(?:\w+:)?t\b[^>]*>([^<]*)")
_RE_RPH = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)


def _segments(text: str, start_rx: re.Pattern[str], begin: int = 0, end: int | None = None) -> Iterator[str]:
    """The pieces of ``text`` from one match of ``start_rx`` to the next (linear: no search for a closing
    tag, so an unclosed tag cannot make the scan quadratic)."""
    end = len(text) if end is None else end
    starts = [m.start() for m in start_rx.finditer(text, begin, end)]
    for i, s in enumerate(starts):
        yield text[s: starts[i + 1] if i + 1 < len(starts) else end]


def _shared_strings(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    out = []
    for seg in _segments(text, _RE_SI_START):
        if "<rPh" in seg:
            seg = _RE_RPH.sub("", seg)
        out.append(html.unescape("".join(_RE_T.findall(seg))))
    return out


_RE_ROW_START = re.compile(r"<(?:\w+:)?row\b")
_RE_C_START = re.compile(r"<(?:\w+:)?c\b")
_RE_TAG_ATTRS = re.compile(r"<(?:\w+:)?(?:row|c)\b([^>]*)>")
_RE_V = re.compile(r"<(?:\w+:)?v\b[^>]*>([^<]*)")
_RE_ATTR_R = re.compile(r'\br="([A-Za-z]{1,3})?(\d*)"')
_RE_ATTR_T = re.compile(r'\bt="(\w+)"')


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _sheet_rows(data: bytes, strings: list[str], name: str, lim: Limits) -> list[list[str]]:
    """Worksheet XML -> rows of text. Cells are placed by their own reference (the ``dimension`` a
    writer declares is ignored: R's writers declare ``A1`` for a whole table)."""
    text = data.decode("utf-8", errors="replace")
    begin = max(text.find("<sheetData"), 0)
    stop = text.find("</sheetData>", begin)
    rows: list[list[str]] = []
    for seg in _segments(text, _RE_ROW_START, begin, stop if stop >= 0 else None):
        if len(rows) >= lim.max_rows:
            raise LogExportError(f"{name}: the sheet has more than {lim.max_rows:,} rows (COHORTLENS_IMPORT_MAX_ROWS).")
        row: list[str] = []
        nxt = 0
        for cseg in _segments(seg, _RE_C_START):
            head = _RE_TAG_ATTRS.match(cseg)
            attrs = head.group(1) if head else ""
            ref = _RE_ATTR_R.search(attrs)
            col = _col_index(ref.group(1)) if ref and ref.group(1) else nxt
            nxt = col + 1
            if col >= lim.max_columns:
                continue
            t = _RE_ATTR_T.search(attrs)
            typ = t.group(1) if t else "n"
            if typ == "inlineStr":
                value = html.unescape("".join(_RE_T.findall(cseg)))
            else:
                v = _RE_V.search(cseg)
                value = html.unescape(v.group(1)) if v else ""
                if typ == "s" and value:
                    try:
                        value = strings[int(value)]
                    except (ValueError, IndexError):
                        raise LogExportError(f"{name}: row {len(rows) + 1}, column {col + 1} points at shared "
                                             f"string {shorten(value, 20)}, which the file does not hold.",
                                             row=len(rows) + 1, column=str(col + 1)) from None
                elif typ == "b":
                    value = "TRUE" if value == "1" else "FALSE"
            if col >= len(row):
                row.extend([""] * (col + 1 - len(row)))
            row[col] = value
        rows.append(row)
    return rows


_RE_ODS_ROW = re.compile(r"<table:table-row\b")
_RE_ODS_CELL = re.compile(r"<table:(?:covered-)?table-cell\b")
_RE_ODS_ATTRS = re.compile(r"<table:[\w-]+\b([^>]*)>")
_RE_REPEAT = re.compile(r'table:number-(?:columns|rows)-repeated="(\d{1,9})"')
_RE_ODS_P = re.compile(r"<text:p\b[^>]*>([^<]*)")
_RE_TAGS = re.compile(r"<[^>]{0,2000}>")


def _ods_rows(data: bytes, name: str, lim: Limits) -> list[list[str]]:
    """dataformat_ods content.xml -> rows (first table; repeats capped so a tiny file cannot explode)."""
    text = data.decode("utf-8", errors="replace")
    begin = max(text.find("<table:table "), 0)
    end = text.find("</table:table>", begin)
    rows: list[list[str]] = []
    for seg in _segments(text, _RE_ODS_ROW, begin, end if end >= 0 else None):
        row: list[str] = []
        head = _RE_ODS_ATTRS.match(seg)
        row_attrs = head.group(1) if head else ""
        for cseg in _segments(seg, _RE_ODS_CELL):
            ch = _RE_ODS_ATTRS.match(cseg)
            rep = _RE_REPEAT.search(ch.group(1) if ch else "")
            n = min(int(rep.group(1)), lim.max_columns) if rep else 1
            inner = cseg[ch.end():] if ch else cseg
            value = html.unescape(_RE_TAGS.sub("", inner.replace("</text:p><text:p>", "\n"))).strip("\n")
            if len(row) < lim.max_columns:
                row.extend([value] * min(n, lim.max_columns - len(row)))
        while row and row[-1] == "":
            row.pop()
        rep = _RE_REPEAT.search(row_attrs)
        times = min(int(rep.group(1)), 10) if rep and row else 1
        for _ in range(times):
            rows.append(list(row))
            if len(rows) > lim.max_rows:
                raise LogExportError(f"{name}: the sheet has more than {lim.max_rows:,} rows.")
    return rows


def read_all(source: str | Path | bytes | IO[Any], lim: Limits | None = None) -> tuple[Any, str]:
    """(cells, name) for any supported export file (used by the gradebook reader)."""
    lim = lim or limits()
    raw, name = read_source(source, lim)
    if not raw.strip():
        raise LogExportError(f"{name} is empty.", row=1)
    return cells_of(raw, name, lim), name
