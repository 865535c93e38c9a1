"""Damaged log exports, generated: every way a download can be cut, mangled, mis-encoded or hostile.

:func:`damaged_files` yields ``(label, bytes)`` pairs, deterministic for a seed. Seeds are the
hand-made variants in tests/fixtures/log_exports plus an .xlsx, a JSON and an .ods made from them.
Mutations: truncation at any byte, byte flips and insertions, stray cp1252 bytes behind a UTF-8 BOM,
odd-cut UTF-16, NUL bytes, huge ids and numbers, over-long fields and lines, broken quoting, wrong
widths, impossible and out-of-range dates, deep JSON, damaged zips (cut, bad CRC, missing members,
bad shared-string indexes, malformed XML, zip bombs, huge declared sheets), HTML / old Excel
signatures, random binary, and mixtures of all of these.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path

EXPORTS = Path(__file__).resolve().parents[2] / "fixtures" / "log_exports"
SEEDS = ["standard_en_bom_crlf.csv", "no_seconds_lf.csv", "en_us_ampm.csv", "no_year.csv", "cr_only.csv",
         "blanked_names.csv", "localized_semicolon.csv", "reordered_extra_columns.csv"]


def _rows(name: str) -> list[list[str]]:
    text = (EXPORTS / name).read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    delim = ";" if name.startswith("localized") else ","
    return list(csv.reader(io.StringIO(text), delimiter=delim))


def _csv(rows: list[list[str]], delim: str = ",") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delim, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[str]], *, dimension: str | None = None, shared: bool = True) -> bytes:
    """A minimal but valid .xlsx (shared or inline strings), optionally declaring a wrong dimension."""
    strings: list[str] = []
    index: dict[str, int] = {}

    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    body = []
    for i, r in enumerate(rows, start=1):
        cells = []
        for j, v in enumerate(r):
            ref = f"{_col(j)}{i}"
            if shared:
                if v not in index:
                    index[v] = len(strings)
                    strings.append(v)
                cells.append(f'<c r="{ref}" t="s"><v>{index[v]}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{esc(v)}</t></is></c>')
        body.append(f'<row r="{i}">{"".join(cells)}</row>')
    width = max((len(r) for r in rows), default=1)
    dim = dimension or f"A1:{_col(width - 1)}{max(len(rows), 1)}"
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<dimension ref="{dim}"/><sheetData>{"".join(body)}</sheetData></worksheet>')
    sst = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           + "".join(f"<si><t>{esc(s)}</t></si>" for s in strings) + "</sst>")
    wb = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
          'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
          'relationships"><sheets><sheet name="Logs" sheetId="1" r:id="rId1"/></sheets></workbook>')
    rels = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
    ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
          'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", ct)
        z.writestr("xl/workbook.xml", wb)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared:
            z.writestr("xl/sharedStrings.xml", sst)
    return out.getvalue()


def ods_bytes(rows: list[list[str]]) -> bytes:
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = "".join("<table:table-row>" + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{esc(v)}</text:p></table:table-cell>' for v in r)
        + "</table:table-row>" for r in rows)
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
               f'<table:table table:name="Logs">{body}</table:table></office:spreadsheet></office:body>'
               '</office:document-content>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", content)
    return out.getvalue()


def _col(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


def _zip_with(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _unzip(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return {n: z.read(n) for n in z.namelist()}


# ------------------------------------------------------------------------------------- mutations
def _mutate_bytes(rng: random.Random, raw: bytes) -> tuple[str, bytes]:
    op = rng.randrange(12)
    n = len(raw)
    if op == 0:
        cut = rng.randrange(n + 1)
        return f"truncate@{cut}", raw[:cut]
    if op == 1:
        b = bytearray(raw)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(n)] = rng.randrange(256)
        return "flip", bytes(b)
    if op == 2:
        pos = rng.randrange(n + 1)
        return "insert-junk", raw[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + raw[pos:]
    if op == 3:
        pos = rng.randrange(n + 1)
        return "nul", raw[:pos] + b"\x00" * rng.randint(1, 8) + raw[pos:]
    if op == 4:
        pos = rng.randrange(n + 1)
        return "cp1252-behind-bom", b"\xef\xbb\xbf" + raw[:pos].lstrip(b"\xef\xbb\xbf") + b"\xe9\x92" + raw[pos:]
    if op == 5:
        text = raw.decode("utf-8", "replace").lstrip("\ufeff")
        enc = rng.choice(["utf-16", "utf-16-le", "utf-16-be"])
        data = text.encode(enc)
        return f"{enc}-oddcut", data[: max(1, len(data) - rng.choice([1, 3, 5]))]
    if op == 6:
        lines = raw.split(b"\n")
        rng.shuffle(lines)
        return "shuffled-lines", b"\n".join(lines)
    if op == 7:
        pos = rng.randrange(n + 1)
        return "stray-quote", raw[:pos] + b'"' + raw[pos:]
    if op == 8:
        lines = raw.split(b"\n")
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i] * rng.randint(2, 50))
        return "long-line", b"\n".join(lines)
    if op == 9:
        return "doubled", raw + raw[rng.randrange(n + 1):]
    if op == 10:
        return "reversed", raw[::-1]
    return "delete-range", raw[: rng.randrange(n + 1)] + raw[rng.randrange(n + 1):]


_BAD_TIMES = ["31/02/99, 25:61", "00/00/00, 00:00", "99/99/99, 99:99", "1/1/0001, 00:00", "31/12/9999, 23:59",
              "9999-12-31 23:59:59", "0001-01-01 00:00:00", "99999999999", "-1", "1e308", "NaN", "inf",
              "14/03/24, 09:15:02 +99:99", "32 Foo, 09:44", "13/13/13, 13:13", "2024-02-30 10:00:00",
              "14/03/24,", ", 09:15", "Thursday, 99 March 2024, 9:15 AM", "14 tháng 13 2024, 21:15",
              "45356.5", "99999.9999", "3" * 40, "14/03/24, 09:15:02" * 30, "\u200b14/03/24, 09:15",
              "١٤/٠٣/٢٤, ٠٩:١٥", "14/03/24 09:15 PM PM", "0/0/0, 0:00", "12/13/14, 15:16"]


def _mutate_cells(rng: random.Random, rows: list[list[str]]) -> tuple[str, list[list[str]]]:
    rows = [list(r) for r in rows]
    header, body = rows[0], rows[1:]
    op = rng.randrange(12)
    if not body:
        return "header-only", rows
    r = rng.randrange(len(body))
    ti = next((j for j, h in enumerate(header) if h.lower().strip("\ufeff") in ("time", "thời gian")), 0)
    if op == 0:
        body[r][ti] = rng.choice(_BAD_TIMES)
        return "bad-time", [header] + body
    if op == 1:
        d = len(header) - 3 if len(header) > 3 else 0
        body[r][d] = f"The user with id '{'9' * rng.randint(19, 400)}' viewed the course with id '{'7' * 30}'."
        return "huge-ids", [header] + body
    if op == 2:
        body[r][rng.randrange(len(body[r]))] = "x" * rng.choice([200_000, 1_000_000])
        return "huge-field", [header] + body
    if op == 3:
        body[r] = body[r][: rng.randrange(len(body[r]))]
        return "short-row", [header] + body
    if op == 4:
        body[r] = body[r] + ["extra"] * rng.randint(1, 2000)
        return "wide-row", [header] + body
    if op == 5:
        return "no-header", body
    if op == 6:
        hdr = list(header)
        hdr[rng.randrange(len(hdr))] = rng.choice(["", "Time", "Event name", "???", "x" * 5000])
        return "mangled-header", [hdr] + body
    if op == 7:
        return "only-header-many", [header] * rng.randint(2, 100)
    if op == 8:
        for row in body:
            row[ti] = str(rng.randint(-10**12, 10**12))
        return "numeric-times", [header] + body
    if op == 9:
        body[r] = [""] * len(body[r])
        return "blank-row", [header] + body
    if op == 10:
        return "title-lines", [["Logs report"], ["Course: X", "", ""]] + [header] + body
    for row in body:
        row[ti] = rng.choice(["11 May, 09:44", "1 Jan, 00:00", "31 Dec, 23:59", "29 Feb, 12:00"])
    return "no-year-random", [header] + body


def _zip_damage(rng: random.Random, rows: list[list[str]]) -> tuple[str, bytes]:
    good = xlsx_bytes(rows, shared=rng.random() < 0.5)
    op = rng.randrange(11)
    if op == 0:
        return "xlsx-truncated", good[: rng.randrange(len(good))]
    if op == 1:
        b = bytearray(good)
        for _ in range(rng.randint(1, 10)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return "xlsx-flipped", bytes(b)
    members = _unzip(good)
    if op == 2:
        members.pop(rng.choice(list(members)))
        return "xlsx-missing-member", _zip_with(members)
    if op == 3:
        members["xl/worksheets/sheet1.xml"] = members["xl/worksheets/sheet1.xml"][: rng.randrange(200, 2000)]
        return "xlsx-cut-xml", _zip_with(members)
    if op == 4:
        sheet = members["xl/worksheets/sheet1.xml"].replace(b"<v>1</v>", b"<v>99999999</v>", 1)
        members["xl/worksheets/sheet1.xml"] = sheet.replace(b"<v>2</v>", b"<v>-5</v>", 1)
        return "xlsx-bad-shared-index", _zip_with(members)
    if op == 5:
        members["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row><c r=\"XFD1048576\"><v>1</v></c>" + \
            b"<c r=\"A1\"><is><t>&bogus;&#xFFFFFFF;</t></is></c></row></sheetData>"
        return "xlsx-far-cell", _zip_with(members)
    if op == 6:
        members["xl/worksheets/sheet1.xml"] = b"<sheetData>" + b"<row>" * 100_000 + b"</sheetData>"
        return "xlsx-many-empty-rows", _zip_with(members)
    if op == 7:
        members["xl/worksheets/sheet1.xml"] = b"\x00" * (30 << 20)
        return "xlsx-bomb", _zip_with(members)
    if op == 8:
        members["xl/sharedStrings.xml"] = (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                                           b"<sst><si><t>&b;</t></si></sst>")
        return "xlsx-entities", _zip_with(members)
    if op == 9:
        return "ods", ods_bytes(rows) if rng.random() < 0.5 else ods_bytes(rows)[: rng.randrange(100, 600)]
    return "zip-not-xlsx", _zip_with({"readme.txt": b"hello", "data.csv": _csv(rows)})


def _json_damage(rng: random.Random, rows: list[list[str]]) -> tuple[str, bytes]:
    header, body = rows[0], rows[1:]
    good = json.dumps([[dict(zip(header, r)) for r in body]]).encode()
    op = rng.randrange(6)
    if op == 0:
        return "json-truncated", good[: rng.randrange(len(good))]
    if op == 1:
        depth = rng.choice([100, 5000, 200_000])
        return "json-deep", b"[" * depth + b"]" * rng.choice([0, depth])
    if op == 2:
        return "json-scalars", json.dumps([1, "a", None, [2, [3]], {"Time": {"x": 1}}]).encode()
    if op == 3:
        return "json-objects-missing-keys", json.dumps([{"Time": "14/03/24, 09:15"}, {"Event name": "x"}]).encode()
    if op == 4:
        return "json-huge-number", (b'[{"Time": 1' + b"0" * 5000 + b', "Event name": "x", "Component": "y", '
                                    b'"Description": "z"}]')
    return "json-not", b"{" + bytes(rng.randrange(256) for _ in range(200))


def _fixed_hostile() -> Iterator[tuple[str, bytes]]:
    yield "empty", b""
    yield "whitespace", b" \r\n\t\n"
    yield "bom-only", b"\xef\xbb\xbf"
    yield "utf16-bom-only", b"\xff\xfe"
    yield "xls-signature", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    yield "html", b"<!DOCTYPE html><html><body><table><tr><td>Time</td></tr></table></body></html>"
    yield "xml", b"<?xml version='1.0'?><a>" + b"<b>" * 50_000
    yield "binary", bytes(range(256)) * 64
    yield "nul-file", b"\x00" * 100_000
    yield "one-huge-line", b"Time,Event name," + b"a" * 3_000_000
    yield "many-columns", (",".join(["Time", "Event name"] + [f"c{i}" for i in range(20_000)]) + "\n").encode()
    yield "quote-never-closed", b'Time,Event name,Component\n"14/03/24, 09:15,' + b"x" * 100_000
    yield "gradebook", (EXPORTS / "not_a_log_gradebook.csv").read_bytes()
    yield "pk-only", b"PK\x03\x04" + b"\x00" * 30
    yield "pk-eocd", b"PK\x05\x06" + b"\x00" * 18


def damaged_files(count: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    """``count`` damaged exports ``(label, bytes)``, deterministic for ``seed``."""
    rng = random.Random(seed)
    made = 0
    for label, raw in _fixed_hostile():
        if made >= count:
            return
        yield label, raw
        made += 1
    seeds = {name: (EXPORTS / name).read_bytes() for name in SEEDS}
    seed_rows = {name: _rows(name) for name in SEEDS}
    while made < count:
        name = rng.choice(SEEDS)
        kind = rng.random()
        if kind < 0.35:
            label, raw = _mutate_bytes(rng, seeds[name])
        elif kind < 0.6:
            label, rows = _mutate_cells(rng, seed_rows[name])
            raw = _csv(rows, rng.choice([",", ";", "\t"]))
        elif kind < 0.72:
            label, rows = _mutate_cells(rng, seed_rows[name])
            raw = xlsx_bytes(rows, shared=rng.random() < 0.5)
        elif kind < 0.85:
            label, raw = _zip_damage(rng, seed_rows[name])
        elif kind < 0.93:
            label, raw = _json_damage(rng, seed_rows[name])
        else:                                    # two damages in a row
            label, raw = _mutate_bytes(rng, seeds[name])
            label2, raw = _mutate_bytes(rng, raw if raw else seeds[name])
            label = f"{label}+{label2}"
        yield f"{name}:{label}", raw
        made += 1
