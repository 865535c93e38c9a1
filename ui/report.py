"""The course report an instructor can send on: groups, movement and the action list as a PDF, in
either language. Charts are the dashboard's own plotly figures, rendered to PNG by kaleido (which drives
Debian's chromium); the PDF is written by fpdf2 with the DejaVu font (Vietnamese needs a Unicode font).

No streamlit here: the page hands over a run already localized and the action table already shaped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ui import figures

__all__ = ["course_report_pdf", "render_png", "FONT_DIRS"]

log = logging.getLogger("cohortlens.report")

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


class _HandledPipeNoise(logging.Filter):
    """choreographer (kaleido's chromium driver) logs a message split across two pipe reads as an
    exception with a traceback, then ignores it and goes on: keep that one line, drop the traceback
    (a traceback in the server log means a failure to look at; this is not one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "Ignoring" in str(record.msg):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_PIPE_FILTER = _HandledPipeNoise()


def quiet_handled_pipe_noise() -> logging.Logger | None:
    """Put the filter on choreographer's own pipe logger. Its module is imported first: choreographer
    makes its loggers with its own class (logistro), and a plain ``logging.getLogger`` of that name made
    before would be the one it gets back (without the methods it calls)."""
    try:
        from choreographer.channels import pipe
    except Exception:  # noqa: BLE001 - another kaleido without it: nothing to quieten
        return None
    pipe_log = getattr(pipe, "_logger", None)
    if isinstance(pipe_log, logging.Logger) and _PIPE_FILTER not in pipe_log.filters:
        pipe_log.addFilter(_PIPE_FILTER)
    return pipe_log


def _font(name: str) -> Path:
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"the report needs the DejaVu fonts ({name}); install Debian's fonts-dejavu-core")


def render_png(fig: Any, width: int = 1000, height: int = 480) -> bytes:
    """A plotly figure as PNG (kaleido + chromium)."""
    fig = fig.to_dict() if hasattr(fig, "to_dict") else fig
    import plotly.io as pio

    quiet_handled_pipe_noise()
    return pio.to_image(fig, format="png", width=width, height=height, scale=1.5)


def _names(run: Mapping[str, Any]) -> dict[int, str]:
    return {int(c["cluster_id"]): str(c.get("name") or c["cluster_id"]) for c in run.get("clusters") or []}


def course_report_pdf(run: Mapping[str, Any], *, course_name: str, t: Callable[..., str],
                      assignments: Sequence[Mapping[int, int]] = (), run_labels: Sequence[str] = (),
                      actions: pd.DataFrame | None = None, contacts: Mapping[str, int] | None = None,
                      generated_at: datetime | None = None, charts: bool = True) -> bytes:
    """The report as PDF bytes. ``t(key, **kw)`` gives the texts in the report's language; ``run`` is
    localized already; ``assignments``/``run_labels``: user->group of the last runs (oldest first) for
    the movement chart; ``actions``: the action table (ui.actions.action_table)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    names = _names(run)
    clusters = list(run.get("clusters") or [])
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_font("DejaVu", "", str(_font("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(_font("DejaVuSans-Bold.ttf")))
    pdf.set_title(t("rep.title", course=course_name))
    pdf.set_creator("CohortLens")
    pdf.add_page()
    width = pdf.epw

    def h1(text: str) -> None:
        pdf.set_font("DejaVu", "B", 16)
        pdf.multi_cell(width, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def h2(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 13)
        pdf.multi_cell(width, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)

    def para(text: str, size: float = 10) -> None:
        pdf.set_font("DejaVu", "", size)
        pdf.multi_cell(width, 5, text, new_x="LMARGIN", new_y="NEXT")

    def image(fig: Any, height: int = 430) -> None:
        if not charts:
            return
        try:
            png = render_png(fig, height=height)
        except Exception as exc:  # no chromium: the report still carries every table and text
            log.warning("chart not rendered in the report: %s", exc)
            para(t("rep.no_chart"), 8)
            return
        pdf.image(io.BytesIO(png), w=width)

    def table(header: list[str], rows: list[list[Any]], widths: Sequence[float]) -> None:
        pdf.set_font("DejaVu", "", 8)
        with pdf.table(col_widths=tuple(widths), headings_style=FontFace(emphasis="BOLD", fill_color=(230, 236, 240)),
                       line_height=4.2, text_align="LEFT") as tbl:
            head = tbl.row()
            for h in header:
                head.cell(str(h))
            for r in rows:
                row = tbl.row()
                for v in r:
                    row.cell("" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))

    meta = run.get("metadata") or {}
    when = generated_at or datetime.now(UTC)
    h1(t("rep.title", course=course_name))
    para(t("rep.meta", date=str(run.get("as_of") or run.get("run_at"))[:16], k=run.get("k"),
           students=meta.get("total_students"), made=when.strftime("%Y-%m-%d %H:%M UTC")), 9)

    # 1. groups
    h2(t("rep.groups"))
    image(figures.cluster_size_bar(clusters, title=t("fig.sizes"), x_title=t("fig.group"), y_title=t("fig.students")),
          height=380)
    table([t("fig.group"), t("fig.students"), t("rep.share"), t("cl.col.engagement")],
          [[c.get("name"), c.get("size"), f"{float(c.get('share') or 0):.0%}",
            "" if c.get("engagement") is None else f"{float(c['engagement']):.0f}"] for c in clusters],
          (90, 30, 30, 40))
    for c in clusters:
        prof = c.get("profile") or {}
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(width, 5, str(c.get("name")), new_x="LMARGIN", new_y="NEXT")
        if prof.get("summary"):
            para(str(prof["summary"]), 9)
        recs = prof.get("recommendations") or []
        if recs:
            para(t("cl.recommend") + ": " + " ".join(f"• {r}" for r in recs[:3]), 9)

    # 2. movement
    h2(t("rep.movement"))
    tr = run.get("transitions") or {}
    para(t("rep.moved", moved=tr.get("moved", 0), stable=tr.get("stable", 0), new=tr.get("initial", 0)), 10)
    if len(assignments) >= 2:
        image(figures.sankey_runs(list(assignments), [names] * len(assignments), list(run_labels),
                                  title=t("fig.sankey_n", n=len(assignments))), height=460)
    alerts = run.get("alerts") or []
    if alerts:
        para(t("rep.alerts") + ":", 10)
        for a in alerts:
            para(f"• {a.get('message')}", 9)

    # 3. action list
    h2(t("rep.actions"))
    if actions is None or actions.empty:
        para(t("act.nobody"))
    else:
        top = actions.head(40)
        para(t("rep.actions_intro", n=len(actions), shown=len(top)), 9)
        table([t("act.col.fullname"), t("act.col.group"), t("act.col.reason"), t("act.col.days_inactive"),
               t("act.col.engagement")],
              [[r.fullname or r.user_id, r.group, r.reason, r.days_inactive, r.engagement]
               for r in top.itertuples()], (38, 38, 76, 18, 20))
    if contacts:
        h2(t("act.log"))
        para(t("rep.contacts", **{k: int(v) for k, v in contacts.items()}), 10)
    return bytes(pdf.output())
